/**
 * When to hand memory back to the kernel: after load has receded.
 *
 * A burst of connections grows the V8 heap, the malloc arenas and the buffer
 * pool; none of them shrinks on its own while the daemon idles. Releasing
 * (see `sys/memory.ts`) holds up the event loop for some tens of
 * milliseconds, so it runs only when all of these hold:
 *
 * - the resident set grew since the last release by at least `minGrowth`
 *   bytes and `growthRatio` of its size then (less is not worth a pause);
 * - the open connections fell to at most half their peak since then, and
 *   by at least `minDrop` (the burst is over; a steady load, however much
 *   its count wobbles, keeps what it uses, and V8 collects its garbage);
 * - at least `minTicks` ticks passed since the last release.
 *
 * Growth counts from the size after the last release, or any lower size
 * seen. Once the daemon is (near) idle, fewer than `minDrop` connections
 * open, it counts from the size after the last release made near idle,
 * when that is lower: a release made while many connections were still
 * closing measured what they held, and once they close that is released
 * too. A steady load never compares itself with the idle size, so it does
 * not release on every dip.
 *
 * The policy is pure: the caller supplies the clock tick, the connection
 * count and the actions, so it is tested without a daemon.
 *
 * @module
 */

/** What the reclaimer measures and does. */
export interface ReclaimActions {
  /** The resident set size in bytes. */
  resident(): number;
  /** Hand memory back (drain pools, collect, trim). */
  release(): void;
}

/** Thresholds; the defaults suit a gateway daemon of 50–100 MB. */
export interface ReclaimOptions {
  /** Least growth, in bytes, worth a release. @default 4 MiB */
  minGrowth?: number;
  /** Least growth as a fraction of the size after the last release. @default 0.1 */
  growthRatio?: number;
  /** Least fall of the open connections from their peak. @default 32 */
  minDrop?: number;
  /** Least ticks between two releases. @default 5 */
  minTicks?: number;
}

/** One release, as {@linkcode MemoryReclaimer.tick} reports it. */
export interface Reclaimed {
  /** Resident bytes before. */
  before: number;
  /** Resident bytes after. */
  after: number;
  /** Open connections at the time. */
  active: number;
  /** Their peak since the previous release. */
  peak: number;
  /** How long the release held up the event loop, in ms. */
  ms: number;
}

/** Decides, once per tick, whether to release memory; see the module doc. */
export class MemoryReclaimer {
  readonly #actions: ReclaimActions;
  readonly #minGrowth: number;
  readonly #growthRatio: number;
  readonly #minDrop: number;
  readonly #minTicks: number;
  #floor: number | undefined;
  #idleFloor = Infinity;
  #peak = 0;
  #ticksSince = Infinity;

  /**
   * Make a reclaimer; the first tick sets the level growth counts from.
   *
   * @param actions How to measure and release.
   * @param options Thresholds.
   */
  constructor(actions: ReclaimActions, options: ReclaimOptions = {}) {
    this.#actions = actions;
    this.#minGrowth = options.minGrowth ?? 4 * 1024 * 1024;
    this.#growthRatio = options.growthRatio ?? 0.1;
    this.#minDrop = options.minDrop ?? 32;
    this.#minTicks = options.minTicks ?? 5;
  }

  /**
   * Take one sample; release when the module doc's conditions hold.
   *
   * @param active Connections open now.
   * @param peak The most open at once since the previous tick (a burst
   *   that came and went between two ticks counts too). @default {active}
   * @returns The release, or `undefined` when none ran.
   */
  tick(active: number, peak: number = active): Reclaimed | undefined {
    this.#ticksSince++;
    this.#peak = Math.max(this.#peak, active, peak);
    const rss = this.#actions.resident();
    // The first sample, and any shrink the runtime managed on its own, set
    // the level growth is measured from.
    if (this.#floor === undefined || rss < this.#floor) {
      this.#floor = rss;
      this.#idleFloor = Math.min(this.#idleFloor, rss);
      return undefined;
    }
    const base = active < this.#minDrop ? Math.min(this.#floor, this.#idleFloor) : this.#floor;
    const growth = rss - base;
    if (growth < this.#minGrowth || growth < base * this.#growthRatio) return undefined;
    if (active * 2 > this.#peak || this.#peak - active < this.#minDrop) return undefined;
    if (this.#ticksSince < this.#minTicks) return undefined;
    const t0 = performance.now();
    this.#actions.release();
    const ms = performance.now() - t0;
    const after = this.#actions.resident();
    const done = { before: rss, after, active, peak: this.#peak, ms };
    this.#floor = after;
    // Only a release made near idle says where this process settles.
    if (active < this.#minDrop) this.#idleFloor = after;
    this.#peak = active;
    this.#ticksSince = 0;
    return done;
  }
}

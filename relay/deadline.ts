/**
 * Coarse deadlines for the per-connection timeouts (upstream connect,
 * CONNECT reply): one shared interval checks them every
 * {@linkcode DEADLINE_RESOLUTION_MS}, instead of a timer (and an
 * `AbortSignal`) created and cancelled for every connection. The interval
 * runs only while deadlines are pending.
 *
 * @module
 */

/** How late a deadline may fire, in ms. */
export const DEADLINE_RESOLUTION_MS = 50;

/** A pending deadline. */
export interface Deadline {
  /** When it fires (`performance.now()` time). */
  readonly at: number;
  /** The action. */
  readonly fire: () => void;
}

const pending = new Set<Deadline>();
let ticker: ReturnType<typeof setInterval> | undefined;

function tick(): void {
  const now = performance.now();
  for (const d of pending) {
    if (d.at > now) continue;
    pending.delete(d);
    d.fire();
  }
  if (pending.size === 0) {
    clearInterval(ticker);
    ticker = undefined;
  }
}

/**
 * Run `fire` after about `ms` milliseconds, unless cancelled first.
 *
 * @param ms Delay.
 * @param fire The action; it must not throw.
 * @returns The deadline, for {@linkcode cancelDeadline}.
 *
 * @example
 * ```ts
 * import { cancelDeadline, setDeadline } from "./deadline.ts";
 * const d = setDeadline(1000, () => console.log("late"));
 * cancelDeadline(d);
 * ```
 */
export function setDeadline(ms: number, fire: () => void): Deadline {
  const d = { at: performance.now() + ms, fire };
  pending.add(d);
  ticker ??= setInterval(tick, DEADLINE_RESOLUTION_MS);
  return d;
}

/**
 * Cancel a deadline (no effect once it fired).
 *
 * @param d The deadline.
 */
export function cancelDeadline(d: Deadline): void {
  pending.delete(d);
  if (pending.size === 0 && ticker !== undefined) {
    clearInterval(ticker);
    ticker = undefined;
  }
}

/**
 * Coarse deadlines for the per-connection timeouts (upstream connect,
 * CONNECT reply): one shared interval checks them every
 * {@linkcode DEADLINE_RESOLUTION_MS}, instead of a timer (and an
 * `AbortSignal`) created and cancelled for every connection. The interval
 * runs only while deadlines are pending. They are kept in a
 * {@linkcode Roster}, not a `Set`: see `roster.ts`.
 *
 * @module
 */

import { Roster } from "./roster.ts";

/** How late a deadline may fire, in ms. */
export const DEADLINE_RESOLUTION_MS = 50;

/** A pending deadline. */
export interface Deadline {
  /** When it fires (`performance.now()` time). */
  readonly at: number;
  /** The action. */
  readonly fire: () => void;
}

interface PendingDeadline extends Deadline {
  seat: number;
}

const pending = new Roster<PendingDeadline>();
let ticker: ReturnType<typeof setInterval> | undefined;

function tick(): void {
  const now = performance.now();
  for (const d of pending) {
    if (d.at > now) continue;
    // The roster allows deleting the member being visited. An action that
    // set or cancelled other deadlines may make the loop visit one twice, or
    // a new one now rather than next tick; none is missed, and each fires
    // once, since it is deleted first.
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
  const d: PendingDeadline = { at: performance.now() + ms, fire, seat: -1 };
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
  pending.delete(d as PendingDeadline);
  if (pending.size === 0 && ticker !== undefined) {
    clearInterval(ticker);
    ticker = undefined;
  }
}

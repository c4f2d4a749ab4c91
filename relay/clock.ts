/**
 * A coarse clock for activity stamps on the data path: reading it costs a
 * variable load, not a system call. The idle sweep advances it.
 *
 * @module
 */

let now = Math.floor(performance.now());

/**
 * Milliseconds, as of the last {@linkcode tickClock}.
 *
 * @returns The coarse time.
 */
export function coarseNow(): number {
  return now;
}

/**
 * Advance the coarse clock to the real time.
 *
 * @returns The new coarse time.
 */
export function tickClock(): number {
  return now = Math.floor(performance.now());
}

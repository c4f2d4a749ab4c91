/**
 * Durations on the command line: `500ms`, `5s`, `10m`, `2h`, or plain seconds.
 *
 * @module
 */

const UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};
const DURATION = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)?$/;
/** The longest duration: what a timer can hold (2^31 - 1 ms, about 24.8 days). */
export const MAX_DURATION_MS = 2 ** 31 - 1;

/** Limits of {@linkcode parseDuration}. */
export interface DurationLimits {
  /** Whether 0 is meaningful for this flag ("never", "at once"). @default {true} */
  allowZero?: boolean;
}

/**
 * Parse a duration into milliseconds, at most {@linkcode MAX_DURATION_MS}:
 * a longer one would make a timer fire at once.
 *
 * @param text `500ms`, `5s`, `10m`, `1h`, or a number of seconds.
 * @param what The flag, for the error message.
 * @param limits Whether 0 is allowed.
 * @returns Milliseconds.
 * @throws {TypeError} With a one-line reason.
 *
 * @example
 * ```ts
 * import { parseDuration } from "./duration.ts";
 * parseDuration("1.5s", "--idle-timeout"); // 1500
 * ```
 */
export function parseDuration(
  text: string,
  what: string,
  limits: DurationLimits = {},
): number {
  const m = DURATION.exec(text.trim());
  if (m === null) {
    throw new TypeError(
      `${what} "${text}" is not a duration (examples: 500ms, 5s, 10m)`,
    );
  }
  const ms = Math.round(Number(m[1]) * UNITS[m[2] ?? "s"]!);
  if (ms > MAX_DURATION_MS) {
    throw new TypeError(`${what} "${text}" is too long (at most 596h, about 24 days)`);
  }
  if (ms === 0 && !(limits.allowZero ?? true)) {
    throw new TypeError(`${what} "${text}" must be at least 1ms`);
  }
  return ms;
}

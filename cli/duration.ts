/**
 * Durations on the command line: `500ms`, `5s`, `10m`, or plain seconds.
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

/**
 * Parse a duration into milliseconds.
 *
 * @param text `500ms`, `5s`, `10m`, `1h`, or a number of seconds.
 * @param what The flag, for the error message.
 * @returns Milliseconds.
 * @throws {TypeError} With a one-line reason.
 *
 * @example
 * ```ts
 * import { parseDuration } from "./duration.ts";
 * parseDuration("1.5s", "--idle-timeout"); // 1500
 * ```
 */
export function parseDuration(text: string, what: string): number {
  const m = DURATION.exec(text.trim());
  if (m === null) {
    throw new TypeError(
      `${what} "${text}" is not a duration (examples: 500ms, 5s, 10m)`,
    );
  }
  return Math.round(Number(m[1]) * UNITS[m[2] ?? "s"]!);
}

/**
 * Log setup: one line per event on standard error, as text or JSON lines,
 * with structured fields.
 *
 * @module
 */

import {
  configure,
  getJsonLinesFormatter,
  getStreamSink,
  getTextFormatter,
  type LogLevel,
  reset,
} from "@logtape/logtape";

/** Log line formats. */
export const LOG_FORMATS = ["text", "json"] as const;
/** A log line format. */
export type LogFormat = typeof LOG_FORMATS[number];
/** Accepted `--log-level` values (`warn` is an alias of `warning`). */
export const LOG_LEVELS = [
  "trace",
  "debug",
  "info",
  "warning",
  "error",
  "fatal",
] as const;

/**
 * Configure logging for the daemon and the CLI commands.
 *
 * @param format `text` for people, `json` for log shippers.
 * @param level The lowest level written.
 */
export async function setupLogging(
  format: LogFormat,
  level: LogLevel,
): Promise<void> {
  await configure({
    reset: true,
    sinks: {
      stderr: getStreamSink(Deno.stderr.writable, {
        formatter: format === "json"
          ? getJsonLinesFormatter({ properties: "flatten" })
          : getTextFormatter({
            timestamp: "date-time-tz",
            // Strings bare, absent fields as "-" (as in Squid's logs).
            value: (v, inspect) => v === undefined ? "-" : typeof v === "string" ? v : inspect(v),
          }),
      }),
    },
    loggers: [
      { category: ["shifter"], lowestLevel: level, sinks: ["stderr"] },
      {
        category: ["logtape", "meta"],
        lowestLevel: "warning",
        sinks: ["stderr"],
      },
    ],
  });
}

/** Flush and close the log sinks. */
export async function closeLogging(): Promise<void> {
  await reset();
}

/**
 * Log setup: one line per event on standard error, as text or JSON lines,
 * with structured fields.
 *
 * @module
 */

import {
  configure,
  getJsonLinesFormatter,
  getTextFormatter,
  type LogLevel,
  reset,
} from "@logtape/logtape";
import { type BatchWriter, getBatchSink } from "./log_sink.ts";

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
 * @param out Where the lines go. @default {Deno.stderr}
 */
export async function setupLogging(
  format: LogFormat,
  level: LogLevel,
  out: BatchWriter = Deno.stderr,
): Promise<void> {
  await configure({
    reset: true,
    sinks: {
      stderr: getBatchSink(out, {
        formatter: format === "json"
          ? getJsonLinesFormatter({ properties: "flatten" })
          : getTextFormatter({
            timestamp: "date-time-tz",
            value: formatValue,
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

// deno-lint-ignore no-control-regex
const CONTROL = /[\x00-\x1f]/;

/**
 * How a field's value reads in a text line: strings bare (control
 * characters escaped), absent fields as "-" (as in Squid's logs), numbers
 * and booleans plainly (`inspect` is costly on a line written per
 * connection), anything else inspected.
 *
 * @param v The value.
 * @param inspect logtape's fallback for other values.
 * @returns The text.
 */
export function formatValue(v: unknown, inspect: (v: unknown) => string): string {
  switch (typeof v) {
    case "string":
      // A line per record: a newline in a value (a plugin's error message)
      // must not forge another.
      return CONTROL.test(v) ? JSON.stringify(v).slice(1, -1) : v;
    case "undefined":
      return "-";
    case "number":
    case "boolean":
      return String(v);
    default:
      return inspect(v);
  }
}

/** Flush and close the log sinks. */
export async function closeLogging(): Promise<void> {
  await reset();
}

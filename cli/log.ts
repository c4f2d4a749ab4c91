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
  type LogRecord,
  reset,
  type TextFormatter,
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
        formatter: format === "json" ? jsonFormatter : getTextFormatter({
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

const jsonLines = getJsonLinesFormatter({ properties: "flatten" });

/**
 * JSON lines whose `message` reads as the text line does: values as
 * {@linkcode formatValue} writes them (`-` for an absent field, strings
 * unquoted) rather than `undefined` and `"quoted"`. The fields themselves
 * are keys of the object, typed.
 *
 * @param record The log record.
 * @returns One JSON line.
 */
export const jsonFormatter: TextFormatter = (record: LogRecord): string => {
  const parts = record.message;
  if (parts.length === 1) return jsonLines(record);
  let message = "";
  for (let i = 0; i < parts.length; i++) {
    message += i % 2 === 0 ? parts[i] as string : formatValue(parts[i], Deno.inspect);
  }
  return jsonLines({ ...record, message: [message] });
};

/** Flush and close the log sinks. */
export async function closeLogging(): Promise<void> {
  await reset();
}

/**
 * The line logged for each connection (category `shifter.conn`): where it
 * went, by which name, through which upstream, how many bytes, how it
 * ended. Text for people, the same fields flattened in JSON lines.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";

const connLog = getLogger(["shifter", "conn"]);

/** The fields of a connection's line; `undefined` reads as `-` in text. */
export type ConnFields = {
  /** `HOST:PORT` of the client. */
  client: string | undefined;
  /** `HOST:PORT` it was going to. */
  dest: string | undefined;
  /** The upstream's label. */
  upstream: string | undefined;
  /** The upstream's status code. */
  status: number | undefined;
  /** The name the tunnel was opened by, if any. */
  name: string | undefined;
  /** Where that name came from (`sni`, `host`, `none`). */
  name_source: string;
  /** Why no name was used, when none was. */
  name_fallback: string | undefined;
  /** Bytes from the client. */
  bytes_up: number;
  /** Bytes to the client. */
  bytes_down: number;
  /** How long the connection lasted. */
  elapsed_ms: number;
  /** How it ended (`done`, `client-reset`, `upstream-failed: ...`). */
  close: string | undefined;
};

/**
 * Whether info lines are written (checked once: skipping the fields'
 * formatting when they are not is worth it at thousands of connections a
 * second).
 *
 * @returns True when `shifter.conn` logs at info.
 */
export function connInfoEnabled(): boolean {
  return connLog.isEnabledFor("info");
}

/**
 * Log one connection's line.
 *
 * A tagged template on a logger carrying the fields as context, not a
 * message string with properties: the line and the JSON are the same, but
 * logtape builds a string-message record with getter closures that outlive
 * the young generation: 785 bytes promoted per line, 22 this way
 * (`_promotion_probe.ts conn-log`).
 *
 * @param level `info` for a connection served, `warning` for one refused.
 * @param v Its fields.
 */
export function logConnection(level: "info" | "warning", v: ConnFields): void {
  connLog.with(v)[
    level
  ]`${v.client} -> ${v.dest} name=${v.name} by=${v.name_source} fallback=${v.name_fallback} via ${v.upstream} status=${v.status} up=${v.bytes_up} down=${v.bytes_down} ${v.elapsed_ms}ms close=${v.close}`;
}

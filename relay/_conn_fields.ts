/**
 * Test fixture: the fields of one served connection's log line, for the
 * `conn_log` tests and the promotion probe.
 *
 * @module
 */

import type { ConnFields } from "./conn_log.ts";

/**
 * A TLS connection tunnelled by its SNI name, 517 bytes up and 4096 down.
 *
 * @param client Its `HOST:PORT`.
 * @returns Fresh fields.
 */
export function exampleConnFields(client = "192.0.2.7:40001"): ConnFields {
  return {
    client,
    dest: "198.51.100.1:443",
    upstream: "127.0.0.1:3128",
    status: 200,
    name: "example.test",
    name_source: "sni",
    name_fallback: undefined,
    bytes_up: 517,
    bytes_down: 4096,
    elapsed_ms: 12,
    close: "done",
  };
}

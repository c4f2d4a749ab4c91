/**
 * Sniff the destination name from the first bytes of a redirected
 * connection, with a deadline, handing back every byte read.
 *
 * @module
 */

import { ClientHelloError, DEFAULT_MAX_CLIENT_HELLO, parseClientHello } from "./client_hello.ts";
import { DEFAULT_MAX_HTTP_HEAD, HttpHeadError, parseHttpHead } from "./http_head.ts";

/** What the port is configured to carry. */
export type SniffProtocol = "tls" | "http";

/** Where a name came from. */
export type NameSource = "sni" | "host" | "none";

/** Options for {@linkcode sniff}. */
export interface SniffOptions {
  /** Give up waiting for the name after this long, in milliseconds. @default {3000} */
  deadlineMs?: number;
  /**
   * Most bytes read while sniffing: a larger ClientHello or request head falls
   * back with `ClientHello too large` / `HTTP head too large`.
   * @default {65536 for "tls", 16384 for "http"}
   */
  maxBytes?: number;
}

/** What {@linkcode sniff} found, and every byte it read. */
export interface SniffResult {
  /** A valid, lower-cased DNS host name, or `undefined`. */
  name: string | undefined;
  /** How `name` was obtained: `sni`, `host`, or `none` when it was not. */
  source: NameSource;
  /** Why there is no name (`no SNI`, `not TLS`, `deadline passed`, `eof`, `invalid name: contains CR`, ...). */
  reason: string | undefined;
  /** Every byte read so far, to be forwarded unchanged before relaying. */
  head: Uint8Array;
  /**
   * A read still in flight when the deadline passed: it resolves to the bytes
   * it got (to forward right after `head`), or `null` on EOF, and rejects with
   * the reader's error. The caller must await it (or attach a handler).
   */
  pending: Promise<Uint8Array | null> | undefined;
  /** The client closed its write side while we sniffed. */
  eof: boolean;
}

/** The part of `Deno.Conn` that {@linkcode sniff} uses. */
export interface SniffReader {
  /** Read into `p`, like `Deno.Conn.read()`: bytes read, or `null` at end of stream. */
  read(p: Uint8Array): Promise<number | null>;
}

const DEFAULT_DEADLINE_MS = 3000;
// setTimeout() fires at once for delays that do not fit in 32 bits.
const MAX_TIMER_MS = 2 ** 31 - 1;
const INITIAL_BUFFER = 4096;

/**
 * Read the start of a connection until the TLS `server_name` (for `"tls"`)
 * or the HTTP `Host` header (for `"http"`) is known, the bytes prove there is
 * none, EOF, the size cap, or the deadline.
 *
 * Never throws for bad input: every failure becomes `name: undefined` with a
 * `reason`. Bytes are never dropped: `head` holds all that was read, and a
 * read that was still in flight at the deadline is handed over as `pending`
 * (a `Deno.Conn` read cannot be cancelled). The buffer starts at 4 KiB and
 * doubles only as needed, up to `maxBytes`.
 *
 * @param reader The client connection.
 * @param protocol What the port carries.
 * @param options Deadline and size cap.
 * @returns The name or the reason there is none, and the bytes read.
 * @throws {TypeError} for an unknown `protocol`.
 * @throws {RangeError} for a `deadlineMs` outside 0 to 2^31 - 1 or a
 *   `maxBytes` that is not a positive integer.
 * @throws {unknown} whatever `reader.read()` throws, unchanged.
 *
 * @example
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { sniff } from "./sniff.ts";
 * import { buildClientHello, scriptedReader } from "./_testing.ts";
 *
 * const hello = buildClientHello({ serverNames: ["site.test"] });
 * const result = await sniff(scriptedReader([hello]), "tls");
 * strictEqual(result.name, "site.test");
 * strictEqual(result.source, "sni");
 * strictEqual(result.head.length, hello.length);
 * ```
 */
export async function sniff(
  reader: SniffReader,
  protocol: SniffProtocol,
  options?: SniffOptions,
): Promise<SniffResult> {
  const tls = protocol === "tls";
  if (!tls && protocol !== "http") {
    throw new TypeError(`Cannot sniff: unknown protocol "${protocol}"`);
  }
  const maxBytes = options?.maxBytes ??
    (tls ? DEFAULT_MAX_CLIENT_HELLO : DEFAULT_MAX_HTTP_HEAD);
  const deadlineMs = options?.deadlineMs ?? DEFAULT_DEADLINE_MS;
  if (!(deadlineMs >= 0 && deadlineMs <= MAX_TIMER_MS)) {
    throw new RangeError(
      `Cannot sniff: deadlineMs must be 0 to ${MAX_TIMER_MS}, got ${deadlineMs}`,
    );
  }
  if (!(Number.isInteger(maxBytes) && maxBytes >= 1)) {
    throw new RangeError(
      `Cannot sniff: maxBytes must be a positive integer, got ${maxBytes}`,
    );
  }
  // The deadline settles the read being awaited with `undefined`, which no
  // read returns. Not a race against one long-lived deadline promise: each
  // race would leave a reaction on it until the deadline, one per read.
  let expired = false;
  let expire: (() => void) | undefined;
  const timer = setTimeout(() => {
    expired = true;
    expire?.();
  }, deadlineMs);
  let buffer = new Uint8Array(Math.min(INITIAL_BUFFER, maxBytes));
  let length = 0;
  // Whether the request line has ended (HTTP): it is judged once it has.
  let lineEnded = false;
  const result = (
    name: string | undefined,
    reason: string | undefined,
    eof = false,
    pending?: Promise<Uint8Array | null>,
  ): SniffResult => ({
    name,
    source: name === undefined ? "none" : tls ? "sni" : "host",
    reason,
    head: buffer.subarray(0, length),
    pending,
    eof,
  });
  try {
    while (true) {
      if (length === buffer.length) {
        if (length >= maxBytes) {
          return result(undefined, tls ? "ClientHello too large" : "HTTP head too large");
        }
        const grown = new Uint8Array(Math.min(buffer.length * 2, maxBytes));
        grown.set(buffer.subarray(0, length));
        buffer = grown;
      }
      const view = buffer.subarray(length);
      const read = reader.read(view);
      const n = expired ? undefined : await new Promise<number | null | undefined>(
        (resolve, reject) => {
          expire = () => resolve(undefined);
          read.then(resolve, reject);
        },
      );
      expire = undefined;
      if (n === undefined) {
        const pending = read.then((m) => (m === null ? null : view.subarray(0, m)));
        return result(undefined, "deadline passed", false, pending);
      }
      if (n === null) return result(undefined, "eof", true);
      if (n === 0) continue;
      const before = length;
      length += n;
      let verdict: Verdict | undefined;
      if (tls) {
        verdict = judgeTls(buffer.subarray(0, length), maxBytes);
      } else {
        const lineJustEnded: boolean = !lineEnded && hasLf(buffer, before, length);
        lineEnded ||= lineJustEnded;
        verdict = judgeHttp(buffer, before, length, maxBytes, lineJustEnded);
      }
      if (verdict !== undefined) return result(verdict.name, verdict.reason);
    }
  } finally {
    clearTimeout(timer);
  }
}

interface Verdict {
  name: string | undefined;
  reason: string | undefined;
}

function judgeTls(bytes: Uint8Array, maxBytes: number): Verdict | undefined {
  try {
    const hello = parseClientHello(bytes, { maxLength: maxBytes });
    if (hello.kind === "need-more") return undefined;
    return { name: hello.serverName, reason: hello.reason };
  } catch (error) {
    if (error instanceof ClientHelloError) {
      return { name: undefined, reason: error.reason };
    }
    throw error;
  }
}

/** Whether `buffer[from, to)` holds the LF of a blank line (`\n\n` or `\n\r\n`). */
function endsHead(buffer: Uint8Array, from: number, to: number): boolean {
  const fresh = buffer.subarray(from, to);
  for (let i = fresh.indexOf(0x0a); i >= 0; i = fresh.indexOf(0x0a, i + 1)) {
    const at = from + i;
    if (buffer[at - 1] === 0x0a || (buffer[at - 1] === 0x0d && buffer[at - 2] === 0x0a)) {
      return true;
    }
  }
  return false;
}

function hasLf(buffer: Uint8Array, from: number, to: number): boolean {
  return buffer.subarray(from, to).indexOf(0x0a) >= 0;
}

function judgeHttp(
  buffer: Uint8Array,
  before: number,
  length: number,
  maxBytes: number,
  lineJustEnded: boolean,
): Verdict | undefined {
  // Re-parse only when the new bytes end the request line (which may show
  // it is not HTTP) or the head (a blank line), or while the method (at
  // most 32 bytes) may still be judged "not HTTP", so that a head trickled
  // a byte or a line per read stays cheap: parsing it all again on every
  // line would cost lines x bytes.
  if (
    before > 64 && length < maxBytes && !lineJustEnded && !endsHead(buffer, before, length)
  ) {
    return undefined;
  }
  try {
    const head = parseHttpHead(buffer.subarray(0, length), { maxLength: maxBytes });
    if (head.kind === "need-more") return undefined;
    return { name: head.host, reason: head.reason };
  } catch (error) {
    if (error instanceof HttpHeadError) {
      return { name: undefined, reason: error.reason };
    }
    throw error;
  }
}

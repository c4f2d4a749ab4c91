/**
 * Sniff the destination name from the first bytes of a redirected
 * connection, with a deadline, handing back every byte read.
 *
 * @module
 */

import {
  ClientHelloError,
  DEFAULT_MAX_CLIENT_HELLO,
  MAX_CLIENT_HELLO_FRAMING,
  parseClientHello,
} from "./client_hello.ts";
import {
  DEFAULT_MAX_HTTP_HEAD,
  type HttpHeadCursor,
  httpHeadCursor,
  HttpHeadError,
  parseHttpHead,
} from "./http_head.ts";

/** What the port is configured to carry. */
export type SniffProtocol = "tls" | "http";

/**
 * Where a name came from: the TLS `server_name`, the HTTP request (its
 * `Host`, or an absolute-form target's host), or nowhere.
 */
export type NameSource = "sni" | "host" | "none";

/** Options for {@linkcode sniff}. */
export interface SniffOptions {
  /** Give up waiting for the name after this long, in milliseconds. @default {3000} */
  deadlineMs?: number;
  /**
   * Largest ClientHello handshake message or request head: a larger one falls
   * back with `ClientHello too large` / `HTTP head too large`. For TLS the
   * bytes read may exceed it by the records' framing (5 bytes a record, at
   * most 1024 records, and the 4-byte handshake header), so that any hello
   * the parser accepts, however it is split into records, fits.
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
 * or the HTTP request's host (for `"http"`: `Host`, or an absolute-form
 * target's) is known, the bytes prove there is
 * none, EOF, the size cap, or the deadline.
 *
 * Never throws for bad input: every failure becomes `name: undefined` with a
 * `reason`. Bytes are never dropped: `head` holds all that was read, and a
 * read that was still in flight at the deadline is handed over as `pending`
 * (a `Deno.Conn` read cannot be cancelled). The buffer starts at 4 KiB and
 * doubles only as needed, up to `maxBytes` (and the framing, for TLS). A
 * head that comes in pieces is judged a line at a time, as its lines end.
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
  const readCap = tls ? maxBytes + MAX_CLIENT_HELLO_FRAMING : maxBytes;
  let buffer = new Uint8Array(Math.min(INITIAL_BUFFER, readCap));
  let length = 0;
  // HTTP: each read's bytes are judged once, as their lines end.
  const cursor = tls ? undefined : httpHeadCursor();
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
        if (length >= readCap) {
          return result(undefined, tls ? "ClientHello too large" : "HTTP head too large");
        }
        const grown = new Uint8Array(Math.min(buffer.length * 2, readCap));
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
      length += n;
      const bytes = buffer.subarray(0, length);
      const verdict = cursor === undefined
        ? judgeTls(bytes, maxBytes)
        : judgeHttp(bytes, maxBytes, cursor);
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

function judgeHttp(
  bytes: Uint8Array,
  maxBytes: number,
  cursor: HttpHeadCursor,
): Verdict | undefined {
  try {
    const head = parseHttpHead(bytes, { maxLength: maxBytes, cursor });
    if (head.kind === "need-more") return undefined;
    return { name: head.host, reason: head.reason };
  } catch (error) {
    if (error instanceof HttpHeadError) {
      return { name: undefined, reason: error.reason };
    }
    throw error;
  }
}

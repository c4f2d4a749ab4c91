/**
 * Parsing the upstream proxy's answer to `CONNECT`.
 *
 * @module
 */

/** The largest reply header Shifter accepts from an upstream, in bytes. */
export const MAX_REPLY_HEADER = 16 * 1024;

/** A complete reply header. */
export interface ConnectReply {
  /** HTTP status code (`200`). */
  status: number;
  /** The reason phrase, trimmed and cut to 100 characters (for logs). */
  reason: string;
  /** Bytes up to and including the blank line; what follows is tunnel data. */
  headerLength: number;
}

/** Thrown when an upstream's reply is not HTTP. */
export class ReplyError extends Error {
  /**
   * Make the error.
   *
   * @param message What is wrong with the reply.
   */
  constructor(message: string) {
    super(message);
    this.name = "ReplyError";
  }
}

const CR = 13, LF = 10;
const latin1 = new TextDecoder("latin1");
// The reason phrase may hold any byte but controls (tab allowed, RFC 9112).
const STATUS_LINE =
  // deno-lint-ignore no-control-regex
  /^HTTP\/1\.[01] ([0-9]{3})(?: ([^\x00-\x08\x0a-\x1f\x7f]*))?$/;

/** The header length up to `\r\n\r\n`, or -1 while it is incomplete. */
function findHeaderEnd(bytes: Uint8Array): number {
  for (let i = 3; i < bytes.length; i++) {
    if (
      bytes[i] === LF && bytes[i - 1] === CR && bytes[i - 2] === LF &&
      bytes[i - 3] === CR
    ) return i + 1;
  }
  return -1;
}

/**
 * Parse a `CONNECT` reply from the bytes read so far.
 *
 * @param bytes What the upstream sent so far.
 * @returns The reply, or `undefined` when more bytes are needed.
 * @throws {ReplyError} When the bytes cannot be an HTTP/1 reply, or the
 * header exceeds {@linkcode MAX_REPLY_HEADER}.
 *
 * @example
 * ```ts
 * import { parseConnectReply } from "./reply.ts";
 * const reply = parseConnectReply(
 *   new TextEncoder().encode("HTTP/1.1 200 Connection established\r\n\r\n"),
 * );
 * reply?.status; // 200
 * ```
 */
export function parseConnectReply(
  bytes: Uint8Array,
): ConnectReply | undefined {
  // Reject garbage as soon as the first bytes show it is not HTTP.
  const prefix = "HTTP/";
  for (let i = 0; i < Math.min(bytes.length, prefix.length); i++) {
    if (bytes[i] !== prefix.charCodeAt(i)) {
      throw new ReplyError(
        `the reply is not HTTP (starts with ${
          JSON.stringify(latin1.decode(bytes.subarray(0, 16)))
        })`,
      );
    }
  }
  const end = findHeaderEnd(bytes);
  if (end < 0) {
    if (bytes.length >= MAX_REPLY_HEADER) {
      throw new ReplyError(
        `the reply header is over ${MAX_REPLY_HEADER} bytes`,
      );
    }
    return undefined;
  }
  if (end > MAX_REPLY_HEADER) {
    throw new ReplyError(`the reply header is over ${MAX_REPLY_HEADER} bytes`);
  }
  let lineEnd = bytes.indexOf(CR);
  if (lineEnd < 0 || lineEnd > end) lineEnd = end;
  const line = latin1.decode(bytes.subarray(0, lineEnd));
  const match = STATUS_LINE.exec(line);
  if (match === null) {
    throw new ReplyError(
      `the reply has no valid status line (${JSON.stringify(line.slice(0, 64))})`,
    );
  }
  return {
    status: Number(match[1]),
    reason: (match[2] ?? "").trim().slice(0, 100),
    headerLength: end,
  };
}

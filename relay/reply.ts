/**
 * Parsing the upstream proxy's answer to `CONNECT`.
 *
 * @module
 */

/** The largest reply header Shifter accepts from an upstream, in bytes. */
export const MAX_REPLY_HEADER = 16 * 1024;
/** Most interim (1xx) replies accepted before the answer. */
export const MAX_INTERIM_REPLIES = 16;

/**
 * Where {@linkcode parseConnectReply} stopped on a prefix of an upstream's
 * bytes, so that the next call on a longer prefix goes on from there: the
 * reply read in pieces costs one pass. One per reply, from
 * {@linkcode connectReplyCursor}.
 */
export interface ConnectReplyCursor {
  /** Where the reply not yet complete starts (after any interim replies). */
  start: number;
  /** Where the search for its blank line goes on. */
  scan: number;
  /** Interim replies skipped so far. */
  interim: number;
}

/**
 * A cursor for a new reply, for {@linkcode parseConnectReply}.
 *
 * @returns A cursor at the start.
 */
export function connectReplyCursor(): ConnectReplyCursor {
  return { start: 0, scan: 0, interim: 0 };
}

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

const CR = 13, LF = 10, SP = 32, HT = 9, DEL = 127, ZERO = 48;
const latin1 = new TextDecoder("latin1");
const HTTP_1 = [...new TextEncoder().encode("HTTP/1.")];
/** `HTTP/1.x NNN`: the shortest status line. */
const MIN_STATUS_LINE = 12;

/**
 * Read `HTTP/1.0|1 NNN[ reason]` byte by byte (no regular expression or
 * string on the path every connection takes).
 *
 * @returns The status, or -1 when the line is malformed.
 */
function parseStatusLine(line: Uint8Array): number {
  if (line.length < MIN_STATUS_LINE) return -1;
  for (let i = 0; i < HTTP_1.length; i++) if (line[i] !== HTTP_1[i]) return -1;
  if ((line[7] !== ZERO && line[7] !== ZERO + 1) || line[8] !== SP) return -1;
  let status = 0;
  for (let i = 9; i < MIN_STATUS_LINE; i++) {
    const digit = line[i]! - ZERO;
    if (digit < 0 || digit > 9) return -1;
    status = status * 10 + digit;
  }
  if (line.length === MIN_STATUS_LINE) return status;
  if (line[MIN_STATUS_LINE] !== SP) return -1;
  // The reason phrase may hold any byte but controls (tab allowed, RFC 9112).
  for (let i = MIN_STATUS_LINE + 1; i < line.length; i++) {
    const b = line[i]!;
    if ((b < SP && b !== HT) || b === DEL) return -1;
  }
  return status;
}

/** The reason phrase of a valid status line, trimmed and cut (for logs). */
function reasonOf(line: Uint8Array): string {
  return line.length <= MIN_STATUS_LINE
    ? ""
    : latin1.decode(line.subarray(MIN_STATUS_LINE + 1)).trim().slice(0, 100);
}

/**
 * The end of the header that starts at `from`, after its blank line
 * (`\r\n\r\n`; a bare LF also ends a line, RFC 9112 §2.2), or -1 while it
 * is incomplete. No LF before `scan` ends it (known from an earlier call).
 */
function findHeaderEnd(bytes: Uint8Array, from: number, scan: number): number {
  for (
    let i = bytes.indexOf(LF, scan > from ? scan : from);
    i >= 0;
    i = bytes.indexOf(LF, i + 1)
  ) {
    if (i - 1 < from) continue;
    if (bytes[i - 1] === LF || (bytes[i - 1] === CR && i - 2 >= from && bytes[i - 2] === LF)) {
      return i + 1;
    }
  }
  return -1;
}

/** Interim replies (`100 Continue`, `103 Early Hints`) come before the answer. */
function isInterim(status: number): boolean {
  return status >= 100 && status <= 199 && status !== 101;
}

/**
 * Parse a `CONNECT` reply from the bytes read so far. Interim 1xx replies
 * before it are skipped (RFC 9110 §15.2; `101` is an answer, and not 2xx),
 * up to {@linkcode MAX_INTERIM_REPLIES}; lines may end in CRLF or a bare LF.
 *
 * @param bytes What the upstream sent so far.
 * @param cursor For a reply read in pieces: passed with every longer
 * prefix of the same bytes, so that each call goes on where the last
 * stopped.
 * @returns The reply (its `headerLength` counting any interim replies
 * before it), or `undefined` when more bytes are needed.
 * @throws {ReplyError} When the bytes cannot be an HTTP/1 reply, hold too
 * many interim replies, or the header exceeds {@linkcode MAX_REPLY_HEADER}.
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
  cursor?: ConnectReplyCursor,
): ConnectReply | undefined {
  let interim = cursor?.interim ?? 0;
  for (let start = cursor?.start ?? 0;;) {
    // Reject garbage as soon as the first bytes show it is not HTTP/1.
    for (let i = 0; i < HTTP_1.length && start + i < bytes.length; i++) {
      if (bytes[start + i] !== HTTP_1[i]) {
        throw new ReplyError(
          `the reply is not HTTP/1 (starts with ${
            JSON.stringify(latin1.decode(bytes.subarray(start, start + 16)))
          })`,
        );
      }
    }
    const end = findHeaderEnd(bytes, start, cursor?.scan ?? 0);
    if (end < 0) {
      if (bytes.length >= MAX_REPLY_HEADER) {
        throw new ReplyError(`the reply header is over ${MAX_REPLY_HEADER} bytes`);
      }
      if (cursor !== undefined) {
        cursor.start = start;
        cursor.scan = bytes.length;
        cursor.interim = interim;
      }
      return undefined;
    }
    if (end > MAX_REPLY_HEADER) {
      throw new ReplyError(`the reply header is over ${MAX_REPLY_HEADER} bytes`);
    }
    let lineEnd = bytes.indexOf(LF, start);
    if (bytes[lineEnd - 1] === CR) lineEnd--;
    const line = bytes.subarray(start, lineEnd);
    const status = parseStatusLine(line);
    if (status < 0) {
      throw new ReplyError(
        `the reply has no valid status line (${
          JSON.stringify(latin1.decode(line.subarray(0, 64)))
        })`,
      );
    }
    if (!isInterim(status)) return { status, reason: reasonOf(line), headerLength: end };
    if (++interim > MAX_INTERIM_REPLIES) {
      throw new ReplyError(`the reply has more than ${MAX_INTERIM_REPLIES} interim replies`);
    }
    start = end;
  }
}

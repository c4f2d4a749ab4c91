/**
 * A parser for an HTTP/1.x request head, enough to read the `Host` header.
 *
 * @module
 */

import { validHostname } from "./hostname.ts";

/** Default cap on the request head, in bytes. */
export const DEFAULT_MAX_HTTP_HEAD = 16384;

const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const HTAB = 0x09;
const COLON = 0x3a;

/**
 * A request head that cannot be parsed: not HTTP, malformed, or over the size
 * cap. {@linkcode HttpHeadError.reason} is a short phrase for logs.
 */
export class HttpHeadError extends Error {
  /** Short reason for a log line, such as `not HTTP`. */
  readonly reason: string;
  /**
   * Make the error.
   *
   * @param reason Short reason for a log line.
   * @param options Standard error options (`cause`).
   */
  constructor(reason: string, options?: ErrorOptions) {
    super(`Cannot parse HTTP request head: ${reason}`, options);
    this.name = "HttpHeadError";
    this.reason = reason;
  }
}

/** Options for {@linkcode parseHttpHead}. */
export interface ParseHttpHeadOptions {
  /**
   * Largest request head accepted, in bytes, up to and including the blank
   * line; more bytes without one throw `HTTP head too large`.
   * @default {16384}
   */
  maxLength?: number;
  /**
   * For a head that arrives in pieces: where the last call on a shorter
   * prefix of the same bytes stopped. The call resumes there and judges only
   * the lines completed since, so each line is judged as soon as it ends and
   * the whole head costs one pass however it is split. Make one with
   * {@linkcode httpHeadCursor} per stream.
   */
  cursor?: HttpHeadCursor;
}

/**
 * Where {@linkcode parseHttpHead} stopped on a prefix of a stream: the
 * lines before `line` are judged. Opaque to callers but for its life: one
 * per stream, passed with every longer prefix of that stream.
 */
export interface HttpHeadCursor {
  /** Offset of the first line not judged yet; 0 while the request line is not. */
  line: number;
  /** Where the search for that line's LF goes on. */
  scan: number;
  /** The bounds of the `Host` value seen so far, or -1. */
  hostStart: number;
  /** End of the `Host` value seen so far. */
  hostEnd: number;
  /** The bounds of an absolute-form target's authority, or -1. */
  authorityStart: number;
  /** End of that authority. */
  authorityEnd: number;
}

/**
 * A cursor for a new stream, for {@linkcode ParseHttpHeadOptions.cursor}.
 *
 * @returns A cursor at the start.
 */
export function httpHeadCursor(): HttpHeadCursor {
  return { line: 0, scan: 0, hostStart: -1, hostEnd: -1, authorityStart: -1, authorityEnd: -1 };
}

/** A complete request head. */
export interface HttpHead {
  /** Tells the result kinds apart. */
  kind: "head";
  /**
   * The valid, lower-cased host (port removed) from an absolute-form target,
   * else from `Host`; or `undefined`.
   */
  host: string | undefined;
  /** Where `host` came from, as sent: the target's authority or the `Host` value (trimmed). */
  rawHost: Uint8Array | undefined;
  /** Why `host` is undefined: `no Host` or `invalid name: ...`. */
  reason: string | undefined;
  /** Length of the head including the blank line. */
  length: number;
}

/**
 * Parse the start of a stream as an HTTP/1.x request head and take the host
 * from its `Host` header, without the port. A request with an absolute-form
 * target (`GET http://site.test/ HTTP/1.1`) names its host there, and the
 * origin server goes by it rather than by `Host` (RFC 9112 §3.2.2): so does
 * this.
 *
 * Lines may end in CRLF or bare LF. The head must be complete (a blank line)
 * before a result is given, so that a second `Host` line is seen: two are
 * refused (RFC 9112 §3.2), as is obsolete line folding. A host that is
 * present but not a valid host name (CR, spaces, IP literal, userinfo, ...)
 * yields `host` undefined with the `reason`, even when the other place (an
 * absolute-form target's `Host`) holds a valid one.
 *
 * Never throws anything but {@linkcode HttpHeadError}.
 *
 * @param bytes The first bytes the client sent.
 * @param options Size cap, and a cursor when the head comes in pieces.
 * @returns `{ kind: "need-more" }` or the parsed head.
 * @throws {HttpHeadError} when the bytes are not an HTTP/1.x request head,
 *   are malformed, or exceed `maxLength` without ending.
 *
 * @example
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { parseHttpHead } from "./http_head.ts";
 *
 * const head = new TextEncoder().encode("GET / HTTP/1.1\r\nHost: Site.Test:8080\r\n\r\n");
 * const parsed = parseHttpHead(head);
 * strictEqual(parsed.kind === "head" && parsed.host, "site.test");
 * strictEqual(parseHttpHead(head.subarray(0, 20)).kind, "need-more");
 * ```
 */
export function parseHttpHead(
  bytes: Uint8Array,
  options?: ParseHttpHeadOptions,
): { kind: "need-more" } | HttpHead {
  const maxLength = options?.maxLength ?? DEFAULT_MAX_HTTP_HEAD;
  // Judged so far: the caller's cursor, or one for this call alone. It moves
  // only past complete lines, so that a need-more leaves it ready to resume.
  const c = options?.cursor ?? httpHeadCursor();
  const n = bytes.length;
  // Bytes before `scan` hold no LF after `c.line` (known from an earlier call).
  const scan = c.scan;
  if (c.line === 0) {
    // Request line: method token, SP, target, SP, HTTP/1.x. Judge each byte
    // as it arrives so that non-HTTP is refused without waiting.
    let p = 0;
    while (p < n && isTokenChar(bytes[p] as number)) p++;
    if (p < n && (p === 0 || bytes[p] !== SP)) throw new HttpHeadError("not HTTP");
    if (p > 32) throw new HttpHeadError("not HTTP");
    const lineEnd = bytes.indexOf(LF, p > scan ? p : scan);
    if (lineEnd < 0) return needMore(n, maxLength, c);
    const lineStop = lineEnd > 0 && bytes[lineEnd - 1] === CR ? lineEnd - 1 : lineEnd;
    if (!endsWithHttpVersion(bytes, p, lineStop)) throw new HttpHeadError("not HTTP");
    // The target lies between the method's SP and the SP before HTTP/1.x.
    const targetEnd = lineStop - 9;
    const authority = absoluteFormAuthority(bytes, p + 1, targetEnd);
    if (authority >= 0) {
      let end = authority;
      while (end < targetEnd && !ENDS_AUTHORITY.includes(bytes[end] as number)) end++;
      c.authorityStart = authority;
      c.authorityEnd = end;
    }
    c.line = lineEnd + 1;
  }
  // Header fields up to the blank line.
  while (true) {
    const line = c.line;
    if (line >= n) return needMore(n, maxLength, c);
    const first = bytes[line] as number;
    if (first === LF) return finish(bytes, c, line + 1, maxLength);
    if (first === CR) {
      if (line + 1 >= n) return needMore(n, maxLength, c);
      if (bytes[line + 1] === LF) return finish(bytes, c, line + 2, maxLength);
      throw new HttpHeadError("bare CR");
    }
    if (first === SP || first === HTAB) {
      throw new HttpHeadError("obsolete line folding");
    }
    const end = bytes.indexOf(LF, line > scan ? line : scan);
    if (end < 0) return needMore(n, maxLength, c);
    const stop = bytes[end - 1] === CR ? end - 1 : end;
    if (isHostField(bytes, line, stop)) {
      if (c.hostStart >= 0) throw new HttpHeadError("two Host headers");
      let vs = line + 5;
      let ve = stop;
      while (vs < ve && isOws(bytes[vs] as number)) vs++;
      while (ve > vs && isOws(bytes[ve - 1] as number)) ve--;
      c.hostStart = vs;
      c.hostEnd = ve;
    }
    c.line = end + 1;
  }
}

function needMore(n: number, maxLength: number, cursor: HttpHeadCursor): { kind: "need-more" } {
  if (n >= maxLength) throw new HttpHeadError("HTTP head too large");
  cursor.scan = n;
  return NEED_MORE;
}

const NEED_MORE = Object.freeze({ kind: "need-more" as const });

function finish(
  bytes: Uint8Array,
  c: HttpHeadCursor,
  length: number,
  maxLength: number,
): HttpHead {
  if (length > maxLength) throw new HttpHeadError("HTTP head too large");
  const rawHost = c.authorityStart >= 0
    ? bytes.subarray(c.authorityStart, c.authorityEnd)
    : c.hostStart >= 0
    ? bytes.subarray(c.hostStart, c.hostEnd)
    : undefined;
  if (rawHost === undefined) {
    return { kind: "head", host: undefined, rawHost, reason: "no Host", length };
  }
  let nameEnd = rawHost.length;
  // Drop a `:port` suffix; any other colon stays and is refused below.
  const colon = rawHost.lastIndexOf(COLON);
  if (colon >= 0 && rawHost[0] !== 0x5b && rawHost.indexOf(COLON) === colon) {
    let digits = 0;
    for (let i = colon + 1; i < rawHost.length; i++) {
      const c = rawHost[i] as number;
      if (c < 0x30 || c > 0x39) {
        digits = -1;
        break;
      }
      digits++;
    }
    if (digits >= 0 && digits <= 5) nameEnd = colon;
  }
  if (rawHost[0] === 0x5b) {
    return { kind: "head", host: undefined, rawHost, reason: "invalid name: IP literal", length };
  }
  const check = validHostname(rawHost.subarray(0, nameEnd));
  return check.ok
    ? { kind: "head", host: check.name, rawHost, reason: undefined, length }
    : { kind: "head", host: undefined, rawHost, reason: check.reason, length };
}

// "/", "?" and "#" end an authority (RFC 3986 §3.2).
const ENDS_AUTHORITY = [0x2f, 0x3f, 0x23];

/**
 * Where the authority of an absolute-form target in `b[from, to)` starts
 * (after `scheme://`), or -1 for any other form (`/path`, `*`, `host:port`).
 */
function absoluteFormAuthority(b: Uint8Array, from: number, to: number): number {
  // scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) (RFC 3986 §3.1)
  let i = from;
  if (i >= to || !isAlpha(b[i] as number)) return -1;
  for (i++; i < to; i++) {
    const c = b[i] as number;
    if (!(isAlpha(c) || (c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2d || c === 0x2e)) {
      break;
    }
  }
  return i + 2 < to && b[i] === COLON && b[i + 1] === 0x2f && b[i + 2] === 0x2f ? i + 3 : -1;
}

function isAlpha(c: number): boolean {
  return (c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a;
}

function isOws(c: number): boolean {
  return c === SP || c === HTAB;
}

// tchar from RFC 9110 §5.6.2, as a 128-entry table built once.
const TCHAR = (() => {
  const t = new Uint8Array(128);
  for (let c = 0x30; c <= 0x39; c++) t[c] = 1;
  for (let c = 0x41; c <= 0x5a; c++) t[c] = 1;
  for (let c = 0x61; c <= 0x7a; c++) t[c] = 1;
  for (const ch of "!#$%&'*+-.^_`|~") t[ch.charCodeAt(0)] = 1;
  return t;
})();

function isTokenChar(c: number): boolean {
  return c < 128 && TCHAR[c] === 1;
}

const HTTP_1 = [0x48, 0x54, 0x54, 0x50, 0x2f, 0x31, 0x2e]; // "HTTP/1."

function endsWithHttpVersion(b: Uint8Array, from: number, stop: number): boolean {
  // " HTTP/1.x" at the end, after a non-empty target.
  if (stop - from < 2 + 9) return false;
  const v = stop - 8;
  if (b[v - 1] !== SP) return false;
  for (let i = 0; i < 7; i++) if (b[v + i] !== HTTP_1[i]) return false;
  const minor = b[v + 7] as number;
  if (minor < 0x30 || minor > 0x39) return false;
  for (let i = from + 1; i < v - 1; i++) {
    const c = b[i] as number;
    if (c <= SP || c === 0x7f) return false;
  }
  return true;
}

function isHostField(b: Uint8Array, start: number, stop: number): boolean {
  return stop - start >= 5 && ((b[start] as number) | 0x20) === 0x68 &&
    ((b[start + 1] as number) | 0x20) === 0x6f &&
    ((b[start + 2] as number) | 0x20) === 0x73 &&
    ((b[start + 3] as number) | 0x20) === 0x74 && b[start + 4] === COLON;
}

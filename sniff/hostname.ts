/**
 * Validation of DNS host names taken from untrusted bytes (a TLS
 * `server_name`, an HTTP `Host` header) before they go into a CONNECT line.
 *
 * @module
 */

/** The outcome of {@linkcode validHostname}: a usable name or why not. */
export type HostnameCheck =
  | { ok: true; name: string }
  | { ok: false; reason: string };

/** Longest host name accepted, in bytes (RFC 1035 without the root dot). */
export const MAX_HOSTNAME_LENGTH = 253;
const MAX_LABEL_LENGTH = 63;

const DOT = 0x2e;
const HYPHEN = 0x2d;

/**
 * Check that `raw` is a DNS host name that is safe to put in a CONNECT line,
 * and lower-case it.
 *
 * Accepted: ASCII letters, digits, hyphens and dots; 1 to 253 bytes; labels of
 * 1 to 63 bytes that neither start nor end with a hyphen; one trailing dot
 * (the absolute form) is dropped. Rejected: anything else, and IP literals
 * (any name whose last label is numeric or `0x` hexadecimal, which covers
 * `192.0.2.1`, `127.1`, `2130706433` and `0x7f000001`; IPv6 literals contain
 * colons).
 *
 * Never throws for any input. Reasons read like `invalid name: contains CR`.
 *
 * @param raw The candidate name, as a string or as the raw bytes received.
 * @returns `{ ok: true, name }` with the lower-cased name, or
 *   `{ ok: false, reason }`.
 *
 * @example Accept and lower-case a name; refuse a hostile one
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert/strict";
 * import { validHostname } from "./hostname.ts";
 *
 * assertEquals(validHostname("Site.TEST"), { ok: true, name: "site.test" });
 * assertEquals(validHostname("a\r\nX-Injected: 1"), {
 *   ok: false,
 *   reason: "invalid name: contains CR",
 * });
 * assertEquals(validHostname("192.0.2.1"), {
 *   ok: false,
 *   reason: "invalid name: IP literal",
 * });
 * ```
 */
export function validHostname(raw: string | Uint8Array): HostnameCheck {
  let length = raw.length;
  if (length === 0) return { ok: false, reason: "invalid name: empty" };
  const isString = typeof raw === "string";
  const at = isString ? (i: number) => raw.charCodeAt(i) : (i: number) => raw[i] as number;
  // First pass: refuse any byte outside the alphabet, reporting the most
  // telling one (a CR beats a length problem when logging an attack).
  for (let i = 0; i < length; i++) {
    const c = at(i);
    if (!isNameChar(c)) return { ok: false, reason: describeBad(c) };
  }
  if (at(length - 1) === DOT) length--;
  if (length === 0) return { ok: false, reason: "invalid name: empty" };
  if (length > MAX_HOSTNAME_LENGTH) {
    return { ok: false, reason: "invalid name: longer than 253 bytes" };
  }
  let labelStart = 0;
  let lastLabelStart = 0;
  for (let i = 0; i <= length; i++) {
    if (i < length && at(i) !== DOT) continue;
    const labelLength = i - labelStart;
    if (labelLength === 0) {
      return { ok: false, reason: "invalid name: empty label" };
    }
    if (labelLength > MAX_LABEL_LENGTH) {
      return { ok: false, reason: "invalid name: label longer than 63 bytes" };
    }
    if (at(labelStart) === HYPHEN || at(i - 1) === HYPHEN) {
      return {
        ok: false,
        reason: "invalid name: label starts or ends with a hyphen",
      };
    }
    lastLabelStart = labelStart;
    labelStart = i + 1;
  }
  if (isNumericLabel(at, lastLabelStart, length)) {
    return { ok: false, reason: "invalid name: IP literal" };
  }
  let name: string;
  if (isString) {
    name = raw.slice(0, length);
  } else {
    // ASCII only at this point, so a char-code copy is an exact decode.
    name = String.fromCharCode.apply(
      null,
      raw.subarray(0, length) as unknown as number[],
    );
  }
  return { ok: true, name: name.toLowerCase() };
}

/**
 * Whether a name from {@linkcode validHostname} is `localhost` or under it:
 * names for the proxy host itself (RFC 6761 §6.3), never a LAN client's
 * real destination.
 *
 * @param name A lower-cased host name, without a trailing dot.
 * @returns Whether it is.
 *
 * @example
 * ```ts
 * import { isLocalhostName } from "./hostname.ts";
 * isLocalhostName("admin.localhost"); // true
 * isLocalhostName("localhost.example"); // false
 * ```
 */
export function isLocalhostName(name: string): boolean {
  return name === "localhost" || name.endsWith(".localhost");
}

function isNameChar(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x30 && c <= 0x39) || c === HYPHEN || c === DOT;
}

function isNumericLabel(
  at: (i: number) => number,
  start: number,
  end: number,
): boolean {
  // inet_aton() also accepts 0x-prefixed hexadecimal parts.
  if (
    end - start >= 2 && at(start) === 0x30 &&
    (at(start + 1) | 0x20) === 0x78
  ) {
    for (let i = start + 2; i < end; i++) {
      const c = at(i) | 0x20;
      if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) {
        return false;
      }
    }
    return true;
  }
  for (let i = start; i < end; i++) {
    const c = at(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

function describeBad(c: number): string {
  switch (c) {
    case 0x0d:
      return "invalid name: contains CR";
    case 0x0a:
      return "invalid name: contains LF";
    case 0x00:
      return "invalid name: contains NUL";
    case 0x20:
      return "invalid name: contains a space";
    case 0x09:
      return "invalid name: contains a tab";
    case 0x3a:
      return "invalid name: contains a colon";
    case 0x5f:
      return "invalid name: contains an underscore";
    default:
      return c > 0xff
        ? "invalid name: contains a non-ASCII character"
        : `invalid name: contains byte 0x${c.toString(16).padStart(2, "0")}`;
  }
}

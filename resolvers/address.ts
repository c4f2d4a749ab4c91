/**
 * IP address and `HOST:PORT` helpers shared by resolvers, the CLI and the
 * loop guard. No DNS: only literals.
 *
 * @module
 */

import { isIP } from "node:net";
import type { AddressFamily } from "./resolver.ts";

/**
 * Format 4 or 16 raw address bytes as a literal (`192.0.2.1`, `2001:db8::1`).
 * IPv4-mapped IPv6 addresses are returned as their IPv4 form.
 *
 * @param bytes Network-order address bytes.
 * @returns The literal.
 * @throws {RangeError} When `bytes` is neither 4 nor 16 bytes long.
 *
 * @example
 * ```ts
 * import { formatAddress } from "./address.ts";
 * formatAddress(new Uint8Array([192, 0, 2, 1])); // "192.0.2.1"
 * ```
 */
export function formatAddress(bytes: Uint8Array): string {
  if (bytes.length === 4) return bytes.join(".");
  if (bytes.length !== 16) {
    throw new RangeError(
      `An IP address has 4 or 16 bytes, not ${bytes.length}`,
    );
  }
  if (isV4Mapped(bytes)) return bytes.subarray(12).join(".");
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((bytes[i]! << 8) | bytes[i + 1]!);
  // RFC 5952: compress the longest run (>= 2) of zero words, first one wins.
  let best = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = words.map((w) => w.toString(16));
  if (best < 0) return hex.join(":");
  return `${hex.slice(0, best).join(":")}::${hex.slice(best + bestLen).join(":")}`;
}

function isV4Mapped(b: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

/**
 * An address literal without its zone: `fe80::1%eth0` gives `fe80::1`; a
 * literal without one comes back as itself.
 *
 * @param literal An address literal, perhaps with a zone.
 * @returns The literal up to its `%`.
 *
 * @example
 * ```ts
 * import { withoutZone } from "./address.ts";
 * withoutZone("fe80::1%eth0"); // "fe80::1"
 * ```
 */
export function withoutZone(literal: string): string {
  const percent = literal.indexOf("%");
  return percent < 0 ? literal : literal.slice(0, percent);
}

/**
 * Parse an IP literal into network-order bytes (4 for IPv4, 16 for IPv6).
 *
 * @param literal An IPv4 or IPv6 literal, without brackets; an IPv6 zone
 * (`%eth0`) is ignored.
 * @returns The bytes, or `undefined` when `literal` is not an IP literal.
 */
export function parseAddress(literal: string): Uint8Array | undefined {
  const kind = isIP(literal);
  if (kind === 4) return new Uint8Array(literal.split(".").map(Number));
  if (kind !== 6) return undefined;
  // A zone names an interface, not bytes; and its name may hold a dot
  // (fe80::1%eth0.100, a VLAN), which is no dotted-quad tail.
  let text = withoutZone(literal);
  const out = new Uint8Array(16);
  // A trailing dotted quad (::ffff:192.0.2.1) fills the last 4 bytes.
  const lastColon = text.lastIndexOf(":");
  let tailWords = 8;
  if (text.includes(".", lastColon)) {
    out.set(text.slice(lastColon + 1).split(".").map(Number), 12);
    text = text.slice(0, lastColon + 1) + "0:0";
    tailWords = 6;
  }
  const [head = "", tail] = text.split("::");
  const headWords = head === "" ? [] : head.split(":");
  const tailList = tail === undefined || tail === "" ? [] : tail.split(":");
  const words = tail === undefined ? headWords : [
    ...headWords,
    ...Array(8 - headWords.length - tailList.length).fill("0"),
    ...tailList,
  ];
  for (let i = 0; i < tailWords; i++) {
    const w = parseInt(words[i] ?? "0", 16);
    out[i * 2] = w >> 8;
    out[i * 2 + 1] = w & 0xff;
  }
  return out;
}

/**
 * The family of an IP literal.
 *
 * @param literal An address literal.
 * @returns `"ipv4"`, `"ipv6"`, or `undefined` when it is not a literal.
 */
export function addressFamily(literal: string): AddressFamily | undefined {
  const kind = isIP(literal);
  return kind === 4 ? "ipv4" : kind === 6 ? "ipv6" : undefined;
}

/**
 * The one spelling of an IP literal: RFC 5952 for IPv6, and an IPv4-mapped
 * IPv6 address as the IPv4 address, so that equal addresses compare equal.
 *
 * @param literal An address literal, without brackets or zone.
 * @returns Its canonical form, or `undefined` when it is not a literal.
 *
 * @example
 * ```ts
 * import { canonicalAddress } from "./address.ts";
 * canonicalAddress("0:0:0:0:0:0:0:1"); // "::1"
 * canonicalAddress("::ffff:127.0.0.1"); // "127.0.0.1"
 * ```
 */
export function canonicalAddress(literal: string): string | undefined {
  const bytes = parseAddress(literal);
  return bytes === undefined ? undefined : formatAddress(bytes);
}

/**
 * Whether a canonical address is loopback (127/8, `::1`).
 *
 * @param address A {@linkcode canonicalAddress}.
 * @returns Whether it is.
 */
export function isLoopbackAddress(address: string): boolean {
  return address.startsWith("127.") || address === "::1";
}

/**
 * Whether a canonical address is unspecified (`0.0.0.0`, `::`): a wildcard
 * to listen on, and the host itself to connect to.
 *
 * @param address A {@linkcode canonicalAddress}.
 * @returns Whether it is.
 */
export function isUnspecifiedAddress(address: string): boolean {
  return address === "0.0.0.0" || address === "::";
}

const COLON_CODE = 0x3a;

/**
 * Whether a canonical address is IPv6 link-local (`fe80::/10`). Such an
 * address means something only together with the interface it is on, and
 * a `CONNECT` request cannot say which.
 *
 * @param address A {@linkcode canonicalAddress}.
 * @returns Whether it is.
 *
 * @example
 * ```ts
 * import { isLinkLocalAddress } from "./address.ts";
 * isLinkLocalAddress("fe80::1"); // true
 * isLinkLocalAddress("fec0::1"); // false
 * ```
 */
export function isLinkLocalAddress(address: string): boolean {
  // A first word of fe80-febf, which the canonical form writes as four
  // lower-case digits ("fe8::1" is 0fe8::1).
  return address.startsWith("fe") && "89ab".includes(address.charAt(2)) &&
    address.charCodeAt(3) !== COLON_CODE && address.charCodeAt(4) === COLON_CODE;
}

/** A parsed `HOST:PORT`. */
export interface HostPort {
  /** Host name or address literal, without brackets. */
  hostname: string;
  /** TCP port, 1–65535 (0 allowed only where the caller says so). */
  port: number;
}

/**
 * Parse `HOST:PORT`, `[V6]:PORT` (brackets required around IPv6).
 *
 * @param text The text to parse.
 * @param what What the value is, for the error message (`"--listen"`).
 * @returns The host and port.
 * @throws {TypeError} With a one-line reason when `text` is not valid.
 *
 * @example
 * ```ts
 * import { parseHostPort } from "./address.ts";
 * parseHostPort("[::]:3130", "--listen"); // { hostname: "::", port: 3130 }
 * ```
 */
export function parseHostPort(text: string, what: string): HostPort {
  let hostname: string, portText: string;
  if (text.startsWith("[")) {
    const end = text.indexOf("]");
    if (end < 0 || text[end + 1] !== ":") {
      throw new TypeError(`${what} "${text}" is not [ADDRESS]:PORT`);
    }
    hostname = text.slice(1, end);
    portText = text.slice(end + 2);
    if (isIP(hostname) !== 6) {
      throw new TypeError(`${what} "${text}" has no valid IPv6 address`);
    }
  } else {
    const colon = text.lastIndexOf(":");
    if (colon <= 0 || text.indexOf(":") !== colon) {
      throw new TypeError(
        `${what} "${text}" is not HOST:PORT (write IPv6 as [ADDRESS]:PORT)`,
      );
    }
    hostname = text.slice(0, colon);
    portText = text.slice(colon + 1);
  }
  if (!/^[0-9]{1,5}$/.test(portText) || +portText < 1 || +portText > 65535) {
    throw new TypeError(`${what} "${text}" has no valid port (1-65535)`);
  }
  return { hostname, port: +portText };
}

/**
 * Format a host and port for logs and `CONNECT` (`[2001:db8::1]:443`).
 *
 * @param hostname A name or address literal.
 * @param port A port.
 * @returns `HOST:PORT`, with brackets around IPv6 literals.
 */
export function formatHostPort(hostname: string, port: number): string {
  return hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
}

/**
 * The `sockopt` resolver: asks netfilter's conntrack for the destination the
 * connection had before NAT, with `SO_ORIGINAL_DST` (IPv4) and
 * `IP6T_SO_ORIGINAL_DST` (IPv6) on the accepted socket. Works with any
 * REDIRECT or DNAT rule, iptables or nft; needs no kernel module of ours.
 *
 * @module
 */

import { getsockopt, SO_ORIGINAL_DST, SOL_IP, SOL_IPV6 } from "../sys/libc.ts";
import { formatAddress } from "./address.ts";
import {
  type AcceptedConnection,
  type Destination,
  ResolveError,
  type ResolveErrorCode,
  type Resolver,
} from "./resolver.ts";

const ENOENT = 2, EPERM = 1, EINVAL = 22, ENOPROTOOPT = 92;
const AF_INET = 2, AF_INET6 = 10;

function errorCode(errno: number): ResolveErrorCode {
  switch (errno) {
    case ENOENT:
      return "ENOENT";
    case EPERM:
      return "EPERM";
    case EINVAL:
      return "EINVAL";
    case ENOPROTOOPT:
      return "ENOPROTOOPT";
    default:
      return "EIO";
  }
}

/** Decode a `struct sockaddr_in` or `struct sockaddr_in6`. */
function decodeSockaddr(buf: Uint8Array, len: number): Destination | undefined {
  const view = new DataView(buf.buffer, buf.byteOffset, len);
  if (len >= 8 && view.getUint16(0, true) === AF_INET) {
    return {
      hostname: formatAddress(buf.subarray(4, 8)),
      port: view.getUint16(2),
      family: "ipv4",
    };
  }
  if (len >= 24 && view.getUint16(0, true) === AF_INET6) {
    const hostname = formatAddress(buf.subarray(8, 24));
    return {
      hostname,
      port: view.getUint16(2),
      family: hostname.includes(":") ? "ipv6" : "ipv4",
    };
  }
  return undefined;
}

/**
 * Create the `sockopt` resolver.
 *
 * @returns A resolver reading conntrack's original destination.
 *
 * @example
 * ```ts ignore
 * import { createSockoptResolver } from "./sockopt.ts";
 * const resolver = createSockoptResolver();
 * ```
 */
export function createSockoptResolver(): Resolver {
  // One buffer for every call: getsockopt is synchronous.
  const buf = new Uint8Array(28);
  const v4Levels = [SOL_IP], mappedLevels = [SOL_IP, SOL_IPV6], v6Levels = [SOL_IPV6];
  return {
    name: "sockopt",
    resolve(accepted: AcceptedConnection): Destination {
      // An IPv4 socket knows only SOL_IP. An IPv4 client on a dual-stack
      // [::] listener arrives as ::ffff:a.b.c.d and its conntrack entry is
      // IPv4: ask SOL_IP first for it, then SOL_IPV6.
      const local = accepted.localAddr.hostname;
      const levels = !local.includes(":")
        ? v4Levels
        : local.startsWith("::ffff:")
        ? mappedLevels
        : v6Levels;
      // The first level's error says why (ENOENT: not redirected); a later
      // one would only say the level does not apply.
      let first = 0;
      for (const level of levels) {
        buf.fill(0);
        let rc = getsockopt(accepted.fd, level, SO_ORIGINAL_DST, buf);
        if (rc >= 0) {
          const dest = decodeSockaddr(buf, rc);
          if (dest !== undefined) return dest;
          rc = -EINVAL;
        }
        if (first === 0) first = rc;
      }
      const code = errorCode(-first);
      throw new ResolveError(
        code === "ENOENT"
          ? `No original destination for ${accepted.remoteAddr.hostname}:${accepted.remoteAddr.port}: the connection was not redirected (no conntrack NAT entry)`
          : `SO_ORIGINAL_DST failed for ${accepted.remoteAddr.hostname}:${accepted.remoteAddr.port}: ${code}`,
        code,
      );
    },
  };
}

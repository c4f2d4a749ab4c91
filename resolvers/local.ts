/**
 * The `local` resolver: the accepted socket's own local address is the
 * original destination, for connections that arrive with their destination
 * unchanged. Not TPROXY: that needs `IP_TRANSPARENT` on the listener, which
 * Shifter does not set, so a TPROXY rule finds no socket and lets the
 * traffic through untouched.
 *
 * @module
 */

import { addressFamily } from "./address.ts";
import type { AcceptedConnection, Destination, Resolver } from "./resolver.ts";

/**
 * Create the `local` resolver.
 *
 * @returns A resolver answering with the connection's local address.
 *
 * @example
 * ```ts
 * import { createLocalResolver } from "./local.ts";
 * const resolver = createLocalResolver();
 * ```
 */
export function createLocalResolver(): Resolver {
  return {
    name: "local",
    resolve({ localAddr }: AcceptedConnection): Destination {
      let hostname = localAddr.hostname;
      if (hostname.startsWith("::ffff:") && hostname.includes(".")) {
        hostname = hostname.slice(7);
      }
      return {
        hostname,
        port: localAddr.port,
        family: addressFamily(hostname) ?? "ipv4",
      };
    },
  };
}

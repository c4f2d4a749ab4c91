/**
 * The `local` resolver: the accepted socket's own local address is the
 * original destination. That is what TPROXY setups give (the socket is
 * bound transparently to the address the client asked for).
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

/**
 * An example resolver plugin: sends every connection to one destination
 * given in the environment. Shows the plugin contract; useful for testing a
 * gateway before its REDIRECT rules are in place.
 *
 * Run: SHIFTER_FIXED_DEST=192.0.2.10:443 deno task start --resolver ./examples/fixed_resolver.ts
 *
 * @module
 */

import type { Resolver, ResolverOptions } from "../resolvers/resolver.ts";
import { addressFamily, parseHostPort, withoutZone } from "../resolvers/address.ts";

/**
 * The plugin factory, found by Shifter as the module's default export.
 *
 * @param options Resolver options (environment lookup).
 * @returns The resolver.
 * @throws {Error} When `SHIFTER_FIXED_DEST` is missing, not ADDRESS:PORT, or
 * an address with a zone.
 */
export default function createResolver(options: ResolverOptions): Resolver {
  const env = options.env ?? ((name: string) => Deno.env.get(name));
  const text = env("SHIFTER_FIXED_DEST");
  if (text === undefined) {
    throw new Error("set SHIFTER_FIXED_DEST to ADDRESS:PORT");
  }
  const { hostname, port } = parseHostPort(text, "SHIFTER_FIXED_DEST");
  const family = addressFamily(hostname);
  if (family === undefined) {
    throw new Error(`SHIFTER_FIXED_DEST "${text}" must be an IP address`);
  }
  // Shifter refuses an answer with a zone (a CONNECT cannot carry one):
  // better to say so now than on every connection.
  if (withoutZone(hostname) !== hostname) {
    throw new Error(`SHIFTER_FIXED_DEST "${text}" must not have a zone (%interface)`);
  }
  return { name: "fixed", resolve: () => ({ hostname, port, family }) };
}

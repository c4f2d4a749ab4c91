/**
 * The system's name lookup (getaddrinfo, through `node:dns`): it honours
 * `/etc/hosts` and `nsswitch.conf`, which `Deno.resolveDns` does not, and
 * runs on one of the runtime's few blocking threads.
 *
 * @module
 */

import { lookup } from "node:dns/promises";

/** A name lookup: every address the name resolves to, best first. */
export type HostLookup = (name: string) => Promise<string[]>;

/**
 * Every address `name` resolves to through the system resolver.
 *
 * @param name A host name (an address literal comes back as itself).
 * @returns The addresses, best first.
 * @throws {Error} The resolver's error (`ENOTFOUND`...).
 */
export async function systemLookup(name: string): Promise<string[]> {
  return (await lookup(name, { all: true })).map((a) => a.address);
}

/**
 * The loop guard: a redirected connection whose original destination is
 * Shifter itself or one of its upstream proxies must never be forwarded,
 * or each connection would spawn another until descriptors run out (the
 * classic redsocks loop).
 *
 * @module
 */

import { canonicalAddress, isLoopbackAddress, isUnspecifiedAddress } from "../resolvers/address.ts";
import type { Destination } from "../resolvers/resolver.ts";
import type { HostPort } from "../resolvers/address.ts";
import { systemLookup } from "../sys/lookup.ts";

/** What the guard knows: Shifter's listeners and its upstreams' addresses. */
export interface LoopGuard {
  /**
   * Why forwarding to `dest` would loop, or `undefined` when it is safe.
   *
   * @param dest An original destination.
   * @returns The reason, for the log.
   */
  check(dest: Destination): string | undefined;
}

/** Options of {@linkcode createLoopGuard}. */
export interface LoopGuardOptions {
  /** The machine's own addresses. @default {from Deno.networkInterfaces()} */
  localAddresses?: () => Iterable<string>;
}

function systemAddresses(): string[] {
  return Deno.networkInterfaces().map((i) => i.address);
}

/** The addresses a listen or upstream host stands for, in canonical form. */
async function addressesOf(host: string): Promise<string[]> {
  const literal = canonicalAddress(host);
  if (literal !== undefined) return [literal];
  try {
    return (await systemLookup(host)).map((a) => canonicalAddress(a) ?? a);
  } catch {
    return [];
  }
}

/**
 * Build the loop guard. Upstream host names are resolved once, here.
 *
 * @param listen Shifter's listen addresses.
 * @param upstreams The upstream proxies' host names (or literals) and ports.
 * @param options Where local addresses come from.
 * @returns The guard.
 *
 * @example
 * ```ts
 * import { createLoopGuard } from "./loop_guard.ts";
 * const guard = await createLoopGuard(
 *   [{ hostname: "0.0.0.0", port: 3130 }],
 *   [{ hostname: "127.0.0.1", port: 3128 }],
 * );
 * guard.check({ hostname: "127.0.0.1", port: 3128, family: "ipv4" }); // "...upstream proxy..."
 * ```
 */
export async function createLoopGuard(
  listen: readonly HostPort[],
  upstreams: readonly HostPort[],
  options: LoopGuardOptions = {},
): Promise<LoopGuard> {
  const localAddresses = options.localAddresses ?? systemAddresses;
  const upstreamKeys = new Map<string, string>();
  for (const u of upstreams) {
    for (const a of await addressesOf(u.hostname)) {
      const label = `${u.hostname}:${u.port}`;
      upstreamKeys.set(`${a}|${u.port}`, label);
      // A proxy on a wildcard or loopback address answers on every local one.
      if (isUnspecifiedAddress(a) || isLoopbackAddress(a)) {
        upstreamKeys.set(`local|${u.port}`, label);
      }
    }
  }
  const listenPorts = new Map<number, string[]>();
  for (const l of listen) {
    const hosts = listenPorts.get(l.port) ?? [];
    hosts.push(...await addressesOf(l.hostname));
    listenPorts.set(l.port, hosts);
  }
  const isLocal = (host: string) =>
    isLoopbackAddress(host) || isUnspecifiedAddress(host) ||
    [...localAddresses()].some((a) => (canonicalAddress(a) ?? a) === host);

  return {
    check(dest: Destination): string | undefined {
      const upstream = upstreamKeys.get(`${dest.hostname}|${dest.port}`) ??
        (upstreamKeys.has(`local|${dest.port}`) && isLocal(dest.hostname)
          ? upstreamKeys.get(`local|${dest.port}`)
          : undefined);
      if (upstream !== undefined) {
        return `the destination is the upstream proxy ${upstream}`;
      }
      const hosts = listenPorts.get(dest.port);
      if (hosts === undefined) return undefined;
      for (const h of hosts) {
        if (h === dest.hostname || (isUnspecifiedAddress(h) && isLocal(dest.hostname))) {
          return `the destination is Shifter's own listener on port ${dest.port}`;
        }
      }
      return undefined;
    },
  };
}

/**
 * Check that a sniffed name resolves to the address the client actually
 * connected to (the `name-verified` CONNECT mode), with a bounded cache.
 *
 * @module
 */

import {
  canonicalAddress,
  isLinkLocalAddress,
  isLoopbackAddress,
  isUnspecifiedAddress,
  withoutZone,
} from "../resolvers/address.ts";
import { type HostLookup, systemLookup } from "../sys/lookup.ts";

/** Options for {@linkcode createNameVerifier}. */
export interface NameVerifierOptions {
  /** How long a successful lookup is cached, in milliseconds. @default {30000} */
  positiveTtlMs?: number;
  /** How long a failed lookup is cached, in milliseconds. @default {5000} */
  negativeTtlMs?: number;
  /** Most names cached; the least recently used is evicted. @default {1024} */
  maxEntries?: number;
  /** Give up waiting for a lookup after this long, in milliseconds. @default {2000} */
  timeoutMs?: number;
  /**
   * Lookups running at once at most. Each holds one of the runtime's few
   * blocking threads until the system resolver gives up (seconds with a
   * dead DNS server), and those threads also serve file reads and other
   * name lookups; past the limit a name is not verified. @default {4}
   */
  maxLookups?: number;
  /**
   * The resolver. By default the system resolver (`getaddrinfo` through
   * `node:dns` `lookup` with `all: true`), which honours `/etc/hosts`,
   * nsswitch and the namespace's `resolv.conf`.
   */
  lookup?: HostLookup;
  /** Clock, for tests. @default {Date.now} */
  now?: () => number;
}

/** The outcome of {@linkcode NameVerifier.verify}. */
export interface Verification {
  /** The name resolves to the address. */
  ok: boolean;
  /** Why not, for the log line. */
  reason?: string;
}

/** Verifies names against destination addresses. */
export interface NameVerifier {
  /**
   * Whether `name` resolves to `address`. Never throws.
   *
   * @param name A valid host name (as from {@linkcode validHostname}).
   * @param address The original destination, an IPv4 or IPv6 literal.
   */
  verify(name: string, address: string): Promise<Verification>;
  /** Number of names cached (for tests and metrics). */
  readonly size: number;
}

interface Entry {
  addresses: Set<string> | undefined;
  error: string | undefined;
  expires: number;
}

/**
 * Create a verifier for the `name-verified` mode: a name is used in CONNECT
 * only if it resolves to the original destination address.
 *
 * `getaddrinfo` gives no TTL, so answers are cached for a fixed time
 * (`positiveTtlMs`, `negativeTtlMs`) rather than the record's TTL; the
 * system resolver is preferred over `node:dns` `Resolver.resolve4({ ttl })`
 * because the latter asks DNS servers directly and ignores `/etc/hosts`.
 * Concurrent checks of one name share a single lookup. A check waits at
 * most `timeoutMs`; the lookup itself runs on and fills the cache when it
 * ends. At most `maxLookups` run at once: a check that would start one more
 * fails at once ("busy"), so that junk names sent faster than DNS answers
 * cannot take every blocking thread. Timeouts and "busy" are not cached.
 *
 * @param options Cache and timeout settings, and the resolver.
 * @returns The verifier.
 *
 * @example
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { createNameVerifier } from "./name_verifier.ts";
 *
 * const verifier = createNameVerifier({
 *   lookup: () => Promise.resolve(["192.0.2.7"]),
 * });
 * deepStrictEqual(await verifier.verify("site.test", "192.0.2.7"), { ok: true });
 * deepStrictEqual(await verifier.verify("site.test", "192.0.2.8"), {
 *   ok: false,
 *   reason: "site.test resolves to 192.0.2.7, not 192.0.2.8",
 * });
 * ```
 */
export function createNameVerifier(
  options: NameVerifierOptions = {},
): NameVerifier {
  const positiveTtlMs = options.positiveTtlMs ?? 30_000;
  const negativeTtlMs = options.negativeTtlMs ?? 5_000;
  const maxEntries = options.maxEntries ?? 1024;
  const timeoutMs = options.timeoutMs ?? 2_000;
  const resolve = options.lookup ?? systemLookup;
  const now = options.now ?? Date.now;
  if (maxEntries < 1) throw new RangeError("maxEntries must be at least 1");
  const maxLookups = options.maxLookups ?? 4;
  if (maxLookups < 1) throw new RangeError("maxLookups must be at least 1");
  const cache = new Map<string, Entry>();
  /** Lookups still running (past their callers' timeout too), by name. */
  const running = new Map<string, Promise<Entry>>();

  function remember(name: string, entry: Entry): Entry {
    cache.delete(name);
    cache.set(name, entry);
    while (cache.size > maxEntries) {
      const oldest = cache.keys().next().value as string;
      cache.delete(oldest);
    }
    return entry;
  }

  function startLookup(name: string): Promise<Entry> {
    let started: Promise<string[]>;
    try {
      started = resolve(name);
    } catch (error) {
      // A lookup that throws rather than rejects failed too: verify() never throws.
      started = Promise.reject(error);
    }
    const lookup = started.then(
      (addresses) =>
        remember(name, {
          addresses: new Set(addresses.map(addressKey)),
          error: undefined,
          expires: now() + positiveTtlMs,
        }),
      (error) => {
        const code = (error as { code?: unknown } | null)?.code;
        return remember(name, {
          addresses: undefined,
          error: typeof code === "string"
            ? `lookup failed: ${code}`
            : `lookup failed: ${error instanceof Error ? error.message : error}`,
          expires: now() + negativeTtlMs,
        });
      },
    ).finally(() => running.delete(name));
    running.set(name, lookup);
    return lookup;
  }

  async function entryFor(name: string): Promise<Entry> {
    const cached = cache.get(name);
    if (cached !== undefined && cached.expires > now()) {
      cache.delete(name); // refresh its place in LRU order
      cache.set(name, cached);
      return cached;
    }
    let lookup = running.get(name);
    if (lookup === undefined) {
      if (running.size >= maxLookups) {
        return {
          addresses: undefined,
          error: `busy (${running.size} lookups running)`,
          expires: 0,
        };
      }
      lookup = startLookup(name);
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<Entry>((r) => {
      timer = setTimeout(
        () =>
          r({
            addresses: undefined,
            error: `lookup failed: lookup timed out after ${timeoutMs} ms`,
            expires: 0,
          }),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([lookup, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  return {
    async verify(name, address) {
      // fe80::1%eth0: a name's addresses are compared without their zones
      // (see addressKey), so a match could not tell which interface's
      // fe80::1 the client meant. The built-in resolvers and the plugin
      // check never hand over a zone; this guards other callers.
      if (address.includes("%")) {
        return {
          ok: false,
          reason: `${address} is scoped to an interface; a name cannot say which`,
        };
      }
      const want = addressKey(address);
      if (isLinkLocalAddress(want)) {
        // A name that resolves to fe80::1 takes the proxy to fe80::1 with
        // no link either: verifying it would only pass the problem on.
        return {
          ok: false,
          reason:
            `${address} is link-local; the proxy would resolve the name to it without its link`,
        };
      }
      const entry = await entryFor(name);
      if (entry.addresses === undefined) {
        return { ok: false, reason: `${name}: ${entry.error}` };
      }
      if (entry.addresses.has(want)) {
        // The proxy resolves the name itself and may pick another of its
        // addresses: one on the proxy's own host must not be among them.
        for (const a of entry.addresses) {
          if (a !== want && (isLoopbackAddress(a) || isUnspecifiedAddress(a))) {
            return { ok: false, reason: `${name} also resolves to ${a}` };
          }
        }
        return { ok: true };
      }
      return {
        ok: false,
        reason: `${name} resolves to ${[...entry.addresses].join(", ")}, not ${address}`,
      };
    },
    get size() {
      return cache.size;
    },
  };
}

/**
 * A canonical form of an address literal, so that equal addresses compare
 * equal. A zone (`getaddrinfo` gives one for a scoped address in
 * `/etc/hosts`) is dropped: the destination it is compared with has none
 * (see `verify()`).
 */
function addressKey(address: string): string {
  return canonicalAddress(withoutZone(address)) ?? address.toLowerCase();
}

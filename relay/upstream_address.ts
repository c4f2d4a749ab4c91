/**
 * Where to connect for each upstream named by a host name: resolved once
 * and refreshed in the background, rather than on every connection.
 * `Deno.connect()` with a name asks the system resolver each time, on the
 * runtime's few blocking threads: a cost per connection, and every
 * connection waits on DNS when it is slow or down.
 *
 * @module
 */

import { parseAddress } from "../resolvers/address.ts";
import { type HostLookup, systemLookup } from "../sys/lookup.ts";
import type { Upstream } from "./upstream.ts";

/** Options of {@linkcode UpstreamAddresses}. */
export interface UpstreamAddressesOptions {
  /** How often names are resolved again, in ms. @default {30000} */
  refreshMs?: number;
  /** The resolver. @default {the system resolver (getaddrinfo)} */
  lookup?: HostLookup;
  /**
   * Told when a name cannot be resolved, once per run of failures: the
   * last address stays in use, or the name itself when it never resolved
   * (`last` is then `undefined`).
   */
  onError?: (upstream: Upstream, error: unknown, last: string | undefined) => void;
  /** Told when a name resolves again after {@linkcode onError}. */
  onRecover?: (upstream: Upstream, address: string) => void;
}

/** The connect addresses of a set of upstreams. */
export class UpstreamAddresses {
  readonly #named: readonly Upstream[];
  readonly #addresses = new Map<Upstream, string>();
  readonly #refreshMs: number;
  readonly #lookup: HostLookup;
  readonly #onError: UpstreamAddressesOptions["onError"];
  readonly #onRecover: UpstreamAddressesOptions["onRecover"];
  /** Upstreams whose last lookup failed (told once, until they recover). */
  readonly #failing = new Set<Upstream>();
  #timer: ReturnType<typeof setInterval> | undefined;
  /** The refresh under way: a slow resolver gets no second one on top. */
  #refreshing: Promise<void> | undefined;

  /**
   * Track `upstreams`; those given as address literals need nothing.
   *
   * @param upstreams The upstreams.
   * @param options Refresh interval and resolver.
   */
  constructor(upstreams: readonly Upstream[], options: UpstreamAddressesOptions = {}) {
    this.#named = upstreams.filter((u) => parseAddress(u.hostname) === undefined);
    this.#refreshMs = options.refreshMs ?? 30_000;
    this.#lookup = options.lookup ?? systemLookup;
    this.#onError = options.onError;
    this.#onRecover = options.onRecover;
  }

  /**
   * Where to connect for `upstream`: its last resolved address, else what
   * it was configured with (a literal, or a name not resolved yet).
   *
   * @param upstream One of the upstreams.
   * @returns A host for `Deno.connect()`.
   */
  hostFor(upstream: Upstream): string {
    return this.#addresses.get(upstream) ?? upstream.hostname;
  }

  /**
   * Resolve every named upstream now; a failure keeps the last address.
   * While one refresh is under way, another call joins it: lookups that
   * hang (DNS down) must not pile up on the runtime's few blocking threads.
   *
   * @returns When every name has been looked up.
   */
  refresh(): Promise<void> {
    this.#refreshing ??= this.#refreshAll().finally(() => this.#refreshing = undefined);
    return this.#refreshing;
  }

  async #refreshAll(): Promise<void> {
    await Promise.all(this.#named.map(async (u) => {
      try {
        const [first] = await this.#lookup(u.hostname);
        if (first === undefined) throw new Error("no address");
        this.#addresses.set(u, first);
        if (this.#failing.delete(u)) this.#onRecover?.(u, first);
      } catch (error) {
        if (this.#failing.has(u)) return;
        this.#failing.add(u);
        this.#onError?.(u, error, this.#addresses.get(u));
      }
    }));
  }

  /** Resolve now, then every `refreshMs` until {@linkcode stop}. */
  start(): void {
    if (this.#named.length === 0 || this.#timer !== undefined) return;
    void this.refresh();
    this.#timer = setInterval(() => void this.refresh(), this.#refreshMs);
  }

  /** Stop refreshing. */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

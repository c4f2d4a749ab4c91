/**
 * The Shifter daemon: listeners, the accept loop with its connection limit,
 * the per-connection pipeline (resolve, guard, tunnel, relay, log line), the
 * idle sweep, and the drain on shutdown.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { formatHostPort, type HostPort, isLinkLocalAddress } from "../resolvers/address.ts";
import {
  type AcceptedConnection,
  type Destination,
  isPendingAnswer,
  type Resolver,
} from "../resolvers/resolver.ts";
import { connFd } from "../sys/fd.ts";
import { cancelDeadline, setDeadline } from "./deadline.ts";
import { resetConn } from "../sys/socket.ts";
import { canCompactHeap, releaseMemory, residentBytes } from "../sys/memory.ts";
import { releasePooledBuffers } from "./buffers.ts";
import { type ClientPrefix, relay, type RelayState } from "./copy.ts";
import { MemoryReclaimer } from "./reclaim.ts";
import { Roster } from "./roster.ts";
import { type ConnFields, connInfoEnabled, logConnection } from "./conn_log.ts";
import { isLocalhostName } from "../sniff/hostname.ts";
import { createNameVerifier, type NameVerifier } from "../sniff/name_verifier.ts";
import { sniff, type SniffProtocol } from "../sniff/sniff.ts";
import type { LoopGuard } from "./loop_guard.ts";
import { openTunnel, type Tunnel, type TunnelCanceller, TunnelError } from "./tunnel.ts";
import { type Upstream, UpstreamPool } from "./upstream.ts";
import { UpstreamAddresses } from "./upstream_address.ts";

/** Everything the daemon needs, already validated. */
export interface ServerOptions {
  /** Addresses to listen on. */
  listen: readonly HostPort[];
  /** Upstream proxies, in order of preference. */
  upstreams: readonly Upstream[];
  /** Finds original destinations. */
  resolver: Resolver;
  /** Refuses destinations that would loop. */
  loopGuard: LoopGuard;
  /**
   * Time for a resolver's pending answer (a plugin's promise), ms; past it
   * the connection is refused. @default {5000}
   */
  resolveTimeoutMs?: number;
  /** Upstream TCP connect timeout, ms. @default {5000} */
  connectTimeoutMs?: number;
  /** Time for the upstream's complete CONNECT reply, ms. @default {15000} */
  replyTimeoutMs?: number;
  /** A tunnel with no byte either way for this long is closed, ms; 0 never. @default {600000} */
  idleTimeoutMs?: number;
  /** Connections in flight at most; accepting pauses at the limit. @default {4096} */
  maxConnections?: number;
  /** How long a failed upstream is tried only after the others, ms. @default {30000} */
  holdDownMs?: number;
  /** Destination ports whose ClientHello names the destination. @default {[443]} */
  tlsPorts?: ReadonlySet<number>;
  /** Destination ports whose HTTP `Host` names the destination. @default {[80]} */
  httpPorts?: ReadonlySet<number>;
  /**
   * What goes into `CONNECT`: the sniffed `name` (else the address), always
   * the `ip`, or the name only when it resolves to the original address
   * (`name-verified`). @default {"name"}
   */
  connectBy?: ConnectBy;
  /** Time to wait for the ClientHello or request head, ms. @default {3000} */
  sniffTimeoutMs?: number;
  /** Verifies names for `name-verified`. @default {createNameVerifier()} */
  nameVerifier?: NameVerifier;
  /**
   * Hand memory back to the kernel when load recedes after a burst (see
   * `relay/reclaim.ts`). @default {true}
   */
  memoryReclaim?: boolean;
}

/** The `--connect-by` choices. */
export const CONNECT_BY = ["name", "ip", "name-verified"] as const;
/** What goes into `CONNECT`. */
export type ConnectBy = typeof CONNECT_BY[number];

/** How often the idle sweep runs, in ms. */
const SWEEP_MS = 1000;
const DEFAULT_TLS_PORTS: ReadonlySet<number> = new Set([443]);
const DEFAULT_HTTP_PORTS: ReadonlySet<number> = new Set([80]);

/** Counters, for tests and operators. */
export interface ServerStats {
  /** Connections accepted since start. */
  accepted: number;
  /** Connections in flight now. */
  active: number;
}

const log = getLogger(["shifter", "relay"]);

interface Flight extends TunnelCanceller {
  client: Deno.TcpConn;
  upstream: Deno.TcpConn | undefined;
  state: RelayState;
  /** Bytes moved either way, as the idle sweep last saw them. */
  seenBytes: number;
  /** The sweep that last saw them move, or `undefined` before the first. */
  quietSince: number | undefined;
  /** Its place among the flights (see `roster.ts`). */
  seat: number;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The least time between two connection-limit warnings, in ms. */
const LIMIT_WARNING_INTERVAL_MS = 60_000;

/** The running daemon. Create it with {@linkcode startServer}. */
export class Server {
  readonly #options: ServerOptions;
  readonly #pool: UpstreamPool;
  readonly #addresses: UpstreamAddresses;
  readonly #tlsPorts: ReadonlySet<number>;
  readonly #httpPorts: ReadonlySet<number>;
  readonly #connectBy: ConnectBy;
  readonly #verifier: NameVerifier | undefined;
  readonly #listeners: Deno.TcpListener[] = [];
  readonly #flights = new Roster<Flight>();
  readonly #loops: Promise<void>[] = [];
  #accepted = 0;
  #stopping = false;
  /** Accept loops waiting for a free slot (one per listener at most). */
  #slotWaiters: (() => void)[] = [];
  /** When the connection-limit warning was last logged. */
  #limitWarnedAt = -Infinity;
  /** Times accepting paused since then. */
  #pauses = 0;
  #drained: (() => void) | undefined;
  #sweep: ReturnType<typeof setInterval> | undefined;
  #reclaimer: MemoryReclaimer | undefined;
  /** The most flights open at once since the reclaimer's last tick. */
  #peakActive = 0;
  /** Whether `info` connection lines go anywhere (asked once: logtape's check is not free). */
  #logInfo = true;

  /**
   * Set up a server; {@linkcode Server.listen} starts it.
   *
   * @param options Validated options.
   */
  constructor(options: ServerOptions) {
    this.#options = options;
    this.#pool = new UpstreamPool(options.upstreams, {
      holdDownMs: options.holdDownMs ?? 30_000,
    });
    this.#addresses = new UpstreamAddresses(options.upstreams, {
      onError: (upstream, error, last) =>
        log.warning(
          last === undefined
            ? "Cannot resolve upstream {upstream}: {error}; each connection asks the system resolver until it resolves"
            : "Cannot resolve upstream {upstream}: {error}; keeping its last address {address} until it resolves",
          { upstream: upstream.label, error: errorText(error), address: last },
        ),
      onRecover: (upstream, address) =>
        log.info("Upstream {upstream} resolves again, to {address}", {
          upstream: upstream.label,
          address,
        }),
    });
    this.#connectBy = options.connectBy ?? "name";
    // With CONNECT by address, nothing needs the name: do not wait for it.
    const sniffing = this.#connectBy !== "ip";
    this.#tlsPorts = sniffing ? options.tlsPorts ?? DEFAULT_TLS_PORTS : new Set();
    this.#httpPorts = sniffing ? options.httpPorts ?? DEFAULT_HTTP_PORTS : new Set();
    this.#verifier = this.#connectBy === "name-verified"
      ? options.nameVerifier ?? createNameVerifier()
      : undefined;
  }

  /** The bound addresses (ports resolved when 0 was asked). */
  get addrs(): Deno.NetAddr[] {
    return this.#listeners.map((l) => l.addr);
  }

  /** Current counters. */
  get stats(): ServerStats {
    return { accepted: this.#accepted, active: this.#flights.size };
  }

  /** Bind every listener (all or none), then start accepting. */
  listen(): void {
    this.#logInfo = connInfoEnabled();
    let binding: HostPort | undefined;
    try {
      for (const l of this.#options.listen) {
        binding = l;
        this.#listeners.push(
          Deno.listen({ hostname: l.hostname, port: l.port }),
        );
      }
    } catch (error) {
      for (const l of this.#listeners) l.close();
      this.#listeners.length = 0;
      // Same error class, and the message says which address.
      if (error instanceof Error && binding !== undefined) {
        error.message = `Cannot listen on ${
          formatHostPort(binding.hostname, binding.port)
        }: ${error.message}`;
      }
      throw error;
    }
    this.#addresses.start();
    for (const l of this.#listeners) this.#loops.push(this.#acceptLoop(l));
    if (this.#options.memoryReclaim ?? true) {
      if (!canCompactHeap()) {
        log.debug(
          "The runtime does not expose gc (--v8-flags=--expose-gc): memory reclaim only trims malloc",
        );
      }
      this.#reclaimer = new MemoryReclaimer({
        resident: residentBytes,
        release: () => {
          releasePooledBuffers();
          releaseMemory();
        },
      });
    }
    const idle = this.#options.idleTimeoutMs ?? 600_000;
    this.#sweep = setInterval(() => {
      this.#reclaim();
      if (idle <= 0) return;
      // Idle time counts from the sweep that last saw bytes move: at or
      // after the last byte, so a tunnel is closed up to one sweep late,
      // never early, however late the timer fires. Nothing is stamped on
      // the data path.
      const now = performance.now();
      for (const f of this.#flights) {
        const moved = f.state.bytesUp + f.state.bytesDown;
        if (f.quietSince === undefined || moved !== f.seenBytes) {
          f.seenBytes = moved;
          f.quietSince = now;
        } else if (now - f.quietSince >= idle) {
          this.#abort(f, "idle-timeout");
        }
      }
    }, SWEEP_MS);
  }

  #reclaim(): void {
    const done = this.#reclaimer?.tick(this.#flights.size, this.#peakActive);
    this.#peakActive = this.#flights.size;
    if (done === undefined) return;
    const mib = (n: number) => Math.round(n / 104857.6) / 10;
    log.debug(
      "Memory reclaimed: resident {before_mib} -> {after_mib} MiB in {ms} ms ({active} connections open, peak {peak})",
      {
        before_mib: mib(done.before),
        after_mib: mib(done.after),
        ms: Math.round(done.ms),
        active: done.active,
        peak: done.peak,
      },
    );
  }

  /**
   * Stop accepting at once, let connections in flight finish for up to
   * `drainMs`, then close the rest.
   *
   * @param drainMs How long connections may take to finish.
   * @returns When every listener and connection is closed.
   */
  async shutdown(drainMs: number): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    for (const l of this.#listeners) {
      try {
        l.close();
      } catch { /* closed */ }
    }
    this.#wakeAcceptors();
    await Promise.all(this.#loops);
    if (this.#flights.size > 0) {
      log.info("Draining {active} connection(s) for up to {drain_ms} ms", {
        active: this.#flights.size,
        drain_ms: drainMs,
      });
      const drained = new Promise<void>((r) => this.#drained = r);
      const timer = setTimeout(() => this.abortAll("shutdown"), drainMs);
      await drained;
      clearTimeout(timer);
    }
    clearInterval(this.#sweep);
    this.#addresses.stop();
  }

  /**
   * Close every connection now, each logged with `close=<reason>`; a
   * {@linkcode shutdown} waiting for them to drain then returns.
   *
   * @param reason The close reason to log.
   */
  abortAll(reason: string = "shutdown"): void {
    for (const f of this.#flights) this.#abort(f, reason);
  }

  #abort(f: Flight, reason: string): void {
    if (f.state.closeReason !== undefined) return;
    f.state.closeReason = reason;
    f.cancel?.();
    try {
      f.client.close();
    } catch { /* closed */ }
    try {
      f.upstream?.close();
    } catch { /* closed */ }
  }

  async #acceptLoop(listener: Deno.TcpListener): Promise<void> {
    const max = this.#options.maxConnections ?? 4096;
    let backoff = 10;
    while (!this.#stopping) {
      if (this.#flights.size >= max) {
        await this.#awaitSlot(max);
        continue;
      }
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
        backoff = 10;
      } catch (error) {
        if (this.#stopping || error instanceof Deno.errors.BadResource) break;
        // EMFILE and friends: the backlog waits; retrying at once would spin.
        log.error("Cannot accept on {listen}: {error}; retrying in {ms} ms", {
          listen: formatHostPort(listener.addr.hostname, listener.addr.port),
          error: errorText(error),
          ms: backoff,
        });
        await sleep(backoff);
        backoff = Math.min(backoff * 2, 1000);
        continue;
      }
      // Another listener's loop may have taken the last slot while this one
      // waited in accept(): this connection waits for the next, unserved.
      while (this.#flights.size >= max && !this.#stopping) await this.#awaitSlot(max);
      if (this.#stopping) {
        conn.close();
        break;
      }
      this.#accepted++;
      const flight: Flight = {
        client: conn,
        upstream: undefined,
        cancel: undefined,
        state: {
          bytesUp: 0,
          bytesDown: 0,
          closeReason: undefined,
        },
        seenBytes: 0,
        quietSince: undefined,
        seat: -1,
      };
      this.#flights.add(flight);
      if (this.#flights.size > this.#peakActive) this.#peakActive = this.#flights.size;
      void this.#handle(flight);
    }
  }

  async #handle(f: Flight): Promise<void> {
    const started = performance.now();
    const { client } = f;
    const remote = client.remoteAddr;
    const fields: ConnFields = {
      client: undefined, // formatted only when the line is logged
      dest: undefined,
      upstream: undefined,
      status: undefined,
      name: undefined,
      name_source: "none",
      name_fallback: undefined,
      bytes_up: 0,
      bytes_down: 0,
      elapsed_ms: 0,
      close: undefined,
    };
    let level: "info" | "warning" = "info";
    try {
      let dest: Destination;
      try {
        const accepted: AcceptedConnection = {
          conn: client,
          fd: connFd(client),
          remoteAddr: remote,
          localAddr: client.localAddr,
        };
        const found = this.#options.resolver.resolve(accepted);
        // A synchronous resolver (sockopt) costs no extra turn of the loop.
        dest = isPendingAnswer(found) ? await this.#awaitAnswer(f, found) : found;
      } catch (error) {
        level = this.#refuse(f, fields, `resolve-failed: ${errorText(error)}`);
        return;
      }
      const literal = formatHostPort(dest.hostname, dest.port);
      let target = literal;
      fields.dest = literal;
      const loop = this.#options.loopGuard.check(dest);
      if (loop !== undefined) {
        level = this.#refuse(f, fields, `loop-refused: ${loop}`);
        return;
      }
      let prefix: ClientPrefix | undefined;
      const protocol: SniffProtocol | undefined = this.#tlsPorts.has(dest.port)
        ? "tls"
        : this.#httpPorts.has(dest.port)
        ? "http"
        : undefined;
      if (protocol !== undefined) {
        let found;
        try {
          found = await sniff(client, protocol, {
            deadlineMs: this.#options.sniffTimeoutMs ?? 3000,
          });
        } catch {
          // The client reset, or the idle sweep or shutdown closed it.
          fields.close = f.state.closeReason ?? "client-reset";
          try {
            client.close();
          } catch { /* closed already */ }
          return;
        }
        // Never leave the in-flight read unhandled, whatever happens next.
        found.pending?.catch(() => {});
        prefix = found;
        fields.name = found.name;
        fields.name_source = found.source;
        fields.name_fallback = found.reason;
        if (found.name !== undefined && isLocalhostName(found.name)) {
          // The proxy would reach its own host's services: the client's
          // real destination is the address.
          fields.name_fallback = `localhost: ${found.name} names the proxy host`;
        } else if (found.name !== undefined) {
          const check = this.#verifier === undefined
            ? undefined
            : await this.#verifier.verify(found.name, dest.hostname);
          if (check === undefined || check.ok) {
            target = formatHostPort(found.name, dest.port);
          } else {
            fields.name_fallback = `not verified: ${check.reason ?? "mismatch"}`;
          }
        }
      }
      if (target === literal && isLinkLocalAddress(dest.hostname)) {
        // fe80::1 is on one of this host's links, and a CONNECT cannot say
        // which: the proxy would fail, or reach a host on another link.
        level = this.#refuse(
          f,
          fields,
          "link-local-refused: an IPv6 link-local destination goes through a proxy only by name",
        );
        return;
      }
      const tunnel = await this.#openAny(f, target, fields);
      if (tunnel === undefined) {
        level = this.#refuse(f, fields, fields.close as string);
        return;
      }
      f.upstream = tunnel.conn;
      if (f.state.closeReason !== undefined) {
        // Shutdown or idle sweep closed the client as the tunnel opened.
        tunnel.conn.close();
        fields.close = f.state.closeReason;
        return;
      }
      fields.close = await relay(client, tunnel.conn, f.state, prefix, tunnel.early);
    } catch (error) {
      level = this.#refuse(f, fields, `error: ${errorText(error)}`);
    } finally {
      try {
        if (level === "warning" || this.#logInfo) {
          this.#logConnection(level, fields, remote, f, started);
        }
      } finally {
        // Here rather than in a .finally() on the call: one promise less.
        this.#flights.delete(f);
        this.#wakeAcceptors();
        if (this.#flights.size === 0) this.#drained?.();
      }
    }
  }

  /**
   * A resolver's pending answer, given up on when it takes longer than the
   * resolve timeout or when the flight is aborted (idle sweep, shutdown):
   * a plugin that never answers must not hold a connection slot, or the
   * drain, forever.
   */
  #awaitAnswer(f: Flight, pending: PromiseLike<Destination>): Promise<Destination> {
    const ms = this.#options.resolveTimeoutMs ?? 5000;
    const { promise, resolve, reject } = Promise.withResolvers<Destination>();
    const timer = setDeadline(ms, () => reject(new Error(`no answer within ${ms} ms`)));
    const giveUp = () => reject(new Error("given up")); // through a local: see tunnel.ts
    f.cancel = giveUp;
    Promise.resolve(pending).then(resolve, reject);
    return promise.finally(() => {
      cancelDeadline(timer);
      if (f.cancel === giveUp) f.cancel = undefined;
    });
  }

  /**
   * Refuse the client with a reset, and say why in the log line. Not after
   * an abort (idle sweep, shutdown): that closed the client already, and
   * its descriptor number may belong to another socket by now.
   *
   * @returns The log level: a refusal is a warning, an abort is not.
   */
  #refuse(f: Flight, fields: ConnFields, why: string): "info" | "warning" {
    if (f.state.closeReason !== undefined) {
      fields.close = f.state.closeReason;
      return "info";
    }
    fields.close = why;
    resetConn(f.client);
    return "warning";
  }

  /**
   * Wait until a connection ends. Warn at most once a minute: at the limit,
   * every connection that ends lets one more in, and pauses again.
   */
  #awaitSlot(max: number): Promise<void> {
    this.#pauses++;
    const now = performance.now();
    if (now - this.#limitWarnedAt >= LIMIT_WARNING_INTERVAL_MS) {
      if (this.#limitWarnedAt === -Infinity) {
        log.warning("At the connection limit ({max}): accepting paused", { max });
      } else {
        log.warning(
          "At the connection limit ({max}): accepting paused, {pauses} time(s) since the last such line (logged at most once a minute)",
          { max, pauses: this.#pauses },
        );
      }
      this.#limitWarnedAt = now;
      this.#pauses = 0;
    }
    return new Promise<void>((r) => this.#slotWaiters.push(r));
  }

  /** Let every accept loop waiting at the connection limit look again. */
  #wakeAcceptors(): void {
    if (this.#slotWaiters.length === 0) return;
    const waiters = this.#slotWaiters;
    this.#slotWaiters = [];
    for (const wake of waiters) wake();
  }

  #logConnection(
    level: "info" | "warning",
    fields: ConnFields,
    remote: Deno.NetAddr,
    f: Flight,
    started: number,
  ): void {
    // An IPv4 client of a dual-stack listener ([::]) is ::ffff:a.b.c.d to
    // the socket: logged as a.b.c.d, as its destinations are.
    const host = remote.hostname;
    fields.client = formatHostPort(
      host.startsWith("::ffff:") && host.includes(".") ? host.slice(7) : host,
      remote.port,
    );
    fields.bytes_up = f.state.bytesUp;
    fields.bytes_down = f.state.bytesDown;
    fields.elapsed_ms = Math.round(performance.now() - started);
    logConnection(level, fields);
  }

  async #openAny(
    f: Flight,
    target: string,
    fields: ConnFields,
  ): Promise<Tunnel | undefined> {
    const failures: string[] = [];
    for (const upstream of this.#pool.order()) {
      // Aborted (idle sweep, shutdown) while resolving, sniffing or failing over.
      if (f.state.closeReason !== undefined) return undefined;
      fields.upstream = upstream.label;
      const answersBefore = this.#pool.answers(upstream);
      try {
        const tunnel = await openTunnel(upstream, target, {
          connectTimeoutMs: this.#options.connectTimeoutMs ?? 5000,
          replyTimeoutMs: this.#options.replyTimeoutMs ?? 15_000,
          canceller: f,
          connectHost: this.#addresses.hostFor(upstream),
        });
        fields.status = tunnel.status;
        if (this.#pool.markUp(upstream)) {
          log.info("Upstream {upstream} is back", { upstream: upstream.label });
        }
        return tunnel;
      } catch (error) {
        if (!(error instanceof TunnelError)) throw error;
        if (error.failure === "cancelled") return undefined;
        fields.status = error.status;
        if (!error.upstreamFailed) {
          // A complete reply: the upstream is alive, whatever it said.
          if (this.#pool.markUp(upstream)) {
            log.info("Upstream {upstream} is back", { upstream: upstream.label });
          }
          fields.close = `upstream-refused: ${error.message}`;
          return undefined;
        }
        if (error.failure === "no-reply") {
          // Squid's deny_info TCP_RESET refuses a destination that way:
          // trying the next upstream would go round the refusal, and holding
          // this one down would move everyone off it. Not even after several
          // in a row: a client opens as many as it likes to a refused host.
          // An upstream that is gone refuses the connection or times out.
          fields.close = `upstream-refused: ${error.message}`;
          return undefined;
        }
        if (error.failure === "reply-timeout" && this.#pool.answers(upstream) !== answersBefore) {
          // It answered others while this one waited: the destination
          // behind it is the likely cause (Squid gives a dead address a
          // minute), so it is not held down; the next upstream may try.
          failures.push(`${error.message} (it answered other requests meanwhile)`);
          if (this.#stopping) break;
          continue;
        }
        failures.push(error.message);
        if (this.#pool.markDown(upstream)) {
          log.warning("Upstream {upstream} is down: {error}", {
            upstream: upstream.label,
            error: error.message,
          });
        }
        if (this.#stopping) break;
      }
    }
    fields.close = `upstream-failed: ${failures.join("; ")}`;
    return undefined;
  }
}

/**
 * Bind the listeners and start serving.
 *
 * @param options Validated options.
 * @returns The running server.
 * @throws {Deno.errors.AddrInUse} And other bind errors, with nothing left
 * open; the message names the address.
 */
export function startServer(options: ServerOptions): Server {
  const server = new Server(options);
  server.listen();
  return server;
}

/**
 * The `netlink` resolver: asks the Shifter kernel module (`kernel/shifter.ko`)
 * where a redirected connection was going, through the generic netlink
 * family `SHIFTER` and the C shim `libshifter_nl.so` (`libnl-shim/`).
 *
 * The module records each client SYN before DNAT/REDIRECT rewrites it, keyed
 * by the client's address and port, so the resolver only needs
 * `remoteAddr`. The same handle also serves operator commands:
 * {@linkcode ShifterNetlink.lookup} (`shifter lookup ADDR:PORT`),
 * {@linkcode ShifterNetlink.stats} (`shifter kernel-stats`) and
 * {@linkcode ShifterNetlink.dump}.
 *
 * Calls are synchronous FFI calls, each bounded by a socket receive timeout
 * (default 1000 ms), and the shim serialises calls on one handle with a
 * mutex. Measured: a generic netlink request/reply through libnl takes
 * 9-11 µs on the build host; a synchronous Deno FFI call adds ~1.5-2 µs,
 * a `nonblocking: true` call 19-32 µs (thread hop and promise). In the qemu
 * TCG suite a full lookup took 93-134 µs synchronous against ~1000 µs
 * nonblocking (~300 µs with 16 in flight). Blocking the event loop for one
 * round trip is the cheaper choice.
 *
 * @module
 */

import {
  type AcceptedConnection,
  type AddressFamily,
  type Destination,
  ResolveError,
  type ResolveErrorCode,
  type Resolver,
  type ResolverOptions,
} from "./resolver.ts";
import {
  formatAddress,
  formatHostPort,
  type HostPort,
  parseAddress as parseLiteral,
  parseHostPort,
  withoutZone,
} from "./address.ts";
import {
  AF_INET,
  AF_INET6,
  DEST_SIZE,
  ENTRY_AMBIGUOUS,
  ENTRY_SIZE,
  SHIFTER_NL_ABI,
  type ShifterNlSymbols,
  STATS_SIZE,
  symbols,
} from "./_shifter_nl_ffi.ts";

/** Environment variable that overrides the path of `libshifter_nl.so`. */
export const SHIFTER_NL_LIB_ENV = "SHIFTER_NL_LIB";

/** File name of the shim, as built by `make -C libnl-shim`. */
export const SHIFTER_NL_LIB_NAME = "libshifter_nl.so";

const EPROTO = 71;

const ERRNO_NAMES: Readonly<Record<number, string>> = {
  1: "EPERM",
  2: "ENOENT",
  4: "EINTR",
  5: "EIO",
  9: "EBADF",
  11: "EAGAIN",
  12: "ENOMEM",
  13: "EACCES",
  16: "EBUSY",
  19: "ENODEV",
  22: "EINVAL",
  34: "ERANGE",
  71: "EPROTO",
  90: "EMSGSIZE",
  92: "ENOPROTOOPT",
  93: "EPROTONOSUPPORT",
  95: "EOPNOTSUPP",
  97: "EAFNOSUPPORT",
  99: "EADDRNOTAVAIL",
  110: "ETIMEDOUT",
};

/** A call into `libshifter_nl.so` returned `-errno`. */
export class ShifterNetlinkError extends Error {
  /** The positive errno value (`2` for `ENOENT`). */
  readonly errno: number;
  /** Its symbolic name (`ENOENT`), or `E<number>` when unknown. */
  readonly code: string;

  /**
   * Make the error.
   *
   * @param message What could not be done and why.
   * @param errno The positive errno value.
   * @param options The original error as `cause`, when there is one.
   */
  constructor(message: string, errno: number, options?: ErrorOptions) {
    super(message, options);
    this.name = "ShifterNetlinkError";
    this.errno = errno;
    this.code = ERRNO_NAMES[errno] ?? `E${errno}`;
  }
}

/** The one checker every native return code goes through. */
function check(ret: number, what: string): number {
  if (ret >= 0) return ret;
  const errno = -ret;
  const code = ERRNO_NAMES[errno] ?? `E${errno}`;
  throw new ShifterNetlinkError(
    `Cannot ${what}: ${code} (${describe(errno)})`,
    errno,
  );
}

function describe(errno: number): string {
  switch (errno) {
    case 1:
      return "the caller lacks CAP_NET_ADMIN";
    case 2:
      return "no such entry";
    case 19:
      return "the Shifter kernel module is not loaded: insmod kernel/shifter.ko";
    case 22:
      return "invalid request";
    case EPROTO:
      return "the answer is not a valid Shifter reply";
    case 92:
      return "protocol or address family not supported";
    case 110:
      return "the kernel did not answer in time";
    default:
      return `errno ${errno}`;
  }
}

let loaded: { path: string; symbols: ShifterNlSymbols } | undefined;

/** Paths tried for the shim, in order, when no override is given. */
function defaultLibraryPaths(): string[] {
  const paths: string[] = [];
  const beside = new URL(
    `../libnl-shim/${SHIFTER_NL_LIB_NAME}`,
    import.meta.url,
  );
  if (beside.protocol === "file:") {
    paths.push(decodeURIComponent(beside.pathname));
  }
  const exe = Deno.execPath();
  paths.push(`${exe.slice(0, exe.lastIndexOf("/") + 1)}${SHIFTER_NL_LIB_NAME}`);
  return paths;
}

/**
 * Load `libshifter_nl.so` once per process (it stays loaded: handles may
 * outlive any one caller).
 *
 * @param env Environment lookup for {@linkcode SHIFTER_NL_LIB_ENV}.
 * @param libraryPath An explicit path, tried alone.
 * @returns The symbols and the path they came from.
 * @throws {Error} naming every file tried and how to build the shim.
 */
function loadLibrary(
  env: (name: string) => string | undefined,
  libraryPath?: string,
): { path: string; symbols: ShifterNlSymbols } {
  const override = libraryPath ?? env(SHIFTER_NL_LIB_ENV);
  if (loaded && (!override || override === loaded.path)) return loaded;
  const paths = override ? [override] : defaultLibraryPaths();
  const failures: string[] = [];
  let cause: unknown;
  for (const path of paths) {
    try {
      const lib = Deno.dlopen(path, symbols);
      const abi = lib.symbols.shifter_nl_abi();
      if (abi !== SHIFTER_NL_ABI) {
        lib.close();
        throw new Error(
          `built with struct layout ${abi}, this Shifter reads layout ${SHIFTER_NL_ABI}`,
        );
      }
      loaded = { path, symbols: lib.symbols };
      return loaded;
    } catch (err) {
      cause = err;
      failures.push(
        `${path} (${err instanceof Error ? err.message : String(err)})`,
      );
    }
  }
  throw new Error(
    `Cannot load the netlink shim: tried ${failures.join("; ")}. ` +
      `Build it with \`make -C libnl-shim\` (needs libnl-3-dev and libnl-genl-3-dev), ` +
      `ship ${SHIFTER_NL_LIB_NAME} beside the shifter binary, ` +
      `or set ${SHIFTER_NL_LIB_ENV} to its path`,
    { cause },
  );
}

/** Options for {@linkcode ShifterNetlink.open} and {@linkcode createNetlinkResolver}. */
export interface ShifterNetlinkOptions extends ResolverOptions {
  /**
   * Path of `libshifter_nl.so`; overrides {@linkcode SHIFTER_NL_LIB_ENV}.
   * @default the `SHIFTER_NL_LIB` variable, else `../libnl-shim/` beside this
   * file, else beside the running executable
   */
  libraryPath?: string;
  /**
   * Bound on each wait for the kernel's reply, in milliseconds.
   * @default 1000
   */
  timeoutMs?: number;
}

/** A connection's original destination as the module recorded it. */
export interface ShifterLookupResult extends Destination {
  /** Milliseconds since the client's SYN was recorded. */
  ageMs: number;
}

/** The module's counters for the caller's network namespace. */
export interface ShifterKernelStats {
  /** SYNs recorded. */
  recorded: bigint;
  /** LOOKUP requests answered. */
  lookups: bigint;
  /** Lookups that found an entry. */
  hits: bigint;
  /** Lookups that did not. */
  misses: bigint;
  /** Entries dropped after `ttl`. */
  expired: bigint;
  /** Entries dropped at the table's limit (closing ones first, then the oldest). */
  evicted: bigint;
  /** Entries in the table now. */
  entries: bigint;
  /** The entries this namespace holds: `max_entries`, at most 32 times its buckets. */
  maxEntries: bigint;
  /** The module's `ttl` parameter, in seconds. */
  ttl: bigint;
}

/** One entry of the module's table, as {@linkcode ShifterNetlink.dump} returns it. */
export interface ShifterTableEntry {
  /** Address family of both addresses. */
  family: AddressFamily;
  /** The client address. */
  srcHostname: string;
  /** The client port. */
  srcPort: number;
  /** The original destination address. */
  dstHostname: string;
  /** The original destination port. */
  dstPort: number;
  /** Milliseconds since the SYN was recorded. */
  ageMs: number;
  /**
   * The client port has two pending destinations (this is the latest SYN's):
   * LOOKUP answers `ENOENT` for it, and `auto` asks conntrack.
   */
  ambiguous: boolean;
}

/**
 * An open netlink handle to the Shifter module (owns the native handle).
 * It survives `rmmod` + `insmod`: the shim finds the family's new id.
 *
 * @example Operator lookup (needs the module and CAP_NET_ADMIN)
 * ```ts ignore
 * using nl = ShifterNetlink.open();
 * console.log(nl.lookup("192.0.2.10:40000"), nl.stats());
 * ```
 */
export class ShifterNetlink {
  #lib: ShifterNlSymbols;
  #handle: Deno.PointerValue;
  readonly #dest = new Uint8Array(DEST_SIZE);
  readonly #addr = new Uint8Array(16);

  private constructor(lib: ShifterNlSymbols, handle: Deno.PointerValue) {
    this.#lib = lib;
    this.#handle = handle;
  }

  /** Path of the loaded `libshifter_nl.so`, or `undefined` before any open. */
  static get libraryPath(): string | undefined {
    return loaded?.path;
  }

  /**
   * Load the shim (once) and open a handle bound to the `SHIFTER` family.
   *
   * @param options Library path and timeout.
   * @returns An open handle; close it (or `using` it) when done.
   * @throws {Error} when the shim cannot be loaded (says which file was tried
   * and how to build it) or the module is not loaded (says `insmod`).
   * @throws {ShifterNetlinkError} for other socket errors.
   */
  static open(options: ShifterNetlinkOptions = {}): ShifterNetlink {
    const env = options.env ?? ((name: string) => Deno.env.get(name));
    const timeoutMs = options.timeoutMs ?? 1000;
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > 60_000) {
      throw new RangeError(
        `Cannot open netlink: timeoutMs must be 1..60000, got ${timeoutMs}`,
      );
    }
    const lib = loadLibrary(env, options.libraryPath).symbols;
    const out = new BigUint64Array(1);
    const ret = lib.shifter_nl_open(out, timeoutMs);
    if (ret === -2) {
      throw new Error(
        "Cannot use the netlink resolver: the SHIFTER generic netlink family is not " +
          "registered, the kernel module is not loaded (`insmod kernel/shifter.ko`, " +
          "built with `make -C kernel`)",
        { cause: new ShifterNetlinkError("shifter_nl_open: ENOENT", 2) },
      );
    }
    check(ret, "open the SHIFTER netlink family");
    return new ShifterNetlink(lib, Deno.UnsafePointer.create(out[0] ?? 0n));
  }

  #live(): Deno.PointerValue {
    if (this.#handle === null) {
      throw new TypeError("Cannot use a closed ShifterNetlink handle");
    }
    return this.#handle;
  }

  /**
   * Original destination of the connection from a client address and port.
   *
   * @param client `"ADDR:PORT"` (`"192.0.2.10:40000"`, `"[2001:db8::1]:40000"`)
   * or the client's `Deno.NetAddr`.
   * @returns Where the client's SYN was going, and how long ago.
   * @throws {TypeError} for an unparsable address.
   * @throws {ShifterNetlinkError} `ENOENT` no entry, `EPERM`, `EINVAL`...
   */
  lookup(
    client: string | Pick<Deno.NetAddr, "hostname" | "port">,
  ): ShifterLookupResult {
    const { hostname, port } = typeof client === "string"
      ? parseHostPort(client, "lookup")
      : client;
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new TypeError(
        `Cannot look up "${hostname}": port ${port} is not 1..65535`,
      );
    }
    const { family, bytes } = parseAddress(hostname);
    this.#addr.set(bytes);
    // Cleared, so that an answer the shim failed to write reads as none
    // rather than as the last client's destination.
    this.#dest.fill(0);
    const ret = this.#lib.shifter_nl_lookup(
      this.#live(),
      family,
      this.#addr,
      bytes.length,
      port,
      this.#dest,
    );
    check(ret, `look up client ${formatHostPort(hostname, port)}`);
    const view = new DataView(this.#dest.buffer);
    const destFamily = view.getUint32(0, true);
    const destPort = view.getUint16(8, true);
    if ((destFamily !== AF_INET && destFamily !== AF_INET6) || destPort === 0) {
      check(-EPROTO, `look up client ${formatHostPort(hostname, port)}`);
    }
    const len = destFamily === AF_INET ? 4 : 16;
    return {
      hostname: formatAddress(this.#dest.subarray(12, 12 + len)),
      port: destPort,
      family: destFamily === AF_INET ? "ipv4" : "ipv6",
      ageMs: view.getUint32(4, true),
    };
  }

  /**
   * The module's counters for this network namespace.
   *
   * @returns recorded, lookups, hits, misses, expired, evicted, entries, the
   * limit in force (`max_entries`, at most 32 times the buckets) and `ttl`.
   * @throws {ShifterNetlinkError} `EPERM` without CAP_NET_ADMIN.
   */
  stats(): ShifterKernelStats {
    const buf = new BigUint64Array(STATS_SIZE / 8);
    check(
      this.#lib.shifter_nl_stats(this.#live(), buf),
      "read the module's counters",
    );
    const at = (i: number): bigint => buf[i] ?? 0n;
    return {
      recorded: at(0),
      lookups: at(1),
      hits: at(2),
      misses: at(3),
      expired: at(4),
      evicted: at(5),
      entries: at(6),
      maxEntries: at(7),
      ttl: at(8),
    };
  }

  /**
   * Every unexpired entry of this network namespace's table.
   *
   * @returns The entries, in hash order.
   * @throws {ShifterNetlinkError} `EPERM` without CAP_NET_ADMIN.
   */
  dump(): ShifterTableEntry[] {
    let capacity = 256;
    for (;;) {
      const buf = new Uint8Array(capacity * ENTRY_SIZE);
      const n = check(
        this.#lib.shifter_nl_dump(this.#live(), buf, capacity),
        "dump the module's table",
      );
      if (n > capacity) {
        capacity = n + 64;
        continue;
      }
      const view = new DataView(buf.buffer);
      const entries: ShifterTableEntry[] = [];
      for (let i = 0; i < n; i++) {
        const o = i * ENTRY_SIZE;
        const v4 = view.getUint32(o, true) === AF_INET;
        const len = v4 ? 4 : 16;
        entries.push({
          family: v4 ? "ipv4" : "ipv6",
          ageMs: view.getUint32(o + 4, true),
          srcPort: view.getUint16(o + 8, true),
          dstPort: view.getUint16(o + 10, true),
          srcHostname: formatAddress(buf.subarray(o + 12, o + 12 + len)),
          dstHostname: formatAddress(buf.subarray(o + 28, o + 28 + len)),
          ambiguous: (view.getUint32(o + 44, true) & ENTRY_AMBIGUOUS) !== 0,
        });
      }
      return entries;
    }
  }

  /** Close the native handle. Idempotent. */
  close(): void {
    if (this.#handle === null) return;
    const handle = this.#handle;
    this.#handle = null;
    this.#lib.shifter_nl_close(handle);
  }

  /** Same as {@linkcode ShifterNetlink.close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}

const RESOLVE_CODES: ReadonlySet<string> = new Set([
  "ENOENT",
  "EINVAL",
  "ENOPROTOOPT",
  "EPERM",
]);

/**
 * Mirror the kernel's answer; a policy range failure is a bad request too,
 * and with the module gone there is no entry either (`auto` then asks
 * sockopt).
 */
function resolveCode(err: unknown): ResolveErrorCode {
  if (!(err instanceof ShifterNetlinkError)) return "EIO";
  if (err.code === "ERANGE") return "EINVAL";
  if (err.code === "ENODEV") return "ENOENT";
  return RESOLVE_CODES.has(err.code) ? err.code as ResolveErrorCode : "EIO";
}

/**
 * Create the `netlink` resolver: opens a handle and checks that the module
 * answers and that the caller may ask it (CAP_NET_ADMIN).
 *
 * @param options `env` for {@linkcode SHIFTER_NL_LIB_ENV}; optionally the
 * library path and timeout.
 * @returns A resolver named `netlink`.
 * @throws {Error} when the shim cannot be loaded (names the file tried and
 * `make -C libnl-shim`), the module is not loaded (`insmod kernel/shifter.ko`)
 * or the caller lacks CAP_NET_ADMIN.
 *
 * @example
 * ```ts ignore
 * const resolver = createNetlinkResolver({ env: Deno.env.get });
 * const dest = await resolver.resolve(accepted); // { hostname, port, family }
 * ```
 */
export function createNetlinkResolver(
  options: ShifterNetlinkOptions,
): Resolver {
  const nl = ShifterNetlink.open(options);
  try {
    nl.stats();
  } catch (err) {
    nl.close();
    if (err instanceof ShifterNetlinkError && err.code === "EPERM") {
      throw new Error(
        "Cannot use the netlink resolver: the SHIFTER family refused the request " +
          "(EPERM): run shifter as root or with CAP_NET_ADMIN",
        { cause: err },
      );
    }
    throw new Error(`Cannot use the netlink resolver: ${String(err)}`, {
      cause: err,
    });
  }
  return {
    name: "netlink",
    resolve(accepted: AcceptedConnection): Destination {
      const { hostname, port } = accepted.remoteAddr;
      try {
        const { ageMs: _, ...dest } = nl.lookup({ hostname, port });
        return dest;
      } catch (err) {
        const code = resolveCode(err);
        throw new ResolveError(
          `Cannot resolve the original destination of ${formatHostPort(hostname, port)} ` +
            `over netlink: ${err instanceof Error ? err.message : String(err)}`,
          code,
          { cause: err },
        );
      }
    },
    close(): void {
      nl.close();
    },
  };
}

/** Same as {@linkcode createNetlinkResolver}, for loading by path. */
export default createNetlinkResolver;

/**
 * An address literal as the kernel keys it: family and network-order bytes.
 * IPv4-mapped IPv6 (`::ffff:192.0.2.1`, a dual-stack listener) maps to IPv4,
 * which is how the module recorded the SYN. A zone (`%eth0`) is dropped.
 */
function parseAddress(hostname: string): { family: number; bytes: Uint8Array } {
  const bytes = parseLiteral(withoutZone(hostname));
  if (!bytes) {
    throw new TypeError(
      `Cannot look up "${hostname}": not an IPv4 or IPv6 literal`,
    );
  }
  if (bytes.length === 4) return { family: AF_INET, bytes };
  const mapped = bytes.subarray(0, 10).every((b) => b === 0) &&
    bytes[10] === 0xff && bytes[11] === 0xff;
  return mapped ? { family: AF_INET, bytes: bytes.slice(12) } : { family: AF_INET6, bytes };
}

// --- operator commands (`shifter lookup`, `shifter kernel-stats`) ---

function commandError(err: unknown): number {
  console.error(`shifter: ${err instanceof Error ? err.message : String(err)}`);
  return 1;
}

/**
 * `shifter lookup ADDR:PORT`: print where the client `target` was going,
 * from the module's table, as `CLIENT -> DEST (family, age)`.
 *
 * @param target The client's address and port.
 * @returns The exit code: 0 found; 1 no entry, module or shim unavailable,
 * or no CAP_NET_ADMIN (the reason goes to stderr).
 */
export function lookupCommand(target: HostPort): Promise<number> {
  try {
    using nl = ShifterNetlink.open();
    const r = nl.lookup(target);
    console.log(
      `${formatHostPort(target.hostname, target.port)} -> ` +
        `${formatHostPort(r.hostname, r.port)} (${r.family}, recorded ${r.ageMs} ms ago)`,
    );
    return Promise.resolve(0);
  } catch (err) {
    return Promise.resolve(commandError(err));
  }
}

/**
 * `shifter kernel-stats`: print the module's counters for this network
 * namespace, one `name value` pair per line (recorded, lookups, hits,
 * misses, expired, evicted, entries, max_entries, ttl).
 *
 * @returns The exit code: 0, or 1 when the module cannot be asked.
 */
export function kernelStatsCommand(): Promise<number> {
  try {
    using nl = ShifterNetlink.open();
    const s = nl.stats();
    const rows: [string, bigint][] = [
      ["recorded", s.recorded],
      ["lookups", s.lookups],
      ["hits", s.hits],
      ["misses", s.misses],
      ["expired", s.expired],
      ["evicted", s.evicted],
      ["entries", s.entries],
      ["max_entries", s.maxEntries],
      ["ttl", s.ttl],
    ];
    for (const [name, value] of rows) console.log(`${name} ${value}`);
    return Promise.resolve(0);
  } catch (err) {
    return Promise.resolve(commandError(err));
  }
}

/**
 * `shifter kernel-dump`: print the module's table, one
 * `CLIENT -> DEST age_ms` line per entry, followed by ` ambiguous` when the
 * client port has two pending destinations (LOOKUP answers none).
 *
 * @returns The exit code: 0, or 1 when the module cannot be asked.
 */
export function kernelDumpCommand(): Promise<number> {
  try {
    using nl = ShifterNetlink.open();
    for (const e of nl.dump()) {
      console.log(
        `${formatHostPort(e.srcHostname, e.srcPort)} -> ` +
          `${formatHostPort(e.dstHostname, e.dstPort)} ${e.ageMs}` +
          (e.ambiguous ? " ambiguous" : ""),
      );
    }
    return Promise.resolve(0);
  } catch (err) {
    return Promise.resolve(commandError(err));
  }
}

/** @internal Exposed for tests only. */
export const _internals = { parseAddress, check };

/**
 * The contract every destination resolver implements.
 *
 * A resolver answers one question for an accepted, redirected connection:
 * where was the client really going before the gateway's REDIRECT rewrote
 * the destination? Built-ins live in this folder (`sockopt`, `local`,
 * `netlink`); operators can load their own module by path (see
 * {@linkcode ResolverFactory}).
 *
 * @module
 */

/** Address family of a destination, as Deno names it. */
export type AddressFamily = "ipv4" | "ipv6";

/** Where a redirected connection was originally going. */
export interface Destination {
  /** The original destination address as a literal (`192.0.2.1`, `2001:db8::1`). */
  hostname: string;
  /** The original destination TCP port. */
  port: number;
  /** Address family of {@linkcode Destination.hostname}. */
  family: AddressFamily;
}

/** What a resolver gets to know about one accepted connection. */
export interface AcceptedConnection {
  /** The accepted connection itself. */
  conn: Deno.TcpConn;
  /** Its OS file descriptor (for socket options such as `SO_ORIGINAL_DST`). */
  fd: number;
  /** The client's address and port (the packet source). */
  remoteAddr: Deno.NetAddr;
  /** The address and port the connection was accepted on (after REDIRECT). */
  localAddr: Deno.NetAddr;
}

/** A destination resolver: a plugin that finds a connection's original destination. */
export interface Resolver {
  /** Short name used in logs (`sockopt`, `netlink`, ...). */
  readonly name: string;
  /**
   * Find where `accepted` was going before REDIRECT. A promise that has
   * not settled within 5 s (the server's resolve timeout) refuses the
   * connection.
   *
   * @throws {ResolveError} when the destination cannot be found.
   */
  resolve(accepted: AcceptedConnection): Destination | Promise<Destination>;
  /** Release native handles. Must be idempotent. */
  close?(): void | Promise<void>;
}

/**
 * Whether a resolver's answer is still to come: a promise, or any object
 * with a `then` (a plugin may return its own thenable).
 *
 * @param found What {@linkcode Resolver.resolve} returned.
 * @returns Whether to await it.
 */
export function isPendingAnswer<T>(found: T | PromiseLike<T>): found is PromiseLike<T> {
  return typeof found === "object" && found !== null &&
    typeof (found as Partial<PromiseLike<T>>).then === "function";
}

/** Options handed to every resolver factory. */
export interface ResolverOptions {
  /** Environment lookups (for library path overrides and the like). */
  env?: (name: string) => string | undefined;
}

/**
 * What a plugin module exports, either as `default` or as `createResolver`.
 *
 * The factory may throw (or reject) with a clear message when the resolver
 * cannot work on this machine: Shifter then stops with that message (only
 * `auto`, for its netlink built-in, goes on with sockopt instead).
 *
 * @example A plugin module
 * ```ts ignore
 * // my_resolver.ts
 * import type { Resolver } from "shifter/resolvers/resolver.ts";
 * export default function createResolver(): Resolver {
 *   return { name: "fixed", resolve: () => ({ hostname: "192.0.2.1", port: 443, family: "ipv4" }) };
 * }
 * ```
 */
export type ResolverFactory = (
  options: ResolverOptions,
) => Resolver | Promise<Resolver>;

/** Why a destination could not be resolved. Mirrors the kernel's `getorigdst()` codes. */
export type ResolveErrorCode =
  | "ENOENT"
  | "EINVAL"
  | "ENOPROTOOPT"
  | "EPERM"
  | "EIO";

/** Thrown when a resolver cannot find a connection's original destination. */
export class ResolveError extends Error {
  /** The errno-style reason. */
  readonly code: ResolveErrorCode;

  /**
   * Make the error.
   *
   * @param message What could not be resolved and why.
   * @param code The errno-style reason.
   * @param options The original error as `cause`, when there is one.
   */
  constructor(message: string, code: ResolveErrorCode, options?: ErrorOptions) {
    super(message, options);
    this.name = "ResolveError";
    this.code = code;
  }
}

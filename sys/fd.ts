/**
 * The OS file descriptor behind a `Deno.TcpConn`.
 *
 * Deno keeps it as an own property under a symbol whose description is
 * `"Deno.internal.fd"` (not a registered `Symbol.for` key). This is internal
 * to Deno, so {@linkcode assertFdAccess} checks it once at startup and fails
 * with a clear message if a Deno upgrade moved it.
 *
 * @module
 */

import { internalNumberField } from "./internal_field.ts";
import { withLoopbackPair } from "./loopback.ts";

const FD_DESCRIPTION = "Deno.internal.fd";
const fdOf = internalNumberField(FD_DESCRIPTION);

/**
 * The file descriptor of a connection Deno accepted.
 *
 * @param conn A TCP connection.
 * @returns Its file descriptor.
 * @throws {Error} When this Deno no longer exposes the descriptor.
 */
export function connFd(conn: Deno.Conn): number {
  const fd = fdOf(conn);
  if (fd === undefined) {
    throw new Error(
      `Cannot find the socket's file descriptor: Deno ${Deno.version.deno} has no "${FD_DESCRIPTION}" property on connections (Shifter needs Deno 2.9.6)`,
    );
  }
  return fd;
}

/**
 * Check on a real loopback connection that {@linkcode connFd} works for an
 * accepted connection (the only kind Shifter needs it for).
 *
 * @throws {Error} With the reason, when it does not.
 */
export async function assertFdAccess(): Promise<void> {
  await withLoopbackPair((_, accepted) => connFd(accepted));
}

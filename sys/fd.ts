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

const FD_DESCRIPTION = "Deno.internal.fd";
let fdSymbol: symbol | undefined;

/**
 * The file descriptor of a connection Deno accepted.
 *
 * @param conn A TCP connection.
 * @returns Its file descriptor.
 * @throws {Error} When this Deno no longer exposes the descriptor.
 */
export function connFd(conn: Deno.Conn): number {
  if (fdSymbol === undefined) {
    fdSymbol = Object.getOwnPropertySymbols(conn).find((s) => s.description === FD_DESCRIPTION);
  }
  const fd = fdSymbol === undefined
    ? undefined
    : (conn as unknown as Record<symbol, unknown>)[fdSymbol];
  if (typeof fd !== "number") {
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
  let listener: Deno.TcpListener | undefined;
  let client: Deno.TcpConn | undefined;
  let accepted: Deno.TcpConn | undefined;
  try {
    try {
      listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
      accepted = await listener.accept();
    } catch (error) {
      throw new Error(
        `the self-check on 127.0.0.1 failed (is the loopback interface up?): ${
          error instanceof Error ? error.message : error
        }`,
        { cause: error },
      );
    }
    connFd(accepted);
  } finally {
    for (const c of [accepted, client, listener]) {
      try {
        c?.close();
      } catch { /* closed */ }
    }
  }
}

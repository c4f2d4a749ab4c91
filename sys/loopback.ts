/**
 * A connected TCP pair on 127.0.0.1, for the startup self-checks that need
 * a real accepted connection (its fd, its resource id).
 *
 * @module
 */

/**
 * Open a listener on 127.0.0.1, connect to it, accept, run `use` with both
 * ends, and close all three whatever happens.
 *
 * @param use Gets the connecting end and the accepted end.
 * @returns What `use` returns.
 * @throws {Error} "the self-check on 127.0.0.1 failed ..." when the pair
 *   cannot be opened (loopback down, no permission), else what `use` throws.
 */
export async function withLoopbackPair<T>(
  use: (connected: Deno.TcpConn, accepted: Deno.TcpConn) => Promise<T> | T,
): Promise<T> {
  let listener: Deno.TcpListener | undefined;
  let connected: Deno.TcpConn | undefined;
  let accepted: Deno.TcpConn | undefined;
  try {
    try {
      listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      connected = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
      accepted = await listener.accept();
    } catch (error) {
      throw new Error(
        `the self-check on 127.0.0.1 failed (is the loopback interface up?): ${
          error instanceof Error ? error.message : error
        }`,
        { cause: error },
      );
    }
    return await use(connected, accepted);
  } finally {
    for (const c of [accepted, connected, listener]) {
      try {
        c?.close();
      } catch { /* closed */ }
    }
  }
}

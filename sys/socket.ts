/**
 * Socket operations Deno has no API for.
 *
 * @module
 */

import { connFd } from "./fd.ts";
import { setsockopt, SO_LINGER, SOL_SOCKET } from "./libc.ts";

// struct linger { int l_onoff = 1; int l_linger = 0; }: close() sends RST.
const LINGER_RESET = new Uint8Array(new Int32Array([1, 0]).buffer);

/**
 * Close a connection with a TCP reset, so that the peer fails at once
 * instead of waiting or mistaking the close for a complete response.
 * Never throws: a connection that is already gone is simply closed.
 *
 * @param conn The connection to reset.
 */
export function resetConn(conn: Deno.Conn): void {
  try {
    setsockopt(connFd(conn), SOL_SOCKET, SO_LINGER, LINGER_RESET);
  } catch {
    // Fall through to a plain close: better than leaking the socket.
  }
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}

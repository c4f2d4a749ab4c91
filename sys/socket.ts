/**
 * Socket operations Deno has no API for.
 *
 * @module
 */

import { findConnFd } from "./fd.ts";
import { disconnect } from "./libc.ts";

/**
 * Close a connection with a TCP reset, so that the peer fails at once
 * instead of waiting or mistaking the close for a complete response.
 * Never throws: a connection that is already gone, or whose descriptor
 * cannot be found, is simply closed.
 *
 * Only for a connection not yet closed: once it is, its descriptor number
 * may already belong to another socket, and the reset would hit that one.
 *
 * @param conn The connection to reset, still open: accepted, or from
 *   `Deno.connect()` (its descriptor is then looked up, see
 *   {@linkcode findConnFd}).
 * @param sibling An accepted connection opened about when `conn` was (its
 *   client), where that lookup starts.
 * @returns Whether the reset was sent.
 */
export function resetConn(conn: Deno.Conn, sibling?: Deno.Conn): boolean {
  // SO_LINGER 0 alone is not enough: Deno shuts the write side down (FIN)
  // before close(), so the peer would read a clean end of stream first.
  // Disconnecting sends the RST straight away.
  let reset = false;
  try {
    const fd = findConnFd(conn, sibling === undefined ? undefined : findConnFd(sibling));
    reset = fd !== undefined && disconnect(fd) === 0;
  } catch {
    // Fall through to a plain close: better than leaking the socket.
  }
  try {
    conn.close();
  } catch {
    // Already closed.
  }
  return reset;
}

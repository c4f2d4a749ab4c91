/**
 * The OS file descriptor behind a `Deno.TcpConn`.
 *
 * For a connection Deno accepted, Deno keeps it as an own property under a
 * symbol whose description is `"Deno.internal.fd"` (not a registered
 * `Symbol.for` key). This is internal to Deno, so {@linkcode assertFdAccess}
 * checks it once at startup and fails with a clear message if a Deno
 * upgrade moved it. A connection from `Deno.connect()` has the property
 * too, but `undefined`: {@linkcode findConnFd} looks for its descriptor by
 * its addresses instead.
 *
 * @module
 */

import { parseAddress } from "../resolvers/address.ts";
import { internalNumberField } from "./internal_field.ts";
import { getpeername, getsockname } from "./libc.ts";
import { withLoopbackPair } from "./loopback.ts";

const FD_DESCRIPTION = "Deno.internal.fd";
const fdOf = internalNumberField(FD_DESCRIPTION);

/**
 * The file descriptor of a connection Deno accepted (see
 * {@linkcode findConnFd} for any connection).
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
 * accepted connection (the sockopt resolver needs it for every client;
 * {@linkcode findConnFd}, for the rare reset of an upstream connection,
 * is tested beside it).
 *
 * @throws {Error} With the reason, when it does not.
 */
export async function assertFdAccess(): Promise<void> {
  await withLoopbackPair((_, accepted) => {
    const fd = connFd(accepted);
    // A number is not enough: were it some other socket's, sockopt would
    // answer that socket's destination for every client.
    if (!isConnFd(accepted, fd)) {
      throw new Error(
        `Cannot use the socket's file descriptor: Deno ${Deno.version.deno}'s "${FD_DESCRIPTION}" (${fd}) is not the connection's socket (Shifter needs Deno 2.9.6)`,
      );
    }
  });
}

/**
 * Whether `fd` is the socket of `conn`: its local and peer addresses.
 *
 * @param conn An open TCP connection.
 * @param fd A file descriptor.
 * @returns Whether they match.
 */
export function isConnFd(conn: Deno.Conn, fd: number): boolean {
  const local = conn.localAddr, peer = conn.remoteAddr;
  if (local.transport !== "tcp" || peer.transport !== "tcp") return false;
  const localBytes = parseAddress(local.hostname);
  const peerBytes = parseAddress(peer.hostname);
  return localBytes !== undefined && peerBytes !== undefined &&
    hasAddresses(fd, local.port, localBytes, peer.port, peerBytes);
}

function hasAddresses(
  fd: number,
  localPort: number,
  localBytes: Uint8Array,
  peerPort: number,
  peerBytes: Uint8Array,
): boolean {
  return isAddress(getsockname(fd, sockaddr), localPort, localBytes) &&
    isAddress(getpeername(fd, sockaddr), peerPort, peerBytes);
}

/** How far from the hint {@linkcode findConnFd} looks, each way. */
const REACH = 256;
/**
 * Descriptors {@linkcode findConnFd} may probe per second, all calls
 * together (about 50 ms of system calls): a client that resets connections
 * on purpose must not buy the event loop's time with them.
 */
const PROBES_PER_SECOND = 20_000;
const AF_INET = 2, AF_INET6 = 10;
// A struct sockaddr_storage, shared: the calls are synchronous.
const sockaddr = new Uint8Array(128);
let probeSecond = 0;
let probesLeft = PROBES_PER_SECOND;

/**
 * The file descriptor of any open TCP connection: Deno's own number when it
 * has one (accepted connections), else the open descriptor within
 * {@linkcode REACH} numbers of `near` whose socket has the connection's
 * local and peer addresses. Linux hands out the lowest free number, so a
 * connection opened soon after `near` sits near it, unless many others
 * opened in between. Costs nothing until called; meant for rare paths such
 * as passing a reset on, and bounded: a system call per number tried, and
 * no more than {@linkcode PROBES_PER_SECOND} of them a second.
 *
 * @param conn An open connection (once closed, its number may be another's).
 * @param near A descriptor opened about when `conn` was, to start from.
 * @returns The descriptor, or `undefined` when none within reach matches,
 *   or the second's probes are spent.
 */
export function findConnFd(conn: Deno.Conn, near = 0): number | undefined {
  const own = fdOf(conn);
  if (own !== undefined) return own;
  const local = conn.localAddr, peer = conn.remoteAddr;
  if (local.transport !== "tcp" || peer.transport !== "tcp") return undefined;
  const localBytes = parseAddress(local.hostname);
  const peerBytes = parseAddress(peer.hostname);
  if (localBytes === undefined || peerBytes === undefined) return undefined;
  const second = Math.floor(performance.now() / 1000);
  if (second !== probeSecond) {
    probeSecond = second;
    probesLeft = PROBES_PER_SECOND;
  }
  const matches = (fd: number) => hasAddresses(fd, local.port, localBytes, peer.port, peerBytes);
  for (let d = 1; d <= REACH && probesLeft > 0; d++) {
    probesLeft--;
    if (matches(near + d)) return near + d;
    if (near - d >= 0) {
      probesLeft--;
      if (matches(near - d)) return near - d;
    }
  }
  return undefined;
}

/** Whether `sockaddr`, `length` bytes long (or `-errno`), is `bytes`:`port`. */
function isAddress(length: number, port: number, bytes: Uint8Array): boolean {
  if (length < 8 || ((sockaddr[2]! << 8) | sockaddr[3]!) !== port) return false;
  const family = sockaddr[0]! | (sockaddr[1]! << 8); // sa_family_t, host order
  if (family === AF_INET) return bytes.length === 4 && sameBytes(4, bytes);
  if (family !== AF_INET6 || length < 24) return false;
  // An IPv4 peer of an IPv6 socket shows as ::ffff:a.b.c.d.
  return bytes.length === 16 ? sameBytes(8, bytes) : isV4Mapped() && sameBytes(20, bytes);
}

function sameBytes(offset: number, bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (sockaddr[offset + i] !== bytes[i]) return false;
  return true;
}

function isV4Mapped(): boolean {
  for (let i = 8; i < 18; i++) if (sockaddr[i] !== 0) return false;
  return sockaddr[18] === 0xff && sockaddr[19] === 0xff;
}

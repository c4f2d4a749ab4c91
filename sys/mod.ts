/**
 * Operating-system bindings Deno lacks: file descriptors of connections,
 * libc socket options, TCP reset, handing memory back after load, and the
 * system resolver's every address for a name.
 *
 * @module
 */

export { assertFdAccess, connFd, findConnFd } from "./fd.ts";
export { checkDirectIo, closeWriteDirect, directRid, readDirect, writeDirect } from "./io.ts";
export { type HostLookup, systemLookup } from "./lookup.ts";
export { resetConn } from "./socket.ts";
export {
  disconnect,
  getpeername,
  getsockname,
  getsockopt,
  mallocTrim,
  SO_ORIGINAL_DST,
  SOL_IP,
  SOL_IPV6,
} from "./libc.ts";
export { canCompactHeap, releaseMemory, type ReleaseResult, residentBytes } from "./memory.ts";

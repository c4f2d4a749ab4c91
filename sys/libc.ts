/**
 * The few libc calls Shifter needs: on sockets Deno owns, `getsockopt` for
 * `SO_ORIGINAL_DST`, `getsockname`/`getpeername` to find the descriptor of
 * a connection Deno does not say, and `connect(AF_UNSPEC)` to reset a
 * connection; and
 * glibc's `malloc_trim` to hand freed heap back to the kernel after load.
 *
 * Loaded once, lazily, so that a daemon that never needs them never opens
 * libc through FFI.
 *
 * @module
 */

// getsockname() and getpeername() have the same signature.
const SOCKADDR_OF = {
  parameters: [
    "i32", // int sockfd
    "buffer", // struct sockaddr *addr
    "buffer", // socklen_t *addrlen
  ],
  result: "i32", // int: 0 or -1 with errno
} as const;

const symbols = {
  getsockopt: {
    parameters: [
      "i32", // int sockfd
      "i32", // int level
      "i32", // int optname
      "buffer", // void *optval
      "buffer", // socklen_t *optlen
    ],
    result: "i32", // int: 0 or -1 with errno
  },
  getsockname: SOCKADDR_OF,
  getpeername: SOCKADDR_OF,
  connect: {
    parameters: [
      "i32", // int sockfd
      "buffer", // const struct sockaddr *addr
      "u32", // socklen_t addrlen
    ],
    result: "i32", // int: 0 or -1 with errno
  },
  __errno_location: {
    parameters: [],
    result: "pointer", // int *
  },
  // glibc only (musl has none): optional, so its absence costs nothing else.
  malloc_trim: {
    parameters: ["usize"], // size_t pad
    result: "i32", // int: 1 if memory was released
    optional: true,
  },
} as const satisfies Deno.ForeignLibraryInterface;

/** The library path; `SHIFTER_LIBC` overrides it (musl systems, tests). */
const LIBC_PATH = "libc.so.6";

let lib: Deno.DynamicLibrary<typeof symbols> | undefined;

function load(): Deno.DynamicLibrary<typeof symbols>["symbols"] {
  if (lib === undefined) {
    const path = Deno.env.get("SHIFTER_LIBC") ?? LIBC_PATH;
    try {
      lib = Deno.dlopen(path, symbols);
    } catch (error) {
      throw new Error(
        `Cannot load libc from "${path}" for socket options: run with --allow-ffi, or set SHIFTER_LIBC to the C library's path`,
        { cause: error },
      );
    }
  }
  return lib.symbols;
}

/** `SOL_IP` (`IPPROTO_IP`), Linux value. */
export const SOL_IP = 0;
/** `SOL_IPV6` (`IPPROTO_IPV6`). */
export const SOL_IPV6 = 41;
/** `SO_ORIGINAL_DST` and `IP6T_SO_ORIGINAL_DST` share the value 80. */
export const SO_ORIGINAL_DST = 80;

// errno is read right after the call on the same thread: FFI calls are
// synchronous here, so nothing can run in between.
function errno(): number {
  const p = load().__errno_location();
  return p === null ? 0 : new Deno.UnsafePointerView(p).getInt32();
}

// The socklen_t of getsockopt and friends, shared: calls are synchronous.
const optlen = new Uint32Array(1);

// What such a call wrote (`optlen`) when it returned 0, else `-errno`.
function lengthOrErrno(rc: number): number {
  return rc === 0 ? optlen[0]! : -errno();
}

/**
 * `getsockopt(2)` into `out`.
 *
 * @param fd The socket's file descriptor.
 * @param level The option level (`SOL_IP`...).
 * @param name The option name.
 * @param out Receives the option value.
 * @returns The number of bytes written, or `-errno`.
 */
export function getsockopt(
  fd: number,
  level: number,
  name: number,
  out: Uint8Array<ArrayBuffer>,
): number {
  optlen[0] = out.byteLength;
  return lengthOrErrno(load().getsockopt(fd, level, name, out, optlen));
}

/**
 * `getsockname(2)` into `out` (a `struct sockaddr_storage`'s worth: 128
 * bytes holds any address).
 *
 * @param fd The socket's file descriptor.
 * @param out Receives the local address.
 * @returns The address's length, or `-errno` (`-ENOTSOCK` for a file).
 */
export function getsockname(fd: number, out: Uint8Array<ArrayBuffer>): number {
  optlen[0] = out.byteLength;
  return lengthOrErrno(load().getsockname(fd, out, optlen));
}

/**
 * `getpeername(2)` into `out`.
 *
 * @param fd The socket's file descriptor.
 * @param out Receives the peer's address.
 * @returns The address's length, or `-errno`.
 */
export function getpeername(fd: number, out: Uint8Array<ArrayBuffer>): number {
  optlen[0] = out.byteLength;
  return lengthOrErrno(load().getpeername(fd, out, optlen));
}

// struct sockaddr { sa_family_t sa_family = AF_UNSPEC; ... }
const AF_UNSPEC_ADDR = new Uint8Array(16);

/**
 * `connect(2)` to `AF_UNSPEC`: dissolves a TCP connection at once, sending
 * a reset to the peer when the connection was established (the kernel's
 * `tcp_disconnect()`). The descriptor stays open for its owner to close.
 *
 * @param fd The socket's file descriptor.
 * @returns 0, or `-errno`.
 */
export function disconnect(fd: number): number {
  const rc = load().connect(fd, AF_UNSPEC_ADDR, AF_UNSPEC_ADDR.byteLength);
  return rc === 0 ? 0 : -errno();
}

/**
 * glibc's `malloc_trim(0)`: give the free pages of every malloc arena back
 * to the kernel.
 *
 * @returns Whether it ran (false without glibc or without FFI).
 */
export function mallocTrim(): boolean {
  let trim;
  try {
    trim = load().malloc_trim;
  } catch {
    return false;
  }
  if (trim === null) return false;
  trim(0n);
  return true;
}

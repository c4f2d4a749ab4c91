/**
 * The FFI symbol table of `libshifter_nl.so` (libnl-shim/shifter_nl.h) and
 * the byte layouts of the structs it fills. Private to `netlink.ts`.
 *
 * Every call is synchronous: a netlink round trip to the module is a few
 * microseconds, each wait is bounded by the handle's receive timeout, and a
 * `nonblocking: true` call costs a thread hop and a promise per lookup
 * (measured by the ffi_sync_vs_nonblocking check of tests/kernel/vm_suite.ts).
 *
 * @module
 */

/**
 * The struct layout these offsets are for: `SHIFTER_NL_ABI` of
 * `shifter_nl.h`, checked against the library's `shifter_nl_abi()`.
 */
export const SHIFTER_NL_ABI = 2;

/** Symbols of `libshifter_nl.so`, version nodes `SHIFTER_NL_1` and `SHIFTER_NL_2`. */
export const symbols = {
  shifter_nl_abi: {
    parameters: [],
    result: "u32", // uint32_t: SHIFTER_NL_ABI at build time
  },
  shifter_nl_open: {
    parameters: [
      "buffer", // struct shifter_nl **handle
      "u32", // uint32_t timeout_ms
    ],
    result: "i32", // int: 0 or -errno
  },
  shifter_nl_lookup: {
    parameters: [
      "pointer", // struct shifter_nl *h
      "u32", // uint32_t family
      "buffer", // const void *addr
      "u32", // uint32_t addr_len
      "u32", // uint32_t port
      "buffer", // struct shifter_nl_dest *out
    ],
    result: "i32", // int: 0 or -errno
  },
  shifter_nl_stats: {
    parameters: [
      "pointer", // struct shifter_nl *h
      "buffer", // struct shifter_nl_stats *out
    ],
    result: "i32", // int: 0 or -errno
  },
  shifter_nl_dump: {
    parameters: [
      "pointer", // struct shifter_nl *h
      "buffer", // struct shifter_nl_entry *out
      "u32", // uint32_t max
    ],
    result: "i32", // int: entry count or -errno
  },
  shifter_nl_close: {
    parameters: [
      "pointer", // struct shifter_nl *h
    ],
    result: "void",
  },
} as const satisfies Deno.ForeignLibraryInterface;

/** The loaded library's callable symbols. */
export type ShifterNlSymbols = Deno.DynamicLibrary<typeof symbols>["symbols"];

/** `struct shifter_nl_dest`: family u32 @0, age_ms u32 @4, port u16 @8, addr[16] @12. */
export const DEST_SIZE = 28;
/**
 * `struct shifter_nl_entry`: family @0, age_ms @4, src_port @8, dst_port @10,
 * src @12, dst @28, flags @44.
 */
export const ENTRY_SIZE = 48;
/** `SHIFTER_NL_ENTRY_AMBIGUOUS` in `shifter_nl_entry.flags`. */
export const ENTRY_AMBIGUOUS = 1;
/** `struct shifter_nl_stats`: nine u64 in header order. */
export const STATS_SIZE = 72;

/** `AF_INET` on Linux. */
export const AF_INET = 2;
/** `AF_INET6` on Linux. */
export const AF_INET6 = 10;

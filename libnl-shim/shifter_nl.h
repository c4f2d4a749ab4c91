/* SPDX-License-Identifier: MIT */
/*
 * libshifter_nl: a small C API over libnl-genl-3 for the Shifter kernel
 * module's generic netlink family "SHIFTER" (kernel/uapi/shifter_genl.h).
 *
 * Error contract for every function: a return value >= 0 means success, a
 * negative value is -errno. libnl's own -NLE_* codes never leak out.
 *
 * Thread safety: a handle may be shared between threads; each call takes the
 * handle's mutex, so calls on one handle run one after another. Closing a
 * handle while another thread is in a call on it is a use after free: the
 * caller must make sure no call is running (Deno calls synchronously, from
 * one thread).
 *
 * Waiting: each receive is bounded by the handle's receive timeout, and a
 * call receives until its own reply comes (skipping stale replies to
 * earlier, timed-out requests), at most 1024 times: so a LOOKUP answers
 * within one timeout unless stale messages keep arriving.
 *
 * Module reloads: the family gets a new id on each insmod. A request that
 * the kernel answers with -ENOENT resolves the family again (at most every
 * 100 ms: an -ENOENT is mostly a plain miss) and, when the id moved, is
 * retried once, so an open handle survives rmmod + insmod; with the family
 * gone it answers -ENODEV.
 */
#ifndef SHIFTER_NL_H
#define SHIFTER_NL_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** An open netlink socket bound to the SHIFTER family. Opaque. */
struct shifter_nl;

/**
 * Original destination of one recorded connection (LOOKUP reply).
 * Layout is fixed (28 bytes): callers over FFI read it by offset.
 */
struct shifter_nl_dest {
	uint32_t family;	/* 0: AF_INET (2) or AF_INET6 (10) */
	uint32_t age_ms;	/* 4: milliseconds since the SYN */
	uint16_t port;		/* 8: destination port, host order */
	uint16_t reserved;	/* 10: zero */
	uint8_t addr[16];	/* 12: 4 or 16 network-order bytes */
};

/*
 * Layout version of the structs below, returned by shifter_nl_abi(): a
 * caller that reads them checks it before use, so that a library built
 * from older sources is refused rather than misread. Bumped with any
 * change of layout. 1: shifter_nl_entry of 44 bytes, without flags.
 */
#define SHIFTER_NL_ABI	2

/* shifter_nl_entry.flags: two pending destinations; LOOKUP answers -ENOENT. */
#define SHIFTER_NL_ENTRY_AMBIGUOUS	1u

/** One table entry (DUMP). Fixed layout, 48 bytes. */
struct shifter_nl_entry {
	uint32_t family;	/* 0 */
	uint32_t age_ms;	/* 4 */
	uint16_t src_port;	/* 8, host order */
	uint16_t dst_port;	/* 10, host order */
	uint8_t src_addr[16];	/* 12 */
	uint8_t dst_addr[16];	/* 28 */
	uint32_t flags;		/* 44: SHIFTER_NL_ENTRY_* */
};

/** Module counters (STATS). Fixed layout, 9 x u64 = 72 bytes. */
struct shifter_nl_stats {
	uint64_t recorded;	/* 0 */
	uint64_t lookups;	/* 8 */
	uint64_t hits;		/* 16 */
	uint64_t misses;	/* 24 */
	uint64_t expired;	/* 32 */
	uint64_t evicted;	/* 40 */
	uint64_t entries;	/* 48 */
	uint64_t max_entries;	/* 56 */
	uint64_t ttl;		/* 64, seconds */
};

/**
 * shifter_nl_abi() - the struct layout this library was built with.
 *
 * Return: SHIFTER_NL_ABI as it was at build time.
 */
uint32_t shifter_nl_abi(void);

/**
 * shifter_nl_open() - connect to generic netlink and resolve "SHIFTER".
 * @handle: receives the new handle on success; untouched on failure.
 * @timeout_ms: bound on every later wait for a reply (0 picks 1000 ms).
 *
 * Return: 0, or -ENOENT when the family is not registered (module not
 * loaded), -ENOMEM, or another -errno from socket setup.
 */
int shifter_nl_open(struct shifter_nl **handle, uint32_t timeout_ms);

/**
 * shifter_nl_lookup() - original destination of a client's connection.
 * @h: an open handle.
 * @family: AF_INET or AF_INET6.
 * @addr: the client address, @addr_len network-order bytes.
 * @addr_len: 4 for AF_INET, 16 for AF_INET6.
 * @port: the client port, host order.
 * @out: receives the destination on success.
 *
 * Return: 0; -ENOENT no entry; -ENODEV the module is not loaded (any
 * more: checked at most every 100 ms, -ENOENT in between); -EINVAL bad
 * arguments; -ENOPROTOOPT family not supported; -EPERM caller lacks
 * CAP_NET_ADMIN; -ETIMEDOUT no reply in time; -EBADF @h is NULL; other
 * -errno from the socket.
 */
int shifter_nl_lookup(struct shifter_nl *h, uint32_t family, const void *addr,
		      uint32_t addr_len, uint32_t port,
		      struct shifter_nl_dest *out);

/**
 * shifter_nl_stats() - read the module's counters for this netns.
 * @h: an open handle.
 * @out: receives the counters.
 *
 * Return: 0; -ENODEV the module is not loaded (any more); -EPERM caller
 * lacks CAP_NET_ADMIN; -ETIMEDOUT; -EPROTO reply without counters; other
 * -errno.
 */
int shifter_nl_stats(struct shifter_nl *h, struct shifter_nl_stats *out);

/**
 * shifter_nl_dump() - copy the table of this netns.
 * @h: an open handle.
 * @out: array of @max entries (may be NULL when @max is 0).
 * @max: capacity of @out.
 *
 * Return: the number of entries in the table (may exceed @max: only the
 * first @max are copied; call again with a larger array), or -errno as for
 * shifter_nl_stats().
 */
int shifter_nl_dump(struct shifter_nl *h, struct shifter_nl_entry *out,
		    uint32_t max);

/**
 * shifter_nl_close() - free a handle. NULL is accepted and ignored.
 * @h: the handle; it must not be used afterwards.
 */
void shifter_nl_close(struct shifter_nl *h);

#ifdef __cplusplus
}
#endif

#endif /* SHIFTER_NL_H */

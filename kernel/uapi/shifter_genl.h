/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * Shifter generic netlink interface, shared by the kernel module
 * (kernel/shifter.c) and the user-space shim (libnl-shim/shifter_nl.c).
 *
 * Family "SHIFTER", version 1. Every command needs CAP_NET_ADMIN in the
 * user namespace that owns the caller's network namespace, and acts on
 * that network namespace.
 *
 * Byte order: addresses are raw network-order bytes (struct in_addr or
 * struct in6_addr); ports are u16 in host byte order.
 *
 * SHIFTER_CMD_LOOKUP (doit)
 *   request:
 *     SHIFTER_A_FAMILY    u8      AF_INET or AF_INET6            (required)
 *     SHIFTER_A_SRC_ADDR  binary  4 bytes (AF_INET) or 16 (AF_INET6)
 *                                 the client address             (required)
 *     SHIFTER_A_SRC_PORT  u16     the client port, non-zero      (required)
 *     SHIFTER_A_PROTOCOL  u8      IPPROTO_TCP                    (optional)
 *   reply (SHIFTER_CMD_LOOKUP):
 *     SHIFTER_A_FAMILY    u8      family of the destination
 *     SHIFTER_A_DST_ADDR  binary  original destination address
 *     SHIFTER_A_DST_PORT  u16     original destination port
 *     SHIFTER_A_AGE_MS    u32     milliseconds since the SYN was recorded
 *   errors, as the kernel's getorigdst():
 *     -ENOENT       no entry: never recorded, the client sent RST, or FIN
 *                   after a LOOKUP (or fin_grace_ms after a FIN that came
 *                   first), older than ttl, or evicted at max_entries
 *     -EINVAL       a required attribute is missing, has the wrong length for
 *                   the family or the wrong type size, or is unknown
 *     -ERANGE       the netlink core's own answer when the policy's range
 *                   fails: address shorter than 4 or longer than 16 bytes,
 *                   port 0 (a bad request, like -EINVAL)
 *     -ENOPROTOOPT  family other than AF_INET/AF_INET6, protocol not TCP
 *     -EPERM        the caller lacks CAP_NET_ADMIN
 *
 * SHIFTER_CMD_STATS (doit, no request attributes: any is -EINVAL)
 *   reply (SHIFTER_CMD_STATS):
 *     SHIFTER_A_STATS     nested
 *       SHIFTER_STATS_A_RECORDED     u64  SYNs recorded
 *       SHIFTER_STATS_A_LOOKUPS      u64  LOOKUP requests answered
 *       SHIFTER_STATS_A_HITS         u64  lookups that found an entry
 *       SHIFTER_STATS_A_MISSES       u64  lookups that did not
 *       SHIFTER_STATS_A_EXPIRED      u64  entries dropped after ttl
 *       SHIFTER_STATS_A_EVICTED      u64  oldest entries dropped at max_entries
 *       SHIFTER_STATS_A_ENTRIES      u32  entries in the table now
 *       SHIFTER_STATS_A_MAX_ENTRIES  u32  entries this namespace holds: the
 *                                         max_entries parameter, at most 32
 *                                         times its buckets (sized from
 *                                         max_entries when it is made)
 *       SHIFTER_STATS_A_TTL          u32  the ttl parameter, seconds
 *
 * SHIFTER_CMD_DUMP (dumpit, no request attributes: any is -EINVAL)
 *   one SHIFTER_CMD_DUMP message per entry:
 *     SHIFTER_A_FAMILY, SHIFTER_A_SRC_ADDR, SHIFTER_A_SRC_PORT,
 *     SHIFTER_A_DST_ADDR, SHIFTER_A_DST_PORT, SHIFTER_A_AGE_MS, and
 *     SHIFTER_A_AMBIGUOUS  flag  present when the client port has two
 *                                pending destinations (the latest SYN's is
 *                                shown); LOOKUP answers -ENOENT for it
 */
#ifndef _UAPI_SHIFTER_GENL_H
#define _UAPI_SHIFTER_GENL_H

#define SHIFTER_GENL_NAME	"SHIFTER"
#define SHIFTER_GENL_VERSION	1

enum shifter_cmd {
	SHIFTER_CMD_UNSPEC,
	SHIFTER_CMD_LOOKUP,
	SHIFTER_CMD_STATS,
	SHIFTER_CMD_DUMP,
	__SHIFTER_CMD_MAX
};

#define SHIFTER_CMD_MAX (__SHIFTER_CMD_MAX - 1)

enum shifter_attr {
	SHIFTER_A_UNSPEC,
	SHIFTER_A_FAMILY,
	SHIFTER_A_SRC_ADDR,
	SHIFTER_A_SRC_PORT,
	SHIFTER_A_PROTOCOL,
	SHIFTER_A_DST_ADDR,
	SHIFTER_A_DST_PORT,
	SHIFTER_A_AGE_MS,
	SHIFTER_A_STATS,
	SHIFTER_A_AMBIGUOUS,
	__SHIFTER_A_MAX
};

#define SHIFTER_A_MAX (__SHIFTER_A_MAX - 1)

enum shifter_stats_attr {
	SHIFTER_STATS_A_UNSPEC,
	SHIFTER_STATS_A_PAD,
	SHIFTER_STATS_A_RECORDED,
	SHIFTER_STATS_A_LOOKUPS,
	SHIFTER_STATS_A_HITS,
	SHIFTER_STATS_A_MISSES,
	SHIFTER_STATS_A_EXPIRED,
	SHIFTER_STATS_A_EVICTED,
	SHIFTER_STATS_A_ENTRIES,
	SHIFTER_STATS_A_MAX_ENTRIES,
	SHIFTER_STATS_A_TTL,
	__SHIFTER_STATS_A_MAX
};

#define SHIFTER_STATS_A_MAX (__SHIFTER_STATS_A_MAX - 1)

#endif /* _UAPI_SHIFTER_GENL_H */

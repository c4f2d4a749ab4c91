// SPDX-License-Identifier: MIT
/*
 * vmtool: the in-VM helper of the kernel test suite (tests/kernel/).
 *
 *   vmtool [-n NETNS_PATH] [-u UID] [-U] COMMAND ...
 *
 *   connect HOST PORT SPORT fin|rst   connect from SPORT, print "connected",
 *                                     wait for a line on stdin, then close
 *                                     normally (FIN) or abortively (RST)
 *   syn HOST PORT SPORT0 COUNT        send COUNT SYNs from SPORT0.. (closed
 *                                     while in SYN_SENT: nothing else sent)
 *   lookup HOST PORT                  one lookup through libshifter_nl
 *   stats                             counters through libshifter_nl
 *   dump                              table through libshifter_nl
 *   malformed                         raw genl requests the module must
 *                                     reject; prints "case NAME got want"
 *   echo HOST PORT SPORT BYTES        send BYTES of a pattern, half-close,
 *                                     expect the same bytes back (an echo
 *                                     origin behind the proxy), "echo OK"
 *   hammer SECONDS                    lookups/stats/dumps in a loop,
 *                                     reopening when the family goes away
 *
 * -n enters a network namespace (setns) before anything else; -u drops to
 * UID (and its capabilities) after that, so the netlink socket is opened
 * unprivileged; -U then makes a user namespace (its root is the caller's
 * UID outside) and a network namespace it owns, as a container runtime
 * does: capabilities there, none in the initial user namespace.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>

#include "shifter_genl.h"
#include "shifter_nl.h"

static int parse_addr(const char *host, struct sockaddr_storage *ss,
		      socklen_t *len, uint16_t port)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		*len = sizeof(*sin);
		return AF_INET;
	}
	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		*len = sizeof(*sin6);
		return AF_INET6;
	}
	fprintf(stderr, "vmtool: bad address %s\n", host);
	exit(2);
}

static int bound_socket(int family, uint16_t sport)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int one = 1;
	int fd;

	fd = socket(family, SOCK_STREAM, 0);
	if (fd < 0) {
		perror("socket");
		exit(1);
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	parse_addr(family == AF_INET ? "0.0.0.0" : "::", &ss, &len, sport);
	if (bind(fd, (struct sockaddr *)&ss, len) < 0) {
		perror("bind");
		exit(1);
	}
	return fd;
}

static int cmd_connect(char **argv)
{
	struct sockaddr_storage ss;
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	socklen_t len;
	char line[16];
	int family, fd;

	family = parse_addr(argv[0], &ss, &len, atoi(argv[1]));
	fd = bound_socket(family, atoi(argv[2]));
	if (connect(fd, (struct sockaddr *)&ss, len) < 0) {
		perror("connect");
		return 1;
	}
	printf("connected\n");
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		line[0] = 0;
	if (!strcmp(argv[3], "rst"))
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
	/* Let the FIN or RST leave before the caller looks again. */
	usleep(100 * 1000);
	printf("closed\n");
	return 0;
}

static int cmd_syn(char **argv)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int family, fd, i, sent = 0;
	int sport0 = atoi(argv[2]);
	int count = atoi(argv[3]);

	family = parse_addr(argv[0], &ss, &len, atoi(argv[1]));
	for (i = 0; i < count; i++) {
		fd = bound_socket(family, sport0 + i);
		fcntl(fd, F_SETFL, O_NONBLOCK);
		if (connect(fd, (struct sockaddr *)&ss, len) < 0 &&
		    errno == EINPROGRESS)
			sent++;
		/* Closing in SYN_SENT sends nothing: the SYN alone stays. */
		close(fd);
	}
	printf("sent %d\n", sent);
	return sent == count ? 0 : 1;
}

static int cmd_echo(char **argv)
{
	struct sockaddr_storage ss;
	socklen_t len;
	long total = atol(argv[3]), sent = 0, got = 0, bad = -1;
	static unsigned char out[65536], in[65536];
	struct pollfd pfd;
	int family, fd, i;
	ssize_t n;

	for (i = 0; i < (int)sizeof(out); i++)
		out[i] = (unsigned char)(i * 7 + i / 251);
	family = parse_addr(argv[0], &ss, &len, atoi(argv[1]));
	fd = bound_socket(family, atoi(argv[2]));
	if (connect(fd, (struct sockaddr *)&ss, len) < 0) {
		perror("connect");
		return 1;
	}
	fcntl(fd, F_SETFL, O_NONBLOCK);
	pfd.fd = fd;
	for (;;) {
		pfd.events = POLLIN | (sent < total ? POLLOUT : 0);
		if (poll(&pfd, 1, 10000) <= 0) {
			printf("echo TIMEOUT sent=%ld got=%ld\n", sent, got);
			return 1;
		}
		if (sent < total && (pfd.revents & POLLOUT)) {
			long chunk = total - sent;
			long at = sent % sizeof(out);

			if (chunk > (long)sizeof(out) - at)
				chunk = sizeof(out) - at;
			n = send(fd, out + at, chunk, MSG_NOSIGNAL);
			if (n > 0)
				sent += n;
			if (sent == total)
				shutdown(fd, SHUT_WR);
		}
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
			n = recv(fd, in, sizeof(in), 0);
			if (n == 0)
				break;
			if (n < 0 && errno != EAGAIN) {
				perror("recv");
				return 1;
			}
			for (i = 0; i < n; i++, got++)
				if (bad < 0 && in[i] != out[got % sizeof(out)])
					bad = got;
		}
	}
	close(fd);
	if (got != total || bad >= 0) {
		printf("echo MISMATCH sent=%ld got=%ld first_bad=%ld\n", sent, got, bad);
		return 1;
	}
	printf("echo OK %ld\n", got);
	return 0;
}

static const char *errname(int err)
{
	switch (err) {
	case 0: return "OK";
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case EINVAL: return "EINVAL";
	case ERANGE: return "ERANGE";
	case ENOPROTOOPT: return "ENOPROTOOPT";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case ETIMEDOUT: return "ETIMEDOUT";
	case EPROTO: return "EPROTO";
	case EMSGSIZE: return "EMSGSIZE";
	default: return "E?";
	}
}

static struct shifter_nl *open_or_die(void)
{
	struct shifter_nl *h;
	int ret = shifter_nl_open(&h, 1000);

	if (ret < 0) {
		printf("open %s %d\n", errname(-ret), ret);
		exit(3);
	}
	return h;
}

static int cmd_lookup(char **argv)
{
	struct shifter_nl *h = open_or_die();
	struct sockaddr_storage ss;
	struct shifter_nl_dest d;
	char buf[INET6_ADDRSTRLEN];
	socklen_t len;
	const void *addr;
	int family, ret;

	family = parse_addr(argv[0], &ss, &len, 0);
	addr = family == AF_INET ?
		(const void *)&((struct sockaddr_in *)&ss)->sin_addr :
		(const void *)&((struct sockaddr_in6 *)&ss)->sin6_addr;
	ret = shifter_nl_lookup(h, family, addr, family == AF_INET ? 4 : 16,
				atoi(argv[1]), &d);
	if (ret < 0) {
		printf("lookup %s %d\n", errname(-ret), ret);
	} else {
		inet_ntop(d.family, d.addr, buf, sizeof(buf));
		printf("lookup OK %s %u %u\n", buf, d.port, d.age_ms);
	}
	shifter_nl_close(h);
	return ret < 0 ? -ret : 0;
}

static int cmd_stats(void)
{
	struct shifter_nl *h = open_or_die();
	struct shifter_nl_stats s;
	int ret = shifter_nl_stats(h, &s);

	if (ret < 0)
		printf("stats %s %d\n", errname(-ret), ret);
	else
		printf("stats OK recorded=%llu lookups=%llu hits=%llu misses=%llu expired=%llu evicted=%llu entries=%llu max_entries=%llu ttl=%llu\n",
		       (unsigned long long)s.recorded,
		       (unsigned long long)s.lookups,
		       (unsigned long long)s.hits,
		       (unsigned long long)s.misses,
		       (unsigned long long)s.expired,
		       (unsigned long long)s.evicted,
		       (unsigned long long)s.entries,
		       (unsigned long long)s.max_entries,
		       (unsigned long long)s.ttl);
	shifter_nl_close(h);
	return ret < 0 ? -ret : 0;
}

static int cmd_dump(void)
{
	struct shifter_nl *h = open_or_die();
	static struct shifter_nl_entry e[4096];
	char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
	int i, ret = shifter_nl_dump(h, e, 4096);

	if (ret < 0) {
		printf("dump %s %d\n", errname(-ret), ret);
	} else {
		printf("dump OK %d\n", ret);
		for (i = 0; i < ret && i < 4096; i++) {
			inet_ntop(e[i].family, e[i].src_addr, src, sizeof(src));
			inet_ntop(e[i].family, e[i].dst_addr, dst, sizeof(dst));
			printf("entry %s %u %s %u%s\n", src, e[i].src_port,
			       dst, e[i].dst_port,
			       e[i].flags & SHIFTER_NL_ENTRY_AMBIGUOUS ?
			       " ambiguous" : "");
		}
	}
	shifter_nl_close(h);
	return ret < 0 ? -ret : 0;
}

/* Raw requests, built by hand so that they can be wrong on purpose. */
struct req {
	struct nlmsghdr nlh;
	struct genlmsghdr gh;
	char attrs[256];
};

static size_t put_attr(struct req *r, size_t off, uint16_t type,
		       const void *data, uint16_t len)
{
	struct nlattr *a = (struct nlattr *)(r->attrs + off);

	a->nla_type = type;
	a->nla_len = NLA_HDRLEN + len;
	memcpy((char *)a + NLA_HDRLEN, data, len);
	return off + NLA_ALIGN(a->nla_len);
}

static int raw_send(int fd, struct req *r, size_t attrs_len, int family_id,
		    uint8_t cmd, uint16_t flags)
{
	static uint32_t seq = 1000;
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	char buf[8192];
	struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
	ssize_t n;

	if (!r->nlh.nlmsg_len)
		r->nlh.nlmsg_len = NLMSG_HDRLEN + GENL_HDRLEN + attrs_len;
	r->nlh.nlmsg_type = family_id;
	r->nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	r->nlh.nlmsg_seq = ++seq;
	r->gh.cmd = cmd;
	r->gh.version = SHIFTER_GENL_VERSION;
	if (sendto(fd, r, r->nlh.nlmsg_len, 0, (struct sockaddr *)&kernel,
		   sizeof(kernel)) < 0)
		return -errno;
	for (;;) {
		n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0)
			return -errno;
		for (nlh = (struct nlmsghdr *)buf; NLMSG_OK(nlh, n);
		     nlh = NLMSG_NEXT(nlh, n)) {
			if (nlh->nlmsg_seq != seq)
				continue;
			if (nlh->nlmsg_type == NLMSG_ERROR)
				return ((struct nlmsgerr *)NLMSG_DATA(nlh))->error;
			if (nlh->nlmsg_type == NLMSG_DONE)
				return 0;
		}
	}
}

static int cmd_malformed(void)
{
	struct nl_sock *sk = nl_socket_alloc();
	struct timeval tv = { .tv_sec = 2 };
	int family_id, fd, got, fails = 0;
	uint8_t fam4 = AF_INET, fam6 = AF_INET6, fam_bad = 99, udp = 17;
	uint8_t addr[20] = { 10, 9, 0, 2 };
	uint16_t port = 40000, port0 = 0;
	struct req r;
	size_t off;

	if (!sk || genl_connect(sk) < 0)
		return 1;
	family_id = genl_ctrl_resolve(sk, SHIFTER_GENL_NAME);
	if (family_id < 0) {
		printf("malformed family %d\n", family_id);
		return 1;
	}
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

#define CASE(name, want, cmd, flags, build) do {			\
		memset(&r, 0, sizeof(r));				\
		off = 0;						\
		build;							\
		got = raw_send(fd, &r, off, family_id, cmd, flags);	\
		printf("case %s got=%s(%d) want=%s\n", name,		\
		       errname(-got), got, errname(-(want)));		\
		if (got != (want))					\
			fails++;					\
	} while (0)

	CASE("no_attrs", -EINVAL, SHIFTER_CMD_LOOKUP, 0, (void)0);
	CASE("missing_port", -EINVAL, SHIFTER_CMD_LOOKUP, 0,
	     (off = put_attr(&r, off, SHIFTER_A_FAMILY, &fam4, 1),
	      off = put_attr(&r, off, SHIFTER_A_SRC_ADDR, addr, 4)));
	CASE("missing_addr", -EINVAL, SHIFTER_CMD_LOOKUP, 0,
	     (off = put_attr(&r, off, SHIFTER_A_FAMILY, &fam4, 1),
	      off = put_attr(&r, off, SHIFTER_A_SRC_PORT, &port, 2)));
	CASE("missing_family", -EINVAL, SHIFTER_CMD_LOOKUP, 0,
	     (off = put_attr(&r, off, SHIFTER_A_SRC_ADDR, addr, 4),
	      off = put_attr(&r, off, SHIFTER_A_SRC_PORT, &port, 2)));
	CASE("v4_with_16_bytes", -EINVAL, SHIFTER_CMD_LOOKUP, 0,
	     (off = put_attr(&r, off, SHIFTER_A_FAMILY, &fam4, 1),
	      off = put_attr(&r, off, SHIFTER_A_SRC_ADDR, addr, 16),
	      off = put_attr(&r, off, SHIFTER_A_SRC_PORT, &port, 2)));
	CASE("v6_with_4_bytes", -EINVAL, SHIFTER_CMD_LOOKUP, 0,
	     (off = put_attr(&r, off, SHIFTER_A_FAMILY, &fam6, 1),
	      off = put_attr(&r, off, SHIFTER_A_SRC_ADDR, addr, 4),
	      off = put_attr(&r, off, SHIFTER_A_SRC_PORT, &port, 2)));
	CASE("addr_3_bytes", -ERANGE, SHIFTER_CMD_LOOKUP, 0,
	     (off = put_attr(&r, off, SHIFTER_A_FAMILY, &fam4, 1),
	      off = put_attr(&r, off, SHIFTER_A_SRC_ADDR, addr, 3),
	      off = put_attr(&r, off, SHIFTER_A_SRC_PORT, &port, 2)));
	CASE("addr_20_bytes", -ERANGE, SHIFTER_CMD_LOOKUP, 0,
	     (off = put_attr(&r, off, SHIFTER_A_FAMILY, &fam6, 1),
	      off = put_attr(&r, off, SHIFTER_A_SRC_ADDR, addr, 20),
	      off = put_attr(&r, off, SHIFTER_A_SRC_PORT, &port, 2)));
	CASE("port_1_byte", -EINVAL, SHIFTER_CMD_LOOKUP, 0,
	     (off = put_attr(&r, off, SHIFTER_A_FAMILY, &fam4, 1),
	      off = put_attr(&r, off, SHIFTER_A_SRC_ADDR, addr, 4),
	      off = put_attr(&r, off, SHIFTER_A_SRC_PORT, &port, 1)));
	CASE("port_zero", -ERANGE, SHIFTER_CMD_LOOKUP, 0,
	     (off = put_attr(&r, off, SHIFTER_A_FAMILY, &fam4, 1),
	      off = put_attr(&r, off, SHIFTER_A_SRC_ADDR, addr, 4),
	      off = put_attr(&r, off, SHIFTER_A_SRC_PORT, &port0, 2)));
	CASE("unknown_family", -ENOPROTOOPT, SHIFTER_CMD_LOOKUP, 0,
	     (off = put_attr(&r, off, SHIFTER_A_FAMILY, &fam_bad, 1),
	      off = put_attr(&r, off, SHIFTER_A_SRC_ADDR, addr, 4),
	      off = put_attr(&r, off, SHIFTER_A_SRC_PORT, &port, 2)));
	CASE("udp_protocol", -ENOPROTOOPT, SHIFTER_CMD_LOOKUP, 0,
	     (off = put_attr(&r, off, SHIFTER_A_FAMILY, &fam4, 1),
	      off = put_attr(&r, off, SHIFTER_A_SRC_ADDR, addr, 4),
	      off = put_attr(&r, off, SHIFTER_A_SRC_PORT, &port, 2),
	      off = put_attr(&r, off, SHIFTER_A_PROTOCOL, &udp, 1)));
	CASE("unknown_attr", -EINVAL, SHIFTER_CMD_LOOKUP, 0,
	     (off = put_attr(&r, off, SHIFTER_A_FAMILY, &fam4, 1),
	      off = put_attr(&r, off, SHIFTER_A_SRC_ADDR, addr, 4),
	      off = put_attr(&r, off, SHIFTER_A_SRC_PORT, &port, 2),
	      off = put_attr(&r, off, 60, &port, 2)));
	CASE("no_entry", -ENOENT, SHIFTER_CMD_LOOKUP, 0,
	     (off = put_attr(&r, off, SHIFTER_A_FAMILY, &fam4, 1),
	      off = put_attr(&r, off, SHIFTER_A_SRC_ADDR, addr, 4),
	      off = put_attr(&r, off, SHIFTER_A_SRC_PORT, &port, 2)));
	CASE("stats_with_attr", -EINVAL, SHIFTER_CMD_STATS, 0,
	     (off = put_attr(&r, off, SHIFTER_A_FAMILY, &fam4, 1)));
	CASE("dump_with_attr", -EINVAL, SHIFTER_CMD_DUMP, NLM_F_DUMP,
	     (off = put_attr(&r, off, SHIFTER_A_FAMILY, &fam4, 1)));
	CASE("unknown_cmd", -EOPNOTSUPP, 99, 0, (void)0);
	CASE("unspec_cmd", -EOPNOTSUPP, SHIFTER_CMD_UNSPEC, 0, (void)0);
	CASE("lookup_as_dump", -EOPNOTSUPP, SHIFTER_CMD_LOOKUP, NLM_F_DUMP,
	     (void)0);
	CASE("reserved_set", -EINVAL, SHIFTER_CMD_STATS, 0, r.gh.reserved = 1);
	CASE("truncated_genlhdr", -EINVAL, SHIFTER_CMD_STATS, 0,
	     r.nlh.nlmsg_len = NLMSG_HDRLEN + 2);
	CASE("attr_len_past_end", -EINVAL, SHIFTER_CMD_LOOKUP, 0,
	     (off = put_attr(&r, off, SHIFTER_A_FAMILY, &fam4, 1),
	      ((struct nlattr *)r.attrs)->nla_len = 200));
	CASE("stats_ok", 0, SHIFTER_CMD_STATS, 0, (void)0);
	CASE("dump_ok", 0, SHIFTER_CMD_DUMP, NLM_F_DUMP, (void)0);
#undef CASE
	printf("malformed fails=%d\n", fails);
	close(fd);
	nl_socket_free(sk);
	return fails ? 1 : 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmd_hammer(char **argv)
{
	static struct shifter_nl_entry e[64];
	double end = now_s() + atof(argv[0]);
	unsigned long ok = 0, errs = 0, reopen = 0;
	struct shifter_nl *h = NULL;
	struct shifter_nl_dest d;
	struct shifter_nl_stats s;
	uint8_t addr[4] = { 10, 9, 0, 2 };
	unsigned int i = 0;
	int ret;

	while (now_s() < end) {
		if (!h && shifter_nl_open(&h, 200) < 0) {
			h = NULL;
			reopen++;
			continue;
		}
		switch (i++ % 3) {
		case 0:
			ret = shifter_nl_lookup(h, AF_INET, addr, 4,
						20000 + i % 512, &d);
			break;
		case 1:
			ret = shifter_nl_stats(h, &s);
			break;
		default:
			ret = shifter_nl_dump(h, e, 64);
			break;
		}
		if (ret >= 0 || ret == -ENOENT || ret == -ENODEV) {
			ok++;
		} else {
			errs++;
			shifter_nl_close(h);
			h = NULL;
		}
	}
	shifter_nl_close(h);
	printf("hammer ok=%lu errors=%lu failed_opens=%lu\n", ok, errs, reopen);
	return 0;
}

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* Become root of a new user namespace that owns a new network namespace. */
static int own_namespaces(void)
{
	unsigned int uid = getuid(), gid = getgid();
	char map[32];

	if (unshare(CLONE_NEWUSER | CLONE_NEWNET) < 0)
		return -1;
	if (write_file("/proc/self/setgroups", "deny") < 0)
		return -1;
	snprintf(map, sizeof(map), "0 %u 1", uid);
	if (write_file("/proc/self/uid_map", map) < 0)
		return -1;
	snprintf(map, sizeof(map), "0 %u 1", gid);
	return write_file("/proc/self/gid_map", map);
}

int main(int argc, char **argv)
{
	int opt, fd;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((opt = getopt(argc, argv, "+n:u:U")) != -1) {
		switch (opt) {
		case 'n':
			fd = open(optarg, O_RDONLY);
			if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) {
				perror("setns");
				return 1;
			}
			close(fd);
			break;
		case 'u':
			if (setgid(atoi(optarg)) < 0 || setuid(atoi(optarg)) < 0) {
				perror("setuid");
				return 1;
			}
			break;
		case 'U':
			if (own_namespaces() < 0) {
				perror("unshare");
				return 1;
			}
			break;
		default:
			return 2;
		}
	}
	argv += optind;
	argc -= optind;
	if (argc < 1)
		return 2;
	if (!strcmp(argv[0], "connect") && argc == 5)
		return cmd_connect(argv + 1);
	if (!strcmp(argv[0], "syn") && argc == 5)
		return cmd_syn(argv + 1);
	if (!strcmp(argv[0], "echo") && argc == 5)
		return cmd_echo(argv + 1);
	if (!strcmp(argv[0], "lookup") && argc == 3)
		return cmd_lookup(argv + 1);
	if (!strcmp(argv[0], "stats"))
		return cmd_stats();
	if (!strcmp(argv[0], "dump"))
		return cmd_dump();
	if (!strcmp(argv[0], "malformed"))
		return cmd_malformed();
	if (!strcmp(argv[0], "hammer") && argc == 2)
		return cmd_hammer(argv + 1);
	fprintf(stderr, "vmtool: bad command\n");
	return 2;
}

// SPDX-License-Identifier: MIT
/*
 * Test only: the shim talking to a fake SHIFTER family, for replies the real
 * module never sends (an answer missing, a DUMP cut short). Built by
 * resolvers/netlink_test.ts with `make fake-kernel OUT=...`, never installed.
 *
 * It is shifter_nl.c unchanged except for shifter_nl_open(), which points
 * the handle at a user-space netlink socket in this process instead of the
 * kernel's family. A thread answers one request per action of the
 * comma-separated script in $SHIFTER_NL_FAKE_SCRIPT, then exits:
 *
 *   stats              a STATS reply (0 entries)
 *   dest:A.B.C.D:PORT  a LOOKUP reply with that IPv4 destination
 *   done               NLMSG_DONE with status 0
 *   dump:N:ERR         N DUMP entries, then NLMSG_DONE with status ERR
 */
#define shifter_nl_open real_shifter_nl_open
#include "shifter_nl.c"
#undef shifter_nl_open

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define FAKE_FAMILY_ID 0x7777

struct fake {
	int fd;
	char script[512];
};

static void put_attr(struct nl_msg *msg, int type, const void *data, int len)
{
	nla_put(msg, type, len, data);
}

static void send_msg(int fd, struct nl_msg *msg, uint32_t to)
{
	struct sockaddr_nl peer = { .nl_family = AF_NETLINK, .nl_pid = to };
	struct nlmsghdr *hdr = nlmsg_hdr(msg);

	sendto(fd, hdr, hdr->nlmsg_len, 0, (struct sockaddr *)&peer,
	       sizeof(peer));
	nlmsg_free(msg);
}

static struct nl_msg *reply(struct nlmsghdr *req, int type, int flags)
{
	struct nl_msg *msg = nlmsg_alloc_simple(type, flags);

	nlmsg_hdr(msg)->nlmsg_seq = req->nlmsg_seq;
	return msg;
}

static void send_entry(int fd, struct nlmsghdr *req, uint32_t to, int flags,
		       const char *ip, uint16_t port, uint16_t src_port)
{
	struct nl_msg *msg = reply(req, FAKE_FAMILY_ID, flags);
	struct genlmsghdr g = { .cmd = SHIFTER_CMD_LOOKUP, .version = 1 };
	uint8_t family = AF_INET;
	uint8_t src[4] = { 10, 0, 0, 1 };
	uint8_t addr[4];
	uint32_t age = 5;

	inet_pton(AF_INET, ip, addr);
	nlmsg_append(msg, &g, sizeof(g), NLMSG_ALIGNTO);
	put_attr(msg, SHIFTER_A_FAMILY, &family, sizeof(family));
	put_attr(msg, SHIFTER_A_SRC_ADDR, src, sizeof(src));
	put_attr(msg, SHIFTER_A_SRC_PORT, &src_port, sizeof(src_port));
	put_attr(msg, SHIFTER_A_DST_ADDR, addr, sizeof(addr));
	put_attr(msg, SHIFTER_A_DST_PORT, &port, sizeof(port));
	put_attr(msg, SHIFTER_A_AGE_MS, &age, sizeof(age));
	send_msg(fd, msg, to);
}

static void send_stats(int fd, struct nlmsghdr *req, uint32_t to)
{
	struct nl_msg *msg = reply(req, FAKE_FAMILY_ID, 0);
	struct genlmsghdr g = { .cmd = SHIFTER_CMD_STATS, .version = 1 };
	struct nlattr *nest;

	nlmsg_append(msg, &g, sizeof(g), NLMSG_ALIGNTO);
	nest = nla_nest_start(msg, SHIFTER_A_STATS);
	nla_put_u32(msg, SHIFTER_STATS_A_ENTRIES, 0);
	nla_nest_end(msg, nest);
	send_msg(fd, msg, to);
}

static void send_done(int fd, struct nlmsghdr *req, uint32_t to, int status)
{
	struct nl_msg *msg = reply(req, NLMSG_DONE, NLM_F_MULTI);

	nlmsg_append(msg, &status, sizeof(status), NLMSG_ALIGNTO);
	send_msg(fd, msg, to);
}

static void *serve(void *arg)
{
	struct fake *f = arg;
	char *save = NULL;
	char *action;

	for (action = strtok_r(f->script, ",", &save); action;
	     action = strtok_r(NULL, ",", &save)) {
		char buf[8192];
		struct sockaddr_nl from;
		socklen_t len = sizeof(from);
		struct nlmsghdr *req = (struct nlmsghdr *)buf;
		char ip[64];
		unsigned int port;
		int n, err, i;

		if (recvfrom(f->fd, buf, sizeof(buf), 0,
			     (struct sockaddr *)&from, &len) < NLMSG_HDRLEN)
			break;
		if (strcmp(action, "stats") == 0) {
			send_stats(f->fd, req, from.nl_pid);
		} else if (sscanf(action, "dest:%63[0-9.]:%u", ip, &port) == 2) {
			send_entry(f->fd, req, from.nl_pid, 0, ip, port, 40000);
		} else if (strcmp(action, "done") == 0) {
			send_done(f->fd, req, from.nl_pid, 0);
		} else if (sscanf(action, "dump:%d:%d", &n, &err) == 2) {
			for (i = 0; i < n; i++)
				send_entry(f->fd, req, from.nl_pid, NLM_F_MULTI,
					   "192.0.2.1", 443, 40000 + i);
			send_done(f->fd, req, from.nl_pid, err);
		} else {
			fprintf(stderr, "fake_kernel: unknown action %s\n",
				action);
			break;
		}
	}
	close(f->fd);
	free(f);
	return NULL;
}

int shifter_nl_open(struct shifter_nl **handle, uint32_t timeout_ms)
{
	struct sockaddr_nl addr = { .nl_family = AF_NETLINK };
	socklen_t len = sizeof(addr);
	const char *script = getenv("SHIFTER_NL_FAKE_SCRIPT");
	struct timeval tv = { 1, 0 };
	struct shifter_nl *h;
	struct fake *f;
	pthread_t thread;

	if (!handle || !script)
		return -EINVAL;
	if (timeout_ms) {
		tv.tv_sec = timeout_ms / 1000;
		tv.tv_usec = (timeout_ms % 1000) * 1000;
	}
	f = calloc(1, sizeof(*f));
	h = calloc(1, sizeof(*h));
	if (!f || !h)
		return -ENOMEM;
	snprintf(f->script, sizeof(f->script), "%s", script);
	f->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	if (f->fd < 0 || bind(f->fd, (struct sockaddr *)&addr, sizeof(addr)) ||
	    getsockname(f->fd, (struct sockaddr *)&addr, &len))
		return -errno;
	h->sk = nl_socket_alloc();
	if (!h->sk || genl_connect(h->sk) < 0)
		return -EIO;
	nl_socket_disable_auto_ack(h->sk);
	nl_socket_set_peer_port(h->sk, addr.nl_pid);
	setsockopt(nl_socket_get_fd(h->sk), SOL_SOCKET, SO_RCVTIMEO, &tv,
		   sizeof(tv));
	h->family_id = FAKE_FAMILY_ID;
	h->checked_ms = now_ms();
	pthread_mutex_init(&h->lock, NULL);
	if (pthread_create(&thread, NULL, serve, f))
		return -EAGAIN;
	pthread_detach(thread);
	*handle = h;
	return 0;
}

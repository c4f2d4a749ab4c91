// SPDX-License-Identifier: MIT
/*
 * libshifter_nl: see shifter_nl.h for the API and its error contract.
 *
 * Each request is sent with auto-ACK disabled, so exactly one reply or one
 * error answers a LOOKUP or STATS, and a DUMP ends with NLMSG_DONE. The
 * kernel's errno is taken from the NLMSG_ERROR payload itself: libnl's
 * translation to -NLE_* loses it (-ENOENT and -ENOPROTOOPT both matter).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>

#include "shifter_genl.h"
#include "shifter_nl.h"

_Static_assert(sizeof(struct shifter_nl_dest) == 28, "dest layout");
_Static_assert(offsetof(struct shifter_nl_dest, addr) == 12, "dest layout");
_Static_assert(sizeof(struct shifter_nl_entry) == 48, "entry layout");
_Static_assert(sizeof(struct shifter_nl_stats) == 72, "stats layout");

/* How often an -ENOENT may cost a round trip to the controller. */
#define RECHECK_MS 100

struct shifter_nl {
	pthread_mutex_t lock;	/* one request at a time on the socket */
	struct nl_sock *sk;
	int family_id;
	uint64_t checked_ms;	/* when family_id was last resolved */
	int gone;		/* the family was not found then */
};

/* Request state shared with the libnl callbacks. */
struct request {
	uint32_t seq;
	int err;		/* kernel -errno from NLMSG_ERROR, or 0 */
	int done;		/* reply, error or NLMSG_DONE seen */
	int dump;		/* NLMSG_DONE is the end, not a missing answer */
	int answered;		/* a reply was parsed into out */
	int (*parse)(struct request *req, struct nlattr **tb);
	void *out;
	uint32_t count;		/* DUMP: entries seen */
	uint32_t max;		/* DUMP: capacity of out */
};

static int nle_to_errno(int nle)
{
	switch (nle < 0 ? -nle : nle) {
	case NLE_SUCCESS:
		return 0;
	case NLE_INTR:
		return -EINTR;
	case NLE_BAD_SOCK:
		return -EBADF;
	case NLE_AGAIN:
		return -EAGAIN;
	case NLE_NOMEM:
		return -ENOMEM;
	case NLE_EXIST:
		return -EEXIST;
	case NLE_INVAL:
		return -EINVAL;
	case NLE_RANGE:
		return -ERANGE;
	case NLE_MSGSIZE:
	case NLE_MSG_TRUNC:
	case NLE_MSG_OVERFLOW:
		return -EMSGSIZE;
	case NLE_OPNOTSUPP:
	case NLE_MSGTYPE_NOSUPPORT:
		return -EOPNOTSUPP;
	case NLE_AF_NOSUPPORT:
		return -EAFNOSUPPORT;
	case NLE_OBJ_NOTFOUND:
	case NLE_NODEV:
		return -ENOENT;
	case NLE_NOACCESS:
		return -EACCES;
	case NLE_PERM:
		return -EPERM;
	case NLE_BUSY:
		return -EBUSY;
	case NLE_NOADDR:
		return -EADDRNOTAVAIL;
	case NLE_SEQ_MISMATCH:
	case NLE_PROTO_MISMATCH:
	case NLE_MSG_TOOSHORT:
	case NLE_PARSE_ERR:
	case NLE_MISSING_ATTR:
	case NLE_NOATTR:
	case NLE_ATTRSIZE:
		return -EPROTO;
	default:
		return -EIO;
	}
}

static const struct nla_policy reply_policy[SHIFTER_A_MAX + 1] = {
	[SHIFTER_A_FAMILY] = { .type = NLA_U8 },
	[SHIFTER_A_SRC_ADDR] = { .type = NLA_UNSPEC, .minlen = 4, .maxlen = 16 },
	[SHIFTER_A_SRC_PORT] = { .type = NLA_U16 },
	[SHIFTER_A_DST_ADDR] = { .type = NLA_UNSPEC, .minlen = 4, .maxlen = 16 },
	[SHIFTER_A_DST_PORT] = { .type = NLA_U16 },
	[SHIFTER_A_AGE_MS] = { .type = NLA_U32 },
	[SHIFTER_A_STATS] = { .type = NLA_NESTED },
	[SHIFTER_A_AMBIGUOUS] = { .type = NLA_FLAG },
};

static const struct nla_policy stats_policy[SHIFTER_STATS_A_MAX + 1] = {
	[SHIFTER_STATS_A_RECORDED] = { .type = NLA_U64 },
	[SHIFTER_STATS_A_LOOKUPS] = { .type = NLA_U64 },
	[SHIFTER_STATS_A_HITS] = { .type = NLA_U64 },
	[SHIFTER_STATS_A_MISSES] = { .type = NLA_U64 },
	[SHIFTER_STATS_A_EXPIRED] = { .type = NLA_U64 },
	[SHIFTER_STATS_A_EVICTED] = { .type = NLA_U64 },
	[SHIFTER_STATS_A_ENTRIES] = { .type = NLA_U32 },
	[SHIFTER_STATS_A_MAX_ENTRIES] = { .type = NLA_U32 },
	[SHIFTER_STATS_A_TTL] = { .type = NLA_U32 },
};

static int on_valid(struct nl_msg *msg, void *arg)
{
	struct request *req = arg;
	struct nlattr *tb[SHIFTER_A_MAX + 1];
	int ret;

	ret = genlmsg_parse(nlmsg_hdr(msg), 0, tb, SHIFTER_A_MAX, reply_policy);
	if (ret < 0) {
		req->err = -EPROTO;
		req->done = 1;
		return NL_STOP;
	}
	ret = req->parse(req, tb);
	if (ret < 0) {
		req->err = ret;
		req->done = 1;
		return NL_STOP;
	}
	req->answered = 1;
	/* A DUMP goes on until NLMSG_DONE; a doit reply is the answer. */
	if (!(nlmsg_hdr(msg)->nlmsg_flags & NLM_F_MULTI))
		req->done = 1;
	return NL_OK;
}

/*
 * NLMSG_DONE ends a DUMP; its payload is the dump's status, negative when
 * the kernel cut it short. To any other request it is no answer.
 */
static int on_finish(struct nl_msg *msg, void *arg)
{
	struct request *req = arg;
	struct nlmsghdr *hdr = nlmsg_hdr(msg);
	int status = 0;

	if (nlmsg_datalen(hdr) >= (int)sizeof(status))
		memcpy(&status, nlmsg_data(hdr), sizeof(status));
	if (status < 0)
		req->err = status;
	else if (!req->dump)
		req->err = -EPROTO;
	req->done = 1;
	return NL_STOP;
}

static int on_error(struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg)
{
	struct request *req = arg;

	req->err = e->error < 0 ? e->error : -EPROTO;
	req->done = 1;
	return NL_STOP;
}

/* Replies to an earlier request that timed out are skipped, not mistaken. */
static int on_seq_check(struct nl_msg *msg, void *arg)
{
	struct request *req = arg;

	return nlmsg_hdr(msg)->nlmsg_seq == req->seq ? NL_OK : NL_SKIP;
}

/* Send @msg (consumed) and receive until the request is answered. */
static int transact(struct shifter_nl *h, struct nl_msg *msg,
		    struct request *req)
{
	struct nl_cb *cb;
	int ret;
	int rounds;

	cb = nl_cb_alloc(NL_CB_DEFAULT);
	if (!cb) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, on_valid, req);
	nl_cb_set(cb, NL_CB_FINISH, NL_CB_CUSTOM, on_finish, req);
	nl_cb_set(cb, NL_CB_SEQ_CHECK, NL_CB_CUSTOM, on_seq_check, req);
	nl_cb_err(cb, NL_CB_CUSTOM, on_error, req);

	ret = nl_send_auto(h->sk, msg);
	req->seq = nlmsg_hdr(msg)->nlmsg_seq;
	nlmsg_free(msg);
	if (ret < 0) {
		ret = nle_to_errno(ret);
		goto out;
	}

	/* Bounded: each receive waits at most SO_RCVTIMEO. */
	for (rounds = 0; !req->done && rounds < 1024; rounds++) {
		ret = nl_recvmsgs_report(h->sk, cb);
		if (req->done)
			break;
		if (ret == -NLE_AGAIN) {
			ret = -ETIMEDOUT;
			goto out;
		}
		if (ret < 0) {
			ret = nle_to_errno(ret);
			goto out;
		}
		if (ret == 0) {
			/* libnl reports a receive timeout as "nothing read". */
			ret = -ETIMEDOUT;
			goto out;
		}
	}
	ret = req->done ? req->err : -ETIMEDOUT;
	/* Never report success with out unwritten. */
	if (!ret && !req->dump && !req->answered)
		ret = -EPROTO;
out:
	nl_cb_put(cb);
	return ret;
}

static struct nl_msg *new_request(struct shifter_nl *h, uint8_t cmd,
				  int flags)
{
	struct nl_msg *msg = nlmsg_alloc();

	if (!msg)
		return NULL;
	if (!genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, h->family_id, 0,
			 flags, cmd, SHIFTER_GENL_VERSION)) {
		nlmsg_free(msg);
		return NULL;
	}
	return msg;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * What an -ENOENT means. The module answers it for a missing entry, and the
 * generic netlink core for a family id it does not know: after rmmod and
 * insmod the module has a new id, and with no module there is none. Asking
 * the controller costs a round trip (and, with the family gone, makes the
 * kernel run modprobe), so the name is resolved again at most every
 * RECHECK_MS; in between, the last answer stands.
 *
 * Return: 1 when the id moved (retry once); else the error to report,
 * -ENOENT, or -ENODEV when the family is gone.
 */
static int recheck_family(struct shifter_nl *h)
{
	uint64_t now = now_ms();
	int id;

	if (now - h->checked_ms < RECHECK_MS)
		return h->gone ? -ENODEV : -ENOENT;
	h->checked_ms = now;
	id = genl_ctrl_resolve(h->sk, SHIFTER_GENL_NAME);
	h->gone = id < 0;
	if (id < 0)
		return -ENODEV;
	if (id == h->family_id)
		return -ENOENT;
	h->family_id = id;
	return 1;
}

/*
 * Whether to send a request once more: after an -ENOENT that meant the
 * family moved. Otherwise *ret stays the answer to report, or becomes
 * -ENODEV when the family is gone.
 */
static int send_again(struct shifter_nl *h, int *ret, int attempt)
{
	if (*ret != -ENOENT) {
		h->gone = 0;	/* the family answered */
		return 0;
	}
	if (attempt)
		return 0;
	*ret = recheck_family(h);
	return *ret == 1;
}

int shifter_nl_open(struct shifter_nl **handle, uint32_t timeout_ms)
{
	struct shifter_nl *h;
	struct timeval tv;
	int ret;

	if (!handle)
		return -EINVAL;
	if (!timeout_ms)
		timeout_ms = 1000;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	ret = -ENOMEM;
	h->sk = nl_socket_alloc();
	if (!h->sk)
		goto out_free;
	nl_socket_disable_auto_ack(h->sk);
	ret = genl_connect(h->sk);
	if (ret < 0) {
		ret = nle_to_errno(ret);
		goto out_free_sock;
	}
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	if (setsockopt(nl_socket_get_fd(h->sk), SOL_SOCKET, SO_RCVTIMEO, &tv,
		       sizeof(tv)) < 0) {
		ret = -errno;
		goto out_free_sock;
	}
	ret = genl_ctrl_resolve(h->sk, SHIFTER_GENL_NAME);
	if (ret < 0) {
		ret = nle_to_errno(ret);
		goto out_free_sock;
	}
	h->family_id = ret;
	h->checked_ms = now_ms();
	pthread_mutex_init(&h->lock, NULL);
	*handle = h;
	return 0;

out_free_sock:
	nl_socket_free(h->sk);
out_free:
	free(h);
	return ret;
}

static int parse_dest(struct request *req, struct nlattr **tb)
{
	struct shifter_nl_dest *out = req->out;
	int len;

	if (!tb[SHIFTER_A_FAMILY] || !tb[SHIFTER_A_DST_ADDR] ||
	    !tb[SHIFTER_A_DST_PORT] || !tb[SHIFTER_A_AGE_MS])
		return -EPROTO;
	memset(out, 0, sizeof(*out));
	out->family = nla_get_u8(tb[SHIFTER_A_FAMILY]);
	len = nla_len(tb[SHIFTER_A_DST_ADDR]);
	if ((out->family != AF_INET || len != 4) &&
	    (out->family != AF_INET6 || len != 16))
		return -EPROTO;
	memcpy(out->addr, nla_data(tb[SHIFTER_A_DST_ADDR]), len);
	out->port = nla_get_u16(tb[SHIFTER_A_DST_PORT]);
	if (!out->port)
		return -EPROTO;
	out->age_ms = nla_get_u32(tb[SHIFTER_A_AGE_MS]);
	return 0;
}

int shifter_nl_lookup(struct shifter_nl *h, uint32_t family, const void *addr,
		      uint32_t addr_len, uint32_t port,
		      struct shifter_nl_dest *out)
{
	struct request req;
	struct nl_msg *msg;
	int attempt;
	int ret;

	if (!h)
		return -EBADF;
	if (!addr || !out || port == 0 || port > 65535)
		return -EINVAL;
	if (family != AF_INET && family != AF_INET6)
		return -ENOPROTOOPT;
	if (addr_len != (family == AF_INET ? 4U : 16U))
		return -EINVAL;

	pthread_mutex_lock(&h->lock);
	for (attempt = 0; attempt < 2; attempt++) {
		ret = -ENOMEM;
		msg = new_request(h, SHIFTER_CMD_LOOKUP, 0);
		if (!msg)
			break;
		if (nla_put_u8(msg, SHIFTER_A_FAMILY, family) < 0 ||
		    nla_put(msg, SHIFTER_A_SRC_ADDR, addr_len, addr) < 0 ||
		    nla_put_u16(msg, SHIFTER_A_SRC_PORT, port) < 0) {
			nlmsg_free(msg);
			break;
		}
		memset(&req, 0, sizeof(req));
		req.parse = parse_dest;
		req.out = out;
		ret = transact(h, msg, &req);
		if (!send_again(h, &ret, attempt))
			break;
	}
	pthread_mutex_unlock(&h->lock);
	return ret;
}

static int parse_stats(struct request *req, struct nlattr **tb)
{
	struct shifter_nl_stats *out = req->out;
	struct nlattr *st[SHIFTER_STATS_A_MAX + 1];

	if (!tb[SHIFTER_A_STATS] ||
	    nla_parse_nested(st, SHIFTER_STATS_A_MAX, tb[SHIFTER_A_STATS],
			     stats_policy) < 0)
		return -EPROTO;
	memset(out, 0, sizeof(*out));
#define GET64(f, a) do { if (st[a]) out->f = nla_get_u64(st[a]); } while (0)
#define GET32(f, a) do { if (st[a]) out->f = nla_get_u32(st[a]); } while (0)
	GET64(recorded, SHIFTER_STATS_A_RECORDED);
	GET64(lookups, SHIFTER_STATS_A_LOOKUPS);
	GET64(hits, SHIFTER_STATS_A_HITS);
	GET64(misses, SHIFTER_STATS_A_MISSES);
	GET64(expired, SHIFTER_STATS_A_EXPIRED);
	GET64(evicted, SHIFTER_STATS_A_EVICTED);
	GET32(entries, SHIFTER_STATS_A_ENTRIES);
	GET32(max_entries, SHIFTER_STATS_A_MAX_ENTRIES);
	GET32(ttl, SHIFTER_STATS_A_TTL);
#undef GET64
#undef GET32
	return 0;
}

int shifter_nl_stats(struct shifter_nl *h, struct shifter_nl_stats *out)
{
	struct request req;
	struct nl_msg *msg;
	int attempt;
	int ret;

	if (!h)
		return -EBADF;
	if (!out)
		return -EINVAL;
	pthread_mutex_lock(&h->lock);
	for (attempt = 0; attempt < 2; attempt++) {
		memset(&req, 0, sizeof(req));
		req.parse = parse_stats;
		req.out = out;
		msg = new_request(h, SHIFTER_CMD_STATS, 0);
		ret = msg ? transact(h, msg, &req) : -ENOMEM;
		if (!send_again(h, &ret, attempt))
			break;
	}
	pthread_mutex_unlock(&h->lock);
	return ret;
}

static int parse_entry(struct request *req, struct nlattr **tb)
{
	struct shifter_nl_entry *e;
	uint32_t family;
	int len;

	if (!tb[SHIFTER_A_FAMILY] || !tb[SHIFTER_A_SRC_ADDR] ||
	    !tb[SHIFTER_A_SRC_PORT] || !tb[SHIFTER_A_DST_ADDR] ||
	    !tb[SHIFTER_A_DST_PORT] || !tb[SHIFTER_A_AGE_MS])
		return -EPROTO;
	family = nla_get_u8(tb[SHIFTER_A_FAMILY]);
	if (family != AF_INET && family != AF_INET6)
		return -EPROTO;
	len = family == AF_INET ? 4 : 16;
	if (nla_len(tb[SHIFTER_A_SRC_ADDR]) != len ||
	    nla_len(tb[SHIFTER_A_DST_ADDR]) != len)
		return -EPROTO;
	if (req->count < req->max) {
		e = (struct shifter_nl_entry *)req->out + req->count;
		memset(e, 0, sizeof(*e));
		e->family = family;
		e->age_ms = nla_get_u32(tb[SHIFTER_A_AGE_MS]);
		e->src_port = nla_get_u16(tb[SHIFTER_A_SRC_PORT]);
		e->dst_port = nla_get_u16(tb[SHIFTER_A_DST_PORT]);
		memcpy(e->src_addr, nla_data(tb[SHIFTER_A_SRC_ADDR]), len);
		memcpy(e->dst_addr, nla_data(tb[SHIFTER_A_DST_ADDR]), len);
		if (tb[SHIFTER_A_AMBIGUOUS])
			e->flags |= SHIFTER_NL_ENTRY_AMBIGUOUS;
	}
	req->count++;
	return 0;
}

int shifter_nl_dump(struct shifter_nl *h, struct shifter_nl_entry *out,
		    uint32_t max)
{
	struct request req;
	struct nl_msg *msg;
	int attempt;
	int ret;

	if (!h)
		return -EBADF;
	if (!out && max)
		return -EINVAL;
	pthread_mutex_lock(&h->lock);
	for (attempt = 0; attempt < 2; attempt++) {
		memset(&req, 0, sizeof(req));
		req.parse = parse_entry;
		req.out = out;
		req.max = max;
		req.dump = 1;
		msg = new_request(h, SHIFTER_CMD_DUMP, NLM_F_DUMP);
		ret = msg ? transact(h, msg, &req) : -ENOMEM;
		if (!send_again(h, &ret, attempt))
			break;
	}
	pthread_mutex_unlock(&h->lock);
	if (ret < 0)
		return ret;
	return req.count > INT32_MAX ? INT32_MAX : (int)req.count;
}

uint32_t shifter_nl_abi(void)
{
	return SHIFTER_NL_ABI;
}

void shifter_nl_close(struct shifter_nl *h)
{
	if (!h)
		return;
	nl_socket_free(h->sk);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

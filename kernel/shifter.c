// SPDX-License-Identifier: GPL-2.0
/*
 * Shifter: remember where each TCP connection was going before DNAT or
 * REDIRECT rewrote it, and answer lookups over generic netlink.
 *
 * The table is keyed by (family, client address, client port) and lives in
 * each network namespace. Readers (netlink LOOKUP and DUMP) walk it under
 * RCU; writers (the hooks and the expiry work) hold a per-namespace lock.
 *
 * An entry goes away on the client's RST, on its FIN once a LOOKUP has
 * found it (or fin_grace_ms after a FIN that came first), after ttl
 * seconds, or when max_entries forces the oldest out.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bitmap.h>
#include <linux/cred.h>
#include <linux/file.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/jiffies.h>
#include <linux/list.h>
#include <linux/log2.h>
#include <linux/memcontrol.h>
#include <linux/module.h>
#include <linux/netdevice.h>
#include <linux/netfilter.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6.h>
#include <linux/rculist.h>
#include <linux/sched/mm.h>
#include <linux/siphash.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/tcp.h>
#include <linux/workqueue.h>
#include <net/genetlink.h>
#include <net/ip.h>
#include <net/ipv6.h>
#include <net/net_namespace.h>
#include <net/netns/generic.h>
#include <net/sock.h>

#include "uapi/shifter_genl.h"

#define SHIFTER_MAX_PORTS	32
#define SHIFTER_GC_INTERVAL	HZ

static unsigned short ports[SHIFTER_MAX_PORTS] = { 80, 443 };
static unsigned int nports = 2;
module_param_array(ports, ushort, &nports, 0444);
MODULE_PARM_DESC(ports, "Destination TCP ports whose SYNs are recorded (default 80,443)");

static unsigned int ttl = 120;
module_param(ttl, uint, 0644);
MODULE_PARM_DESC(ttl, "Seconds an entry lives after its SYN (default 120)");

static unsigned int max_entries = 65536;
module_param(max_entries, uint, 0644);
MODULE_PARM_DESC(max_entries, "Entries per network namespace before the oldest is evicted (default 65536)");

static unsigned int fin_grace_ms = 2000;
module_param(fin_grace_ms, uint, 0644);
MODULE_PARM_DESC(fin_grace_ms, "Milliseconds an entry not yet looked up survives the client's FIN (default 2000)");

static int skip_uid = -1;
module_param(skip_uid, int, 0644);
MODULE_PARM_DESC(skip_uid, "Do not record SYNs the host itself sends from sockets of this user, e.g. the upstream proxy's (default -1: none)");

/* Read once at load: the hooks test membership without touching the array. */
static DECLARE_BITMAP(shifter_port_map, 65536) __read_mostly;

struct shifter_key {
	union nf_inet_addr addr;
	__be16 port;
	u8 family;
	u8 pad;
};

struct shifter_entry {
	struct hlist_node node;		/* bucket chain, RCU */
	struct list_head age;		/* on open, found or closing, oldest first */
	struct rcu_head rcu;
	struct shifter_key key;
	union nf_inet_addr daddr;
	__be16 dport;
	bool looked_up;			/* a LOOKUP found it */
	bool closing;			/* FIN seen before any LOOKUP */
	bool ambiguous;			/* its key's port has two destinations */
	unsigned long stamp;		/* jiffies at the SYN */
	unsigned long fin_stamp;	/* jiffies at the FIN, when closing */
};

struct shifter_net {
	spinlock_t lock;		/* protects writes to all below */
	struct hlist_head *buckets;
	unsigned int hash_mask;
	unsigned int count;
	struct list_head open;		/* not looked up yet, by SYN time */
	struct list_head found;		/* looked up, by LOOKUP time */
	struct list_head closing;	/* by FIN time */
	siphash_key_t hash_key;
	struct mem_cgroup *memcg;	/* the namespace's maker's: see record */
	struct delayed_work gc;
	atomic64_t recorded;
	atomic64_t lookups;
	atomic64_t hits;
	atomic64_t misses;
	atomic64_t expired;
	atomic64_t evicted;
};

static unsigned int shifter_net_id __read_mostly;
/* Set while the module registers with the namespaces that already exist. */
static bool shifter_loading;
static struct genl_family shifter_genl_family;

static struct shifter_net *shifter_pernet(struct net *net)
{
	return net_generic(net, shifter_net_id);
}

static unsigned long shifter_ttl_jiffies(void)
{
	return (unsigned long)max(READ_ONCE(ttl), 1U) * HZ;
}

static bool shifter_fin_expired(const struct shifter_entry *e,
				unsigned long now)
{
	/* Pairs with the release in shifter_forget(): fin_stamp is set. */
	return smp_load_acquire(&e->closing) &&
	       time_after(now, READ_ONCE(e->fin_stamp) +
			  msecs_to_jiffies(READ_ONCE(fin_grace_ms)));
}

static bool shifter_expired(const struct shifter_entry *e, unsigned long now)
{
	return time_after(now, READ_ONCE(e->stamp) + shifter_ttl_jiffies()) ||
	       shifter_fin_expired(e, now);
}

static struct hlist_head *shifter_bucket(struct shifter_net *sn,
					 const struct shifter_key *key)
{
	u64 h = siphash(key, sizeof(*key), &sn->hash_key);

	return &sn->buckets[h & sn->hash_mask];
}

static bool shifter_key_eq(const struct shifter_key *a,
			   const struct shifter_key *b)
{
	return a->family == b->family && a->port == b->port &&
	       nf_inet_addr_cmp(&a->addr, &b->addr);
}

/* Caller holds sn->lock or rcu_read_lock. */
static struct shifter_entry *shifter_find(struct shifter_net *sn,
					  const struct shifter_key *key)
{
	struct shifter_entry *e;

	hlist_for_each_entry_rcu(e, shifter_bucket(sn, key), node,
				 lockdep_is_held(&sn->lock)) {
		if (shifter_key_eq(&e->key, key))
			return e;
	}
	return NULL;
}

static void shifter_unlink(struct shifter_net *sn, struct shifter_entry *e)
{
	lockdep_assert_held(&sn->lock);
	hlist_del_rcu(&e->node);
	list_del(&e->age);
	WRITE_ONCE(sn->count, sn->count - 1);
	kfree_rcu(e, rcu);
}

/*
 * Drop the expired entries at the old end of @list. Caller holds sn->lock.
 *
 * Return: how many.
 */
static unsigned int shifter_expire_list(struct shifter_net *sn,
					struct list_head *list,
					unsigned long now)
{
	struct shifter_entry *e, *tmp;
	unsigned int n = 0;

	list_for_each_entry_safe(e, tmp, list, age) {
		if (!shifter_expired(e, now))
			break;
		shifter_unlink(sn, e);
		n++;
	}
	return n;
}

/*
 * Drop expired entries from the old ends: open is in SYN order, closing in
 * FIN order (see shifter_forget() for which closing entries stay on open).
 * The redirector's LOOKUP comes moments after the SYN, so found is near SYN
 * order too. Entries that reach their ttl on open or found count as
 * expired, those that end their FIN grace on closing do not.
 *
 * An entry stays in memory past its end (never in answers) while a live
 * one is ahead of it: after a run-time change of ttl or fin_grace_ms, or on
 * found when it was first looked up long after its SYN (by hand).
 */
static void shifter_expire(struct shifter_net *sn, unsigned long now)
{
	lockdep_assert_held(&sn->lock);
	shifter_expire_list(sn, &sn->closing, now);
	atomic64_add(shifter_expire_list(sn, &sn->open, now) +
		     shifter_expire_list(sn, &sn->found, now), &sn->expired);
}

/*
 * The entry to evict: a closing connection first, then the oldest that no
 * LOOKUP has found (a SYN flood with spoofed sources only makes those:
 * their handshakes never complete, so no redirector ever accepts them),
 * and only then the oldest of those the redirector is serving.
 */
static struct shifter_entry *shifter_oldest(struct shifter_net *sn)
{
	lockdep_assert_held(&sn->lock);
	if (!list_empty(&sn->closing))
		return list_first_entry(&sn->closing, struct shifter_entry, age);
	if (!list_empty(&sn->open))
		return list_first_entry(&sn->open, struct shifter_entry, age);
	return list_first_entry(&sn->found, struct shifter_entry, age);
}

/* Chains stay short: a namespace holds this many entries per bucket, on average. */
#define SHIFTER_PER_BUCKET	32

/*
 * max_entries, but no more than SHIFTER_PER_BUCKET times the buckets sized
 * when the namespace was made: raising the parameter at run time must not
 * turn every SYN's bucket walk under the lock into a long one.
 */
static unsigned int shifter_limit(const struct shifter_net *sn)
{
	return clamp(READ_ONCE(max_entries), 1U,
		     (sn->hash_mask + 1) * SHIFTER_PER_BUCKET);
}

/*
 * A LOOKUP found @e for the first time: mark it and move it to found,
 * unless a new SYN replaced it meanwhile. Called inside the LOOKUP's RCU
 * read section, so @e is not freed yet and no other entry can have its
 * address: the table holding @e is the table holding this very entry (a
 * SYN stamp could not tell two SYNs of one jiffy apart).
 */
static void shifter_found(struct shifter_net *sn, struct shifter_entry *e)
{
	spin_lock_bh(&sn->lock);
	if (shifter_find(sn, &e->key) == e && !e->looked_up &&
	    !shifter_expired(e, jiffies)) {
		/* Its FIN may now remove it at once. */
		WRITE_ONCE(e->looked_up, true);
		/* A closing entry keeps its place: its FIN grace ends it. */
		if (!e->closing)
			list_move_tail(&e->age, &sn->found);
	}
	spin_unlock_bh(&sn->lock);
}

static void shifter_gc(struct work_struct *work)
{
	struct shifter_net *sn = container_of(to_delayed_work(work),
					      struct shifter_net, gc);
	bool again;

	spin_lock_bh(&sn->lock);
	shifter_expire(sn, jiffies);
	again = sn->count;
	spin_unlock_bh(&sn->lock);
	/* An empty table sleeps until shifter_record() wakes it. */
	if (again)
		schedule_delayed_work(&sn->gc, SHIFTER_GC_INTERVAL);
}

/*
 * Charged to a memory cgroup: the sender's when a process sends the SYN
 * (LOCAL_OUT, in its context), else the cgroup of whoever made the
 * namespace (a forwarded SYN, in softirq or a NAPI thread). So an
 * unprivileged user's namespaces, however many, fill their tables at that
 * user's cost, whether the SYNs come from a process or over a veth between
 * two of them. Past the cgroup's limit if need be, as atomic allocations
 * are charged: the cgroup then reclaims, or its OOM killer acts, on its
 * next allocation that may wait; refusing the entry instead would leave a
 * connection unanswered whenever a limited cgroup sits at its limit, full
 * of page cache, which is where such cgroups sit.
 */
static struct shifter_entry *shifter_alloc(struct shifter_net *sn,
					   bool sender_pays)
{
	const gfp_t gfp = GFP_ATOMIC | __GFP_ACCOUNT;
	struct shifter_entry *e;
	struct mem_cgroup *old;

	if (sender_pays)
		return kzalloc(sizeof(*e), gfp);
	old = set_active_memcg(sn->memcg);
	e = kzalloc(sizeof(*e), gfp);
	set_active_memcg(old);
	return e;
}

static void shifter_record(struct shifter_net *sn,
			   const struct shifter_key *key,
			   const union nf_inet_addr *daddr, __be16 dport,
			   bool sender_pays)
{
	struct shifter_entry *e, *old;
	unsigned long now = jiffies;

	/* Outside the lock: a SYN flood then only costs the allocator. */
	e = shifter_alloc(sn, sender_pays);
	if (!e)
		return;
	e->key = *key;
	e->daddr = *daddr;
	e->dport = dport;
	e->stamp = now;

	spin_lock_bh(&sn->lock);
	/* A retransmitted SYN, or the client reused its port: start afresh. */
	old = shifter_find(sn, key);
	if (old) {
		/*
		 * Unless the other connection is done with (looked up, or
		 * over), two destinations now share the key: no LOOKUP could
		 * tell which one it asks about, so none is answered (auto
		 * then asks conntrack, which knows the whole tuple).
		 */
		e->ambiguous = !READ_ONCE(old->looked_up) &&
			       !shifter_expired(old, now) &&
			       (old->ambiguous || old->dport != dport ||
				!nf_inet_addr_cmp(&old->daddr, daddr));
		shifter_unlink(sn, old);
	}
	shifter_expire(sn, now);
	while (sn->count >= shifter_limit(sn)) {
		shifter_unlink(sn, shifter_oldest(sn));
		atomic64_inc(&sn->evicted);
	}
	hlist_add_head_rcu(&e->node, shifter_bucket(sn, key));
	list_add_tail(&e->age, &sn->open);
	WRITE_ONCE(sn->count, sn->count + 1);
	spin_unlock_bh(&sn->lock);
	atomic64_inc(&sn->recorded);
	/* A no-op while the expiry work is already queued. */
	schedule_delayed_work(&sn->gc, SHIFTER_GC_INTERVAL);
}

/* Whether @key has an entry, without the lock: look before taking it. */
static bool shifter_present(struct shifter_net *sn,
			    const struct shifter_key *key)
{
	bool found;

	rcu_read_lock();
	found = shifter_find(sn, key);
	rcu_read_unlock();
	return found;
}

/*
 * A SYN from @key to a port outside ports: a connection that may be
 * redirected but is not recorded, so whatever the table holds for @key
 * belongs to another connection, over or sharing the client's port, and
 * would only mislead a LOOKUP about this one.
 */
static void shifter_drop(struct shifter_net *sn, const struct shifter_key *key)
{
	struct shifter_entry *e;

	if (!READ_ONCE(sn->count) || !shifter_present(sn, key))
		return;

	spin_lock_bh(&sn->lock);
	e = shifter_find(sn, key);
	if (e)
		shifter_unlink(sn, e);
	spin_unlock_bh(&sn->lock);
}

static void shifter_forget(struct shifter_net *sn,
			   const struct shifter_key *key,
			   const union nf_inet_addr *daddr, __be16 dport,
			   bool rst)
{
	struct shifter_entry *e;

	/* Most FINs belong to connections we never recorded: look first. */
	if (!shifter_present(sn, key))
		return;

	spin_lock_bh(&sn->lock);
	e = shifter_find(sn, key);
	/* Only the client's own connection: same original destination. */
	if (!e || e->dport != dport || !nf_inet_addr_cmp(&e->daddr, daddr))
		goto out_unlock;
	if (rst || READ_ONCE(e->looked_up)) {
		shifter_unlink(sn, e);
	} else if (!e->closing) {
		unsigned long now = jiffies;

		/*
		 * A client may send its request and FIN before the redirector
		 * has even accepted: keep the entry for the LOOKUP a while.
		 */
		WRITE_ONCE(e->fin_stamp, now);
		/* Lockless readers that see closing must see fin_stamp. */
		smp_store_release(&e->closing, true);
		/*
		 * Its ttl still holds. When that ends first (fin_grace_ms
		 * longer than what is left of it), the entry stays on open,
		 * whose SYN order the expiry follows; closing is only for
		 * entries that the grace ends first.
		 */
		if (time_before(now + msecs_to_jiffies(READ_ONCE(fin_grace_ms)),
				e->stamp + shifter_ttl_jiffies()))
			list_move_tail(&e->age, &sn->closing);
	}
out_unlock:
	spin_unlock_bh(&sn->lock);
}

/*
 * Whether a SYN the host sends comes from skip_uid's socket (as iptables'
 * "-m owner --uid-owner" decides it: the file's fsuid, the uid read in the
 * namespace's user namespace). Such connections go out through the proxy
 * and are never redirected back to us: recording them only takes room.
 */
static bool shifter_skipped_owner(const struct sk_buff *skb,
				  const struct nf_hook_state *state)
{
	int uid = READ_ONCE(skip_uid);
	const struct socket *sock;
	const struct file *filp;
	struct sock *sk;
	kuid_t kuid;
	bool match;

	if (uid < 0 || state->hook != NF_INET_LOCAL_OUT)
		return false;
	kuid = make_kuid(state->net->user_ns, uid);
	sk = skb_to_full_sk(skb);
	if (!uid_valid(kuid) || !sk || !sk_fullsock(sk))
		return false;
	/*
	 * sock_orphan() clears sk_socket under sk_callback_lock (a SYN may
	 * come back from an NFQUEUE after close()): read it under that lock,
	 * as xt_owner does since 7ae836a3d630.
	 */
	read_lock_bh(&sk->sk_callback_lock);
	sock = sk->sk_socket;
	filp = sock ? sock->file : NULL;
	match = filp && uid_eq(filp->f_cred->fsuid, kuid);
	read_unlock_bh(&sk->sk_callback_lock);
	return match;
}

static unsigned int shifter_hook(void *priv, struct sk_buff *skb,
				 const struct nf_hook_state *state)
{
	struct shifter_net *sn = shifter_pernet(state->net);
	union nf_inet_addr daddr = {};
	struct shifter_key key = {};
	struct tcphdr _th;
	const struct tcphdr *th;
	unsigned int thoff;

	if (state->pf == NFPROTO_IPV4) {
		const struct iphdr *iph = ip_hdr(skb);

		/* A raw IP_HDRINCL socket may send a short ihl: LOCAL_OUT sees it. */
		if (iph->protocol != IPPROTO_TCP || ip_is_fragment(iph) ||
		    iph->ihl < 5)
			return NF_ACCEPT;
		thoff = skb_network_offset(skb) + ip_hdrlen(skb);
		key.family = AF_INET;
		key.addr.ip = iph->saddr;
		daddr.ip = iph->daddr;
	} else {
		const struct ipv6hdr *ip6h = ipv6_hdr(skb);
		unsigned short fragoff = 0;
		int off = 0;

		if (ipv6_find_hdr(skb, &off, IPPROTO_TCP, &fragoff, NULL) !=
		    IPPROTO_TCP || fragoff)
			return NF_ACCEPT;
		thoff = off;
		key.family = AF_INET6;
		key.addr.in6 = ip6h->saddr;
		daddr.in6 = ip6h->daddr;
	}

	th = skb_header_pointer(skb, thoff, sizeof(_th), &_th);
	if (!th)
		return NF_ACCEPT;
	key.port = th->source;

	if (th->syn && !th->ack) {
		/*
		 * A packet on lo in PRE_ROUTING already passed LOCAL_OUT in this
		 * namespace, before NAT; one on a VRF device already passed
		 * PRE_ROUTING on the device enslaved to it (vrf_ip_rcv() runs
		 * the hook again). Either second pass carries the rewritten
		 * destination and must not replace, nor drop, what the first
		 * one recorded.
		 */
		if (state->hook == NF_INET_PRE_ROUTING && state->in &&
		    ((state->in->flags & IFF_LOOPBACK) ||
		     netif_is_l3_master(state->in)))
			return NF_ACCEPT;
		/*
		 * The proxy's own connections are never redirected: one that
		 * shares a client's port (another destination) misleads no
		 * LOOKUP, so it leaves the client's entry alone.
		 */
		if (shifter_skipped_owner(skb, state))
			return NF_ACCEPT;
		if (!test_bit(ntohs(th->dest), shifter_port_map)) {
			shifter_drop(sn, &key);
			return NF_ACCEPT;
		}
		shifter_record(sn, &key, &daddr, th->dest,
			       state->hook == NF_INET_LOCAL_OUT && in_task());
	} else if (th->fin || th->rst) {
		shifter_forget(sn, &key, &daddr, th->dest, th->rst);
	}
	return NF_ACCEPT;
}

/* Before DNAT: afterwards the destination is already rewritten. */
static const struct nf_hook_ops shifter_hook_ops[] = {
	{
		.hook		= shifter_hook,
		.pf		= NFPROTO_IPV4,
		.hooknum	= NF_INET_PRE_ROUTING,
		.priority	= NF_IP_PRI_NAT_DST - 1,
	},
	{
		.hook		= shifter_hook,
		.pf		= NFPROTO_IPV4,
		.hooknum	= NF_INET_LOCAL_OUT,
		.priority	= NF_IP_PRI_NAT_DST - 1,
	},
	{
		.hook		= shifter_hook,
		.pf		= NFPROTO_IPV6,
		.hooknum	= NF_INET_PRE_ROUTING,
		.priority	= NF_IP6_PRI_NAT_DST - 1,
	},
	{
		.hook		= shifter_hook,
		.pf		= NFPROTO_IPV6,
		.hooknum	= NF_INET_LOCAL_OUT,
		.priority	= NF_IP6_PRI_NAT_DST - 1,
	},
};

static int shifter_addr_len(u8 family)
{
	switch (family) {
	case AF_INET:
		return sizeof(struct in_addr);
	case AF_INET6:
		return sizeof(struct in6_addr);
	}
	return -ENOPROTOOPT;
}

static int shifter_put_addr(struct sk_buff *skb, int type, u8 family,
			    const union nf_inet_addr *addr)
{
	return nla_put(skb, type, shifter_addr_len(family), addr);
}

static int shifter_nl_lookup(struct sk_buff *skb, struct genl_info *info)
{
	struct shifter_net *sn = shifter_pernet(genl_info_net(info));
	union nf_inet_addr daddr;
	struct shifter_key key = {};
	struct shifter_entry *e;
	struct sk_buff *msg;
	unsigned long stamp;
	__be16 dport;
	void *hdr;
	int len;
	int ret;

	if (GENL_REQ_ATTR_CHECK(info, SHIFTER_A_FAMILY) ||
	    GENL_REQ_ATTR_CHECK(info, SHIFTER_A_SRC_ADDR) ||
	    GENL_REQ_ATTR_CHECK(info, SHIFTER_A_SRC_PORT))
		return -EINVAL;

	key.family = nla_get_u8(info->attrs[SHIFTER_A_FAMILY]);
	len = shifter_addr_len(key.family);
	if (len < 0) {
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[SHIFTER_A_FAMILY],
				    "family must be AF_INET or AF_INET6");
		return len;
	}
	if (info->attrs[SHIFTER_A_PROTOCOL] &&
	    nla_get_u8(info->attrs[SHIFTER_A_PROTOCOL]) != IPPROTO_TCP) {
		NL_SET_ERR_MSG_ATTR(info->extack,
				    info->attrs[SHIFTER_A_PROTOCOL],
				    "only TCP connections are recorded");
		return -ENOPROTOOPT;
	}
	if (nla_len(info->attrs[SHIFTER_A_SRC_ADDR]) != len) {
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[SHIFTER_A_SRC_ADDR],
				    "address length does not match family");
		return -EINVAL;
	}
	nla_memcpy(&key.addr, info->attrs[SHIFTER_A_SRC_ADDR], len);
	key.port = htons(nla_get_u16(info->attrs[SHIFTER_A_SRC_PORT]));

	atomic64_inc(&sn->lookups);
	rcu_read_lock();
	e = shifter_find(sn, &key);
	if (e && !shifter_expired(e, jiffies) && !e->ambiguous) {
		daddr = e->daddr;
		dport = e->dport;
		stamp = READ_ONCE(e->stamp);
		if (!READ_ONCE(e->looked_up))
			shifter_found(sn, e);
	} else {
		e = NULL;
	}
	rcu_read_unlock();
	if (!e) {
		atomic64_inc(&sn->misses);
		return -ENOENT;
	}
	atomic64_inc(&sn->hits);

	msg = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = genlmsg_put_reply(msg, info, &shifter_genl_family, 0, SHIFTER_CMD_LOOKUP);
	ret = -EMSGSIZE;
	if (!hdr)
		goto out_free;
	if (nla_put_u8(msg, SHIFTER_A_FAMILY, key.family) ||
	    shifter_put_addr(msg, SHIFTER_A_DST_ADDR, key.family, &daddr) ||
	    nla_put_u16(msg, SHIFTER_A_DST_PORT, ntohs(dport)) ||
	    nla_put_u32(msg, SHIFTER_A_AGE_MS,
			jiffies_to_msecs(jiffies - stamp)))
		goto out_free;
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);

out_free:
	nlmsg_free(msg);
	return ret;
}

static int shifter_nl_stats(struct sk_buff *skb, struct genl_info *info)
{
	struct shifter_net *sn = shifter_pernet(genl_info_net(info));
	struct sk_buff *msg;
	struct nlattr *nest;
	void *hdr;
	int ret = -EMSGSIZE;

	msg = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = genlmsg_put_reply(msg, info, &shifter_genl_family, 0, SHIFTER_CMD_STATS);
	if (!hdr)
		goto out_free;
	nest = nla_nest_start(msg, SHIFTER_A_STATS);
	if (!nest)
		goto out_free;
	if (nla_put_u64_64bit(msg, SHIFTER_STATS_A_RECORDED,
			      atomic64_read(&sn->recorded), SHIFTER_STATS_A_PAD) ||
	    nla_put_u64_64bit(msg, SHIFTER_STATS_A_LOOKUPS,
			      atomic64_read(&sn->lookups), SHIFTER_STATS_A_PAD) ||
	    nla_put_u64_64bit(msg, SHIFTER_STATS_A_HITS,
			      atomic64_read(&sn->hits), SHIFTER_STATS_A_PAD) ||
	    nla_put_u64_64bit(msg, SHIFTER_STATS_A_MISSES,
			      atomic64_read(&sn->misses), SHIFTER_STATS_A_PAD) ||
	    nla_put_u64_64bit(msg, SHIFTER_STATS_A_EXPIRED,
			      atomic64_read(&sn->expired), SHIFTER_STATS_A_PAD) ||
	    nla_put_u64_64bit(msg, SHIFTER_STATS_A_EVICTED,
			      atomic64_read(&sn->evicted), SHIFTER_STATS_A_PAD) ||
	    nla_put_u32(msg, SHIFTER_STATS_A_ENTRIES, READ_ONCE(sn->count)) ||
	    nla_put_u32(msg, SHIFTER_STATS_A_MAX_ENTRIES, shifter_limit(sn)) ||
	    nla_put_u32(msg, SHIFTER_STATS_A_TTL, READ_ONCE(ttl)))
		goto out_free;
	nla_nest_end(msg, nest);
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);

out_free:
	nlmsg_free(msg);
	return ret;
}

static int shifter_nl_dump_entry(struct sk_buff *skb,
				 struct netlink_callback *cb,
				 const struct shifter_entry *e)
{
	void *hdr;

	hdr = genlmsg_put(skb, NETLINK_CB(cb->skb).portid, cb->nlh->nlmsg_seq,
			  &shifter_genl_family, NLM_F_MULTI, SHIFTER_CMD_DUMP);
	if (!hdr)
		return -EMSGSIZE;
	if (nla_put_u8(skb, SHIFTER_A_FAMILY, e->key.family) ||
	    shifter_put_addr(skb, SHIFTER_A_SRC_ADDR, e->key.family,
			     &e->key.addr) ||
	    nla_put_u16(skb, SHIFTER_A_SRC_PORT, ntohs(e->key.port)) ||
	    shifter_put_addr(skb, SHIFTER_A_DST_ADDR, e->key.family,
			     &e->daddr) ||
	    nla_put_u16(skb, SHIFTER_A_DST_PORT, ntohs(e->dport)) ||
	    nla_put_u32(skb, SHIFTER_A_AGE_MS,
			jiffies_to_msecs(jiffies - READ_ONCE(e->stamp))) ||
	    (e->ambiguous && nla_put_flag(skb, SHIFTER_A_AMBIGUOUS))) {
		genlmsg_cancel(skb, hdr);
		return -EMSGSIZE;
	}
	genlmsg_end(skb, hdr);
	return 0;
}

/*
 * cb->args[0]: next bucket; cb->args[1]: entries of it already sent.
 *
 * A bucket goes out whole in one message: one that does not fit is taken
 * back and starts the next. Between two messages the table may change, and
 * a position inside a bucket would then point at another entry (sending one
 * twice, or skipping one); at a bucket boundary nothing that stays in the
 * table throughout the dump is missed or repeated. Only a bucket too large
 * for a message of its own is split by position.
 */
static int shifter_nl_dump(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct shifter_net *sn = shifter_pernet(sock_net(cb->skb->sk));
	unsigned long bucket = cb->args[0];
	unsigned long skip = cb->args[1];
	unsigned long now = jiffies;
	struct shifter_entry *e;
	unsigned int start;
	unsigned long idx;

	rcu_read_lock();
	for (; bucket <= sn->hash_mask; bucket++, skip = 0) {
		start = skb->len;
		idx = 0;
		hlist_for_each_entry_rcu(e, &sn->buckets[bucket], node) {
			if (idx++ < skip || shifter_expired(e, now))
				continue;
			if (!shifter_nl_dump_entry(skb, cb, e))
				continue;
			if (start > 0 && skip == 0) {
				skb_trim(skb, start);
				cb->args[1] = 0;
			} else {
				cb->args[1] = idx - 1;
			}
			goto out;
		}
	}
out:
	rcu_read_unlock();
	cb->args[0] = bucket;
	return skb->len;
}

static const struct nla_policy shifter_lookup_policy[SHIFTER_A_PROTOCOL + 1] = {
	[SHIFTER_A_FAMILY]	= { .type = NLA_U8 },
	[SHIFTER_A_SRC_ADDR]	= NLA_POLICY_RANGE(NLA_BINARY,
						   sizeof(struct in_addr),
						   sizeof(struct in6_addr)),
	[SHIFTER_A_SRC_PORT]	= NLA_POLICY_MIN(NLA_U16, 1),
	[SHIFTER_A_PROTOCOL]	= { .type = NLA_U8 },
};

/*
 * STATS and DUMP take no attributes. A maxattr of 0 would skip parsing
 * altogether; with 1 and NLA_REJECT, strict parsing rejects every attribute.
 */
static const struct nla_policy shifter_empty_policy[SHIFTER_A_FAMILY + 1] = {
	[SHIFTER_A_FAMILY]	= { .type = NLA_REJECT },
};

static const struct genl_ops shifter_genl_ops[] = {
	{
		.cmd		= SHIFTER_CMD_LOOKUP,
		.doit		= shifter_nl_lookup,
		.policy		= shifter_lookup_policy,
		.maxattr	= SHIFTER_A_PROTOCOL,
		.flags		= GENL_UNS_ADMIN_PERM,
	},
	{
		.cmd		= SHIFTER_CMD_STATS,
		.doit		= shifter_nl_stats,
		.policy		= shifter_empty_policy,
		.maxattr	= SHIFTER_A_FAMILY,
		.flags		= GENL_UNS_ADMIN_PERM,
	},
	{
		.cmd		= SHIFTER_CMD_DUMP,
		.dumpit		= shifter_nl_dump,
		.policy		= shifter_empty_policy,
		.maxattr	= SHIFTER_A_FAMILY,
		.flags		= GENL_UNS_ADMIN_PERM,
	},
};

static struct genl_family shifter_genl_family __ro_after_init = {
	.name		= SHIFTER_GENL_NAME,
	.version	= SHIFTER_GENL_VERSION,
	.netnsok	= true,
	.parallel_ops	= true,
	.module		= THIS_MODULE,
	.ops		= shifter_genl_ops,
	.n_ops		= ARRAY_SIZE(shifter_genl_ops),
	.resv_start_op	= 0,
};

static int __net_init shifter_net_init(struct net *net)
{
	struct shifter_net *sn = shifter_pernet(net);
	unsigned int nbuckets;
	int ret;

	/* About two entries per bucket when full; fixed for the netns' life. */
	nbuckets = roundup_pow_of_two(clamp(READ_ONCE(max_entries) / 2,
					    64U, 1U << 16));
	sn->buckets = kvcalloc(nbuckets, sizeof(*sn->buckets),
			       GFP_KERNEL_ACCOUNT);
	if (!sn->buckets)
		return -ENOMEM;
	sn->hash_mask = nbuckets - 1;
	spin_lock_init(&sn->lock);
	INIT_LIST_HEAD(&sn->open);
	INIT_LIST_HEAD(&sn->found);
	INIT_LIST_HEAD(&sn->closing);
	get_random_bytes(&sn->hash_key, sizeof(sn->hash_key));
	INIT_DELAYED_WORK(&sn->gc, shifter_gc);
	/*
	 * A new namespace's init runs in the task that makes it. The host's,
	 * and those that exist when the module loads, run in insmod's: they
	 * charge forwarded SYNs to no one. The cgroup is held for the
	 * namespace's life, as its sockets hold theirs, even once removed.
	 */
	if (!shifter_loading)
		sn->memcg = get_mem_cgroup_from_mm(current->mm);

	ret = nf_register_net_hooks(net, shifter_hook_ops,
				    ARRAY_SIZE(shifter_hook_ops));
	if (ret)
		goto out_put_memcg;
	return 0;

out_put_memcg:
	mem_cgroup_put(sn->memcg);
	kvfree(sn->buckets);
	return ret;
}

/*
 * Unregistering does not wait for hooks already running on other CPUs: one
 * may still record an entry and arm the GC. The pernet core waits for a
 * grace period between pre_exit and exit, so exit sees no hook at all.
 */
static void __net_exit shifter_net_pre_exit(struct net *net)
{
	nf_unregister_net_hooks(net, shifter_hook_ops,
				ARRAY_SIZE(shifter_hook_ops));
}

static void __net_exit shifter_net_exit(struct net *net)
{
	struct shifter_net *sn = shifter_pernet(net);
	struct shifter_entry *e, *tmp;

	cancel_delayed_work_sync(&sn->gc);

	spin_lock_bh(&sn->lock);
	list_for_each_entry_safe(e, tmp, &sn->open, age)
		shifter_unlink(sn, e);
	list_for_each_entry_safe(e, tmp, &sn->found, age)
		shifter_unlink(sn, e);
	list_for_each_entry_safe(e, tmp, &sn->closing, age)
		shifter_unlink(sn, e);
	spin_unlock_bh(&sn->lock);
	/*
	 * No reader is left to wait for: the hooks are gone (see pre_exit),
	 * a LOOKUP or DUMP holds its socket's netns, so none runs in a dying
	 * one, and the entries themselves are freed after a grace period. A
	 * synchronize_rcu() here would cost one grace period per namespace
	 * that cleanup_net() tears down, in series.
	 */
	kvfree(sn->buckets);
	mem_cgroup_put(sn->memcg);
}

static struct pernet_operations shifter_net_ops = {
	.init		= shifter_net_init,
	.pre_exit	= shifter_net_pre_exit,
	.exit		= shifter_net_exit,
	.id		= &shifter_net_id,
	.size		= sizeof(struct shifter_net),
};

static int __init shifter_init(void)
{
	unsigned int i;
	int ret;

	ret = -EINVAL;
	if (nports < 1) {
		pr_err("ports must list at least one port\n");
		goto out;
	}
	for (i = 0; i < nports; i++) {
		if (!ports[i]) {
			pr_err("ports must not contain 0\n");
			goto out;
		}
		set_bit(ports[i], shifter_port_map);
	}

	/* No namespace is made meanwhile: the pernet core holds its lock. */
	shifter_loading = true;
	ret = register_pernet_subsys(&shifter_net_ops);
	shifter_loading = false;
	if (ret)
		goto out;
	ret = genl_register_family(&shifter_genl_family);
	if (ret)
		goto out_unregister_pernet;
	pr_info("recording SYNs to %u port(s), ttl %us, max_entries %u\n",
		nports, ttl, max_entries);
	return 0;

out_unregister_pernet:
	unregister_pernet_subsys(&shifter_net_ops);
out:
	return ret;
}

static void __exit shifter_exit(void)
{
	/* Netlink first: it waits for requests in flight, then none can come. */
	genl_unregister_family(&shifter_genl_family);
	unregister_pernet_subsys(&shifter_net_ops);
}

module_init(shifter_init);
module_exit(shifter_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("Shifter authors");
MODULE_DESCRIPTION("Remember the original destination of redirected TCP connections");
MODULE_ALIAS_GENL_FAMILY(SHIFTER_GENL_NAME);

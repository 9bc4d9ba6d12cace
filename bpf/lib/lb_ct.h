/* lib/lb.h for a program without a conntrack of its own: a small LRU conntrack that remembers
 * each translated flow's backend and reverse-NAT index, and the two entry points built on it,
 * lb_request() (service lookup, backend selection, DNAT) and lb_reply() (reverse NAT).
 *
 * The endpoint datapath does not use this: its own conntrack entries carry the backend and the
 * reverse-NAT index (lib/service.h), so its timeouts apply to the load balancer's state too.
 *
 * LB_CT_MAX may be set before including. */
#ifndef TWINPATH_LB_CT_H
#define TWINPATH_LB_CT_H

#include "lb.h"

#ifndef LB_CT_MAX
#define LB_CT_MAX 16384
#endif

/* lb_ct_key.dir: the entry for the request direction (client -> frontend, keeps the backend)
 * and the one for replies (backend -> client, finds the frontend). */
#define LB_CT_SERVICE 0
#define LB_CT_REPLY 1

struct lb4_ct_key {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 dir; /* LB_CT_* */
	__u16 pad;
};

struct lb6_ct_key {
	__be32 saddr[4];
	__be32 daddr[4];
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 dir;
	__u16 pad;
};

struct lb_ct_entry {
	__u64 created_ns;
	__u32 backend_id;
	__u16 rev_nat;
	__u16 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct lb4_ct_key);
	__type(value, struct lb_ct_entry);
	__uint(max_entries, LB_CT_MAX);
} lb4_ct SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct lb6_ct_key);
	__type(value, struct lb_ct_entry);
	__uint(max_entries, LB_CT_MAX);
} lb6_ct SEC(".maps");

static __always_inline void lb_ct_key4(struct lb4_ct_key *k, const struct lb_tuple *t, __u8 dir)
{
	k->saddr = t->saddr[0];
	k->daddr = t->daddr[0];
	k->sport = t->sport;
	k->dport = t->dport;
	k->proto = t->protocol;
	k->dir = dir;
	k->pad = 0;
}

static __always_inline void lb_ct_key6(struct lb6_ct_key *k, const struct lb_tuple *t, __u8 dir)
{
	__builtin_memcpy(k->saddr, t->saddr, 16);
	__builtin_memcpy(k->daddr, t->daddr, 16);
	k->sport = t->sport;
	k->dport = t->dport;
	k->proto = t->protocol;
	k->dir = dir;
	k->pad = 0;
}

/* The LB conntrack entry of a tuple in one direction, or NULL. */
static __always_inline struct lb_ct_entry *lb_ct_lookup(const struct lb_tuple *t, __u8 dir)
{
	if (t->family == 4) {
		struct lb4_ct_key k;

		lb_ct_key4(&k, t, dir);
		return bpf_map_lookup_elem(&lb4_ct, &k);
	}
	struct lb6_ct_key k6;

	lb_ct_key6(&k6, t, dir);
	return bpf_map_lookup_elem(&lb6_ct, &k6);
}

static __always_inline int lb_ct_store(const struct lb_tuple *t, __u8 dir, const struct lb_ct_entry *e)
{
	if (t->family == 4) {
		struct lb4_ct_key k;

		lb_ct_key4(&k, t, dir);
		return bpf_map_update_elem(&lb4_ct, &k, e, BPF_ANY);
	}
	struct lb6_ct_key k6;

	lb_ct_key6(&k6, t, dir);
	return bpf_map_update_elem(&lb6_ct, &k6, e, BPF_ANY);
}

/* A packet from a client: when its destination is a service frontend, choose the backend (the
 * flow's LB conntrack entry while its backend exists, else the client's affinity, else Maglev),
 * remember it, and rewrite the destination to it. Returns LB_NONE, LB_XLATED or LB_ERR_*; on
 * LB_XLATED the tuple holds the backend as destination and res says how it was chosen. */
static __always_inline int lb_request(struct __sk_buff *skb, __u32 l3_off, __u32 l4_off, struct lb_tuple *t,
				      struct lb_result *res)
{
	struct lb_service *svc;
	struct lb_ct_entry *ct, entry = {};
	__be32 be_addr[4] = {};
	__be16 be_port = 0;
	__u32 remembered = 0;
	__u64 now;
	int err;

	if (!lb_l4_supported(t->protocol))
		return LB_NONE;
	svc = lb_lookup_service(t);
	if (!svc)
		return LB_NONE;
	now = bpf_ktime_get_ns();

	ct = lb_ct_lookup(t, LB_CT_SERVICE);
	if (ct && ct->rev_nat == svc->rev_nat)
		remembered = ct->backend_id;
	err = lb_select(svc, t, now, remembered, be_addr, &be_port, res);
	if (err)
		return err;

	if (res->how != LB_SEL_CT) {
		struct lb_tuple rt = {};

		entry.created_ns = now;
		entry.backend_id = res->backend_id;
		entry.rev_nat = svc->rev_nat;
		if (lb_ct_store(t, LB_CT_SERVICE, &entry))
			return LB_ERR_WRITE;
		/* The reply's tuple: from the backend to the client. */
		__builtin_memcpy(rt.saddr, be_addr, 16);
		__builtin_memcpy(rt.daddr, t->saddr, 16);
		rt.sport = be_port;
		rt.dport = t->sport;
		rt.protocol = t->protocol;
		rt.family = t->family;
		if (lb_ct_store(&rt, LB_CT_REPLY, &entry))
			return LB_ERR_WRITE;
	}

	err = lb_dnat(skb, l3_off, l4_off, 1, t, be_addr, be_port);
	if (err)
		return err;
	return LB_XLATED;
}

/* A packet towards a client: when it is the reply of a translated flow, rewrite its source from
 * the backend back to the frontend the client used. Returns LB_NONE, LB_XLATED or LB_ERR_WRITE;
 * on LB_XLATED the tuple holds the frontend as source. */
static __always_inline int lb_reply(struct __sk_buff *skb, __u32 l3_off, __u32 l4_off, struct lb_tuple *t,
				    struct lb_result *res)
{
	struct lb_ct_entry *ct;
	__be32 fe_addr[4] = {};
	__be16 fe_port = 0;
	__u16 idx;
	int err;

	if (!lb_l4_supported(t->protocol))
		return LB_NONE;
	ct = lb_ct_lookup(t, LB_CT_REPLY);
	if (!ct)
		return LB_NONE;
	idx = ct->rev_nat;
	if (!lb_lookup_rev_nat(t->family, idx, fe_addr, &fe_port))
		return LB_NONE;
	res->backend_id = ct->backend_id;
	res->rev_nat = idx;
	err = lb_snat_back(skb, l3_off, l4_off, 1, t, fe_addr, fe_port);
	if (err)
		return err;
	return LB_XLATED;
}

#endif

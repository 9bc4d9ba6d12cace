/* Connection tracking: one LRU hash for IPv4 and IPv6, keyed by the tuple of a connection's first
 * packet and the direction of the program that saw it (egress entries are made by
 * cil_from_container, ingress entries by cil_to_container). A packet is
 *   established  when its own tuple, in its own direction, has an entry;
 *   a reply      when the reversed tuple has an entry of the other direction (a reply to a
 *                connection the pod opened arrives at cil_to_container and finds the egress
 *                entry);
 *   related      when it is an ICMP error quoting a packet of a tracked connection;
 *   new          otherwise: policy decides, and only an allowed new flow gets an entry.
 * Established, reply and related packets skip the policy lookup.
 *
 * State follows the TCP flags (SYN opens, FIN from both sides or an RST closes); UDP, SCTP and
 * ICMP have a pseudo-state (the ICMP echo identifier stands in for a port). Timeouts run on the
 * program's clock (bpf_ktime_get_ns), with Cilium's default values:
 *   TCP, only SYNs seen so far        60 s    (CT_SYN_TIMEOUT)
 *   TCP, established                  21600 s (CT_CONNECTION_LIFETIME_TCP, 6 h)
 *   TCP, closing (RST, or both FINs)  10 s    (CT_CLOSE_TIMEOUT)
 *   UDP, SCTP, ICMP                   60 s    (CT_CONNECTION_LIFETIME_NONTCP)
 * An entry past its expiry is deleted when found, and the packet is looked at afresh.
 *
 * Service translation keeps its state here too (lib/service.h): a flow to a service frontend has
 * a second entry, of direction CT_DIR_SERVICE and keyed by the tuple as the client sent it, that
 * remembers the backend; the flow's own entry (keyed by the translated tuple) carries the backend
 * id and the frontend's reverse-NAT index, so its replies are rewritten back. Both follow the
 * timeouts above. */
#ifndef TWINPATH_DP_CONNTRACK_H
#define TWINPATH_DP_CONNTRACK_H

#include "common.h"
#include "parse.h"

#define NSEC_PER_SEC 1000000000ULL
#define CT_SYN_TIMEOUT (60 * NSEC_PER_SEC)
#define CT_LIFETIME_TCP (21600 * NSEC_PER_SEC)
#define CT_CLOSE_TIMEOUT (10 * NSEC_PER_SEC)
#define CT_LIFETIME_NONTCP (60 * NSEC_PER_SEC)

/* Lookup results (struct flow_event.ct_state). */
#define CT_NONE 0
#define CT_NEW 1
#define CT_ESTABLISHED 2
#define CT_REPLY 3
#define CT_RELATED 4

/* struct ct_entry.state */
#define CT_S_SEEN_NON_SYN 0x1 /* a TCP segment without SYN: the handshake is over */
#define CT_S_CLOSING 0x2      /* an RST, or a FIN from each side */

#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_RST 0x04
#define TCP_FLAG_ACK 0x10

struct ct_entry {
	__u64 expires;      /* bpf_ktime_get_ns() deadline */
	__u64 packets_fwd;  /* in the direction of the first packet */
	__u64 bytes_fwd;
	__u64 packets_rev;  /* replies */
	__u64 bytes_rev;
	__u32 rule_id;      /* the policy entry that allowed the first packet */
	__u16 proxy_port;
	__u8 tcp_flags_fwd; /* every TCP flag seen, per side */
	__u8 tcp_flags_rev;
	__u8 state;         /* CT_S_* */
	__u8 pad;
	__u16 rev_nat;      /* a service flow: its frontend's reverse-NAT index (lib/lb.h); else 0 */
	__u32 backend_id;   /* a service flow: the backend chosen for it; else 0 */
};
_Static_assert(sizeof(struct ct_entry) == 56, "struct ct_entry is 56 bytes");
_Static_assert(__builtin_offsetof(struct ct_entry, rule_id) == 40, "ct_entry.rule_id at 40");
_Static_assert(__builtin_offsetof(struct ct_entry, state) == 48, "ct_entry.state at 48");
_Static_assert(__builtin_offsetof(struct ct_entry, backend_id) == 52, "ct_entry.backend_id at 52");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct tuple);
	__type(value, struct ct_entry);
} cilium_ct_global SEC(".maps");

static __always_inline void tuple_reverse(struct tuple *out, const struct tuple *in)
{
	__builtin_memcpy(out->saddr, in->daddr, 16);
	__builtin_memcpy(out->daddr, in->saddr, 16);
	out->sport = in->dport;
	out->dport = in->sport;
	out->protocol = in->protocol;
	out->family = in->family;
	out->direction = in->direction ^ 1;
	out->pad = 0;
}

static __always_inline __u64 ct_lifetime(const struct tuple *t, __u8 state)
{
	if (t->protocol != IPPROTO_TCP)
		return CT_LIFETIME_NONTCP;
	if (state & CT_S_CLOSING)
		return CT_CLOSE_TIMEOUT;
	return (state & CT_S_SEEN_NON_SYN) ? CT_LIFETIME_TCP : CT_SYN_TIMEOUT;
}

/* The live entry for key, or NULL; an expired entry is removed. */
static __always_inline struct ct_entry *ct_find(const struct tuple *key, __u64 now)
{
	struct ct_entry *e = bpf_map_lookup_elem(&cilium_ct_global, key);

	if (e && now > e->expires) {
		bpf_map_delete_elem(&cilium_ct_global, key);
		return NULL;
	}
	return e;
}

/* A fresh SYN (no ACK) on a closing TCP connection: the tuple is being reused for a new one. */
static __always_inline int ct_reopens(const struct ct_entry *e, const struct packet *p)
{
	return (e->state & CT_S_CLOSING) && p->tuple.protocol == IPPROTO_TCP &&
	       (p->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN;
}

/* TCP flags, state and expiry after one more packet of the connection. */
static __always_inline void ct_update_state(struct ct_entry *e, const struct packet *p, int reply, __u64 now)
{
	__u8 flags = p->tcp_flags;

	if (reply)
		e->tcp_flags_rev |= flags;
	else
		e->tcp_flags_fwd |= flags;
	if (p->tuple.protocol == IPPROTO_TCP && !(p->flags & PKT_F_LATER_FRAG)) {
		if (!(flags & TCP_FLAG_SYN))
			e->state |= CT_S_SEEN_NON_SYN;
		if ((flags & TCP_FLAG_RST) || ((e->tcp_flags_fwd & TCP_FLAG_FIN) && (e->tcp_flags_rev & TCP_FLAG_FIN)))
			e->state |= CT_S_CLOSING;
	}
	e->expires = now + ct_lifetime(&p->tuple, e->state);
}

/* Folds one packet into a live entry: counters (atomically: other CPUs share the entry), then
 * state. */
static __always_inline void ct_account(struct ct_entry *e, const struct packet *p, int reply, __u64 now)
{
	if (reply) {
		__sync_fetch_and_add(&e->packets_rev, 1);
		__sync_fetch_and_add(&e->bytes_rev, p->len);
	} else {
		__sync_fetch_and_add(&e->packets_fwd, 1);
		__sync_fetch_and_add(&e->bytes_fwd, p->len);
	}
	ct_update_state(e, p, reply, now);
}

/* Classifies p (whose tuple.direction is set) and accounts it to the entry it belongs to. */
static __always_inline int ct_lookup(const struct packet *p, __u64 now, struct ct_entry **found)
{
	struct tuple key;
	struct ct_entry *e;

	if (p->flags & PKT_F_ICMP_ERROR) {
		/* The quoted packet went the other way: sent by this side it is in an entry of the
		 * opposite direction, sent by the peer (a reply) in an entry of ours, reversed. */
		key = p->inner;
		key.direction = p->tuple.direction ^ 1;
		key.pad = 0;
		if (ct_find(&key, now))
			return CT_RELATED;
		tuple_reverse(&key, &p->inner);
		key.direction = p->tuple.direction;
		if (ct_find(&key, now))
			return CT_RELATED;
		return CT_NEW;
	}

	e = ct_find(&p->tuple, now);
	if (e) {
		/* A fresh SYN on a closing connection starts a new one, decided by policy again. */
		if (ct_reopens(e, p)) {
			bpf_map_delete_elem(&cilium_ct_global, &p->tuple);
			return CT_NEW;
		}
		ct_account(e, p, 0, now);
		*found = e;
		return CT_ESTABLISHED;
	}
	tuple_reverse(&key, &p->tuple);
	e = ct_find(&key, now);
	if (e) {
		ct_account(e, p, 1, now);
		*found = e;
		return CT_REPLY;
	}
	return CT_NEW;
}

/* An entry for an allowed new flow under `key` (the packet's tuple, or for a service entry the
 * tuple as the client sent it): 0, or DROP_CT_CREATE_FAILED. */
static __always_inline int ct_create_at(const struct tuple *key, const struct packet *p, __u64 now, __u32 rule_id,
					__u16 proxy_port, __u16 rev_nat, __u32 backend_id)
{
	struct ct_entry e = {
		.rule_id = rule_id,
		.proxy_port = proxy_port,
		.packets_fwd = 1,
		.bytes_fwd = p->len,
		.rev_nat = rev_nat,
		.backend_id = backend_id,
	};

	ct_update_state(&e, p, 0, now);
	if (bpf_map_update_elem(&cilium_ct_global, key, &e, BPF_ANY))
		return DROP_CT_CREATE_FAILED;
	return 0;
}

static __always_inline int ct_create(const struct packet *p, __u64 now, __u32 rule_id, __u16 proxy_port,
				     __u16 rev_nat, __u32 backend_id)
{
	return ct_create_at(&p->tuple, p, now, rule_id, proxy_port, rev_nat, backend_id);
}

#endif

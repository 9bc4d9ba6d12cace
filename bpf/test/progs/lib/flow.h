/* Flow keys and per-flow accounting for flows.bpf.c: a 5-tuple key for either address family,
 * built from a parsed packet, and the map-iteration and loop callbacks whose results do not
 * depend on the order in which an engine visits entries. */
#ifndef TWINPATH_TEST_FLOW_H
#define TWINPATH_TEST_FLOW_H

#include "parse.h"

struct flow_key {
	__u32 saddr[4];
	__u32 daddr[4];
	__u16 sport;
	__u16 dport;
	__u8 proto;
	__u8 family;   /* 4 or 6 */
	__u8 pad[2];
};

struct flow_stats {
	__u64 packets;
	__u64 bytes;
	__u32 first_len;
	__u32 last_flags;  /* TCP flags of the newest packet */
};

static __always_inline void flow_key_from(struct flow_key *k, const struct pkt *p)
{
	__builtin_memcpy(k->saddr, p->saddr, sizeof(k->saddr));
	__builtin_memcpy(k->daddr, p->daddr, sizeof(k->daddr));
	k->sport = p->sport;
	k->dport = p->dport;
	k->proto = p->l4_proto;
	k->family = p->l3_proto == ETH_P_IP ? 4 : 6;
}

/* Sums for bpf_for_each_map_elem: counts and totals commute, so any visiting order gives the
 * same result (the kernel walks hash buckets, the VM its own table). */
struct flow_totals {
	__u64 flows;
	__u64 packets;
	__u64 bytes;
};

static long sum_flow(void *map, struct flow_key *key, struct flow_stats *val, struct flow_totals *t)
{
	t->flows++;
	t->packets += val->packets;
	t->bytes += val->bytes;
	return 0;
}

/* State for the bpf_loop callback that sums payload bytes one at a time. */
struct payload_sum {
	struct __sk_buff *skb;
	__u32 off;
	__u32 sum;
};

static long add_payload_byte(__u32 i, struct payload_sum *s)
{
	__u8 b;

	if (bpf_skb_load_bytes(s->skb, s->off + i, &b, 1))
		return 1; /* past the end: stop */
	s->sum += b;
	return 0;
}

#endif

/* Fragments, as Cilium handles them: only the first fragment of a datagram carries the L4
 * header, so it records its ports (and ICMP type and code) in an LRU hash keyed by (source,
 * destination, identification, protocol); later fragments take them from there and go through
 * conntrack and policy like the first. A later fragment whose first was never seen is dropped
 * (175, "First logical datagram fragment not found"). IPv4 and IPv6 (fragment header) alike. */
#ifndef TWINPATH_DP_FRAG_H
#define TWINPATH_DP_FRAG_H

#include "common.h"
#include "parse.h"

struct frag_key {
	__u32 saddr[4];
	__u32 daddr[4];
	__u32 id;       /* host order: IPv4 identification (16 bits) or IPv6 (32 bits) */
	__u8 protocol;
	__u8 family;
	__u16 pad;
};
_Static_assert(sizeof(struct frag_key) == 40, "struct frag_key is 40 bytes");
_Static_assert(__builtin_offsetof(struct frag_key, id) == 32, "frag_key.id at 32");

struct frag_l4 {
	__be16 sport;
	__be16 dport;
	__u8 icmp_type;
	__u8 icmp_code;
	__u16 pad;
};
_Static_assert(sizeof(struct frag_l4) == 8, "struct frag_l4 is 8 bytes");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct frag_key);
	__type(value, struct frag_l4);
} cilium_frag_datagrams SEC(".maps");

static __always_inline void frag_key_of(struct frag_key *k, const struct packet *p)
{
	__builtin_memcpy(k->saddr, p->tuple.saddr, 16);
	__builtin_memcpy(k->daddr, p->tuple.daddr, 16);
	k->id = p->frag_id;
	k->protocol = p->tuple.protocol;
	k->family = p->tuple.family;
	k->pad = 0;
}

/* 0 or a drop reason. A first fragment records its L4 fields; a later one gets them back. */
static __always_inline int frag_handle(struct packet *p)
{
	struct frag_key key;
	struct frag_l4 *l4;

	if (!(p->flags & PKT_F_FRAGMENT))
		return 0;
	frag_key_of(&key, p);
	if (!(p->flags & PKT_F_LATER_FRAG)) {
		struct frag_l4 v = {
			.sport = p->tuple.sport,
			.dport = p->tuple.dport,
			.icmp_type = p->icmp_type,
			.icmp_code = p->icmp_code,
		};

		/* A full table only loses the later fragments of this datagram (175), as in Cilium. */
		bpf_map_update_elem(&cilium_frag_datagrams, &key, &v, BPF_ANY);
		return 0;
	}
	l4 = bpf_map_lookup_elem(&cilium_frag_datagrams, &key);
	if (!l4)
		return DROP_FRAG_NOT_FOUND;
	p->tuple.sport = l4->sport;
	p->tuple.dport = l4->dport;
	p->icmp_type = l4->icmp_type;
	p->icmp_code = l4->icmp_code;
	return 0;
}

#endif

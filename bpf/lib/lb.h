/* Service load balancing: frontend lookup, backend selection (a backend the caller's conntrack
 * remembers, then ClientIP affinity, then Maglev over the flow hash), DNAT of requests and
 * reverse NAT of replies with incremental checksum updates. The maps are filled by
 * src/lb/maps.ts from the model that src/lb/compile.ts builds; their layouts here are the
 * contract (test/lb checks both against the objects' BTF).
 *
 * This header has no conntrack of its own: a flow's backend and reverse-NAT index live wherever
 * the caller keeps connections. The endpoint datapath keeps them in its own conntrack entries
 * (lib/service.h); lib/lb_ct.h adds a small LRU conntrack for programs that have none and
 * composes the building blocks into lb_request()/lb_reply().
 *
 * The caller parses the packet and passes the L3/L4 offsets and a struct lb_tuple (the same
 * layout and field names as the datapath's 5-tuple). The rewriting functions update the tuple
 * along with the packet, so policy and conntrack that run afterwards see the backend, as in
 * Cilium.
 *
 * Packet bytes are read and written with bpf_skb_load_bytes/bpf_skb_store_bytes and checksums
 * fixed with bpf_l3_csum_replace/bpf_l4_csum_replace (BPF_F_PSEUDO_HDR for addresses, which the
 * TCP/UDP pseudo-header covers). A UDP datagram without a checksum (0) keeps 0:
 * BPF_F_MARK_MANGLED_0 makes the kernel skip the update and write 0xffff when a real sum folds
 * to 0. SCTP's CRC32c covers no pseudo-header, so an address rewrite leaves it valid; a port
 * rewrite would invalidate it and bpf_l4_csum_replace cannot fix a CRC, so, as Cilium does, SCTP
 * services are translated only when the backend port equals the frontend port and the packet is
 * dropped (LB_ERR_SCTP_PORT) otherwise. A later IPv4/IPv6 fragment carries no L4 header: only
 * its address is rewritten (the first fragment's L4 checksum covers the whole datagram).
 *
 * Sizes may be set before including: LB_SERVICES_MAX, LB_BACKENDS_MAX, LB_AFFINITY_MAX,
 * LB_MAGLEV_ENTRIES (the flat Maglev array: services x table size). The Maglev table size is
 * the global lb_maglev_table_size, set at load to the model's size. */
#ifndef TWINPATH_LB_H
#define TWINPATH_LB_H

#include <linux/bpf.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#ifndef LB_SERVICES_MAX
#define LB_SERVICES_MAX 1024
#endif
#ifndef LB_BACKENDS_MAX
#define LB_BACKENDS_MAX 4096
#endif
#ifndef LB_AFFINITY_MAX
#define LB_AFFINITY_MAX 16384
#endif
#ifndef LB_MAGLEV_ENTRIES
#define LB_MAGLEV_ENTRIES (16381 * 8)
#endif
#define LB_MAGLEV_DEFAULT_SIZE 16381

/* IANA protocol numbers, named apart from IPPROTO_* so that this header and <linux/in.h> or the
 * datapath's common.h can be included in any order. */
#define LB_PROTO_TCP 6
#define LB_PROTO_UDP 17
#define LB_PROTO_SCTP 132

/* struct lb_service.flags (src/lb/model.ts SVC_FLAGS). */
#define LB_SVC_F_AFFINITY 0x1
#define LB_SVC_F_CLUSTER_IP 0x2
#define LB_SVC_F_NODE_PORT 0x4
#define LB_SVC_F_EXTERNAL_IP 0x8
#define LB_SVC_F_LOCAL 0x10

/* Results of lb_request/lb_reply: >= 0 forward, < 0 drop. */
#define LB_NONE 0            /* not a service frontend / not a reply of a translated flow */
#define LB_XLATED 1          /* translated */
#define LB_ERR_NO_BACKEND -1 /* a frontend without (usable) backends */
#define LB_ERR_SCTP_PORT -2  /* SCTP would need a port rewrite */
#define LB_ERR_WRITE -3      /* a packet read, write or checksum update failed */

/* How the backend was chosen (struct lb_result.how). */
#define LB_SEL_CT 1 /* the flow's conntrack entry remembered it */
#define LB_SEL_AFFINITY 2
#define LB_SEL_MAGLEV 3

#define LB_FLOW_HASH_SEED 0x5eed1b0b

struct lb_tuple {
	__be32 saddr[4]; /* IPv4: word 0 */
	__be32 daddr[4];
	__be16 sport;
	__be16 dport;
	__u8 protocol;
	__u8 family;     /* 4 or 6 */
	__u16 pad;
};

struct lb4_key {
	__be32 addr;
	__be16 port;
	__u8 proto;
	__u8 pad;
};

struct lb6_key {
	__be32 addr[4];
	__be16 port;
	__u8 proto;
	__u8 pad;
};

struct lb_service {
	__u32 service_id;       /* backend group: row of the Maglev array */
	__u32 affinity_timeout; /* seconds; used with LB_SVC_F_AFFINITY */
	__u16 count;            /* backends; 0 drops */
	__u16 flags;            /* LB_SVC_F_* */
	__u16 rev_nat;          /* this frontend's reverse NAT index */
	__u16 pad;
};

struct lb4_backend {
	__be32 addr;
	__be16 port;
	__u8 proto;
	__u8 flags;
};

struct lb6_backend {
	__be32 addr[4];
	__be16 port;
	__u8 proto;
	__u8 flags;
};

struct lb4_rev_nat {
	__be32 addr;
	__be16 port;
	__u16 pad;
};

struct lb6_rev_nat {
	__be32 addr[4];
	__be16 port;
	__u16 pad;
};

struct lb4_affinity_key {
	__be32 client;
	__u16 rev_nat;
	__u16 pad;
};

struct lb6_affinity_key {
	__be32 client[4];
	__u16 rev_nat;
	__u16 pad;
};

struct lb_affinity_val {
	__u64 last_used_ns;
	__u32 backend_id;
	__u32 pad;
};

/* A backend still belongs to a service group: affinity to a backend that left it is void. */
struct lb_affinity_match {
	__u32 backend_id;
	__u32 service_id;
};

struct lb_result {
	__u32 backend_id;
	__u32 service_id;
	__u16 rev_nat;
	__u16 svc_flags;
	__u8 how;  /* LB_SEL_* */
	__u8 pad[3];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct lb4_key);
	__type(value, struct lb_service);
	__uint(max_entries, LB_SERVICES_MAX);
} lb4_services SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct lb6_key);
	__type(value, struct lb_service);
	__uint(max_entries, LB_SERVICES_MAX);
} lb6_services SEC(".maps");

/* Backend ids: entry service_id * lb_maglev_table_size + slot (0 = empty). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, LB_MAGLEV_ENTRIES);
} lb_maglev SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct lb4_backend);
	__uint(max_entries, LB_BACKENDS_MAX);
} lb4_backends SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct lb6_backend);
	__uint(max_entries, LB_BACKENDS_MAX);
} lb6_backends SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u16);
	__type(value, struct lb4_rev_nat);
	__uint(max_entries, LB_SERVICES_MAX);
} lb4_reverse_nat SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u16);
	__type(value, struct lb6_rev_nat);
	__uint(max_entries, LB_SERVICES_MAX);
} lb6_reverse_nat SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct lb4_affinity_key);
	__type(value, struct lb_affinity_val);
	__uint(max_entries, LB_AFFINITY_MAX);
} lb4_affinity SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct lb6_affinity_key);
	__type(value, struct lb_affinity_val);
	__uint(max_entries, LB_AFFINITY_MAX);
} lb6_affinity SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct lb_affinity_match);
	__type(value, __u8);
	__uint(max_entries, LB_BACKENDS_MAX);
} lb_aff_match SEC(".maps");

const volatile __u32 lb_maglev_table_size = LB_MAGLEV_DEFAULT_SIZE;

/* ---- flow hash (src/lb/flowhash.ts computes the same) ---- */

static __always_inline __u32 lb_rotl32(__u32 x, int r)
{
	return (x << r) | (x >> (32 - r));
}

/* One MurmurHash3 x86_32 block step. */
static __always_inline __u32 lb_hash_step(__u32 h, __u32 w)
{
	w *= 0xcc9e2d51;
	w = lb_rotl32(w, 15);
	w *= 0x1b873593;
	h ^= w;
	h = lb_rotl32(h, 13);
	return h * 5 + 0xe6546b64;
}

static __always_inline __u32 lb_flow_hash(const struct lb_tuple *t)
{
	__u32 h = LB_FLOW_HASH_SEED;
	__u32 words = 4;

	if (t->family == 6) {
#pragma unroll
		for (int i = 0; i < 4; i++)
			h = lb_hash_step(h, bpf_ntohl(t->saddr[i]));
#pragma unroll
		for (int i = 0; i < 4; i++)
			h = lb_hash_step(h, bpf_ntohl(t->daddr[i]));
		words = 10;
	} else {
		h = lb_hash_step(h, bpf_ntohl(t->saddr[0]));
		h = lb_hash_step(h, bpf_ntohl(t->daddr[0]));
	}
	h = lb_hash_step(h, ((__u32)bpf_ntohs(t->sport) << 16) | bpf_ntohs(t->dport));
	h = lb_hash_step(h, t->protocol);
	h ^= words * 4;
	/* MurmurHash3 fmix32 */
	h ^= h >> 16;
	h *= 0x85ebca6b;
	h ^= h >> 13;
	h *= 0xc2b2ae35;
	h ^= h >> 16;
	return h;
}

/* ---- lookups ---- */

static __always_inline int lb_l4_supported(__u8 proto)
{
	return proto == LB_PROTO_TCP || proto == LB_PROTO_UDP || proto == LB_PROTO_SCTP;
}

static __always_inline struct lb_service *lb_lookup_service(const struct lb_tuple *t)
{
	if (t->family == 4) {
		struct lb4_key k = { .addr = t->daddr[0], .port = t->dport, .proto = t->protocol };

		return bpf_map_lookup_elem(&lb4_services, &k);
	}
	struct lb6_key k6 = { .port = t->dport, .proto = t->protocol };

	__builtin_memcpy(k6.addr, t->daddr, 16);
	return bpf_map_lookup_elem(&lb6_services, &k6);
}

/* The backend's address (16 bytes, IPv4 in word 0) and port; 0 when the id is unknown. */
static __always_inline int lb_lookup_backend(__u8 family, __u32 id, __be32 addr[4], __be16 *port)
{
	if (family == 4) {
		struct lb4_backend *b = bpf_map_lookup_elem(&lb4_backends, &id);

		if (!b)
			return 0;
		addr[0] = b->addr;
		*port = b->port;
		return 1;
	}
	struct lb6_backend *b6 = bpf_map_lookup_elem(&lb6_backends, &id);

	if (!b6)
		return 0;
	__builtin_memcpy(addr, b6->addr, 16);
	*port = b6->port;
	return 1;
}

/* ---- backend selection ---- */

static __always_inline __u32 lb_maglev_backend(const struct lb_service *svc, const struct lb_tuple *t)
{
	__u32 size = lb_maglev_table_size;
	__u32 idx, *id;

	if (size == 0)
		return 0;
	idx = svc->service_id * size + lb_flow_hash(t) % size;
	id = bpf_map_lookup_elem(&lb_maglev, &idx);
	return id ? *id : 0;
}

/* The client's remembered backend for this frontend, when still fresh and still in the group. */
static __always_inline __u32 lb_affinity_backend(const struct lb_service *svc, const struct lb_tuple *t, __u64 now)
{
	struct lb_affinity_val *v;

	if (t->family == 4) {
		struct lb4_affinity_key k = { .client = t->saddr[0], .rev_nat = svc->rev_nat };

		v = bpf_map_lookup_elem(&lb4_affinity, &k);
	} else {
		struct lb6_affinity_key k6 = { .rev_nat = svc->rev_nat };

		__builtin_memcpy(k6.client, t->saddr, 16);
		v = bpf_map_lookup_elem(&lb6_affinity, &k6);
	}
	if (!v)
		return 0;
	if (now - v->last_used_ns > (__u64)svc->affinity_timeout * 1000000000ULL)
		return 0;
	struct lb_affinity_match m = { .backend_id = v->backend_id, .service_id = svc->service_id };

	if (!bpf_map_lookup_elem(&lb_aff_match, &m))
		return 0;
	return v->backend_id;
}

static __always_inline void lb_affinity_store(const struct lb_service *svc, const struct lb_tuple *t, __u32 backend_id, __u64 now)
{
	struct lb_affinity_val v = { .last_used_ns = now, .backend_id = backend_id };

	if (t->family == 4) {
		struct lb4_affinity_key k = { .client = t->saddr[0], .rev_nat = svc->rev_nat };

		bpf_map_update_elem(&lb4_affinity, &k, &v, BPF_ANY);
	} else {
		struct lb6_affinity_key k6 = { .rev_nat = svc->rev_nat };

		__builtin_memcpy(k6.client, t->saddr, 16);
		bpf_map_update_elem(&lb6_affinity, &k6, &v, BPF_ANY);
	}
}

/* ---- selection ---- */

/* Chooses the backend of a flow to svc: `remembered` (a backend id the caller's conntrack holds
 * for this flow, 0 for none) while that backend still exists, else the client's affinity, else
 * Maglev. Fills the backend's address and port and res; refreshes the client's affinity. Returns
 * 0, LB_ERR_NO_BACKEND or LB_ERR_SCTP_PORT. */
static __always_inline int lb_select(const struct lb_service *svc, const struct lb_tuple *t, __u64 now, __u32 remembered,
				     __be32 be_addr[4], __be16 *be_port, struct lb_result *res)
{
	__u32 backend_id = 0;
	__u8 how = 0;

	if (remembered && lb_lookup_backend(t->family, remembered, be_addr, be_port)) {
		backend_id = remembered;
		how = LB_SEL_CT;
	}
	if (!backend_id && svc->count == 0)
		return LB_ERR_NO_BACKEND;
	if (!backend_id && (svc->flags & LB_SVC_F_AFFINITY)) {
		backend_id = lb_affinity_backend(svc, t, now);
		if (backend_id && lb_lookup_backend(t->family, backend_id, be_addr, be_port))
			how = LB_SEL_AFFINITY;
		else
			backend_id = 0;
	}
	if (!backend_id) {
		backend_id = lb_maglev_backend(svc, t);
		if (!backend_id || !lb_lookup_backend(t->family, backend_id, be_addr, be_port))
			return LB_ERR_NO_BACKEND;
		how = LB_SEL_MAGLEV;
	}
	if (t->protocol == LB_PROTO_SCTP && *be_port != t->dport)
		return LB_ERR_SCTP_PORT;
	if (svc->flags & LB_SVC_F_AFFINITY)
		lb_affinity_store(svc, t, backend_id, now);
	res->backend_id = backend_id;
	res->service_id = svc->service_id;
	res->rev_nat = svc->rev_nat;
	res->svc_flags = svc->flags;
	res->how = how;
	return 0;
}

/* The frontend a reverse-NAT index names; 0 when the index is unknown (the frontend is gone). */
static __always_inline int lb_lookup_rev_nat(__u8 family, __u16 idx, __be32 addr[4], __be16 *port)
{
	if (family == 4) {
		struct lb4_rev_nat *n = bpf_map_lookup_elem(&lb4_reverse_nat, &idx);

		if (!n)
			return 0;
		addr[0] = n->addr;
		*port = n->port;
		return 1;
	}
	struct lb6_rev_nat *n6 = bpf_map_lookup_elem(&lb6_reverse_nat, &idx);

	if (!n6)
		return 0;
	__builtin_memcpy(addr, n6->addr, 16);
	*port = n6->port;
	return 1;
}

/* ---- packet rewriting ---- */

/* Offset of the L4 checksum a pseudo-header change affects, or -1 when there is none to fix:
 * SCTP (CRC32c without a pseudo-header), or a packet without an L4 header (a later fragment). */
static __always_inline int lb_l4_csum_off(__u8 proto, __u32 l4_off, int has_l4)
{
	if (!has_l4)
		return -1;
	if (proto == LB_PROTO_TCP)
		return l4_off + 16;
	if (proto == LB_PROTO_UDP)
		return l4_off + 6;
	return -1;
}

static __always_inline __u64 lb_l4_flags(__u8 proto)
{
	return proto == LB_PROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0;
}

/* Replaces the source (dst = 0) or destination (dst = 1) address. */
static __always_inline int lb_rewrite_addr(struct __sk_buff *skb, __u32 l3_off, int csum_off, __u8 family,
					   __u8 proto, int dst, const __be32 old[4], const __be32 new[4])
{
	if (family == 4) {
		__u32 off = l3_off + (dst ? __builtin_offsetof(struct iphdr, daddr) : __builtin_offsetof(struct iphdr, saddr));

		if (csum_off >= 0 &&
		    bpf_l4_csum_replace(skb, csum_off, old[0], new[0], BPF_F_PSEUDO_HDR | lb_l4_flags(proto) | 4))
			return LB_ERR_WRITE;
		if (bpf_l3_csum_replace(skb, l3_off + __builtin_offsetof(struct iphdr, check), old[0], new[0], 4))
			return LB_ERR_WRITE;
		if (bpf_skb_store_bytes(skb, off, &new[0], 4, 0))
			return LB_ERR_WRITE;
		return 0;
	}
	__u32 off6 = l3_off + (dst ? __builtin_offsetof(struct ipv6hdr, daddr) : __builtin_offsetof(struct ipv6hdr, saddr));

	if (csum_off >= 0) {
		__s64 diff = bpf_csum_diff((__be32 *)old, 16, (__be32 *)new, 16, 0);

		if (diff < 0)
			return LB_ERR_WRITE;
		if (bpf_l4_csum_replace(skb, csum_off, 0, diff, BPF_F_PSEUDO_HDR | lb_l4_flags(proto)))
			return LB_ERR_WRITE;
	}
	if (bpf_skb_store_bytes(skb, off6, new, 16, 0))
		return LB_ERR_WRITE;
	return 0;
}

/* Replaces the source (dst = 0) or destination (dst = 1) port; TCP, UDP and SCTP all begin with
 * the two ports. Never called for SCTP with a different port (see the header comment). */
static __always_inline int lb_rewrite_port(struct __sk_buff *skb, __u32 l4_off, int csum_off, __u8 proto, int dst,
					   __be16 old, __be16 new)
{
	if (old == new)
		return 0;
	if (csum_off >= 0 && bpf_l4_csum_replace(skb, csum_off, old, new, lb_l4_flags(proto) | 2))
		return LB_ERR_WRITE;
	if (bpf_skb_store_bytes(skb, l4_off + (dst ? 2 : 0), &new, 2, 0))
		return LB_ERR_WRITE;
	return 0;
}

/* Rewrites a request's destination to the backend, in the packet and in t. has_l4: the packet
 * carries its L4 header (not a later fragment). 0 or LB_ERR_WRITE. */
static __always_inline int lb_dnat(struct __sk_buff *skb, __u32 l3_off, __u32 l4_off, int has_l4, struct lb_tuple *t,
				   const __be32 be_addr[4], __be16 be_port)
{
	int csum_off = lb_l4_csum_off(t->protocol, l4_off, has_l4);
	int err;

	err = lb_rewrite_addr(skb, l3_off, csum_off, t->family, t->protocol, 1, t->daddr, be_addr);
	if (err)
		return err;
	if (has_l4) {
		err = lb_rewrite_port(skb, l4_off, csum_off, t->protocol, 1, t->dport, be_port);
		if (err)
			return err;
	}
	__builtin_memcpy(t->daddr, be_addr, 16);
	t->dport = be_port;
	return 0;
}

/* Rewrites a reply's source from the backend back to the frontend, in the packet and in t.
 * 0 or LB_ERR_WRITE. */
static __always_inline int lb_snat_back(struct __sk_buff *skb, __u32 l3_off, __u32 l4_off, int has_l4, struct lb_tuple *t,
					const __be32 fe_addr[4], __be16 fe_port)
{
	int csum_off = lb_l4_csum_off(t->protocol, l4_off, has_l4);
	int err;

	err = lb_rewrite_addr(skb, l3_off, csum_off, t->family, t->protocol, 0, t->saddr, fe_addr);
	if (err)
		return err;
	if (has_l4) {
		err = lb_rewrite_port(skb, l4_off, csum_off, t->protocol, 0, t->sport, fe_port);
		if (err)
			return err;
	}
	__builtin_memcpy(t->saddr, fe_addr, 16);
	t->sport = fe_port;
	return 0;
}

#endif

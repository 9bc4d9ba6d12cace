/* The XDP prefilter, as Cilium's (`cilium prefilter update --cidr ...`): drop, at the earliest
 * point a packet can be seen, every IPv4 or IPv6 packet whose SOURCE address lies in a deny list
 * of CIDRs; let everything else through to the stack.
 *
 * The deny list is two LPM tries, one per family (an address of one family can never match a
 * prefix of the other, so they need no family byte in the key, unlike the ipcache). A packet that
 * is not IP, or is too short to hold the fixed IP header, passes: the prefilter only removes
 * traffic it can attribute to a listed source, and the stack drops malformed packets anyway.
 *
 * Counters per verdict: a PERCPU_ARRAY indexed by the XDP action returned (XDP_DROP 1, XDP_PASS
 * 2), packets and bytes, so the hot path never shares a cache line between CPUs.
 *
 * Direct packet access throughout: the offsets are fixed (Ethernet, up to two VLAN tags, the
 * fixed IP header), so each read is preceded by a bounds check the verifier can follow. */
#ifndef TWINPATH_PREFILTER_H
#define TWINPATH_PREFILTER_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#ifndef ETH_P_8021Q
#define ETH_P_8021Q 0x8100
#endif
#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif

/* Entries per family: Cilium's default for its dynamic prefilter tries. */
#define PREFILTER_MAX_ENTRIES 16384
/* One counter slot per enum xdp_action (XDP_ABORTED .. XDP_REDIRECT). */
#define PREFILTER_METRICS_ENTRIES 5
#define PREFILTER_MAX_VLAN_TAGS 2

struct prefilter_v4_key {
	__u32 prefixlen;
	__u8 addr[4];    /* network order */
};
_Static_assert(sizeof(struct prefilter_v4_key) == 8, "struct prefilter_v4_key is 8 bytes");

struct prefilter_v6_key {
	__u32 prefixlen;
	__u8 addr[16];   /* network order */
};
_Static_assert(sizeof(struct prefilter_v6_key) == 20, "struct prefilter_v6_key is 20 bytes");

/* Presence is the verdict; the value only says so. */
struct prefilter_value {
	__u8 deny;
};

struct prefilter_metrics {
	__u64 packets;
	__u64 bytes;
};
_Static_assert(sizeof(struct prefilter_metrics) == 16, "struct prefilter_metrics is 16 bytes");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, PREFILTER_MAX_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct prefilter_v4_key);
	__type(value, struct prefilter_value);
} cilium_prefilter_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, PREFILTER_MAX_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct prefilter_v6_key);
	__type(value, struct prefilter_value);
} cilium_prefilter_v6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PREFILTER_METRICS_ENTRIES);
	__type(key, __u32);
	__type(value, struct prefilter_metrics);
} cilium_prefilter_metrics SEC(".maps");

static __always_inline int prefilter_verdict(struct xdp_md *ctx, int verdict)
{
	__u32 idx = (__u32)verdict;
	struct prefilter_metrics *m = bpf_map_lookup_elem(&cilium_prefilter_metrics, &idx);

	/* Per CPU: this CPU's copy is written by nobody else, so plain additions suffice. */
	if (m) {
		m->packets += 1;
		m->bytes += ctx->data_end - ctx->data;
	}
	return verdict;
}

/* The ethertype after up to PREFILTER_MAX_VLAN_TAGS tags (network order), and where the L3
 * header starts; 0 when the frame ends first. */
static __always_inline __be16 prefilter_l3(void *data, void *data_end, __u32 *l3_off)
{
	struct ethhdr *eth = data;
	__be16 proto;
	__u32 off = sizeof(*eth);
	int i;

	if ((void *)(eth + 1) > data_end)
		return 0;
	proto = eth->h_proto;
#pragma unroll
	for (i = 0; i < PREFILTER_MAX_VLAN_TAGS; i++) {
		__be16 *inner;

		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		/* A tag is the TCI (2 bytes) and the encapsulated ethertype (2 bytes). */
		inner = data + off + 2;
		if ((void *)(inner + 1) > data_end)
			return 0;
		proto = *inner;
		off += 4;
	}
	*l3_off = off;
	return proto;
}

static __always_inline int prefilter_denied_v4(void *l3, void *data_end)
{
	struct iphdr *ip = l3;
	struct prefilter_v4_key key = { .prefixlen = 32 };

	if ((void *)(ip + 1) > data_end || ip->version != 4)
		return 0;
	__builtin_memcpy(key.addr, &ip->saddr, 4);
	return bpf_map_lookup_elem(&cilium_prefilter_v4, &key) != NULL;
}

static __always_inline int prefilter_denied_v6(void *l3, void *data_end)
{
	struct ipv6hdr *ip6 = l3;
	struct prefilter_v6_key key = { .prefixlen = 128 };

	if ((void *)(ip6 + 1) > data_end || ip6->version != 6)
		return 0;
	__builtin_memcpy(key.addr, &ip6->saddr, 16);
	return bpf_map_lookup_elem(&cilium_prefilter_v6, &key) != NULL;
}

static __always_inline int handle_prefilter(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 l3_off = 0;
	__be16 proto = prefilter_l3(data, data_end, &l3_off);
	int denied = 0;

	/* l3_off is at most 14 + 8: bounding it keeps the verifier's range for the pointer small. */
	if (l3_off > 22)
		return prefilter_verdict(ctx, XDP_PASS);
	if (proto == bpf_htons(ETH_P_IP))
		denied = prefilter_denied_v4(data + l3_off, data_end);
	else if (proto == bpf_htons(ETH_P_IPV6))
		denied = prefilter_denied_v6(data + l3_off, data_end);
	return prefilter_verdict(ctx, denied ? XDP_DROP : XDP_PASS);
}

#endif

// SPDX-License-Identifier: GPL-2.0
//
// ipcache (xdp): source-identity lookup and a tiny policy, over LPM_TRIE, QUEUE and STACK.
// The source address is looked up by longest prefix in ipcache_v4 / ipcache_v6 (LPM_TRIE,
// filled by the test: see setup in test/progs/expected/ipcache.json); no match is identity 2
// (world, as Cilium numbers it). The identity goes into 4 bytes of XDP metadata in front of the
// packet (bpf_xdp_adjust_meta), so the output of a test run starts with it.
//   identity == deny_identity (.rodata, set before load)  -> pushed on drop_stack, XDP_DROP
//   ICMP/ICMPv6 echo reply -> pops drop_stack into last_popped (.bss), XDP_PASS
//   UDP to port 53          -> pops seen_queue into last_dequeued (.bss), XDP_PASS
//   anything else IP        -> identity pushed on seen_queue (BPF_EXIST: the oldest is
//                              overwritten when full), XDP_PASS
// Every packet peeks both and records the heads in peek_queue / peek_stack (0 when empty).
// Non-IP and malformed packets: XDP_ABORTED without metadata.
#include "lib/parse.h"

struct lpm_v4 {
	__u32 prefixlen;
	__u32 addr;
};

struct lpm_v6 {
	__u32 prefixlen;
	__u32 addr[4];
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm_v4);
	__type(value, __u32);
} ipcache_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm_v6);
	__type(value, __u32);
} ipcache_v6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 4);
	__type(value, __u32);
} seen_queue SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK);
	__uint(max_entries, 4);
	__type(value, __u32);
} drop_stack SEC(".maps");

#define IDENTITY_WORLD 2

const volatile __u32 deny_identity = 0;
__u32 last_popped;    /* .bss */
__u32 last_dequeued;  /* .bss */
__u32 peek_queue;     /* .bss */
__u32 peek_stack;     /* .bss */

static __noinline __u32 source_identity(const struct pkt *p)
{
	__u32 *id;

	if (p->l3_proto == ETH_P_IP) {
		struct lpm_v4 k = { .prefixlen = 32, .addr = p->saddr[0] };
		id = bpf_map_lookup_elem(&ipcache_v4, &k);
	} else {
		struct lpm_v6 k = { .prefixlen = 128 };
		__builtin_memcpy(k.addr, p->saddr, 16);
		id = bpf_map_lookup_elem(&ipcache_v6, &k);
	}
	return id ? *id : IDENTITY_WORLD;
}

SEC("xdp")
int ipcache(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct pkt p = {};
	__u32 id, head, *meta;
	int verdict = XDP_PASS;

	if (parse_packet(data, data_end, &p) != PARSE_OK)
		return XDP_ABORTED;
	id = source_identity(&p);

	if (deny_identity && id == deny_identity) {
		bpf_map_push_elem(&drop_stack, &id, BPF_EXIST);
		verdict = XDP_DROP;
	} else if ((p.l4_proto == IPPROTO_ICMP && p.sport >> 8 == 0) ||
		   (p.l4_proto == IPPROTO_ICMPV6 && p.sport >> 8 == 129)) {
		if (bpf_map_pop_elem(&drop_stack, &head) == 0)
			last_popped = head;
	} else if (p.l4_proto == IPPROTO_UDP && p.dport == 53) {
		if (bpf_map_pop_elem(&seen_queue, &head) == 0)
			last_dequeued = head;
	} else {
		bpf_map_push_elem(&seen_queue, &id, BPF_EXIST);
	}
	peek_queue = bpf_map_peek_elem(&seen_queue, &head) == 0 ? head : 0;
	peek_stack = bpf_map_peek_elem(&drop_stack, &head) == 0 ? head : 0;

	if (bpf_xdp_adjust_meta(ctx, -(int)sizeof(__u32)))
		return XDP_ABORTED;
	meta = (void *)(long)ctx->data_meta;
	if ((void *)(meta + 1) > (void *)(long)ctx->data)
		return XDP_ABORTED;
	*meta = id;
	return verdict;
}

char LICENSE[] SEC("license") = "GPL";

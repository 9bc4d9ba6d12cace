// SPDX-License-Identifier: GPL-2.0
//
// tail (tc): tail calls, map-in-map and global data. tail_entry counts the packet in .data
// (entries starts at 100, so a loader that zeroes .data is caught), parses it (a bpf-to-bpf
// call) and tail-calls jump_table[slot]: 0 TCP, 1 UDP, 2 ICMP. The test fills slots 0 and 1
// with tail_tcp and tail_udp and leaves 2 empty, so ICMP falls through the failed tail call to
// the .rodata fallback_verdict (set before load) and counts in .bss missed.
//   tail_tcp: skb->mark = tcp_mark (.rodata); counts in per_proto[0] -> inner ARRAY slot by
//             TCP flags class (0 SYN, 1 other), via ARRAY_OF_MAPS initialised in the object.
//   tail_udp: counts in per_port[dport] -> inner HASH keyed by source port, via HASH_OF_MAPS
//             that the test fills (dport 53 -> udp_dns); no inner map for the port means
//             TC_ACT_SHOT, else TC_ACT_OK.
// Non-IP, malformed and other-protocol packets: TC_ACT_UNSPEC from tail_entry.
// tail_sub: a tail call from a subprogram. sub_tail tail-calls sub_jump[skb->mark] (slot 0 holds
// tail_leaf, from the object); the kernel unwinds only sub_tail's frame, so tail_leaf's return
// value (42) comes back to tail_sub, which stores it in skb->priority and returns TC_ACT_OK. An
// empty slot leaves sub_tail to return the packet length plus 1000.
#include "lib/parse.h"

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, __u32);
} jump_table SEC(".maps");

struct tcp_inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} tcp_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct tcp_inner);
} per_proto SEC(".maps") = {
	.values = { [0] = &tcp_counts },
};

struct udp_inner {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u16);
	__type(value, __u64);
} udp_dns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 8);
	__type(key, __u16);
	__array(values, struct udp_inner);
} per_port SEC(".maps");

SEC("tc")
int tail_leaf(struct __sk_buff *skb)
{
	return 42;
}

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, int(struct __sk_buff *));
} sub_jump SEC(".maps") = {
	.values = { [0] = (void *)&tail_leaf },
};

const volatile __u32 fallback_verdict = TC_ACT_OK;
const volatile __u32 tcp_mark = 0;
__u32 entries = 100;   /* .data */
__u64 missed;          /* .bss */
__u64 tcp_seen;        /* .bss */
__u64 udp_seen;        /* .bss */

static __noinline int parse_skb(struct __sk_buff *skb, struct pkt *p)
{
	return parse_packet((void *)(long)skb->data, (void *)(long)skb->data_end, p);
}

static __noinline void add_u64(void *map, const void *key)
{
	__u64 one = 1, *v = bpf_map_lookup_elem(map, key);

	if (v)
		__sync_fetch_and_add(v, 1);
	else
		bpf_map_update_elem(map, key, &one, BPF_NOEXIST);
}

SEC("tc")
int tail_entry(struct __sk_buff *skb)
{
	struct pkt p = {};
	__u32 slot;

	entries++;
	if (parse_skb(skb, &p) != PARSE_OK || p.fragment)
		return TC_ACT_UNSPEC;
	if (p.l4_proto == IPPROTO_TCP)
		slot = 0;
	else if (p.l4_proto == IPPROTO_UDP)
		slot = 1;
	else if (p.l4_proto == IPPROTO_ICMP || p.l4_proto == IPPROTO_ICMPV6)
		slot = 2;
	else
		return TC_ACT_UNSPEC;
	bpf_tail_call(skb, &jump_table, slot);
	missed++;
	return fallback_verdict;
}

SEC("tc")
int tail_tcp(struct __sk_buff *skb)
{
	struct pkt p = {};
	__u32 outer = 0, slot;
	void *inner;

	tcp_seen++;
	skb->mark = tcp_mark;
	if (parse_skb(skb, &p) != PARSE_OK)
		return TC_ACT_SHOT;
	slot = (p.tcp_flags & 0x12) == 0x02 ? 0 : 1;
	inner = bpf_map_lookup_elem(&per_proto, &outer);
	if (inner)
		add_u64(inner, &slot);
	return TC_ACT_OK;
}

SEC("tc")
int tail_udp(struct __sk_buff *skb)
{
	struct pkt p = {};
	void *inner;
	__u16 port;

	udp_seen++;
	if (parse_skb(skb, &p) != PARSE_OK)
		return TC_ACT_SHOT;
	port = p.dport;
	inner = bpf_map_lookup_elem(&per_port, &port);
	if (!inner)
		return TC_ACT_SHOT;
	port = p.sport;
	add_u64(inner, &port);
	return TC_ACT_OK;
}

static __noinline int sub_tail(struct __sk_buff *skb)
{
	bpf_tail_call(skb, &sub_jump, skb->mark);
	return skb->len + 1000; /* not a constant, or clang would not use the call's r0 */
}

SEC("tc")
int tail_sub(struct __sk_buff *skb)
{
	skb->priority = sub_tail(skb);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";

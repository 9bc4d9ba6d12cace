// SPDX-License-Identifier: GPL-2.0
// build-variants: clang-19:v3 clang-19:v2 clang-19:v4 clang-14:v2 clang-14:v3
//
// parse (tc): parses Ethernet/VLAN/IPv4/IPv6/TCP/UDP/ICMP with lib/parse.h and counts what it
// saw in parse_counts (ARRAY, one __u64 per enum parse_counter slot). Verdict:
//   TC_ACT_OK     an IPv4/IPv6 packet parsed to its L4 header (or a non-first fragment);
//   TC_ACT_UNSPEC a whole Ethernet header carrying neither IPv4 nor IPv6 (ARP, ...);
//   TC_ACT_SHOT   a header cut short, or an impossible header field.
// skb->mark = l4_proto << 24 | vlans << 16 | l3 class (4 or 6, 0 otherwise) << 8 | result, and
// skb->cb[0] = l4 offset, cb[1] = sport << 16 | dport, so the context read back after the run
// shows what was parsed. Everything depends on the packet bytes only.
#include "lib/parse.h"

enum parse_counter {
	CNT_PACKETS, CNT_BYTES, CNT_SHORT, CNT_BAD, CNT_NOT_IP, CNT_VLAN, CNT_IPV4, CNT_IPV6,
	CNT_IPV4_OPTS, CNT_IPV6_EXT, CNT_FRAGMENT, CNT_TCP, CNT_UDP, CNT_ICMP, CNT_ICMPV6,
	CNT_OTHER_L4, CNT_TCP_SYN, CNT_MAX,
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} parse_counts SEC(".maps");

static __always_inline void count(__u32 slot, __u64 n)
{
	__u64 *c = bpf_map_lookup_elem(&parse_counts, &slot);

	if (c)
		__sync_fetch_and_add(c, n);
}

static __always_inline void count_l4(const struct pkt *p)
{
	if (p->fragment)
		return;
	switch (p->l4_proto) {
	case IPPROTO_TCP:
		count(CNT_TCP, 1);
		if (p->tcp_flags & 0x02)
			count(CNT_TCP_SYN, 1);
		break;
	case IPPROTO_UDP:
		count(CNT_UDP, 1);
		break;
	case IPPROTO_ICMP:
		count(CNT_ICMP, 1);
		break;
	case IPPROTO_ICMPV6:
		count(CNT_ICMPV6, 1);
		break;
	default:
		count(CNT_OTHER_L4, 1);
	}
}

SEC("tc")
int parse(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct pkt p = {};
	int res = parse_packet(data, data_end, &p);
	__u32 l3 = p.l3_proto == ETH_P_IP ? 4 : p.l3_proto == ETH_P_IPV6 ? 6 : 0;

	count(CNT_PACKETS, 1);
	count(CNT_BYTES, skb->len);
	if (p.vlans)
		count(CNT_VLAN, 1);
	skb->mark = (__u32)p.l4_proto << 24 | (__u32)p.vlans << 16 | l3 << 8 | res;
	skb->cb[0] = p.l4_off;
	skb->cb[1] = (__u32)p.sport << 16 | p.dport;

	if (res == PARSE_SHORT || res == PARSE_BAD) {
		count(res == PARSE_SHORT ? CNT_SHORT : CNT_BAD, 1);
		return TC_ACT_SHOT;
	}
	if (res == PARSE_NOT_IP) {
		count(CNT_NOT_IP, 1);
		return TC_ACT_UNSPEC;
	}
	count(l3 == 4 ? CNT_IPV4 : CNT_IPV6, 1);
	if (p.ip_opts)
		count(CNT_IPV4_OPTS, 1);
	if (p.ext_hdrs)
		count(CNT_IPV6_EXT, 1);
	if (p.fragment)
		count(CNT_FRAGMENT, 1);
	count_l4(&p);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";

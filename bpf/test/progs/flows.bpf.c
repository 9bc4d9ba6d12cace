// SPDX-License-Identifier: GPL-2.0
//
// flows (tc): per-flow accounting over the hash-table map types. For every IP packet with a
// TCP/UDP/ICMP header:
//   flow_table (HASH)            5-tuple -> packets, bytes, first length, last TCP flags; a TCP
//                                FIN or RST deletes the flow's entry (bpf_map_delete_elem).
//   conntrack (LRU_HASH)         5-tuple -> packets; max_entries is above the flows in the capture,
//                                because the kernel's LRU eviction order depends on per-CPU free
//                                lists and so is not something two engines can agree on.
//   port_hits (PERCPU_HASH)      destination port -> packets
//   src_hits (LRU_PERCPU_HASH)   IPv4 source or first IPv6 word -> packets
//   proto_bytes (PERCPU_ARRAY)   [0] TCP, [1] UDP, [2] ICMP/ICMPv6 -> bytes
// Per-CPU values are compared as the sum over CPUs: a test run runs on whichever CPU it lands.
// After each packet bpf_for_each_map_elem sums flow_table into the .bss totals, and bpf_loop
// sums up to 64 bytes after the fixed L4 header (TCP options count as payload here) via
// bpf_skb_load_bytes into last_payload_sum.
// last_cpu (bpf_get_smp_processor_id) is the one nondeterministic value: a test masks it.
// Verdict TC_ACT_OK for accounted packets, TC_ACT_UNSPEC otherwise; skb->mark = the flow's
// packet count after this packet (0 after a FIN/RST deletion).
#include "lib/flow.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct flow_key);
	__type(value, struct flow_stats);
} flow_table SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 256);
	__type(key, struct flow_key);
	__type(value, __u64);
} conntrack SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 64);
	__type(key, __u16);
	__type(value, __u64);
} port_hits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u64);
} src_hits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, __u64);
} proto_bytes SEC(".maps");

struct flow_totals totals;   /* .bss */
__u32 last_payload_sum;      /* .bss */
__u32 last_cpu;              /* .bss, masked: the CPU the run happened on */

static __always_inline void bump(void *map, const void *key)
{
	__u64 one = 1, *v = bpf_map_lookup_elem(map, key);

	if (v)
		*v += 1;
	else
		bpf_map_update_elem(map, key, &one, BPF_NOEXIST);
}

static __noinline __u32 account(struct __sk_buff *skb, const struct pkt *p)
{
	struct flow_key key = {};
	struct flow_stats *st, fresh = {};
	__u32 slot = p->l4_proto == IPPROTO_TCP ? 0 : p->l4_proto == IPPROTO_UDP ? 1 : 2;
	__u64 *bytes;
	__u32 packets;

	flow_key_from(&key, p);
	st = bpf_map_lookup_elem(&flow_table, &key);
	if (st) {
		st->packets++;
		st->bytes += skb->len;
		st->last_flags = p->tcp_flags;
		packets = st->packets;
	} else {
		fresh.packets = 1;
		fresh.bytes = skb->len;
		fresh.first_len = skb->len;
		fresh.last_flags = p->tcp_flags;
		bpf_map_update_elem(&flow_table, &key, &fresh, BPF_NOEXIST);
		packets = 1;
	}
	if (p->l4_proto == IPPROTO_TCP && (p->tcp_flags & 0x05)) { /* FIN or RST */
		bpf_map_delete_elem(&flow_table, &key);
		packets = 0;
	}

	bump(&conntrack, &key);
	bump(&port_hits, &key.dport);
	bump(&src_hits, &key.saddr[0]);
	bytes = bpf_map_lookup_elem(&proto_bytes, &slot);
	if (bytes)
		*bytes += skb->len;
	return packets;
}

SEC("tc")
int flows(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct pkt p = {};
	struct flow_totals t = {};
	struct payload_sum ps = {};
	__u32 hlen;

	last_cpu = bpf_get_smp_processor_id();
	if (parse_packet(data, data_end, &p) != PARSE_OK || p.fragment ||
	    (p.l4_proto != IPPROTO_TCP && p.l4_proto != IPPROTO_UDP &&
	     p.l4_proto != IPPROTO_ICMP && p.l4_proto != IPPROTO_ICMPV6))
		return TC_ACT_UNSPEC;

	skb->mark = account(skb, &p);

	bpf_for_each_map_elem(&flow_table, sum_flow, &t, 0);
	totals = t;

	hlen = p.l4_proto == IPPROTO_TCP ? 20 : 8;
	ps.skb = skb;
	ps.off = p.l4_off + hlen;
	bpf_loop(64, add_payload_byte, &ps, 0);
	last_payload_sum = ps.sum;
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";

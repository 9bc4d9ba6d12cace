// SPDX-License-Identifier: GPL-2.0
//
// events (tc): every way a program hands records to user space. For each packet it builds a
// struct pkt_event from context fields the kernel fills for a test run (len, protocol,
// pkt_type, ifindex, ingress_ifindex, vlan_present) and the parse result, then:
//   TCP          bpf_ringbuf_reserve + bpf_ringbuf_submit into events
//   UDP          bpf_ringbuf_reserve, then bpf_ringbuf_discard when the destination port is
//                odd (no record), bpf_ringbuf_submit when even
//   ICMP/ICMPv6  bpf_ringbuf_output (a copy from the stack)
//   anything     bpf_perf_event_output into perf_events at BPF_F_CURRENT_CPU; no perf event is
//                opened in a test run, so this returns -ENOENT, kept in perf_ret (.bss)
//   anything     bpf_trace_printk of the length: its return value (the formatted length) is
//                summed in printk_bytes (.bss)
// bpf_ringbuf_query(BPF_RB_RING_SIZE) goes to ring_size (.bss, deterministic);
// BPF_RB_AVAIL_DATA to avail_data (.bss, masked: it depends on when the reader consumed).
// Verdict TC_ACT_OK for a parsed IP packet, TC_ACT_UNSPEC for anything else.
#include "lib/parse.h"

struct pkt_event {
	__u32 len;
	__u32 protocol;      /* skb->protocol, network order as the kernel keeps it */
	__u32 pkt_type;
	__u32 ifindex;
	__u32 ingress_ifindex;
	__u32 vlan_present;
	__u8 l4_proto;
	__u8 how;            /* 1 reserve/submit, 2 output */
	__u16 dport;
	__u32 seq;           /* events handed over so far, this one included */
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} perf_events SEC(".maps");

__s64 perf_ret;       /* .bss */
__u64 printk_bytes;   /* .bss */
__u64 ring_size;      /* .bss */
__u64 avail_data;     /* .bss, masked */
__u32 submitted;      /* .bss */
__u32 discarded;      /* .bss */

static __always_inline void fill(struct pkt_event *ev, struct __sk_buff *skb, const struct pkt *p)
{
	ev->len = skb->len;
	ev->protocol = skb->protocol;
	ev->pkt_type = skb->pkt_type;
	ev->ifindex = skb->ifindex;
	ev->ingress_ifindex = skb->ingress_ifindex;
	ev->vlan_present = skb->vlan_present;
	ev->l4_proto = p->l4_proto;
	ev->dport = p->dport;
}

SEC("tc")
int events_out(struct __sk_buff *skb)
{
	struct pkt p = {};
	struct pkt_event local = {}, *ev;
	int res = parse_packet((void *)(long)skb->data, (void *)(long)skb->data_end, &p);

	fill(&local, skb, &p);
	perf_ret = bpf_perf_event_output(skb, &perf_events, BPF_F_CURRENT_CPU, &local, sizeof(local));
	printk_bytes += bpf_printk("twinpath events %u", skb->len);

	if (res != PARSE_OK) {
		ring_size = bpf_ringbuf_query(&events, BPF_RB_RING_SIZE);
		return TC_ACT_UNSPEC;
	}
	if (p.l4_proto == IPPROTO_TCP || p.l4_proto == IPPROTO_UDP) {
		ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
		if (ev) {
			fill(ev, skb, &p);
			ev->how = 1;
			if (p.l4_proto == IPPROTO_UDP && (p.dport & 1)) {
				discarded++;
				bpf_ringbuf_discard(ev, 0);
			} else {
				ev->seq = ++submitted;
				bpf_ringbuf_submit(ev, 0);
			}
		}
	} else if (p.l4_proto == IPPROTO_ICMP || p.l4_proto == IPPROTO_ICMPV6) {
		local.how = 2;
		local.seq = ++submitted;
		bpf_ringbuf_output(&events, &local, sizeof(local), 0);
	}
	ring_size = bpf_ringbuf_query(&events, BPF_RB_RING_SIZE);
	avail_data = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";

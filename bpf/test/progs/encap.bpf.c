// SPDX-License-Identifier: GPL-2.0
//
// encap (tc): growing, shrinking and re-linearising an skb. First bpf_skb_pull_data(skb, 54)
// asks for 54 linear bytes; its result (0, or -ENOMEM for a shorter packet) is kept in
// pull_ret (.bss). Then, by packet:
//   IPv4 TCP        IPIP encapsulation: bpf_skb_adjust_room(+20, BPF_ADJ_ROOM_MAC,
//                   BPF_F_ADJ_ROOM_ENCAP_L3_IPV4) opens room after the Ethernet header and an
//                   outer IPv4 header (tun_src -> tun_dst from .rodata, protocol 4, checksum from
//                   bpf_csum_diff) is written with bpf_skb_store_bytes.
//   IPv4 UDP        bpf_skb_change_tail(len + 4) and a 4-byte trailer "tpT1" written at the end.
//   IPv4 ICMP       bpf_skb_change_head(14): a second Ethernet header (EtherType 0x88b5, local
//                   experimental) is put in front of the frame.
//   IPv6 with a hop-by-hop header of 8 bytes first: the header is removed with
//                   bpf_skb_adjust_room(-8, BPF_ADJ_ROOM_NET, 0), next header and payload length
//                   fixed up.
//   longer than trim_len (.rodata, 256): bpf_skb_change_tail(trim_len) cuts it (after any of
//                   the above).
// Verdict TC_ACT_OK when the packet was changed, TC_ACT_UNSPEC when not, TC_ACT_SHOT when a
// helper failed (its error in last_err, .bss). VLAN-tagged frames are left alone: a test-run
// skb carries the tag in its data, and bpf_skb_adjust_room refuses a non-IP skb->protocol.
#include "lib/parse.h"

const volatile __u32 tun_src = 0;   /* network order */
const volatile __u32 tun_dst = 0;
const volatile __u32 trim_len = 256;

__s64 pull_ret;   /* .bss */
__s64 last_err;   /* .bss */

static __always_inline int fail(long err)
{
	last_err = err;
	return TC_ACT_SHOT;
}

static __noinline int ipip_encap(struct __sk_buff *skb)
{
	struct iphdr outer = {};
	__u32 inner_len = skb->len - ETH_HLEN;
	long err;

	err = bpf_skb_adjust_room(skb, sizeof(outer), BPF_ADJ_ROOM_MAC, BPF_F_ADJ_ROOM_ENCAP_L3_IPV4);
	if (err)
		return err;
	outer.version = 4;
	outer.ihl = 5;
	outer.ttl = 64;
	outer.protocol = IPPROTO_IPIP;
	outer.tot_len = bpf_htons(inner_len + sizeof(outer));
	outer.saddr = tun_src;
	outer.daddr = tun_dst;
	outer.check = csum_fold32(bpf_csum_diff(0, 0, (__be32 *)&outer, sizeof(outer), 0));
	return bpf_skb_store_bytes(skb, ETH_HLEN, &outer, sizeof(outer), 0);
}

static __noinline int add_trailer(struct __sk_buff *skb)
{
	__u32 len = skb->len;
	char trailer[4] = { 't', 'p', 'T', '1' };
	long err;

	err = bpf_skb_change_tail(skb, len + sizeof(trailer), 0);
	if (err)
		return err;
	return bpf_skb_store_bytes(skb, len, trailer, sizeof(trailer), 0);
}

static __noinline int push_eth(struct __sk_buff *skb)
{
	struct ethhdr eth = {
		.h_dest = { 0x02, 0, 0, 0, 0, 0x10 },
		.h_source = { 0x02, 0, 0, 0, 0, 0x11 },
		.h_proto = bpf_htons(0x88b5),
	};
	long err = bpf_skb_change_head(skb, sizeof(eth), 0);

	if (err)
		return err;
	return bpf_skb_store_bytes(skb, 0, &eth, sizeof(eth), 0);
}

static __noinline int strip_hop_by_hop(struct __sk_buff *skb, const struct pkt *p)
{
	__u8 hbh[2], first;
	__u16 plen;
	__u32 off = p->l3_off;
	long err;

	if (bpf_skb_load_bytes(skb, off + offsetof(struct ipv6hdr, nexthdr), &first, 1))
		return -1;
	if (first != NEXTHDR_HOP)
		return 1;
	if (bpf_skb_load_bytes(skb, off + sizeof(struct ipv6hdr), hbh, sizeof(hbh)))
		return -1;
	if (hbh[1] != 0) /* longer than 8 bytes: keep it */
		return 1;
	if (bpf_skb_load_bytes(skb, off + offsetof(struct ipv6hdr, payload_len), &plen, sizeof(plen)))
		return -1;
	err = bpf_skb_adjust_room(skb, -8, BPF_ADJ_ROOM_NET, 0);
	if (err)
		return err;
	plen = bpf_htons(bpf_ntohs(plen) - 8);
	err = bpf_skb_store_bytes(skb, off + offsetof(struct ipv6hdr, payload_len), &plen, sizeof(plen), 0);
	if (err)
		return err;
	return bpf_skb_store_bytes(skb, off + offsetof(struct ipv6hdr, nexthdr), &hbh[0], 1, 0);
}

SEC("tc")
int encap(struct __sk_buff *skb)
{
	struct pkt p = {};
	int changed = 0;
	long err = 0;

	pull_ret = bpf_skb_pull_data(skb, 54);
	if (parse_packet((void *)(long)skb->data, (void *)(long)skb->data_end, &p) != PARSE_OK ||
	    p.vlans)
		return TC_ACT_UNSPEC;

	if (p.l3_proto == ETH_P_IP && p.l4_proto == IPPROTO_TCP) {
		err = ipip_encap(skb);
		changed = 1;
	} else if (p.l3_proto == ETH_P_IP && p.l4_proto == IPPROTO_UDP) {
		err = add_trailer(skb);
		changed = 1;
	} else if (p.l3_proto == ETH_P_IP && p.l4_proto == IPPROTO_ICMP) {
		err = push_eth(skb);
		changed = 1;
	} else if (p.l3_proto == ETH_P_IPV6 && p.ext_hdrs) {
		err = strip_hop_by_hop(skb, &p);
		if (err == 1)
			err = 0;
		else
			changed = 1;
	}
	if (err)
		return fail(err);
	if (skb->len > trim_len) {
		err = bpf_skb_change_tail(skb, trim_len, 0);
		if (err)
			return fail(err);
		changed = 1;
	}
	return changed ? TC_ACT_OK : TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "GPL";

// SPDX-License-Identifier: GPL-2.0
//
// vlan (tc): VLAN tags in the packet and in the skb's accelerated tag. A test-run skb gets its
// EtherType from the frame, so a tagged frame arrives with skb->protocol 0x8100/0x88a8 and the
// tag still in the data; nothing arrives with an accelerated tag.
//   tagged frame     bpf_skb_vlan_pop: the outer tag leaves the data; if another tag follows,
//                    the kernel moves that one into the accelerated tag too. -> TC_ACT_OK
//   untagged IPv4    bpf_skb_vlan_push(0x8100, push_vid): the tag goes to the accelerated tag
//                    only, the data is unchanged. -> TC_ACT_OK
//   untagged IPv6    push 0x8100/push_vid, then push 0x88a8/outer_vid: the second push moves
//                    the first tag into the data and keeps the new one accelerated. -> TC_ACT_OK
//   anything else    TC_ACT_UNSPEC
// After the helpers, skb->vlan_present, vlan_tci, vlan_proto and protocol and the helpers'
// result go into vlan_state[run % 8] (ARRAY; run counts calls in .bss): the accelerated tag is
// not part of the output packet, so this is where a test sees it. A helper failure gives
// TC_ACT_SHOT.
#include "lib/common.h"

const volatile __u16 push_vid = 100;
const volatile __u16 outer_vid = 200;

struct vlan_state {
	__u32 present;
	__u32 tci;
	__u32 proto;      /* network order, as __sk_buff keeps it */
	__u32 protocol;   /* network order */
	__s64 err;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, struct vlan_state);
} vlan_state SEC(".maps");

__u32 run;   /* .bss */

SEC("tc")
int vlan(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	__u32 slot = run++ % 8;
	struct vlan_state *st;
	__u16 proto;
	long err;

	if ((void *)(eth + 1) > data_end)
		return TC_ACT_UNSPEC;
	proto = bpf_ntohs(eth->h_proto);
	if (proto == ETH_P_8021Q || proto == ETH_P_8021AD) {
		err = bpf_skb_vlan_pop(skb);
	} else if (proto == ETH_P_IP) {
		err = bpf_skb_vlan_push(skb, bpf_htons(ETH_P_8021Q), push_vid);
	} else if (proto == ETH_P_IPV6) {
		err = bpf_skb_vlan_push(skb, bpf_htons(ETH_P_8021Q), push_vid);
		if (!err)
			err = bpf_skb_vlan_push(skb, bpf_htons(ETH_P_8021AD), outer_vid);
	} else {
		return TC_ACT_UNSPEC;
	}
	st = bpf_map_lookup_elem(&vlan_state, &slot);
	if (st) {
		st->present = skb->vlan_present;
		st->tci = skb->vlan_tci;
		st->proto = skb->vlan_proto;
		st->protocol = skb->protocol;
		st->err = err;
	}
	return err ? TC_ACT_SHOT : TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";

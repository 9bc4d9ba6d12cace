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
// After the helpers, skb->vlan_present, vlan_tci and vlan_proto are read back into the .bss
// fields last_present, last_tci and last_proto (the accelerated tag is not part of the output
// packet, so this is where a test sees it), and skb->protocol into last_protocol.
// A helper failure gives TC_ACT_SHOT with the error in last_err.
#include "lib/common.h"

const volatile __u16 push_vid = 100;
const volatile __u16 outer_vid = 200;

__u32 last_present;   /* .bss */
__u32 last_tci;
__u32 last_proto;
__u32 last_protocol;
__s64 last_err;

SEC("tc")
int vlan(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
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
	last_present = skb->vlan_present;
	last_tci = skb->vlan_tci;
	last_proto = skb->vlan_proto;
	last_protocol = skb->protocol;
	if (err) {
		last_err = err;
		return TC_ACT_SHOT;
	}
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";

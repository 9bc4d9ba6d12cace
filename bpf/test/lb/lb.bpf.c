// SPDX-License-Identifier: GPL-2.0
//
// lb (tc): the load balancer of bpf/lib/lb.h on its own, with the small conntrack of
// bpf/lib/lb_ct.h. A minimal parser (Ethernet, IPv4 without fragments, IPv6 without extension
// headers, TCP/UDP/SCTP ports) fills a struct lb_tuple; cb[0]
// says the direction: 0 a request (lb_request: service lookup, backend selection, DNAT), 1 a
// reply (lb_reply: reverse NAT). Results come back in the context:
//   cb[1] the lb_request/lb_reply result (LB_NONE, LB_XLATED, LB_ERR_* as a signed 32-bit value)
//   cb[2] backend id, cb[3] rev-NAT index, cb[4] how the backend was chosen (LB_SEL_*)
// and the program returns TC_ACT_OK, or TC_ACT_SHOT when lb.h says drop. Packets it cannot
// parse, or of other protocols, pass unchanged with cb[1] = LB_NONE.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include "lib/lb_ct.h"


static __always_inline int parse(struct __sk_buff *skb, struct lb_tuple *t, __u32 *l3_off, __u32 *l4_off)
{
	struct ethhdr eth;
	__be16 ports[2];

	if (bpf_skb_load_bytes(skb, 0, &eth, sizeof(eth)))
		return -1;
	*l3_off = sizeof(eth);
	if (eth.h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr ip;

		if (bpf_skb_load_bytes(skb, *l3_off, &ip, sizeof(ip)) || ip.ihl < 5)
			return -1;
		if (ip.frag_off & bpf_htons(0x3fff)) /* MF or an offset: not a whole datagram */
			return -1;
		t->family = 4;
		t->protocol = ip.protocol;
		t->saddr[0] = ip.saddr;
		t->daddr[0] = ip.daddr;
		*l4_off = *l3_off + ip.ihl * 4;
	} else if (eth.h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr ip6;

		if (bpf_skb_load_bytes(skb, *l3_off, &ip6, sizeof(ip6)))
			return -1;
		t->family = 6;
		t->protocol = ip6.nexthdr;
		__builtin_memcpy(t->saddr, &ip6.saddr, 16);
		__builtin_memcpy(t->daddr, &ip6.daddr, 16);
		*l4_off = *l3_off + sizeof(ip6);
	} else {
		return -1;
	}
	if (!lb_l4_supported(t->protocol))
		return -1;
	if (bpf_skb_load_bytes(skb, *l4_off, ports, sizeof(ports)))
		return -1;
	t->sport = ports[0];
	t->dport = ports[1];
	return 0;
}

SEC("tc")
int lb_test(struct __sk_buff *skb)
{
	struct lb_tuple t = {};
	struct lb_result res = {};
	__u32 l3_off = 0, l4_off = 0;
	int ret;

	skb->cb[1] = LB_NONE;
	skb->cb[2] = 0;
	skb->cb[3] = 0;
	skb->cb[4] = 0;
	if (parse(skb, &t, &l3_off, &l4_off))
		return TC_ACT_OK;
	if (skb->cb[0] == 0)
		ret = lb_request(skb, l3_off, l4_off, &t, &res);
	else
		ret = lb_reply(skb, l3_off, l4_off, &t, &res);
	skb->cb[1] = (__u32)ret;
	skb->cb[2] = res.backend_id;
	skb->cb[3] = res.rev_nat;
	skb->cb[4] = res.how;
	return ret < 0 ? TC_ACT_SHOT : TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";

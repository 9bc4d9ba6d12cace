// SPDX-License-Identifier: GPL-2.0
// xdp_drop_port: drop UDP datagrams to one port at the XDP hook, pass everything else.
//
// Build it (twinpath lab check does the same):
//   clang -O2 -g -target bpf -mcpu=v3 -c xdp_drop_port.bpf.c -o xdp_drop_port.bpf.o
// Run it on the lab's traffic in the VM:
//   twinpath run xdp_drop_port.bpf.o --pcap lab/traffic.pcap

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define BLOCKED_PORT 9999

SEC("xdp")
int xdp_drop_port(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;

	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;

	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end)
		return XDP_PASS;
	if (ip->protocol != IPPROTO_UDP)
		return XDP_PASS;

	/* The IP header may carry options: the UDP header starts ihl * 4 bytes in. */
	struct udphdr *udp = (void *)ip + ip->ihl * 4;
	if (udp->dest == bpf_htons(BLOCKED_PORT))
		return XDP_DROP;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";

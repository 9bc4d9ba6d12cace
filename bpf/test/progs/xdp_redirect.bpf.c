// SPDX-License-Identifier: GPL-2.0
//
// xdp_redirect (xdp), kernel only: bpf_redirect_map. The verifier accepts bpf_redirect_map only
// on DEVMAP, DEVMAP_HASH, CPUMAP and XSKMAP, none of which the VM implements, so this object is
// checked in the kernel and left out of the VM comparison. The key is the IPv4 TTL's low bit
// (0 for even TTL, 1 for odd); the flags argument's low bits give the verdict when the slot is
// empty: XDP_PASS. A slot holding an ifindex gives XDP_REDIRECT (a test run reports it and does
// not transmit). Non-IPv4 frames: XDP_DROP.
#include "lib/parse.h"

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u32);
} tx_ports SEC(".maps");

SEC("xdp")
int xdp_redirect(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct pkt p = {};
	struct iphdr *iph;

	if (parse_packet(data, data_end, &p) != PARSE_OK || p.l3_proto != ETH_P_IP)
		return XDP_DROP;
	if (p.l3_off > 64)
		return XDP_DROP;
	iph = data + p.l3_off;
	if ((void *)(iph + 1) > data_end)
		return XDP_DROP;
	return bpf_redirect_map(&tx_ports, iph->ttl & 1, XDP_PASS);
}

char LICENSE[] SEC("license") = "GPL";

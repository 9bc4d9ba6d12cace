// SPDX-License-Identifier: GPL-2.0
//
// xdp_redirect (xdp): bpf_redirect_map through each map type it takes.
//   xdp_redirect: the key is the IPv4 TTL's low bit (0 for even TTL, 1 for odd) in the DEVMAP
//   tx_ports; the flags argument's low bits give the verdict when the slot is empty: XDP_PASS.
//   A slot holding an ifindex gives XDP_REDIRECT (a test run reports it and does not transmit).
//   Non-IPv4 frames: XDP_DROP.
//   xdp_redirect_maps: IPv4 with an even TTL goes through the DEVMAP_HASH tx_hash keyed by the
//   TTL, an odd TTL through the CPUMAP cpu_map slot 0, anything else through the XSKMAP xsks
//   slot 0 (no socket there: the fallback XDP_DROP); a miss in tx_hash falls back to XDP_TX.
//   Every packet first reads tx_ports slot 1 from the program (a DEVMAP lookup gives struct
//   bpf_devmap_val) and keeps its ifindex in .bss last_ifindex, or 0 when the slot is empty.
#include "lib/parse.h"

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u32);
} tx_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, struct bpf_devmap_val);
} tx_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_CPUMAP);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bpf_cpumap_val);
} cpu_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} xsks SEC(".maps");

__u32 last_ifindex; /* .bss */

static __always_inline struct iphdr *ipv4(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct pkt p = {};
	struct iphdr *iph;

	if (parse_packet(data, data_end, &p) != PARSE_OK || p.l3_proto != ETH_P_IP)
		return 0;
	if (p.l3_off > 64)
		return 0;
	iph = data + p.l3_off;
	if ((void *)(iph + 1) > data_end)
		return 0;
	return iph;
}

SEC("xdp")
int xdp_redirect(struct xdp_md *ctx)
{
	struct iphdr *iph = ipv4(ctx);

	if (!iph)
		return XDP_DROP;
	return bpf_redirect_map(&tx_ports, iph->ttl & 1, XDP_PASS);
}

SEC("xdp")
int xdp_redirect_maps(struct xdp_md *ctx)
{
	struct bpf_devmap_val *dev;
	struct iphdr *iph;
	__u32 one = 1;

	dev = bpf_map_lookup_elem(&tx_ports, &one);
	last_ifindex = dev ? dev->ifindex : 0;
	iph = ipv4(ctx);
	if (!iph)
		return bpf_redirect_map(&xsks, 0, XDP_DROP);
	if (iph->ttl & 1)
		return bpf_redirect_map(&cpu_map, 0, XDP_PASS);
	return bpf_redirect_map(&tx_hash, iph->ttl, XDP_TX);
}

char LICENSE[] SEC("license") = "GPL";

// SPDX-License-Identifier: GPL-2.0
//
// xdp_edit (xdp): moving the start and the end of an XDP frame.
//   802.1Q-tagged frame   the tag is removed: the MAC addresses move 4 bytes forward and
//                         bpf_xdp_adjust_head(+4) drops the old start. -> XDP_PASS
//   untagged IPv6         a tag is inserted: bpf_xdp_adjust_head(-4), MACs moved to the new
//                         start, 0x8100/tag_vid (.rodata) written. -> XDP_PASS
//   IPv4 UDP to port 9    (discard) bpf_xdp_adjust_tail shrinks the frame to its headers and
//                         the frame is bounced. -> XDP_TX
//   shorter than 60       bpf_xdp_adjust_tail grows it to 60 bytes (Ethernet minimum), the new
//                         bytes zeroed by the program. -> XDP_PASS
//   IPv4 ICMP echo        bpf_xdp_adjust_tail(+8) appends the trailer "tpxdp-01". -> XDP_PASS
//   anything else         XDP_PASS unchanged.
// A failed adjustment is XDP_ABORTED. The frame a test run returns is the adjusted one.
#include "lib/parse.h"

const volatile __u16 tag_vid = 300;

static __always_inline int untag(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u8 macs[12];

	if (data + 16 > data_end)
		return XDP_ABORTED;
	__builtin_memcpy(macs, data, 12);
	__builtin_memcpy(data + 4, macs, 12);
	if (bpf_xdp_adjust_head(ctx, 4))
		return XDP_ABORTED;
	return XDP_PASS;
}

static __always_inline int tag(struct xdp_md *ctx)
{
	void *data, *data_end;
	__u16 *vlan;

	if (bpf_xdp_adjust_head(ctx, -4))
		return XDP_ABORTED;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (data + 18 > data_end)
		return XDP_ABORTED;
	__builtin_memmove(data, data + 4, 12);
	vlan = data + 12;
	vlan[0] = bpf_htons(ETH_P_8021Q);
	vlan[1] = bpf_htons(tag_vid & 0xfff);
	return XDP_PASS;
}

static __always_inline int set_len(struct xdp_md *ctx, int len)
{
	return bpf_xdp_adjust_tail(ctx, len - (int)(ctx->data_end - ctx->data));
}

SEC("xdp")
int xdp_edit(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	int len = data_end - data;
	struct pkt p = {};
	int res = parse_packet(data, data_end, &p);

	if (res == PARSE_SHORT || res == PARSE_BAD)
		return XDP_PASS;
	if (p.vlans && bpf_ntohs(*(__u16 *)(data + 12)) == ETH_P_8021Q)
		return untag(ctx);
	if (res == PARSE_OK && p.l3_proto == ETH_P_IPV6)
		return tag(ctx);
	if (res == PARSE_OK && p.l4_proto == IPPROTO_UDP && p.dport == 9 && !p.fragment) {
		if (set_len(ctx, p.l4_off + sizeof(struct udphdr)))
			return XDP_ABORTED;
		return XDP_TX;
	}
	if (len < 60) {
		__u8 *b;

		if (set_len(ctx, 60))
			return XDP_ABORTED;
		data = (void *)(long)ctx->data;
		data_end = (void *)(long)ctx->data_end;
		/* the grown bytes: zero them (the kernel does, but say so) */
		for (int i = 0; i < 60; i++) {
			b = data + i;
			if ((void *)(b + 1) > data_end)
				break;
			if (i >= len)
				*b = 0;
		}
		return XDP_PASS;
	}
	if (res == PARSE_OK && p.l4_proto == IPPROTO_ICMP && p.sport >> 8 == 8) {
		char trailer[8] = { 't', 'p', 'x', 'd', 'p', '-', '0', '1' };
		char *t;

		if (bpf_xdp_adjust_tail(ctx, 8))
			return XDP_ABORTED;
		data = (void *)(long)ctx->data;
		data_end = (void *)(long)ctx->data_end;
		/* pointer arithmetic on data_end is refused: count from data */
		t = data + (len & 0x3fff);
		if ((void *)(t + 8) > data_end)
			return XDP_ABORTED;
		__builtin_memcpy(t, trailer, 8);
		return XDP_PASS;
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";

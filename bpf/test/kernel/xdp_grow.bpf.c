// SPDX-License-Identifier: GPL-2.0
// Kernel-engine test program for XDP: prepends a 4-byte tag in the headroom (the packet grows),
// and returns a verdict chosen before load; swaps nothing else, so the output is predictable.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

const volatile __u32 verdict = XDP_PASS;
const volatile __u32 tag = 0x74703031; // "tp01" when stored big-endian

SEC("xdp")
int xdp_grow(struct xdp_md *ctx)
{
	void *data, *data_end;

	if (bpf_xdp_adjust_head(ctx, -4))
		return XDP_ABORTED;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (data + 4 > data_end)
		return XDP_ABORTED;
	*(__u32 *)data = __builtin_bswap32(tag);
	return verdict;
}

char LICENSE[] SEC("license") = "GPL";

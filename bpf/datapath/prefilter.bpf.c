// SPDX-License-Identifier: GPL-2.0
//
// The XDP prefilter: packets from a denied source address dropped on the node's external
// interface before the stack sees them. The logic, maps and counters are in lib/prefilter.h.
#include "lib/prefilter.h"

SEC("xdp")
int cil_xdp_prefilter(struct xdp_md *ctx)
{
	return handle_prefilter(ctx);
}

char LICENSE[] SEC("license") = "GPL";

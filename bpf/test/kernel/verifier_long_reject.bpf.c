// SPDX-License-Identifier: GPL-2.0
// Kernel-engine test program the verifier rejects only after a long walk: a few hundred
// unrolled instructions, then a packet read without a bounds check. Its verifier log runs to
// many kilobytes, so the error message must shorten it and still show why it failed.
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

SEC("tc")
int long_reject(struct __sk_buff *skb)
{
	__u8 *data = (__u8 *)(long)skb->data;
	__u32 acc = skb->len;

#pragma clang loop unroll(full)
	for (int i = 0; i < 300; i++)
		acc ^= (acc << 3) + i;

	return data[acc & 0xf] ? TC_ACT_OK : TC_ACT_SHOT;
}

char LICENSE[] SEC("license") = "GPL";

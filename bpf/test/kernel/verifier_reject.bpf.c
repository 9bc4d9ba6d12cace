// SPDX-License-Identifier: GPL-2.0
// Kernel-engine test program the verifier must reject: it reads the packet without checking
// data_end. It compiles; the load fails, and the failure must carry the verifier log.
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

SEC("tc")
int unchecked_read(struct __sk_buff *skb)
{
	__u8 *data = (__u8 *)(long)skb->data;

	return data[12] == 0x08 ? TC_ACT_OK : TC_ACT_SHOT;
}

char LICENSE[] SEC("license") = "GPL";

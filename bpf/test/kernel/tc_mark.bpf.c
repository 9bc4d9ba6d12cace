// SPDX-License-Identifier: GPL-2.0
// Kernel-engine test program for tc: writes skb->mark from a global set before load, rewrites
// the first byte of the packet, counts packets in a hash map and .bss/.data globals, and emits
// one ring buffer record per packet. Other maps exist for the map-operation tests.
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

struct tc_mark_event {
	__u32 len;
	__u32 mark;
	__u64 seq;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u32);
} per_cpu SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 3);
	__type(value, __u32);
} fifo SEC(".maps");

// Set by the loader before load; the verifier sees them as constants.
const volatile __u32 mark_base = 0x100;
const volatile __u8 first_byte = 0xaa;
const volatile __u32 verdict = TC_ACT_OK;

__u64 packets;             // .bss
__u32 last_len = 0xffffffff; // .data

SEC("tc")
int tc_mark(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	__u32 key = skb->len;
	__u64 one = 1, *n;
	struct tc_mark_event *ev;

	if (data + 1 > data_end)
		return TC_ACT_SHOT;
	*(__u8 *)data = first_byte;

	skb->mark = mark_base + skb->len;
	packets++;
	last_len = skb->len;

	n = bpf_map_lookup_elem(&counts, &key);
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&counts, &key, &one, BPF_NOEXIST);

	ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (ev) {
		ev->len = skb->len;
		ev->mark = skb->mark;
		ev->seq = packets;
		bpf_ringbuf_submit(ev, 0);
	}
	return verdict;
}

char LICENSE[] SEC("license") = "GPL";

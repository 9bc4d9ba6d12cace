// Test object for the ELF reader: BTF-defined maps of several types, map-in-map with initial
// values, pinning, two programs (xdp and tc) sharing a subprogram in .text.
// build-variants: clang-19:v3 clang-14:v2
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct flow_key {
	__u32 saddr;
	__u32 daddr;
	__u16 sport;
	__u16 dport;
	__u8 proto;
	__u8 pad[3];
};

struct flow_stats {
	__u64 packets;
	__u64 bytes;
	__s32 last_verdict;
	char tag[4];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct flow_key);
	__type(value, struct flow_stats);
	__uint(max_entries, 1024);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 4);
} counters SEC(".maps");

struct lpm_v4_key {
	__u32 prefixlen;
	__u8 addr[4];
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct lpm_v4_key);
	__type(value, __u32);
	__uint(max_entries, 256);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} ipcache SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

struct inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 8);
} inner_a SEC(".maps"), inner_b SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 4);
	__type(key, __u32);
	__array(values, struct inner);
} outer SEC(".maps") = {
	.values = { [0] = &inner_a, [2] = &inner_b },
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 16);
	__type(key, __u32);
	__array(values, struct {
		__uint(type, BPF_MAP_TYPE_HASH);
		__type(key, __u64);
		__type(value, __u64);
		__uint(max_entries, 32);
	});
} outer_hash SEC(".maps");

static __attribute__((noinline)) int count(__u32 slot, __u64 len)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &slot);
	if (!c)
		return 0;
	*c += len;
	return 1;
}

SEC("xdp")
int xdp_count(struct xdp_md *ctx)
{
	__u64 len = ctx->data_end - ctx->data;
	struct flow_key key = {};
	struct flow_stats *st = bpf_map_lookup_elem(&flows, &key);
	if (st)
		st->packets++;
	count(0, len);
	return XDP_PASS;
}

SEC("tc/ingress")
int tc_count(struct __sk_buff *skb)
{
	__u32 idx = 0;
	void *inner = bpf_map_lookup_elem(&outer, &idx);
	if (inner) {
		__u32 *v = bpf_map_lookup_elem(inner, &idx);
		if (v)
			*v += 1;
	}
	bpf_ringbuf_output(&events, &idx, sizeof(idx), 0);
	count(1, skb->len);
	return 0; /* TC_ACT_OK */
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";

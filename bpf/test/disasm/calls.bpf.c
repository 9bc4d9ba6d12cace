// Helper calls, bpf-to-bpf calls, map references (ld_imm64 with a map relocation), global data
// and a function pointer (callx on cpu v4 when clang emits it).
// build-variants: clang-19:v3 clang-19:v4
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u64);
	__type(value, __u64);
} seen SEC(".maps");

volatile __u64 packets_total;
const volatile __u32 sample_rate = 7;
static __u64 last_stamp;

static __attribute__((noinline)) __u64 bump(__u32 slot, __u64 by)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &slot);
	if (!v)
		return 0;
	*v += by;
	return *v;
}

static __attribute__((noinline)) int remember(__u64 key)
{
	__u64 one = 1;
	__u64 *old = bpf_map_lookup_elem(&seen, &key);
	if (old)
		return 1;
	return bpf_map_update_elem(&seen, &key, &one, BPF_NOEXIST);
}

SEC("xdp")
int count(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u64 len = end - data;
	__u64 now = bpf_ktime_get_ns();
	packets_total++;
	last_stamp = now;
	if (len % sample_rate == 0)
		remember(now);
	return bump(len > 100, len) > 0x100000000ULL ? XDP_DROP : XDP_PASS;
}

SEC("tc")
int stamp(struct __sk_buff *skb)
{
	skb->mark = (__u32)bpf_get_prandom_u32() ^ (__u32)last_stamp;
	skb->cb[1] = skb->len;
	skb->priority = 3;
	return bump(2, skb->len) & 1;
}

char LICENSE[] SEC("license") = "GPL";

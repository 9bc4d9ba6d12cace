// Test object for the ELF reader: global data in .rodata/.data/.bss and a suffixed section,
// const volatile configuration, several programs per section, nested subprograms, a callback
// passed to bpf_loop (a function pointer), a prog array with an initial program, and a section
// of a program type twinpath does not run.
// build-variants: clang-19:v3 clang-14:v2 clang-19:v4
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

const volatile __u32 cfg_mode = 1;
const volatile __u8 cfg_mac[6] = { 2, 0, 0, 0, 0, 1 };
volatile __u64 packets = 7;
__u64 drops;
__u32 extra_counter SEC(".data.extra") = 42;
const char greeting[] = "hello";

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, int (void *));
} jumps SEC(".maps");

static __attribute__((noinline)) __u64 bump(__u64 x)
{
	packets += x;
	return packets;
}

static __attribute__((noinline)) int verdict(__u32 len)
{
	if (cfg_mode == 2)
		return XDP_DROP;
	if (bump(len) > 1000)
		drops++;
	return len > cfg_mac[0] ? XDP_PASS : XDP_ABORTED;
}

static long step(__u32 i, void *ctx)
{
	extra_counter += i;
	return 0;
}

SEC("xdp")
int xdp_first(struct xdp_md *ctx)
{
	return verdict(ctx->data_end - ctx->data);
}

SEC("xdp")
int xdp_second(struct xdp_md *ctx)
{
	bpf_loop(4, step, 0, 0);
	bpf_tail_call(ctx, &jumps, 0);
	return XDP_PASS;
}

SEC("xdp.frags")
int xdp_frags(struct xdp_md *ctx)
{
	return bump(1) ? XDP_PASS : XDP_DROP;
}

SEC("tcx/egress")
int tc_out(struct __sk_buff *skb)
{
	bpf_printk("%s %d", greeting, skb->len);
	return verdict(skb->len) == XDP_PASS ? 0 : 2;
}

SEC("classifier")
int tc_legacy(struct __sk_buff *skb)
{
	/* A bare string literal: clang puts it in a mergeable .rodata.str1.1 section. */
	if (skb->mark == 7)
		bpf_trace_printk("mark seven", sizeof("mark seven"));
	return drops ? 2 : 0;
}

SEC("kprobe/do_sys_open")
int probe_open(void *ctx)
{
	return 0;
}

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__array(values, int (void *));
} jumps_init SEC(".maps") = {
	.values = { [1] = (void *)&tc_legacy },
};

char LICENSE[] SEC("license") = "GPL";

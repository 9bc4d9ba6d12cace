// SPDX-License-Identifier: GPL-2.0
//
// clock (xdp): the helpers whose results depend on time, chance or the CPU, written only where a
// test can mask them. Each packet i (0-based, from .bss seq) stores into samples[i % 8] (ARRAY):
//   mono     bpf_ktime_get_ns        masked; compared only as nondecreasing (mono_ok)
//   boot     bpf_ktime_get_boot_ns   masked; compared only as >= mono of the same run (boot_ok)
//   jiffies  bpf_jiffies64           masked; compared only as nondecreasing (jiffies_ok)
//   random   bpf_get_prandom_u32     masked
//   cpu      bpf_get_smp_processor_id masked (compared as < the number of possible CPUs)
//   seq      i + 1                   compared
// The .bss counters mono_ok, boot_ok and jiffies_ok count the runs where the property held, so
// after a capture of N packets each equals N in any engine with a sane clock.
// Verdict: XDP_PASS for every packet; the packet is not changed.
#include "lib/common.h"

struct clock_sample {
	__u64 mono;
	__u64 boot;
	__u64 jiffies;
	__u32 random;
	__u32 cpu;
	__u64 seq;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, struct clock_sample);
} samples SEC(".maps");

__u64 seq;          /* .bss */
__u64 last_mono;    /* .bss, masked */
__u64 last_jiffies; /* .bss, masked */
__u64 mono_ok;      /* .bss */
__u64 boot_ok;      /* .bss */
__u64 jiffies_ok;   /* .bss */

SEC("xdp")
int clock(struct xdp_md *ctx)
{
	__u32 slot = seq % 8;
	struct clock_sample *s = bpf_map_lookup_elem(&samples, &slot);
	__u64 mono = bpf_ktime_get_ns();
	__u64 boot = bpf_ktime_get_boot_ns();
	__u64 jiffies = bpf_jiffies64();

	if (mono >= last_mono)
		mono_ok++;
	if (boot >= mono)
		boot_ok++;
	if (jiffies >= last_jiffies)
		jiffies_ok++;
	last_mono = mono;
	last_jiffies = jiffies;
	seq++;
	if (!s)
		return XDP_ABORTED;
	s->mono = mono;
	s->boot = boot;
	s->jiffies = jiffies;
	s->random = bpf_get_prandom_u32();
	s->cpu = bpf_get_smp_processor_id();
	s->seq = seq;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";

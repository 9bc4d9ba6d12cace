// Atomic read-modify-write in both widths: plain add/or/and/xor, their fetching forms, exchange
// and compare-exchange (cpu v3 and later), and the legacy add-only form of cpu v1.
// build-variants: clang-19:v3 clang-19:v1
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct counters {
	__u64 a, b, c, d;
	__u32 e, f, g, h;
	__u64 out[8];
	__u32 out32[8];
};

SEC("xdp")
int atomics(struct counters *p)
{
	__sync_fetch_and_add(&p->a, 1);
	__sync_fetch_and_add(&p->e, 2);
#if __BPF_CPU_VERSION__ >= 3
	__sync_fetch_and_or(&p->b, 4);
	__sync_fetch_and_and(&p->c, 8);
	__sync_fetch_and_xor(&p->d, 16);
	__sync_fetch_and_or(&p->f, 4);
	__sync_fetch_and_and(&p->g, 8);
	__sync_fetch_and_xor(&p->h, 16);
	p->out[0] = __sync_fetch_and_add(&p->a, 3);
	p->out[1] = __sync_fetch_and_or(&p->b, 5);
	p->out[2] = __sync_fetch_and_and(&p->c, 6);
	p->out[3] = __sync_fetch_and_xor(&p->d, 7);
	p->out[4] = __atomic_exchange_n(&p->a, 9, __ATOMIC_SEQ_CST);
	p->out[5] = __sync_val_compare_and_swap(&p->b, 10, 11);
	p->out32[0] = __sync_fetch_and_add(&p->e, 3);
	p->out32[1] = __sync_fetch_and_or(&p->f, 5);
	p->out32[2] = __sync_fetch_and_and(&p->g, 6);
	p->out32[3] = __sync_fetch_and_xor(&p->h, 7);
	p->out32[4] = __atomic_exchange_n(&p->e, 9, __ATOMIC_SEQ_CST);
	p->out32[5] = __sync_val_compare_and_swap(&p->f, 10, 11);
#endif
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

// ALU and ALU64 arithmetic in both widths, with immediates and registers; on cpu v4 also the
// signed division and modulo, sign-extending moves and loads, and unconditional byte swaps.
// build-variants: clang-19:v4 clang-19:v1 clang-19:v3
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct args {
	__s64 a, b;
	__s32 c, d;
	__u64 u;
	__u32 v;
	__s8 s8;
	__s16 s16;
	__s32 s32;
	__u16 h;
	__u8 byte;
	__u64 out[16];
	__u32 out32[16];
};

SEC("xdp")
int arith64(struct args *p)
{
	__s64 a = p->a, b = p->b;
	__u64 u = p->u;
	p->out[0] = a + b;
	p->out[1] = a - b * 3;
	p->out[2] = u / (__u64)b + u % 13;
	p->out[3] = (u ^ 0x55) | (a & ~b);
	p->out[4] = (u << (b & 63)) + (u >> (a & 63)) + (a >> (b & 63));
	p->out[5] = -a + (a >> 5) + (u << 3) + (u >> 9) + u * 0x12345;
#if __BPF_CPU_VERSION__ >= 4
	p->out[6] = a / b + a % b;
	p->out[7] = a / 3 + a % 5;
#endif
	p->out[8] = p->s8 + p->s16 + p->s32;
	p->out[9] = (__s64)(__s8)a + (__s64)(__s16)b + (__s64)(__s32)u;
	p->out[10] = 0x1122334455667788ULL ^ u;
	p->out[11] = u % (__u64)a;
	return 0;
}

SEC("xdp")
int arith32(struct args *p)
{
	__s32 c = p->c, d = p->d;
	__u32 v = p->v;
	p->out32[0] = c + d;
	p->out32[1] = c - d * 5;
	p->out32[2] = v / (__u32)d + v % 11;
	p->out32[3] = (v ^ 0x77) | (c & ~d);
	p->out32[4] = (v << (d & 31)) + (v >> (c & 31)) + (c >> (d & 31));
	p->out32[5] = -c + (c >> 3) + (v << 2) + (v >> 1) + v * 7;
#if __BPF_CPU_VERSION__ >= 4
	p->out32[6] = c / d + c % d;
	p->out32[7] = c / 7 + c % 6;
#endif
	p->out32[8] = (__s32)(__s8)c + (__s32)(__s16)d;
	p->out32[9] = v % (__u32)c;
	return 0;
}

SEC("tc")
int swaps(struct args *p)
{
	p->out[0] = bpf_be64_to_cpu(p->u);
	p->out32[0] = bpf_ntohl(p->v);
	p->out32[1] = bpf_ntohs(p->h);
	p->out[1] = __builtin_bswap64(p->u ^ 1);
	p->out32[2] = __builtin_bswap32(p->v ^ 1);
	p->out32[3] = __builtin_bswap16(p->h ^ 1);
	p->out[2] = p->byte;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

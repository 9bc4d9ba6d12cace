// Conditional jumps of every condition, 64- and 32-bit (JMP32 from cpu v3), against registers
// and immediates, forward and backward, and a bounded loop.
// build-variants: clang-19:v3 clang-19:v1 clang-19:v4
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct vals {
	__s64 a, b;
	__u64 u, w;
	__s32 c, d;
	__u32 x, y;
	__u64 out;
};

static __attribute__((noinline)) int classify(__s64 a, __s64 b, __u64 u, __u64 w)
{
	int r = 0;
	if (a < b) r += 1;
	if (a <= -7) r += 2;
	if (a > 100) r += 4;
	if (a >= b) r ^= 8;
	if (u < w) r += 16;
	if (u <= 9) r += 32;
	if (u > w) r ^= 64;
	if (u >= 1000) r += 128;
	if (u & 0x40) r += 256;
	if (u & w) r ^= 512;
	if (a == b) r += 1024;
	if (u != 5) r ^= 2048;
	return r;
}

static __attribute__((noinline)) int classify32(__s32 c, __s32 d, __u32 x, __u32 y)
{
	int r = 0;
	if (c < d) r += 1;
	if (c <= -7) r += 2;
	if (c > 100) r += 4;
	if (c >= d) r ^= 8;
	if (x < y) r += 16;
	if (x <= 9) r += 32;
	if (x > y) r ^= 64;
	if (x >= 1000) r += 128;
	if (x & 0x40) r += 256;
	if (x == y) r += 1024;
	if (x != 5) r ^= 2048;
	return r;
}

SEC("xdp")
int jumps(struct vals *v)
{
	__u64 sum = 0;
	for (__u32 i = 0; i < v->x && i < 64; i++)
		sum += i * v->u;
	v->out = sum;
	return classify(v->a, v->b, v->u, v->w) + classify32(v->c, v->d, v->x, v->y);
}

char LICENSE[] SEC("license") = "GPL";

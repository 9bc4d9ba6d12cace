// A small packet program for the VM benchmark: parse Ethernet, IPv4 and TCP from a buffer,
// hash the flow, and decide a verdict from a few rules. About a hundred instructions run for
// a 64-byte TCP packet. The entry takes the buffer and its length in r1 and r2, the calling
// convention of `twinpath exec`, so it runs before object loading and contexts exist; the
// XDP entry runs the same logic on a real context.
// build-variants: clang-19:v3
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

enum verdict { PASS = 0, DROP = 1, NOT_TCP = 2, MALFORMED = 3 };

static __always_inline __u32 mix(__u32 h, __u32 v)
{
	h ^= v;
	h *= 0x9e3779b1;
	return (h << 13) | (h >> 19);
}

static __always_inline int decide(void *data, void *data_end)
{
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end)
		return MALFORMED;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return NOT_TCP;
	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end)
		return MALFORMED;
	if (ip->version != 4 || ip->ihl < 5)
		return MALFORMED;
	if (ip->protocol != IPPROTO_TCP)
		return NOT_TCP;
	struct tcphdr *tcp = (void *)ip + ip->ihl * 4;
	if ((void *)(tcp + 1) > data_end)
		return MALFORMED;

	__u16 dport = bpf_ntohs(tcp->dest);
	__u16 sport = bpf_ntohs(tcp->source);
	__u32 h = 0x12345678;
	h = mix(h, ip->saddr);
	h = mix(h, ip->daddr);
	h = mix(h, ((__u32)sport << 16) | dport);
	h = mix(h, ip->protocol);

	/* Telnet and RDP are closed; SSH only from 10.0.0.0/8; new connections to high ports
	 * are dropped for one flow in four (by hash), as a stand-in for a policy lookup. */
	if (dport == 23 || dport == 3389)
		return DROP;
	if (dport == 22 && (bpf_ntohl(ip->saddr) >> 24) != 10)
		return DROP;
	if (tcp->syn && !tcp->ack && dport >= 1024 && (h & 3) == 0)
		return DROP;
	if (ip->ttl <= 1)
		return DROP;
	return PASS;
}

SEC("xdp")
int bench_xdp(struct xdp_md *ctx)
{
	int v = decide((void *)(long)ctx->data, (void *)(long)ctx->data_end);
	return v == DROP ? XDP_DROP : XDP_PASS;
}

__attribute__((section("raw"), used))
int bench_raw(void *mem, unsigned long len)
{
	return decide(mem, mem + len);
}

char LICENSE[] SEC("license") = "GPL";

// SPDX-License-Identifier: GPL-2.0
//
// nat (tc): service DNAT with incremental checksum updates, then a redirect. A packet to the
// service frontend (.rodata svc_v4:svc_port, or svc_v6:svc_port) over TCP or UDP has its
// destination rewritten to the backend (be_v4 / be_v6, be_port):
//   IPv4  bpf_skb_load_bytes reads the old address, bpf_skb_store_bytes writes the new one,
//         bpf_l3_csum_replace fixes the IP header checksum, bpf_l4_csum_replace (with
//         BPF_F_PSEUDO_HDR, and BPF_F_MARK_MANGLED_0 for UDP) the TCP/UDP checksum.
//   IPv6  bpf_csum_diff over the old and new 16-byte addresses, then one
//         bpf_l4_csum_replace with the difference (no IP header checksum in IPv6).
//   port  bpf_l4_csum_replace of 2 bytes.
// The packet leaves with valid checksums (a test recomputes them), and the program returns
// bpf_redirect(redirect_ifindex, 0) = TC_ACT_REDIRECT; a test run does not send it anywhere.
// bpf_csum_update(skb, diff) is called on every rewrite; a test-run skb is CHECKSUM_NONE, so the
// kernel returns -ENOTSUPP (-524), kept in csum_update_ret (.bss).
// bpf_get_hash_recalc: the flow hash is keyed by a per-boot random seed in the kernel, so it is
// stored in last_hash (.bss, masked) and only hashed_nonzero (count of nonzero hashes) compares.
// Packets not to the frontend: TC_ACT_OK unchanged; non-IP or malformed: TC_ACT_UNSPEC.
#include "lib/parse.h"

const volatile __u32 svc_v4 = 0;      /* network order */
const volatile __u32 be_v4 = 0;
const volatile __u32 svc_v6[4] = {};
const volatile __u32 be_v6[4] = {};
const volatile __u16 svc_port = 80;   /* host order */
const volatile __u16 be_port = 8080;
const volatile __u32 redirect_ifindex = 1;

__s64 csum_update_ret;   /* .bss */
__u32 last_hash;         /* .bss, masked */
__u64 hashed_nonzero;    /* .bss */
__u64 rewritten;         /* .bss */

static __always_inline int l4_check_off(const struct pkt *p)
{
	return p->l4_off + (p->l4_proto == IPPROTO_TCP ? offsetof(struct tcphdr, check)
						       : offsetof(struct udphdr, check));
}

static __noinline int dnat_v4(struct __sk_buff *skb, const struct pkt *p)
{
	__u32 daddr_off = p->l3_off + offsetof(struct iphdr, daddr);
	__u32 old, new = be_v4;
	__u64 l4flags = BPF_F_PSEUDO_HDR | sizeof(new);

	if (bpf_skb_load_bytes(skb, daddr_off, &old, sizeof(old)))
		return -1;
	if (p->l4_proto == IPPROTO_UDP)
		l4flags |= BPF_F_MARK_MANGLED_0;
	if (bpf_l4_csum_replace(skb, l4_check_off(p), old, new, l4flags))
		return -1;
	if (bpf_l3_csum_replace(skb, p->l3_off + offsetof(struct iphdr, check), old, new, sizeof(new)))
		return -1;
	if (bpf_skb_store_bytes(skb, daddr_off, &new, sizeof(new), 0))
		return -1;
	csum_update_ret = bpf_csum_update(skb, bpf_csum_diff(&old, 4, &new, 4, 0));
	return 0;
}

static __noinline int dnat_v6(struct __sk_buff *skb, const struct pkt *p)
{
	__u32 daddr_off = p->l3_off + offsetof(struct ipv6hdr, daddr);
	__u32 old[4], new[4];
	__s64 diff;

	if (bpf_skb_load_bytes(skb, daddr_off, old, sizeof(old)))
		return -1;
	for (int i = 0; i < 4; i++)
		new[i] = be_v6[i];
	diff = bpf_csum_diff(old, sizeof(old), new, sizeof(new), 0);
	if (diff < 0)
		return -1;
	if (bpf_l4_csum_replace(skb, l4_check_off(p), 0, diff,
				BPF_F_PSEUDO_HDR | (p->l4_proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0)))
		return -1;
	if (bpf_skb_store_bytes(skb, daddr_off, new, sizeof(new), 0))
		return -1;
	csum_update_ret = bpf_csum_update(skb, diff);
	return 0;
}

static __always_inline int is_frontend(const struct pkt *p)
{
	if (p->dport != svc_port || (p->l4_proto != IPPROTO_TCP && p->l4_proto != IPPROTO_UDP))
		return 0;
	if (p->l3_proto == ETH_P_IP)
		return p->daddr[0] == svc_v4;
	return p->daddr[0] == svc_v6[0] && p->daddr[1] == svc_v6[1] &&
	       p->daddr[2] == svc_v6[2] && p->daddr[3] == svc_v6[3];
}

SEC("tc")
int nat(struct __sk_buff *skb)
{
	struct pkt p = {};
	__u16 oldp, newp = bpf_htons(be_port);
	int err;

	if (parse_packet((void *)(long)skb->data, (void *)(long)skb->data_end, &p) != PARSE_OK || p.fragment)
		return TC_ACT_UNSPEC;
	last_hash = bpf_get_hash_recalc(skb);
	if (last_hash)
		hashed_nonzero++;
	if (!is_frontend(&p))
		return TC_ACT_OK;

	err = p.l3_proto == ETH_P_IP ? dnat_v4(skb, &p) : dnat_v6(skb, &p);
	if (err)
		return TC_ACT_SHOT;
	oldp = bpf_htons(p.dport);
	if (bpf_l4_csum_replace(skb, l4_check_off(&p), oldp, newp,
				sizeof(newp) | (p.l4_proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0)))
		return TC_ACT_SHOT;
	if (bpf_skb_store_bytes(skb, p.l4_off + 2, &newp, sizeof(newp), 0))
		return TC_ACT_SHOT;
	rewritten++;
	return bpf_redirect(redirect_ifindex, 0);
}

char LICENSE[] SEC("license") = "GPL";

// The iptables model, for the benchmark only: a linear list of rules walked in order for every
// packet, first match wins, as an iptables chain without ipset is evaluated. The benchmark runs it
// beside the policy datapath with the same number of rules, to show why twinpath (like Cilium)
// looks rules up in maps instead: this program's cost grows with the list, the map lookups do not.
// build-variants: clang-19:v3
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define MAX_RULES 65536

/* One rule: source and destination prefixes (network order, mask applied), protocol (0 any)
 * and a destination port range (host order). */
struct linear_rule {
	__u32 src;
	__u32 src_mask;
	__u32 dst;
	__u32 dst_mask;
	__u16 dport_lo;
	__u16 dport_hi;
	__u8 proto;
	__u8 verdict; /* 0 accept, 1 drop */
	__u16 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_RULES);
	__type(key, __u32);
	__type(value, struct linear_rule);
} linear_rules SEC(".maps");

/* How many rules are in use; set before load, like a skeleton's rodata. */
const volatile __u32 nrules = 0;

struct walk {
	__u32 src, dst;
	__u16 dport;
	__u8 proto;
	__u8 verdict;
	__u32 matched; /* index of the rule that matched, or nrules */
};

static long match_one(__u32 i, void *data)
{
	struct walk *w = data;
	struct linear_rule *r = bpf_map_lookup_elem(&linear_rules, &i);

	if (!r)
		return 1;
	if ((w->src & r->src_mask) != r->src || (w->dst & r->dst_mask) != r->dst)
		return 0;
	if (r->proto && r->proto != w->proto)
		return 0;
	if (w->dport < r->dport_lo || w->dport > r->dport_hi)
		return 0;
	w->verdict = r->verdict;
	w->matched = i;
	return 1;
}

SEC("tc")
int linear_chain(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct walk w = {};

	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end || ip->ihl < 5)
		return TC_ACT_SHOT;
	w.src = ip->saddr;
	w.dst = ip->daddr;
	w.proto = ip->protocol;
	if (ip->protocol == IPPROTO_TCP || ip->protocol == IPPROTO_UDP) {
		__u16 *ports = (void *)ip + ip->ihl * 4;
		if ((void *)(ports + 2) > data_end)
			return TC_ACT_SHOT;
		w.dport = bpf_ntohs(ports[1]);
	}
	/* Default policy of the chain: drop. */
	w.verdict = 1;
	w.matched = nrules;
	bpf_loop(nrules, match_one, &w, 0);
	skb->cb[0] = w.matched;
	return w.verdict ? TC_ACT_SHOT : TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";

/* Packet parsing shared by the test programs: Ethernet with up to two VLAN tags, IPv4 (with
 * options), IPv6 (with up to four extension headers), TCP, UDP, ICMP and ICMPv6. The parser
 * reads through data/data_end only, so it serves tc and XDP alike, and records offsets rather
 * than pointers so callers re-derive pointers under their own bounds checks. */
#ifndef TWINPATH_TEST_PARSE_H
#define TWINPATH_TEST_PARSE_H

#include "common.h"

#define NEXTHDR_HOP 0
#define NEXTHDR_ROUTING 43
#define NEXTHDR_FRAGMENT 44
#define NEXTHDR_DEST 60

enum parse_result {
	PARSE_OK = 0,      /* an IP packet whose L4 header (if known) is whole */
	PARSE_NOT_IP = 1,  /* a whole Ethernet header, but neither IPv4 nor IPv6 */
	PARSE_SHORT = 2,   /* a header runs past the end of the packet */
	PARSE_BAD = 3,     /* a header field is impossible (IHL < 5, version mismatch) */
};

struct pkt {
	__u16 l3_proto;   /* EtherType after the VLAN tags, host order */
	__u8 vlans;       /* VLAN tags seen (at most 2 parsed) */
	__u8 l4_proto;    /* IP protocol / last next-header; 0 when not IP */
	__u16 l3_off;     /* offset of the IP header */
	__u16 l4_off;     /* offset of the L4 header */
	__u16 sport;      /* host order; ICMP: type << 8 | code */
	__u16 dport;      /* host order; ICMP echo: identifier */
	__u8 tcp_flags;
	__u8 ip_opts;     /* IPv4 has options */
	__u8 ext_hdrs;    /* IPv6 extension headers skipped */
	__u8 fragment;    /* a non-first fragment: no L4 header to read */
	__u32 saddr[4];   /* IPv4 in saddr[0], network order */
	__u32 daddr[4];
};

static __always_inline int parse_l4(void *data, void *data_end, struct pkt *p, __u32 off)
{
	p->l4_off = off;
	if (p->fragment)
		return PARSE_OK;
	if (off > 512)
		return PARSE_BAD;
	if (p->l4_proto == IPPROTO_TCP) {
		struct tcphdr *th = data + off;
		if ((void *)(th + 1) > data_end)
			return PARSE_SHORT;
		if (th->doff < 5)
			return PARSE_BAD;
		p->sport = bpf_ntohs(th->source);
		p->dport = bpf_ntohs(th->dest);
		p->tcp_flags = ((__u8 *)th)[13];
	} else if (p->l4_proto == IPPROTO_UDP) {
		struct udphdr *uh = data + off;
		if ((void *)(uh + 1) > data_end)
			return PARSE_SHORT;
		p->sport = bpf_ntohs(uh->source);
		p->dport = bpf_ntohs(uh->dest);
	} else if (p->l4_proto == IPPROTO_ICMP || p->l4_proto == IPPROTO_ICMPV6) {
		struct icmp_echo *ih = data + off;
		if ((void *)(ih + 1) > data_end)
			return PARSE_SHORT;
		p->sport = (__u16)ih->type << 8 | ih->code;
		p->dport = bpf_ntohs(ih->id);
	}
	return PARSE_OK;
}

static __always_inline int parse_ipv4(void *data, void *data_end, struct pkt *p)
{
	struct iphdr *iph = data + p->l3_off;
	__u32 hlen;

	if ((void *)(iph + 1) > data_end)
		return PARSE_SHORT;
	if (iph->version != 4 || iph->ihl < 5)
		return PARSE_BAD;
	hlen = iph->ihl * 4;
	if ((void *)iph + hlen > data_end)
		return PARSE_SHORT;
	p->ip_opts = hlen > sizeof(*iph);
	p->l4_proto = iph->protocol;
	p->fragment = (bpf_ntohs(iph->frag_off) & 0x1fff) != 0;
	p->saddr[0] = iph->saddr;
	p->daddr[0] = iph->daddr;
	return parse_l4(data, data_end, p, p->l3_off + hlen);
}

static __always_inline int parse_ipv6(void *data, void *data_end, struct pkt *p)
{
	struct ipv6hdr *ip6 = data + p->l3_off;
	__u32 off = p->l3_off + sizeof(*ip6);
	__u8 nexthdr;

	if ((void *)(ip6 + 1) > data_end)
		return PARSE_SHORT;
	if (ip6->version != 6)
		return PARSE_BAD;
	__builtin_memcpy(p->saddr, &ip6->saddr, 16);
	__builtin_memcpy(p->daddr, &ip6->daddr, 16);
	nexthdr = ip6->nexthdr;

	for (int i = 0; i < 4; i++) {
		__u8 *ext;

		if (nexthdr != NEXTHDR_HOP && nexthdr != NEXTHDR_ROUTING &&
		    nexthdr != NEXTHDR_DEST && nexthdr != NEXTHDR_FRAGMENT)
			break;
		if (off > 256)
			return PARSE_BAD;
		ext = data + off;
		if ((void *)(ext + 8) > data_end)
			return PARSE_SHORT;
		if (nexthdr == NEXTHDR_FRAGMENT) {
			/* fragment offset in the upper 13 bits of bytes 2-3 */
			p->fragment = ((ext[2] << 8 | ext[3]) & 0xfff8) != 0;
			off += 8;
		} else {
			off += (ext[1] + 1) * 8;
		}
		nexthdr = ext[0];
		p->ext_hdrs++;
	}
	p->l4_proto = nexthdr;
	return parse_l4(data, data_end, p, off);
}

/* Fills *p from the packet; returns an enum parse_result. A bpf-to-bpf call (not inlined), so
 * every program that parses exercises subprogram calls with packet pointers as arguments. */
static __noinline int parse_packet(void *data, void *data_end, struct pkt *p)
{
	struct ethhdr *eth = data;
	__u32 off = sizeof(*eth);
	__u16 proto;

	if ((void *)(eth + 1) > data_end)
		return PARSE_SHORT;
	proto = bpf_ntohs(eth->h_proto);
	for (int i = 0; i < 2; i++) {
		__u16 *tag;

		if (proto != ETH_P_8021Q && proto != ETH_P_8021AD)
			break;
		tag = data + off;
		if ((void *)(tag + 2) > data_end)
			return PARSE_SHORT;
		proto = bpf_ntohs(tag[1]);
		off += 4;
		p->vlans++;
	}
	p->l3_proto = proto;
	p->l3_off = off;
	if (proto == ETH_P_IP)
		return parse_ipv4(data, data_end, p);
	if (proto == ETH_P_IPV6)
		return parse_ipv6(data, data_end, p);
	return PARSE_NOT_IP;
}

#endif

/* Packet parsing for the endpoint programs: Ethernet with up to two VLAN tags (802.1Q, 802.1ad),
 * IPv4 (options skipped, fragments noted), IPv6 with its extension header chain (hop-by-hop,
 * routing, fragment, destination options, AH; a bounded walk), and the L4 headers policy and
 * conntrack need: TCP, UDP, SCTP ports, ICMP/ICMPv6 type, code and echo identifier, and for ICMP
 * errors the tuple of the packet they quote.
 *
 * Every read goes through bpf_skb_load_bytes at a computed offset rather than through direct
 * packet pointers: the offsets depend on option and extension header lengths, and a helper read
 * needs no proof of packet bounds from the verifier, in either engine. */
#ifndef TWINPATH_DP_PARSE_H
#define TWINPATH_DP_PARSE_H

#include "common.h"

/* IPv6 extension headers walked before giving up with DROP_INVALID_EXTHDR. */
#define IPV6_MAX_EXTHDRS 8

#define ICMP_ECHOREPLY 0
#define ICMP_DEST_UNREACH 3
#define ICMP_ECHO 8
#define ICMP_TIME_EXCEEDED 11
#define ICMP_PARAMETERPROB 12
#define ICMPV6_DEST_UNREACH 1
#define ICMPV6_PKT_TOOBIG 2
#define ICMPV6_TIME_EXCEED 3
#define ICMPV6_PARAMPROB 4
#define ICMPV6_ECHO_REQUEST 128
#define ICMPV6_ECHO_REPLY 129

/* Packet flags (struct packet.flags; the event carries the same bits). */
#define PKT_F_FRAGMENT 0x01   /* one fragment of a fragmented datagram (first or later) */
#define PKT_F_LATER_FRAG 0x02 /* a fragment other than the first: no L4 header of its own */
#define PKT_F_ICMP_ERROR 0x04 /* an ICMP error quoting another packet (inner is filled) */
#define PKT_F_VLAN 0x08       /* arrived with at least one VLAN tag */

struct packet {
	struct tuple tuple;   /* direction left 0: the pipeline fills it */
	struct tuple inner;   /* ICMP errors: the quoted packet's tuple as it was sent */
	__u32 len;            /* skb->len */
	__u32 frag_id;        /* IPv4 identification or IPv6 fragment header identification */
	__u16 ethertype;      /* after the VLAN tags, host order */
	__u16 vlan_id;        /* the outer tag's VLAN id */
	__u16 l3_off;
	__u16 l4_off;
	__u8 tcp_flags;
	__u8 icmp_type;
	__u8 icmp_code;
	__u8 flags;           /* PKT_F_* */
};

/* 0 or a drop reason. */
static __always_inline int load(struct __sk_buff *skb, __u32 off, void *to, __u32 len)
{
	return bpf_skb_load_bytes(skb, off, to, len) ? DROP_INVALID : 0;
}

static __always_inline int icmp_is_error(__u8 family, __u8 type)
{
	if (family == 4)
		return type == ICMP_DEST_UNREACH || type == ICMP_TIME_EXCEEDED || type == ICMP_PARAMETERPROB;
	return type == ICMPV6_DEST_UNREACH || type == ICMPV6_PKT_TOOBIG || type == ICMPV6_TIME_EXCEED ||
	       type == ICMPV6_PARAMPROB;
}

/* The tuple ports of an ICMP message: an echo request's identifier is its source "port" and an
 * echo reply's its destination "port", so a reply's reversed tuple is the request's tuple. Other
 * messages have no ports. */
static __always_inline void icmp_ports(struct tuple *t, __u8 type, __be16 id)
{
	__u8 request = t->family == 4 ? ICMP_ECHO : ICMPV6_ECHO_REQUEST;
	__u8 reply = t->family == 4 ? ICMP_ECHOREPLY : ICMPV6_ECHO_REPLY;

	if (type == request)
		t->sport = id;
	else if (type == reply)
		t->dport = id;
}

/* Ports of TCP, UDP and SCTP (all begin with source and destination port), or ICMP ports, read at
 * `off` into t. A quoted packet in an ICMP error may be cut short after 8 bytes of L4 header,
 * which is all this reads. */
static __always_inline int parse_ports(struct __sk_buff *skb, __u32 off, struct tuple *t)
{
	__u8 l4[8];

	if (t->protocol == IPPROTO_TCP || t->protocol == IPPROTO_UDP || t->protocol == IPPROTO_SCTP) {
		if (load(skb, off, l4, 4))
			return DROP_INVALID;
		__builtin_memcpy(&t->sport, &l4[0], 2);
		__builtin_memcpy(&t->dport, &l4[2], 2);
	} else if (t->protocol == (t->family == 4 ? IPPROTO_ICMP : IPPROTO_ICMPV6)) {
		__be16 id;

		if (load(skb, off, l4, 8))
			return DROP_INVALID;
		__builtin_memcpy(&id, &l4[4], 2);
		icmp_ports(t, l4[0], id);
	}
	return 0;
}

/* The packet an ICMP error quotes, starting at `off` (after the 8-byte ICMP header): its
 * addresses, protocol and ports, as the sender of that packet wrote them. Only the fixed IP
 * header is walked: the quote exists to find a conntrack entry, and the flows that can match one
 * carry no extension headers in practice. */
static __always_inline int parse_inner(struct __sk_buff *skb, __u32 off, struct packet *p)
{
	struct tuple *in = &p->inner;

	in->family = p->tuple.family;
	if (in->family == 4) {
		struct iphdr ip;

		if (load(skb, off, &ip, sizeof(ip)) || ip.version != 4 || ip.ihl < 5)
			return DROP_INVALID;
		in->saddr[0] = ip.saddr;
		in->daddr[0] = ip.daddr;
		in->protocol = ip.protocol;
		off += ip.ihl * 4;
	} else {
		struct ipv6hdr ip6;

		if (load(skb, off, &ip6, sizeof(ip6)) || ip6.version != 6)
			return DROP_INVALID;
		__builtin_memcpy(in->saddr, &ip6.saddr, 16);
		__builtin_memcpy(in->daddr, &ip6.daddr, 16);
		in->protocol = ip6.nexthdr;
		off += sizeof(ip6);
	}
	return parse_ports(skb, off, in);
}

/* The L4 header at p->l4_off: ports, TCP flags, ICMP type and code. */
static __always_inline int parse_l4(struct __sk_buff *skb, struct packet *p)
{
	struct tuple *t = &p->tuple;
	__u32 off = p->l4_off;

	if (p->flags & PKT_F_LATER_FRAG)
		return 0;
	if (t->protocol == IPPROTO_TCP) {
		struct tcphdr th;

		if (load(skb, off, &th, sizeof(th)) || th.doff < 5)
			return DROP_INVALID;
		t->sport = th.source;
		t->dport = th.dest;
		p->tcp_flags = ((__u8 *)&th)[13];
		return 0;
	}
	if (t->protocol == IPPROTO_UDP || t->protocol == IPPROTO_SCTP) {
		__u8 hdr[8];

		/* UDP's header is 8 bytes, SCTP's common header 12; the ports are what matter. */
		if (load(skb, off, hdr, 8))
			return DROP_INVALID;
		return parse_ports(skb, off, t);
	}
	if (t->protocol == (t->family == 4 ? IPPROTO_ICMP : IPPROTO_ICMPV6)) {
		__u8 ih[8];

		if (load(skb, off, ih, sizeof(ih)))
			return DROP_INVALID;
		p->icmp_type = ih[0];
		p->icmp_code = ih[1];
		if (icmp_is_error(t->family, ih[0])) {
			p->flags |= PKT_F_ICMP_ERROR;
			return parse_inner(skb, off + 8, p);
		}
		return parse_ports(skb, off, t);
	}
	/* Any other protocol has no ports here; conntrack refuses it (137). */
	return 0;
}

static __always_inline int parse_ipv4(struct __sk_buff *skb, struct packet *p)
{
	struct iphdr ip;
	__u16 frag;

	if (load(skb, p->l3_off, &ip, sizeof(ip)) || ip.version != 4 || ip.ihl < 5)
		return DROP_INVALID;
	p->tuple.family = 4;
	p->tuple.protocol = ip.protocol;
	p->tuple.saddr[0] = ip.saddr;
	p->tuple.daddr[0] = ip.daddr;
	p->l4_off = p->l3_off + ip.ihl * 4;
	frag = bpf_ntohs(ip.frag_off);
	/* More-fragments set, or a non-zero offset: one piece of a larger datagram. */
	if (frag & 0x3fff) {
		p->flags |= PKT_F_FRAGMENT;
		p->frag_id = bpf_ntohs(ip.id);
		if (frag & 0x1fff)
			p->flags |= PKT_F_LATER_FRAG;
	}
	return 0;
}

static __always_inline int ipv6_is_exthdr(__u8 nexthdr)
{
	return nexthdr == NEXTHDR_HOP || nexthdr == NEXTHDR_ROUTING || nexthdr == NEXTHDR_FRAGMENT ||
	       nexthdr == NEXTHDR_AUTH || nexthdr == NEXTHDR_DEST;
}

/* Walks the extension header chain to the upper-layer header. A chain longer than
 * IPV6_MAX_EXTHDRS, a "no next header", or a header that runs past the packet is an invalid
 * extension header (156), as in Cilium. */
static __always_inline int parse_ipv6(struct __sk_buff *skb, struct packet *p)
{
	struct ipv6hdr ip6;
	__u32 off = p->l3_off + sizeof(ip6);
	__u8 nexthdr;
	int i;

	if (load(skb, p->l3_off, &ip6, sizeof(ip6)) || ip6.version != 6)
		return DROP_INVALID;
	p->tuple.family = 6;
	__builtin_memcpy(p->tuple.saddr, &ip6.saddr, 16);
	__builtin_memcpy(p->tuple.daddr, &ip6.daddr, 16);
	nexthdr = ip6.nexthdr;

	for (i = 0; i < IPV6_MAX_EXTHDRS; i++) {
		__u8 ext[8];

		if (nexthdr == NEXTHDR_NONE)
			return DROP_INVALID_EXTHDR;
		if (!ipv6_is_exthdr(nexthdr))
			break;
		if (bpf_skb_load_bytes(skb, off, ext, sizeof(ext)))
			return DROP_INVALID_EXTHDR;
		if (nexthdr == NEXTHDR_FRAGMENT) {
			__u16 frag = (__u16)ext[2] << 8 | ext[3];
			__u32 id;

			__builtin_memcpy(&id, &ext[4], 4);
			p->flags |= PKT_F_FRAGMENT;
			p->frag_id = bpf_ntohl(id);
			if (frag & 0xfff8)
				p->flags |= PKT_F_LATER_FRAG;
			off += 8;
		} else if (nexthdr == NEXTHDR_AUTH) {
			off += ((__u32)ext[1] + 2) * 4;  /* AH counts 4-byte words, less 2 */
		} else {
			off += ((__u32)ext[1] + 1) * 8;  /* the others count 8-byte words, less 1 */
		}
		/* The whole header must be there, not only its first 8 bytes. */
		if (off > skb->len)
			return DROP_INVALID_EXTHDR;
		nexthdr = ext[0];
	}
	if (nexthdr == NEXTHDR_NONE || ipv6_is_exthdr(nexthdr))
		return DROP_INVALID_EXTHDR;
	p->tuple.protocol = nexthdr;
	p->l4_off = off;
	return 0;
}

/* Fills *p; 0 or a drop reason. A packet that is neither IPv4 nor IPv6 returns 0 with family 0
 * (the caller decides what to do with ARP and the rest). */
static __always_inline int parse_packet(struct __sk_buff *skb, struct packet *p)
{
	struct ethhdr eth;
	__u32 off = sizeof(eth);
	__u16 proto;
	int ret;

	p->len = skb->len;
	if (load(skb, 0, &eth, sizeof(eth)))
		return DROP_INVALID;
	proto = bpf_ntohs(eth.h_proto);
	for (int i = 0; i < 2; i++) {
		__be16 tag[2];

		if (proto != ETH_P_8021Q && proto != ETH_P_8021AD)
			break;
		if (load(skb, off, tag, sizeof(tag)))
			return DROP_INVALID;
		if (!(p->flags & PKT_F_VLAN))
			p->vlan_id = bpf_ntohs(tag[0]) & 0x0fff;
		p->flags |= PKT_F_VLAN;
		proto = bpf_ntohs(tag[1]);
		off += 4;
	}
	p->ethertype = proto;
	p->l3_off = off;
	if (proto == ETH_P_IP)
		ret = parse_ipv4(skb, p);
	else if (proto == ETH_P_IPV6)
		ret = parse_ipv6(skb, p);
	else
		return 0;
	if (ret)
		return ret;
	return parse_l4(skb, p);
}

#endif

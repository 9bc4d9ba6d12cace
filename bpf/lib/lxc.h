/* The per-packet pipeline of the two endpoint programs (Cilium's bpf_lxc): find the endpoint,
 * parse, resolve fragments, find the remote identity, classify by conntrack, decide by policy
 * when the flow is new, then count, report and return the verdict.
 *
 *   cil_from_container  traffic leaving the pod (tc ingress of the host-side veth): EGRESS policy
 *   cil_to_container    traffic arriving at the pod (tc egress of the host-side veth): INGRESS
 *
 * A packet on an interface that is no endpoint passes untouched, with an event saying so. ARP
 * passes without policy (a pod needs it to reach anything; Cilium answers or passes it too) and
 * so does IPv6 neighbour discovery; any other non-IP EtherType is dropped (139). */
#ifndef TWINPATH_DP_LXC_H
#define TWINPATH_DP_LXC_H

#include "common.h"
#include "parse.h"
#include "endpoint.h"
#include "ipcache.h"
#include "policy.h"
#include "conntrack.h"
#include "frag.h"
#include "events.h"
#include "metrics.h"

#define ICMPV6_ND_FIRST 133 /* router solicitation .. redirect (133-137) */
#define ICMPV6_ND_LAST 137

static __always_inline int finish(const struct packet *p, const struct decision *d)
{
	metrics_count(d->reason, d->direction, p->len);
	emit_flow(p, d);
	return d->reason ? TC_ACT_SHOT : TC_ACT_OK;
}

static __always_inline int is_neighbour_discovery(const struct packet *p)
{
	return p->tuple.family == 6 && p->tuple.protocol == IPPROTO_ICMPV6 &&
	       p->icmp_type >= ICMPV6_ND_FIRST && p->icmp_type <= ICMPV6_ND_LAST;
}

static __always_inline int handle_endpoint(struct __sk_buff *skb, __u8 direction)
{
	struct packet p = {};
	struct decision d = {};
	struct policy_verdict v = {};
	struct endpoint_info *ep;
	struct ct_entry *ct = NULL;
	__u32 remote;
	__u64 now;
	int parsed, ret;

	d.direction = direction;
	d.ifindex = endpoint_ifindex(skb);
	parsed = parse_packet(skb, &p);
	p.tuple.direction = direction;

	ep = endpoint_lookup(d.ifindex);
	if (!ep) {
		/* No policy here; report what the ipcache says about both ends, when it can. */
		if (!parsed && p.tuple.family) {
			d.src_identity = ipcache_identity(p.tuple.family, p.tuple.saddr);
			d.dst_identity = ipcache_identity(p.tuple.family, p.tuple.daddr);
		}
		d.flags = FLOW_F_NO_ENDPOINT;
		return finish(&p, &d);
	}
	d.endpoint_id = ep->endpoint_id;
	if (direction == DIR_EGRESS)
		d.src_identity = ep->identity;
	else
		d.dst_identity = ep->identity;
	if (parsed) {
		d.reason = parsed;
		return finish(&p, &d);
	}
	if (!p.tuple.family) {
		d.reason = p.ethertype == ETH_P_ARP ? 0 : DROP_UNKNOWN_L3;
		return finish(&p, &d);
	}

	ret = frag_handle(&p);
	if (ret) {
		d.reason = ret;
		return finish(&p, &d);
	}

	remote = ipcache_identity(p.tuple.family, direction == DIR_EGRESS ? p.tuple.daddr : p.tuple.saddr);
	if (direction == DIR_EGRESS)
		d.dst_identity = remote;
	else
		d.src_identity = remote;

	if (is_neighbour_discovery(&p))
		return finish(&p, &d);
	if (p.tuple.protocol != IPPROTO_TCP && p.tuple.protocol != IPPROTO_UDP &&
	    p.tuple.protocol != IPPROTO_SCTP &&
	    p.tuple.protocol != (p.tuple.family == 4 ? IPPROTO_ICMP : IPPROTO_ICMPV6)) {
		d.reason = DROP_CT_UNKNOWN_PROTO;
		return finish(&p, &d);
	}

	now = bpf_ktime_get_ns();
	d.ct_state = ct_lookup(&p, now, &ct);
	if (d.ct_state != CT_NEW) {
		if (ct) {
			d.rule_id = ct->rule_id;
			d.proxy_port = ct->proxy_port;
		}
		return finish(&p, &d);
	}

	ret = policy_check(ep->endpoint_id, direction, remote, p.tuple.protocol,
			   p.tuple.protocol == IPPROTO_ICMP || p.tuple.protocol == IPPROTO_ICMPV6
				   ? bpf_htons((__u16)p.icmp_type) : p.tuple.dport,
			   ep->flags & (direction == DIR_EGRESS ? EP_F_EGRESS_ENFORCED : EP_F_INGRESS_ENFORCED),
			   &v);
	d.rule_id = v.rule_id;
	d.proxy_port = v.proxy_port;
	d.policy_match = v.match;
	d.match_prefix = v.l4_prefix;
	if (!ret)
		ret = ct_create(&p, now, v.rule_id, v.proxy_port);
	d.reason = ret;
	return finish(&p, &d);
}

#endif

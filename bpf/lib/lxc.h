/* The per-packet pipeline of the datapath programs (Cilium's bpf_lxc, and bpf_host's ingress from
 * the network): find the endpoint, parse, resolve fragments, translate services, find the remote
 * identity, classify by conntrack, reverse-NAT replies of service flows, decide by policy when
 * the flow is new, then count, report and return the verdict.
 *
 *   cil_from_container  traffic leaving the pod (tc ingress of the host-side veth): service
 *                       translation (ClusterIP, NodePort, externalIP), then EGRESS policy against
 *                       the backend
 *   cil_to_container    traffic arriving at the pod (tc egress of the host-side veth): INGRESS
 *   cil_from_netdev     traffic arriving at the node from outside (tc ingress of its external
 *                       interface): NodePort and externalIP translation, then, when the
 *                       destination is a local endpoint, that endpoint's INGRESS policy by the
 *                       very code cil_to_container runs; any other destination passes
 *
 * A packet on an interface that is no endpoint passes untouched, with an event saying so. ARP
 * passes without policy (a pod needs it to reach anything; Cilium answers or passes it too) and
 * so does IPv6 neighbour discovery; any other non-IP EtherType is dropped (139) at an endpoint and
 * passed at the netdev (it is the host's). */
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
#include "service.h"

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

/* Everything after the endpoint is known, the packet parsed and its service translated: remote
 * identity, conntrack, policy for new flows; d says what was decided (the caller reverse-NATs a
 * reply of a service flow, counts and reports). One body for every program, so
 * cil_from_netdev's verdict for a local endpoint is the one cil_to_container would give.
 *
 * A global function (see svc_translate in lib/service.h): verified once on its own, which keeps
 * each program's verification far from the kernel's limits. */
__noinline int endpoint_verdict(struct packet *p, struct decision *d, __u32 ep_flags, __u64 now)
{
	struct policy_verdict v = {};
	struct ct_entry *ct = NULL;
	__u8 direction;
	__u32 remote;
	int ret;

	if (!p || !d)
		return 0;
	direction = d->direction;
	remote = ipcache_identity(p->tuple.family, direction == DIR_EGRESS ? p->tuple.daddr : p->tuple.saddr);
	if (direction == DIR_EGRESS)
		d->dst_identity = remote;
	else
		d->src_identity = remote;

	if (is_neighbour_discovery(p))
		return 0;
	if (p->tuple.protocol != IPPROTO_TCP && p->tuple.protocol != IPPROTO_UDP &&
	    p->tuple.protocol != IPPROTO_SCTP &&
	    p->tuple.protocol != (p->tuple.family == 4 ? IPPROTO_ICMP : IPPROTO_ICMPV6)) {
		d->reason = DROP_CT_UNKNOWN_PROTO;
		return 0;
	}

	d->ct_state = ct_lookup(p, now, &ct);
	if (d->ct_state != CT_NEW) {
		if (ct) {
			d->rule_id = ct->rule_id;
			d->proxy_port = ct->proxy_port;
			if (d->ct_state == CT_REPLY && ct->rev_nat) {
				d->lb.rev_nat = ct->rev_nat;
				d->lb.backend_id = ct->backend_id;
			}
		}
		/* An established service flow whose service entry was lost gets it back. */
		d->reason = svc_commit(p, &d->lb, now);
		return 0;
	}

	ret = policy_check(d->endpoint_id, direction, remote, p->tuple.protocol,
			   p->tuple.protocol == IPPROTO_ICMP || p->tuple.protocol == IPPROTO_ICMPV6
				   ? bpf_htons((__u16)p->icmp_type) : p->tuple.dport,
			   ep_flags & (direction == DIR_EGRESS ? EP_F_EGRESS_ENFORCED : EP_F_INGRESS_ENFORCED),
			   &v);
	d->rule_id = v.rule_id;
	d->proxy_port = v.proxy_port;
	d->policy_match = v.match;
	d->match_prefix = v.l4_prefix;
	if (!ret) {
		if (d->lb.xlate == LB_XLATE_DNAT)
			ret = ct_create(p, now, v.rule_id, v.proxy_port, d->lb.rev_nat, d->lb.backend_id);
		else
			ret = ct_create(p, now, v.rule_id, v.proxy_port, 0, 0);
	}
	if (!ret)
		ret = svc_commit(p, &d->lb, now);
	d->reason = ret;
	return 0;
}

/* The end of every endpoint verdict: reverse NAT of a service flow's reply, counters, event. */
static __always_inline int conclude(struct __sk_buff *skb, struct packet *p, struct decision *d)
{
	if (!d->reason && d->ct_state == CT_REPLY && d->lb.rev_nat && d->lb.xlate == LB_XLATE_NONE)
		d->reason = svc_rev_nat(skb, p, &d->lb);
	return finish(p, d);
}

/* cil_from_container (DIR_EGRESS) and cil_to_container (DIR_INGRESS). */
static __always_inline int handle_endpoint(struct __sk_buff *skb, __u8 direction)
{
	struct packet p = {};
	struct decision d = {};
	struct endpoint_info *ep;
	__u32 ep_flags;
	__u64 now;
	int parsed, ret;

	d.direction = direction;
	d.obs_point = direction == DIR_EGRESS ? OBS_FROM_ENDPOINT : OBS_TO_ENDPOINT;
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
	ep_flags = ep->flags;
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

	now = bpf_ktime_get_ns();
	if (direction == DIR_EGRESS) {
		ret = svc_translate(skb, &p, &d.lb, now, 0);
		if (ret) {
			d.reason = ret;
			return finish(&p, &d);
		}
	}
	endpoint_verdict(&p, &d, ep_flags, now);
	return conclude(skb, &p, &d);
}

/* cil_from_netdev: a packet from outside the node. */
static __always_inline int handle_netdev(struct __sk_buff *skb)
{
	struct packet p = {};
	struct decision d = {};
	struct endpoint_info *ep;
	__u32 ep_ifindex = 0, ep_flags;
	__u64 now;
	int ret;

	d.direction = DIR_INGRESS;
	d.obs_point = OBS_FROM_NETWORK;
	d.ifindex = endpoint_ifindex(skb);
	ret = parse_packet(skb, &p);
	p.tuple.direction = DIR_INGRESS;
	if (!ret && !p.tuple.family)
		d.flags = FLOW_F_NO_ENDPOINT; /* not IP: the host's business */
	if (!ret && p.tuple.family)
		ret = frag_handle(&p);
	if (ret || !p.tuple.family) {
		d.reason = ret;
		return finish(&p, &d);
	}

	now = bpf_ktime_get_ns();
	ret = svc_translate(skb, &p, &d.lb, now, 1);
	if (ret) {
		d.src_identity = ipcache_identity(p.tuple.family, p.tuple.saddr);
		d.reason = ret;
		return finish(&p, &d);
	}
	ep = endpoint_by_addr(p.tuple.family, p.tuple.daddr, &ep_ifindex);
	if (!ep) {
		/* Not for a local endpoint (the node itself, a backend elsewhere): it passes. */
		d.src_identity = ipcache_identity(p.tuple.family, p.tuple.saddr);
		d.dst_identity = ipcache_identity(p.tuple.family, p.tuple.daddr);
		d.flags = FLOW_F_NO_ENDPOINT;
		d.reason = svc_commit(&p, &d.lb, now);
		return finish(&p, &d);
	}
	d.endpoint_id = ep->endpoint_id;
	d.dst_identity = ep->identity;
	ep_flags = ep->flags;
	endpoint_verdict(&p, &d, ep_flags, now);
	return conclude(skb, &p, &d);
}

#endif

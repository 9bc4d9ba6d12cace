/* Flow events: one record per packet decision, forwarded or dropped, on a ring buffer, carrying
 * what Hubble shows for a flow (verdict, drop reason, direction, observation point, endpoint,
 * identities, matched rule, conntrack state, 5-tuple) and what `explain` needs (how the policy
 * lookup matched and the matched entry's prefix), and the service translation the packet went
 * through (frontend, backend id, reverse-NAT index, how the backend was chosen).
 * src/datapath/flow.ts decodes it.
 *
 * No timestamp: the two engines' clocks differ (the kernel's cannot be set), and the caller
 * knows when it ran the packet. */
#ifndef TWINPATH_DP_EVENTS_H
#define TWINPATH_DP_EVENTS_H

#include "common.h"
#include "parse.h"

#define VERDICT_FORWARDED 1
#define VERDICT_DROPPED 2

#define OBS_FROM_ENDPOINT 1 /* cil_from_container: the endpoint sent it */
#define OBS_TO_ENDPOINT 2   /* cil_to_container: on its way into the endpoint */
#define OBS_FROM_NETWORK 3  /* cil_from_netdev: arrived at the node from outside */

/* struct flow_event.lb_xlate: what the service translation did to the packet. */
#define LB_XLATE_NONE 0    /* nothing (svc_rev_nat != 0: a frontend matched but the packet dropped) */
#define LB_XLATE_DNAT 1    /* the destination, a frontend, was rewritten to a backend */
#define LB_XLATE_REV_NAT 2 /* a reply's source, a backend, was rewritten back to the frontend */

/* struct flow_event.flags: the packet's PKT_F_* bits, and */
#define FLOW_F_NO_ENDPOINT 0x80 /* the interface is no endpoint: passed without policy */

struct flow_event {
	__u8 verdict;       /* VERDICT_* */
	__u8 drop_reason;   /* 0 when forwarded */
	__u8 direction;     /* DIR_* */
	__u8 obs_point;     /* OBS_* */
	__u8 ct_state;      /* CT_NONE, CT_NEW, ... */
	__u8 family;        /* 4, 6, or 0 when not IP */
	__u8 protocol;
	__u8 tcp_flags;
	__u16 endpoint_id;  /* 0 when the interface is no endpoint */
	__u16 src_port;     /* host order; ICMP echo: the identifier (see parse.h) */
	__u16 dst_port;
	__u16 proxy_port;
	__u32 ifindex;
	__u32 src_identity;
	__u32 dst_identity;
	__u32 rule_id;
	__u32 length;       /* skb->len */
	__u8 is_reply;
	__u8 icmp_type;
	__u8 icmp_code;
	__u8 flags;         /* PKT_F_*, FLOW_F_* */
	__u8 policy_match;  /* MATCH_* (policy.h) */
	__u8 match_prefix;  /* the matched policy entry's l4_prefix */
	__u16 ethertype;    /* host order, after VLAN tags */
	__u16 vlan_id;
	__u16 pad;
	__u8 src[16];       /* IPv4 in the first four bytes */
	__u8 dst[16];
	/* Service translation. The 5-tuple above is the one policy and conntrack saw: the backend,
	 * for a request after DNAT and for a reply before reverse NAT. */
	__u8 svc_addr[16];  /* the frontend: a request's original destination, a reply's new source */
	__u32 backend_id;
	__u16 svc_port;     /* host order */
	__u16 rev_nat;      /* the frontend's reverse-NAT index; 0 when no frontend is involved */
	__u8 lb_xlate;      /* LB_XLATE_* */
	__u8 lb_sel;        /* LB_SEL_* (lib/lb.h): how the backend was chosen; 0 for a reply */
	__u16 svc_flags;    /* LB_SVC_F_* of the frontend (requests) */
	__u32 pad2;
};
_Static_assert(sizeof(struct flow_event) == 112, "struct flow_event is 112 bytes");
_Static_assert(__builtin_offsetof(struct flow_event, ifindex) == 16, "flow_event.ifindex at 16");
_Static_assert(__builtin_offsetof(struct flow_event, is_reply) == 36, "flow_event.is_reply at 36");
_Static_assert(__builtin_offsetof(struct flow_event, src) == 48, "flow_event.src at 48");
_Static_assert(__builtin_offsetof(struct flow_event, svc_addr) == 80, "flow_event.svc_addr at 80");
_Static_assert(__builtin_offsetof(struct flow_event, lb_xlate) == 104, "flow_event.lb_xlate at 104");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} cilium_events SEC(".maps");

/* The service translation of one packet, as the event reports it. */
struct lb_note {
	__u32 svc_addr[4];
	__u32 backend_id;
	__be16 svc_port;   /* network order */
	__u16 rev_nat;
	__u16 svc_flags;
	__u8 xlate;        /* LB_XLATE_* */
	__u8 sel;          /* LB_SEL_* */
};

/* Everything the pipeline decided about one packet, for the event and the counters. */
struct decision {
	__u32 ifindex;
	__u32 src_identity;
	__u32 dst_identity;
	__u32 rule_id;
	__u16 endpoint_id;
	__u16 proxy_port;
	__u8 reason;       /* 0 = forwarded */
	__u8 direction;
	__u8 ct_state;
	__u8 policy_match;
	__u8 match_prefix;
	__u8 flags;        /* FLOW_F_* */
	__u8 obs_point;    /* OBS_* */
	__u8 pad;
	struct lb_note lb;
};

/* A subprogram rather than inlined: its signature puts struct flow_event into the object's BTF,
 * where the TypeScript decoder's layout is checked against it. */
static __noinline void flow_event_fill(struct flow_event *ev, const struct packet *p, const struct decision *d)
{
	__builtin_memset(ev, 0, sizeof(*ev));
	ev->verdict = d->reason ? VERDICT_DROPPED : VERDICT_FORWARDED;
	ev->drop_reason = d->reason;
	ev->direction = d->direction;
	ev->obs_point = d->obs_point;
	ev->ct_state = d->ct_state;
	ev->family = p->tuple.family;
	ev->protocol = p->tuple.protocol;
	ev->tcp_flags = p->tcp_flags;
	ev->endpoint_id = d->endpoint_id;
	ev->src_port = bpf_ntohs(p->tuple.sport);
	ev->dst_port = bpf_ntohs(p->tuple.dport);
	ev->proxy_port = d->proxy_port;
	ev->ifindex = d->ifindex;
	ev->src_identity = d->src_identity;
	ev->dst_identity = d->dst_identity;
	ev->rule_id = d->rule_id;
	ev->length = p->len;
	ev->is_reply = d->ct_state == CT_REPLY;
	ev->icmp_type = p->icmp_type;
	ev->icmp_code = p->icmp_code;
	ev->flags = p->flags | d->flags;
	ev->policy_match = d->policy_match;
	ev->match_prefix = d->match_prefix;
	ev->ethertype = p->ethertype;
	ev->vlan_id = p->vlan_id;
	__builtin_memcpy(ev->src, p->tuple.saddr, 16);
	__builtin_memcpy(ev->dst, p->tuple.daddr, 16);
	__builtin_memcpy(ev->svc_addr, d->lb.svc_addr, 16);
	ev->backend_id = d->lb.backend_id;
	ev->svc_port = bpf_ntohs(d->lb.svc_port);
	ev->rev_nat = d->lb.rev_nat;
	ev->lb_xlate = d->lb.xlate;
	ev->lb_sel = d->lb.sel;
	ev->svc_flags = d->lb.svc_flags;
}

/* A full ring buffer loses the event, never the verdict. */
static __always_inline void emit_flow(const struct packet *p, const struct decision *d)
{
	struct flow_event *ev = bpf_ringbuf_reserve(&cilium_events, sizeof(*ev), 0);

	if (!ev)
		return;
	flow_event_fill(ev, p, d);
	bpf_ringbuf_submit(ev, 0);
}

#endif

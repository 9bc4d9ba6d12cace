/* Service translation in the endpoint datapath, as Cilium's bpf_lxc and bpf_host do it: a packet
 * to a service frontend (ClusterIP, NodePort on a node address, externalIP) is DNATed to a
 * backend before policy, so policy and conntrack see the backend; a reply of such a flow is
 * rewritten back to the frontend. The maps, the backend selection and the packet rewriting are
 * lib/lb.h's; this header keeps their state in the datapath's conntrack (lib/conntrack.h):
 *
 *   service entry  key: the tuple as the client sent it (to the frontend), direction
 *                  CT_DIR_SERVICE; value: the backend id and the frontend's reverse-NAT index.
 *                  An established flow keeps its backend through it, while that backend exists.
 *   flow entry     key: the translated tuple (to the backend), in the program's direction, made
 *                  when policy allows the flow; value: also the backend id and reverse-NAT index,
 *                  so a packet classified as its reply is rewritten back to the frontend.
 *
 * So the conntrack timeouts apply to the load balancer's state, and clearing conntrack clears it.
 * ClientIP affinity stays in lib/lb.h's own LRU maps: it outlives connections by design.
 *
 * Not translated: ICMP errors quoting a service flow (their inner packet keeps the backend), and a
 * pod reaching itself through its own service (Cilium needs a loopback SNAT for that). */
#ifndef TWINPATH_DP_SERVICE_H
#define TWINPATH_DP_SERVICE_H

/* The flat Maglev array: service groups x table size. 32 groups at the default size of 16381,
 * more with a smaller table (src/lb refuses a model that does not fit). */
#ifndef LB_MAGLEV_ENTRIES
#define LB_MAGLEV_ENTRIES (16381 * 32)
#endif

#include "common.h"
#include "parse.h"
#include "conntrack.h"
#include "events.h"
#include "lb.h"

static __always_inline void svc_tuple(struct lb_tuple *t, const struct tuple *in)
{
	__builtin_memcpy(t->saddr, in->saddr, 16);
	__builtin_memcpy(t->daddr, in->daddr, 16);
	t->sport = in->sport;
	t->dport = in->dport;
	t->protocol = in->protocol;
	t->family = in->family;
	t->pad = 0;
}

/* The service entry's key: the tuple with the frontend as destination. */
static __always_inline void svc_ct_key(struct tuple *key, const struct tuple *t, const __u32 fe_addr[4], __be16 fe_port)
{
	*key = *t;
	__builtin_memcpy(key->daddr, fe_addr, 16);
	key->dport = fe_port;
	key->direction = CT_DIR_SERVICE;
	key->pad = 0;
}

/* When p's destination is a frontend, choose its backend and DNAT p (packet and tuple), noting
 * what was done in *note. external: the packet arrived from outside the node, where only NodePort
 * and externalIP frontends exist (a ClusterIP is not reachable from there). Returns 0 (translated,
 * or not a frontend) or a drop reason: DROP_NO_SERVICE, DROP_NAT_UNSUPP_PROTO (SCTP port
 * rewrite), DROP_WRITE_ERROR.
 *
 * A global function, like endpoint_verdict() in lib/lxc.h: the kernel verifies it once, on its
 * own, rather than again for every path of its caller, which keeps the programs' verification
 * within bounds. Pointer arguments of a global function may be NULL as far as the verifier
 * knows, hence the checks. */
__noinline int svc_translate(struct __sk_buff *skb, struct packet *p, struct lb_note *note, __u64 now, int external)
{
	/* The service entry's key and the load balancer's tuple are needed one after the other:
	 * sharing their stack keeps this frame and its caller's within the kernel's 512 bytes. */
	union {
		struct tuple key;
		struct lb_tuple t;
	} u;
	struct lb_result res = {};
	struct lb_service *svc;
	struct ct_entry *se;
	__be32 be_addr[4] = {};
	__be16 be_port = 0;
	__u32 remembered = 0;
	int ret;

	if (!p || !note)
		return 0;
	if ((p->flags & PKT_F_ICMP_ERROR) || !lb_l4_supported(p->tuple.protocol))
		return 0;
	svc_tuple(&u.t, &p->tuple);
	svc = lb_lookup_service(&u.t);
	if (!svc)
		return 0;
	if (external && !(svc->flags & (LB_SVC_F_NODE_PORT | LB_SVC_F_EXTERNAL_IP)))
		return 0;
	__builtin_memcpy(note->svc_addr, p->tuple.daddr, 16);
	note->svc_port = p->tuple.dport;
	note->rev_nat = svc->rev_nat;
	note->svc_flags = svc->flags;

	svc_ct_key(&u.key, &p->tuple, p->tuple.daddr, p->tuple.dport);
	se = ct_find(&u.key, now);
	if (se && ct_reopens(se, p)) {
		/* The tuple is reused for a new connection: it is balanced afresh. */
		bpf_map_delete_elem(&cilium_ct_global, &u.key);
		se = NULL;
	}
	if (se && se->rev_nat == svc->rev_nat)
		remembered = se->backend_id;

	svc_tuple(&u.t, &p->tuple);
	ret = lb_select(svc, &u.t, now, remembered, be_addr, &be_port, &res);
	if (ret == LB_ERR_SCTP_PORT)
		return DROP_NAT_UNSUPP_PROTO;
	if (ret)
		return DROP_NO_SERVICE;
	if (se && res.how == LB_SEL_CT)
		ct_account(se, p, 0, now);
	if (lb_dnat(skb, p->l3_off, p->l4_off, !(p->flags & PKT_F_LATER_FRAG), &u.t, be_addr, be_port))
		return DROP_WRITE_ERROR;
	__builtin_memcpy(p->tuple.daddr, be_addr, 16);
	p->tuple.dport = be_port;
	note->backend_id = res.backend_id;
	note->sel = res.how;
	note->xlate = LB_XLATE_DNAT;
	return 0;
}

/* After a translated packet was forwarded: a service entry for its flow when the backend was
 * chosen afresh (by affinity or Maglev), so the flow keeps it. 0 or DROP_CT_CREATE_FAILED. */
static __always_inline int svc_commit(const struct packet *p, const struct lb_note *note, __u64 now)
{
	struct tuple key;

	if (note->xlate != LB_XLATE_DNAT || note->sel == LB_SEL_CT)
		return 0;
	svc_ct_key(&key, &p->tuple, note->svc_addr, note->svc_port);
	return ct_create_at(&key, p, now, 0, 0, note->rev_nat, note->backend_id);
}

/* A reply of a translated flow (its conntrack entry carries a reverse-NAT index, which the
 * pipeline put in note->rev_nat, and the backend id): rewrite its source from the backend back to
 * the frontend. p's tuple stays the backend's (the event reports it and the frontend apart). A
 * frontend that no longer exists leaves the packet as it is. 0 or DROP_WRITE_ERROR. A global
 * function (see svc_translate). */
__noinline int svc_rev_nat(struct __sk_buff *skb, const struct packet *p, struct lb_note *note)
{
	__be32 fe_addr[4] = {};
	__be16 fe_port = 0;
	struct lb_tuple t;
	__u16 rev_nat;

	if (!p || !note)
		return 0;
	rev_nat = note->rev_nat;
	if (!rev_nat || (p->flags & PKT_F_ICMP_ERROR) || !lb_l4_supported(p->tuple.protocol))
		return 0;
	if (!lb_lookup_rev_nat(p->tuple.family, rev_nat, fe_addr, &fe_port))
		return 0;
	svc_tuple(&t, &p->tuple);
	if (lb_snat_back(skb, p->l3_off, p->l4_off, !(p->flags & PKT_F_LATER_FRAG), &t, fe_addr, fe_port))
		return DROP_WRITE_ERROR;
	__builtin_memcpy(note->svc_addr, fe_addr, 16);
	note->svc_port = fe_port;
	note->xlate = LB_XLATE_REV_NAT;
	return 0;
}

#endif

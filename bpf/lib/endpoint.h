/* The endpoints map: which interface is which endpoint. One object serves every endpoint on a
 * node, so the program finds its endpoint by the interface it runs on.
 *
 * In the kernel that is skb->ifindex (the host-side veth). A simulated run (BPF_PROG_TEST_RUN,
 * or the VM) cannot run on an arbitrary ifindex: the kernel's test run refuses ifindexes of
 * devices that do not exist. So a simulated run names its interface in skb->cb[0] and marks that
 * with ENDPOINT_SIM_MARKER in cb[1]; real traffic does not carry the marker, and the program uses
 * skb->ifindex. The marker makes the rule safe whatever earlier layers left in cb: a stray cb[0]
 * alone would otherwise pick another endpoint's policy.
 *
 * Traffic from outside the node (cil_from_netdev) is not on an endpoint's interface: it finds its
 * endpoint by destination address, through cilium_lxc (address -> the endpoint's ifindex), as
 * Cilium's bpf_host does through its own cilium_lxc map. */
#ifndef TWINPATH_DP_ENDPOINT_H
#define TWINPATH_DP_ENDPOINT_H

#include "common.h"

#define ENDPOINT_SIM_MARKER 0x74706966 /* "tpif" */

#define EP_F_INGRESS_ENFORCED 0x1 /* some policy isolates the endpoint for ingress */
#define EP_F_EGRESS_ENFORCED 0x2  /* ... for egress */

struct endpoint_info {
	__u32 endpoint_id;  /* 1..65535 */
	__u32 identity;     /* the endpoint's security identity */
	__u32 flags;        /* EP_F_* */
	__u32 ipv4;         /* network order; 0 when none (informational: policy uses identities) */
	__u8 ipv6[16];      /* all zero when none */
};
_Static_assert(sizeof(struct endpoint_info) == 32, "struct endpoint_info is 32 bytes");
_Static_assert(__builtin_offsetof(struct endpoint_info, ipv6) == 16, "endpoint_info.ipv6 at 16");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32); /* ifindex */
	__type(value, struct endpoint_info);
} cilium_endpoints SEC(".maps");

/* cilium_lxc: one entry per address of a local endpoint. */
struct endpoint_key {
	__u8 family;    /* 4 or 6 */
	__u8 pad[3];
	__u32 addr[4];  /* network order; IPv4 in addr[0] */
};
_Static_assert(sizeof(struct endpoint_key) == 20, "struct endpoint_key is 20 bytes");

struct endpoint_ref {
	__u32 ifindex;  /* the endpoint's key in cilium_endpoints */
};
_Static_assert(sizeof(struct endpoint_ref) == 4, "struct endpoint_ref is 4 bytes");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2048);
	__type(key, struct endpoint_key);
	__type(value, struct endpoint_ref);
} cilium_lxc SEC(".maps");

static __always_inline __u32 endpoint_ifindex(struct __sk_buff *skb)
{
	if (skb->cb[1] == ENDPOINT_SIM_MARKER && skb->cb[0] != 0)
		return skb->cb[0];
	return skb->ifindex;
}

static __always_inline struct endpoint_info *endpoint_lookup(__u32 ifindex)
{
	return bpf_map_lookup_elem(&cilium_endpoints, &ifindex);
}

/* The local endpoint that owns an address (and its ifindex), or NULL. */
static __always_inline struct endpoint_info *endpoint_by_addr(__u8 family, const __u32 *addr, __u32 *ifindex)
{
	struct endpoint_key key = { .family = family };
	struct endpoint_ref *ref;

	if (family == 4)
		key.addr[0] = addr[0];
	else
		__builtin_memcpy(key.addr, addr, 16);
	ref = bpf_map_lookup_elem(&cilium_lxc, &key);
	if (!ref)
		return NULL;
	*ifindex = ref->ifindex;
	return endpoint_lookup(ref->ifindex);
}

#endif

/* The policy map: for each endpoint and direction, which remote identities may send or receive
 * which protocol and destination port, and which are denied.
 *
 * One LPM trie holds every endpoint's policy. Its key begins with the endpoint id and the
 * direction, then the remote identity, all always matched (POLICY_STATIC_PREFIX bits), then the
 * protocol (8 bits) and the destination port (16 bits, network order) as the prefix part. So an
 * entry matches any protocol (prefix 72), one protocol and any port (80), or one protocol and an
 * aligned block of ports (80 + N, 96 for one port): a port range costs one entry per aligned
 * block. Identity 0 in a key means any remote identity.
 *
 * A packet is looked up twice, with its remote identity and with identity 0. A deny in either
 * wins (181); otherwise an allow (the exact identity's entry reported first); otherwise the
 * default deny (133) when the endpoint is isolated in that direction, or allow when it is not.
 * This relies on one precondition the policy compiler guarantees: no allow entry lies wholly
 * inside a deny entry of the same or the wildcard identity, so the longest match of each lookup
 * never hides a deny behind a more specific allow.
 *
 * For ICMP and ICMPv6 the "port" is the message type, in the port's byte position (network order
 * u16), as Cilium's ICMP rules do. */
#ifndef TWINPATH_DP_POLICY_H
#define TWINPATH_DP_POLICY_H

#include "common.h"

#define POLICY_STATIC_PREFIX 72 /* endpoint id 16, direction 8, pad 8, identity 32, pad 8 */
#define POLICY_FULL_PREFIX 96   /* + protocol 8 + port 16 */

#define POLICY_F_DENY 0x1

/* How a verdict was reached (struct flow_event.policy_match). */
#define MATCH_NONE 0       /* no policy lookup (conntrack, not an endpoint, not IP, invalid) */
#define MATCH_EXACT 1      /* an entry for the remote identity */
#define MATCH_WILDCARD 2   /* an entry for any identity (0) */
#define MATCH_UNENFORCED 3 /* no entry, and the endpoint is not isolated in this direction */
#define MATCH_DEFAULT 4    /* no entry: default deny */

struct policy_key {
	__u32 prefixlen;
	__u16 endpoint_id;
	__u8 direction; /* DIR_* */
	__u8 pad0;
	__u32 identity; /* remote identity; 0 = any */
	__u8 pad1;
	__u8 protocol;  /* 0 = any */
	__be16 dport;
};
_Static_assert(sizeof(struct policy_key) == 16, "struct policy_key is 16 bytes");
_Static_assert(__builtin_offsetof(struct policy_key, identity) == 8, "policy_key.identity at 8");
_Static_assert(__builtin_offsetof(struct policy_key, protocol) == 13, "policy_key.protocol at 13");
_Static_assert(__builtin_offsetof(struct policy_key, dport) == 14, "policy_key.dport at 14");

struct policy_entry {
	__u32 rule_id;    /* the rule the entry came from (0: added by the compiler itself) */
	__u16 proxy_port; /* host order; 0 = no redirect */
	__u8 flags;       /* POLICY_F_* */
	__u8 l4_prefix;   /* the entry's prefix beyond the static part: 0, 8, or 8 + port bits */
};
_Static_assert(sizeof(struct policy_entry) == 8, "struct policy_entry is 8 bytes");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct policy_key);
	__type(value, struct policy_entry);
} cilium_policy_v2 SEC(".maps");

struct policy_verdict {
	__u32 rule_id;
	__u16 proxy_port;
	__u8 match;     /* MATCH_* */
	__u8 l4_prefix; /* of the matched entry */
};

static __always_inline void policy_take(struct policy_verdict *v, const struct policy_entry *e, __u8 match)
{
	v->rule_id = e->rule_id;
	v->proxy_port = e->proxy_port;
	v->l4_prefix = e->l4_prefix;
	v->match = match;
}

/* 0 (allowed) or a drop reason; *v says which entry decided. */
static __always_inline int policy_check(__u16 endpoint_id, __u8 direction, __u32 remote, __u8 protocol,
					__be16 dport, int enforced, struct policy_verdict *v)
{
	struct policy_key key = {
		.prefixlen = POLICY_FULL_PREFIX,
		.endpoint_id = endpoint_id,
		.direction = direction,
		.identity = remote,
		.protocol = protocol,
		.dport = dport,
	};
	struct policy_entry *exact, *any;

	exact = bpf_map_lookup_elem(&cilium_policy_v2, &key);
	key.identity = IDENTITY_ANY;
	any = bpf_map_lookup_elem(&cilium_policy_v2, &key);

	if (exact && (exact->flags & POLICY_F_DENY)) {
		policy_take(v, exact, MATCH_EXACT);
		return DROP_POLICY_DENY;
	}
	if (any && (any->flags & POLICY_F_DENY)) {
		policy_take(v, any, MATCH_WILDCARD);
		return DROP_POLICY_DENY;
	}
	if (exact) {
		policy_take(v, exact, MATCH_EXACT);
		return 0;
	}
	if (any) {
		policy_take(v, any, MATCH_WILDCARD);
		return 0;
	}
	v->match = enforced ? MATCH_DEFAULT : MATCH_UNENFORCED;
	return enforced ? DROP_POLICY : 0;
}

#endif

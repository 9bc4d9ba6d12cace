/* Definitions every part of the endpoint datapath shares: system includes, protocol numbers the
 * UAPI headers cannot give us on the BPF target, directions, reserved identities, Cilium's drop
 * reason numbers, and the 5-tuple that conntrack, fragments and events all speak.
 *
 * Numbers that TypeScript mirrors (src/datapath/maps.ts, flow.ts) are checked there against this
 * object's BTF, so a change here that is not made there fails a test rather than a packet. */
#ifndef TWINPATH_DP_COMMON_H
#define TWINPATH_DP_COMMON_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* <linux/in.h> and <linux/icmp.h> pull in libc's socket headers, which do not build for the BPF
 * target, so the IANA numbers used here are spelled out. */
#define IPPROTO_ICMP 1
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define IPPROTO_ICMPV6 58
#define IPPROTO_SCTP 132

#define NEXTHDR_HOP 0
#define NEXTHDR_ROUTING 43
#define NEXTHDR_FRAGMENT 44
#define NEXTHDR_AUTH 51
#define NEXTHDR_NONE 59
#define NEXTHDR_DEST 60

#ifndef ETH_P_8021Q
#define ETH_P_8021Q 0x8100
#endif
#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif
#ifndef ETH_P_ARP
#define ETH_P_ARP 0x0806
#endif

/* Traffic direction as the endpoint sees it; also the low bit of a metrics index. */
#define DIR_INGRESS 0
#define DIR_EGRESS 1
/* struct tuple.direction of a conntrack entry that remembers a service flow's backend, keyed by
 * the flow's tuple as the client sent it (to the frontend): see lib/service.h. */
#define CT_DIR_SERVICE 2

/* Reserved identities, numbered as Cilium numbers them. */
#define IDENTITY_ANY 0   /* in a policy key: any remote identity */
#define IDENTITY_WORLD 2 /* an address the ipcache does not know */

/* Drop reasons: Cilium's numbers (pkg/monitor/api, flow.proto DropReason), so a person who knows
 * Cilium's monitor output reads ours the same way. 0 means forwarded. */
#define REASON_FORWARDED 0
#define DROP_POLICY 133           /* Policy denied */
#define DROP_INVALID 134          /* Invalid packet */
#define DROP_CT_UNKNOWN_PROTO 137 /* CT: Unknown L4 protocol */
#define DROP_UNKNOWN_L3 139       /* Unsupported L3 protocol */
#define DROP_WRITE_ERROR 141      /* Failed to write or cast packet (a service translation failed) */
#define DROP_CT_CREATE_FAILED 155 /* CT: Map insertion failed */
#define DROP_INVALID_EXTHDR 156   /* Invalid IPv6 extension header */
#define DROP_NO_SERVICE 158       /* Service backend not found */
#define DROP_NAT_UNSUPP_PROTO 168 /* Unsupported protocol for NAT masquerade (SCTP port rewrite) */
#define DROP_FRAG_NOT_FOUND 175   /* First logical datagram fragment not found */
#define DROP_POLICY_DENY 181      /* Policy denied by denylist */

/* A connection's 5-tuple as the packet carries it, plus the direction of the program that saw it.
 * Addresses are network order; IPv4 uses the first word. It is the conntrack key as it is, the
 * first half of the fragment key, and what flow events report. */
struct tuple {
	__u32 saddr[4];
	__u32 daddr[4];
	__be16 sport;
	__be16 dport;
	__u8 protocol;
	__u8 family; /* 4 or 6 */
	__u8 direction; /* DIR_*: the program that created (or looks up) the entry; CT_DIR_SERVICE */
	__u8 pad;
};
_Static_assert(sizeof(struct tuple) == 40, "struct tuple is 40 bytes (src/datapath/maps.ts)");
_Static_assert(__builtin_offsetof(struct tuple, sport) == 32, "tuple.sport at 32");
_Static_assert(__builtin_offsetof(struct tuple, protocol) == 36, "tuple.protocol at 36");

#endif

/* The ipcache: address -> security identity, by longest prefix, IPv4 and IPv6 in one LPM trie.
 * The key starts with the address family (one byte, padded to four) so that the two families
 * never share a prefix: an entry's prefix length is 32 + the address prefix. An address no entry
 * covers is `world` (2). */
#ifndef TWINPATH_DP_IPCACHE_H
#define TWINPATH_DP_IPCACHE_H

#include "common.h"

#define IPCACHE_STATIC_PREFIX 32 /* family + pad, always matched */

struct ipcache_key {
	__u32 prefixlen;
	__u8 family;   /* 4 or 6 */
	__u8 pad[3];
	__u32 addr[4]; /* network order; IPv4 in addr[0] */
};
_Static_assert(sizeof(struct ipcache_key) == 24, "struct ipcache_key is 24 bytes");
_Static_assert(__builtin_offsetof(struct ipcache_key, addr) == 8, "ipcache_key.addr at 8");

struct ipcache_value {
	__u32 identity;
};
_Static_assert(sizeof(struct ipcache_value) == 4, "struct ipcache_value is 4 bytes");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ipcache_key);
	__type(value, struct ipcache_value);
} cilium_ipcache SEC(".maps");

static __always_inline __u32 ipcache_identity(__u8 family, const __u32 *addr)
{
	struct ipcache_key key = {
		.prefixlen = IPCACHE_STATIC_PREFIX + (family == 4 ? 32 : 128),
		.family = family,
	};
	struct ipcache_value *v;

	if (family == 4)
		key.addr[0] = addr[0];
	else
		__builtin_memcpy(key.addr, addr, 16);
	v = bpf_map_lookup_elem(&cilium_ipcache, &key);
	return v ? v->identity : IDENTITY_WORLD;
}

#endif

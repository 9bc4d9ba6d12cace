/* Counters of packets and bytes per drop reason and direction, in a PERCPU_ARRAY indexed by
 * reason * 2 + direction (reason 0 = forwarded), as Cilium's metrics map counts them. */
#ifndef TWINPATH_DP_METRICS_H
#define TWINPATH_DP_METRICS_H

#include "common.h"

#define METRICS_ENTRIES (256 * 2)

struct metrics_value {
	__u64 packets;
	__u64 bytes;
};
_Static_assert(sizeof(struct metrics_value) == 16, "struct metrics_value is 16 bytes");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, METRICS_ENTRIES);
	__type(key, __u32);
	__type(value, struct metrics_value);
} cilium_metrics SEC(".maps");

static __always_inline void metrics_count(__u8 reason, __u8 direction, __u32 len)
{
	__u32 idx = (__u32)reason * 2 + (direction & 1);
	struct metrics_value *v = bpf_map_lookup_elem(&cilium_metrics, &idx);

	/* Per CPU: no other CPU writes this copy, so plain additions suffice. */
	if (v) {
		v->packets += 1;
		v->bytes += len;
	}
}

#endif

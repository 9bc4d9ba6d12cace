/* Declarations shared by the helper files. */
#ifndef TWINPATH_HELPERS_H
#define TWINPATH_HELPERS_H

#include "vm.h"
#include "maps.h"

/* Checks that a helper's memory argument is memory the program may touch; on failure the run
 * stops with VM_ERR_OOB_ACCESS at the call, and the helper must return at once. */
int helper_mem(struct vm_state *st, u64 addr, u64 size, u32 access);
/* The map a program passed, or NULL after stopping the run. */
struct vm_map *helper_map(struct vm_state *st, u64 addr);

#define HELPER(name) u64 name(struct vm_state *st, u64 a1, u64 a2, u64 a3, u64 a4, u64 a5)
void vm_helpers_reset(void);
HELPER(vm_h_trace_printk);
HELPER(vm_h_csum_diff);
HELPER(vm_h_skb_load_bytes);
HELPER(vm_h_skb_store_bytes);
HELPER(vm_h_l3_csum_replace);
HELPER(vm_h_l4_csum_replace);
HELPER(vm_h_csum_update);
HELPER(vm_h_skb_pull_data);
HELPER(vm_h_skb_change_head);
HELPER(vm_h_skb_change_tail);
HELPER(vm_h_skb_adjust_room);
HELPER(vm_h_skb_vlan_push);
HELPER(vm_h_skb_vlan_pop);
HELPER(vm_h_get_hash_recalc);
HELPER(vm_h_xdp_adjust_head);
HELPER(vm_h_xdp_adjust_tail);
HELPER(vm_h_xdp_adjust_meta);

#endif

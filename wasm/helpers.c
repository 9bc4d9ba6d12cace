/* Helper functions by UAPI id (enum bpf_func_id), and which hooks may call each. A program is
 * loaded against the helper set of its hook; a call to a helper the set lacks is refused at load.
 * The packet helpers live in helpers_pkt.c; this file has the table and the rest. Every pointer
 * a program hands a helper is checked like the program's own accesses. */
#include "vm.h"
#include "maps.h"
#include "helpers.h"
#include <linux/bpf.h>

int helper_mem(struct vm_state *st, u64 addr, u64 size, u32 access) {
  u32 need = access == VM_ACCESS_WRITE ? VM_REGION_WRITE : VM_REGION_READ;
  if (size == 0) return 1;
  if (size > 0xffffffffull || !vm_mem_ok(st, addr, (u32)size, need)) {
    vm_helper_fault(st, addr, (u32)size, access);
    return 0;
  }
  return 1;
}

struct vm_map *helper_map(struct vm_state *st, u64 addr) {
  struct vm_map *m = vm_map_from_ptr(addr);
  if (!m) {
    vm_report.detail = (u32)addr;
    st->status = VM_ERR_BAD_CALL_TARGET;
  }
  return m;
}

/* The conformance suite's helper 5: returns its argument, and when the argument is 0 it ends the
 * whole program with r0 = 0 (an "unwind"). */
static u64 conformance_unwind(struct vm_state *st, u64 a1, u64 a2, u64 a3, u64 a4, u64 a5) {
  (void)a2; (void)a3; (void)a4; (void)a5;
  if (a1 == 0) {
    st->stop = 1;
    st->stop_r0 = 0;
  }
  return a1;
}

/* --- maps --------------------------------------------------------------------------------- */

/* The verifier allows only some helpers on the redirect maps: bpf_redirect_map, and lookups of
 * DEVMAP, DEVMAP_HASH and XSKMAP (no program reads a CPUMAP, or writes any of them). The VM
 * knows the map only when the helper runs, so a refused pairing stops the run there. */
static int is_redirect_map(const struct vm_map *m) {
  return m->type == VM_MAP_DEVMAP || m->type == VM_MAP_DEVMAP_HASH || m->type == VM_MAP_CPUMAP ||
         m->type == VM_MAP_XSKMAP;
}

static int map_helper_ok(struct vm_state *st, const struct vm_map *m, u32 func) {
  int ok;
  if (func == BPF_FUNC_redirect_map) ok = is_redirect_map(m);
  else if (!is_redirect_map(m)) ok = 1;
  else ok = func == BPF_FUNC_map_lookup_elem && m->type != VM_MAP_CPUMAP;
  if (!ok) {
    vm_report.detail = func | (m->type << 16);
    st->status = VM_ERR_MAP_HELPER;
  }
  return ok;
}

static u64 h_map_lookup_elem(struct vm_state *st, u64 map, u64 key, u64 a3, u64 a4, u64 a5) {
  struct vm_map *m = helper_map(st, map);
  if (!m || !map_helper_ok(st, m, BPF_FUNC_map_lookup_elem) || !helper_mem(st, key, m->key_size, VM_ACCESS_READ)) return 0;
  return (u64)(uptr)m->ops->lookup(m, (const void *)(uptr)key);
}

static u64 h_map_update_elem(struct vm_state *st, u64 map, u64 key, u64 value, u64 flags, u64 a5) {
  struct vm_map *m = helper_map(st, map);
  if (m && !map_helper_ok(st, m, BPF_FUNC_map_update_elem)) return 0;
  if (!m || !helper_mem(st, key, m->key_size, VM_ACCESS_READ) ||
      !helper_mem(st, value, m->value_size, VM_ACCESS_READ))
    return 0;
  return (u64)(s64)m->ops->update(m, (const void *)(uptr)key, (const void *)(uptr)value, flags);
}

static u64 h_map_delete_elem(struct vm_state *st, u64 map, u64 key, u64 a3, u64 a4, u64 a5) {
  struct vm_map *m = helper_map(st, map);
  if (m && !map_helper_ok(st, m, BPF_FUNC_map_delete_elem)) return 0;
  if (!m || !helper_mem(st, key, m->key_size, VM_ACCESS_READ)) return 0;
  return (u64)(s64)m->ops->delete(m, (const void *)(uptr)key);
}

static u64 h_map_push_elem(struct vm_state *st, u64 map, u64 value, u64 flags, u64 a4, u64 a5) {
  struct vm_map *m = helper_map(st, map);
  if (m && !map_helper_ok(st, m, BPF_FUNC_map_push_elem)) return 0;
  if (!m || !helper_mem(st, value, m->value_size, VM_ACCESS_READ)) return 0;
  if (!m->ops->push) return (u64)(s64)-VM_EINVAL;
  return (u64)(s64)m->ops->push(m, (const void *)(uptr)value, flags);
}

static u64 h_map_pop_elem(struct vm_state *st, u64 map, u64 value, u64 a3, u64 a4, u64 a5) {
  struct vm_map *m = helper_map(st, map);
  if (m && !map_helper_ok(st, m, BPF_FUNC_map_pop_elem)) return 0;
  if (!m || !helper_mem(st, value, m->value_size, VM_ACCESS_WRITE)) return 0;
  if (!m->ops->pop) return (u64)(s64)-VM_EINVAL;
  return (u64)(s64)m->ops->pop(m, (void *)(uptr)value);
}

static u64 h_map_peek_elem(struct vm_state *st, u64 map, u64 value, u64 a3, u64 a4, u64 a5) {
  struct vm_map *m = helper_map(st, map);
  if (m && !map_helper_ok(st, m, BPF_FUNC_map_peek_elem)) return 0;
  if (!m || !helper_mem(st, value, m->value_size, VM_ACCESS_WRITE)) return 0;
  if (!m->ops->peek) return (u64)(s64)-VM_EINVAL;
  return (u64)(s64)m->ops->peek(m, (void *)(uptr)value);
}

/* bpf_for_each_map_elem(map, callback, ctx, flags): callback(map, &key, &value, ctx) for each
 * element until it returns non-zero; returns how many elements it saw. The key is handed over in
 * a scratch area registered as a read-only region for the callback's duration. */
static u8 key_scratch[512] __attribute__((aligned(8)));
static u8 next_scratch[512] __attribute__((aligned(8)));

static u64 h_for_each_map_elem(struct vm_state *st, u64 map, u64 fn, u64 ctx, u64 flags, u64 a5) {
  struct vm_map *m = helper_map(st, map);
  if (m && !map_helper_ok(st, m, BPF_FUNC_for_each_map_elem)) return 0;
  if (!m) return 0;
  if (flags) return (u64)(s64)-VM_EINVAL;
  if ((fn >> 32) != VM_FUNC_TAG || m->key_size > sizeof key_scratch || !m->ops->get_next_key) {
    st->status = VM_ERR_BAD_CALL_TARGET;
    vm_report.detail = (u32)fn;
    return 0;
  }
  struct vm_run_config *cfg = st->cfg;
  if (cfg->n_regions >= VM_MAX_REGIONS) return (u64)(s64)-VM_E2BIG;
  u32 slot = cfg->n_regions++;
  cfg->regions[slot] = (struct vm_region){(u32)(uptr)key_scratch, m->key_size, VM_REGION_STACK, VM_REGION_READ};
  u64 seen = 0;
  s32 r = m->ops->get_next_key(m, NULL, key_scratch);
  while (r == 0) {
    void *value = m->ops->lookup(m, key_scratch);
    /* get the next key before the callback, which may delete the current one */
    s32 next = m->ops->get_next_key(m, key_scratch, next_scratch);
    if (value) {
      u64 ret = 0;
      seen++;
      if (vm_call_function(st, (u32)fn, map, (u64)(uptr)key_scratch, (u64)(uptr)value, ctx, 0, &ret) != VM_OK) {
        st->status = vm_report.status;
        break;
      }
      if (ret) break;
    }
    if (next != 0) break;
    vm_memcpy(key_scratch, next_scratch, m->key_size);
    r = 0;
  }
  cfg->n_regions = slot;
  return seen;
}

/* bpf_loop(nr, callback, ctx, flags): callback(i, ctx) for i < nr until it returns non-zero;
 * returns the number of calls made. */
static u64 h_loop(struct vm_state *st, u64 nr, u64 fn, u64 ctx, u64 flags, u64 a5) {
  if (flags) return (u64)(s64)-VM_EINVAL;
  if (nr > (1u << 23)) return (u64)(s64)-VM_E2BIG;
  if ((fn >> 32) != VM_FUNC_TAG) {
    st->status = VM_ERR_BAD_CALL_TARGET;
    vm_report.detail = (u32)fn;
    return 0;
  }
  for (u64 k = 0; k < nr; k++) {
    u64 ret = 0;
    if (vm_call_function(st, (u32)fn, k, ctx, 0, 0, 0, &ret) != VM_OK) {
      st->status = vm_report.status;
      return 0;
    }
    if (ret) return k + 1;
  }
  return nr;
}

/* bpf_tail_call(ctx, prog_array, index): on success the program does not come back. */
static u64 h_tail_call(struct vm_state *st, u64 ctx, u64 map, u64 index, u64 a4, u64 a5) {
  struct vm_map *m = helper_map(st, map);
  if (!m) return 0;
  if (m->type != VM_MAP_PROG_ARRAY || index >= m->max_entries) return (u64)(s64)-VM_EINVAL;
  if (st->env->tail_calls >= VM_MAX_TAIL_CALLS) return (u64)(s64)-VM_EINVAL;
  const struct vm_prog *target = vm_prog_by_handle(vm_prog_array_get(m, (u32)index));
  if (!target || target->helper_set != st->prog->helper_set) return (u64)(s64)-VM_ENOENT;
  st->env->tail_calls++;
  st->tail_target = target;
  st->tail_ctx = ctx;
  return 0;
}

/* --- time, randomness, CPU, tracing -------------------------------------------------------- */

static u64 h_ktime_get_ns(struct vm_state *st, u64 a1, u64 a2, u64 a3, u64 a4, u64 a5) {
  return st->env->time_ns;
}

/* jiffies at HZ=1000 from the run's clock. */
static u64 h_jiffies64(struct vm_state *st, u64 a1, u64 a2, u64 a3, u64 a4, u64 a5) {
  return st->env->time_ns / 1000000ull;
}

/* A 64-bit xorshift-multiply generator: reproducible from the seed TypeScript sets. */
static u64 h_get_prandom_u32(struct vm_state *st, u64 a1, u64 a2, u64 a3, u64 a4, u64 a5) {
  u64 x = st->env->rng_state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  st->env->rng_state = x;
  return (u32)((x * 0x2545f4914f6cdd1dull) >> 32);
}

static u64 h_get_smp_processor_id(struct vm_state *st, u64 a1, u64 a2, u64 a3, u64 a4, u64 a5) {
  return 0;
}

static u64 h_redirect(struct vm_state *st, u64 ifindex, u64 flags, u64 a3, u64 a4, u64 a5) {
  st->env->redirect_map = 0;
  st->env->redirect_key = 0;
  if (st->env->hook == VM_HOOK_XDP) {
    if (flags) return XDP_ABORTED;
    st->env->redirect_ifindex = (u32)ifindex;
    st->env->redirect_flags = 0;
    return XDP_REDIRECT;
  }
  if (flags & ~(u64)BPF_F_INGRESS) return 2; /* TC_ACT_SHOT */
  st->env->redirect_ifindex = (u32)ifindex;
  st->env->redirect_flags = (u32)flags;
  return 7; /* TC_ACT_REDIRECT */
}

/* bpf_redirect_map(map, index, flags) at XDP: XDP_REDIRECT when the map has an entry at index
 * (or with BPF_F_BROADCAST, which sends to every entry), else the low two bits of flags as the
 * verdict; flags outside those (and, for DEVMAP and DEVMAP_HASH, BPF_F_BROADCAST and
 * BPF_F_EXCLUDE_INGRESS) give XDP_ABORTED. As in the kernel, the last redirect call of a run is
 * the one that counts, and a miss forgets an earlier target. */
static u64 h_redirect_map(struct vm_state *st, u64 map, u64 index, u64 flags, u64 a4, u64 a5) {
  struct vm_map *m = helper_map(st, map);
  if (!m || !map_helper_ok(st, m, BPF_FUNC_redirect_map)) return 0;
  const u64 actions = XDP_ABORTED | XDP_DROP | XDP_PASS | XDP_TX;
  u64 allowed = actions;
  if (m->type == VM_MAP_DEVMAP || m->type == VM_MAP_DEVMAP_HASH) allowed |= BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS;
  if (flags & ~allowed) return XDP_ABORTED;
  struct vm_env *e = st->env;
  const u32 *entry = vm_redirect_lookup(m, index);
  if (!entry && !(flags & BPF_F_BROADCAST)) {
    e->redirect_map = 0;
    e->redirect_ifindex = 0;
    e->redirect_flags = 0;
    e->redirect_key = 0;
    return flags & actions;
  }
  e->redirect_map = m->id;
  e->redirect_key = (u32)index;
  e->redirect_flags = (u32)(flags & ~actions);
  /* A device map's entry starts with the ifindex; a CPU or a socket is no device. */
  e->redirect_ifindex = entry && (m->type == VM_MAP_DEVMAP || m->type == VM_MAP_DEVMAP_HASH) ? entry[0] : 0;
  return XDP_REDIRECT;
}

/* --- ring buffer and perf events ---------------------------------------------------------- */

static u64 h_ringbuf_output(struct vm_state *st, u64 map, u64 data, u64 size, u64 flags, u64 a5) {
  struct vm_map *m = helper_map(st, map);
  if (!m || !helper_mem(st, data, size, VM_ACCESS_READ)) return 0;
  return (u64)vm_ringbuf_output(m, (const void *)(uptr)data, size, flags);
}

static u64 h_ringbuf_reserve(struct vm_state *st, u64 map, u64 size, u64 flags, u64 a4, u64 a5) {
  struct vm_map *m = helper_map(st, map);
  if (!m) return 0;
  return (u64)(uptr)vm_ringbuf_reserve(m, size, flags);
}

/* A sample pointer must lie in a ring buffer's data area; anything else stops the run. */
static int ringbuf_sample(struct vm_state *st, u64 sample) {
  if (vm_map_by_arena(sample, 1)) return 1;
  vm_helper_fault(st, sample, 1, VM_ACCESS_WRITE);
  return 0;
}

static u64 h_ringbuf_submit(struct vm_state *st, u64 sample, u64 flags, u64 a3, u64 a4, u64 a5) {
  if (ringbuf_sample(st, sample)) vm_ringbuf_submit((void *)(uptr)sample, flags);
  return 0;
}

static u64 h_ringbuf_discard(struct vm_state *st, u64 sample, u64 flags, u64 a3, u64 a4, u64 a5) {
  if (ringbuf_sample(st, sample)) vm_ringbuf_discard((void *)(uptr)sample, flags);
  return 0;
}

static u64 h_ringbuf_query(struct vm_state *st, u64 map, u64 flags, u64 a3, u64 a4, u64 a5) {
  struct vm_map *m = helper_map(st, map);
  if (!m) return 0;
  return vm_ringbuf_query(m, flags);
}

static u64 h_perf_event_output(struct vm_state *st, u64 ctx, u64 map, u64 flags, u64 data, u64 size) {
  struct vm_map *m = helper_map(st, map);
  if (!m || !helper_mem(st, data, size, VM_ACCESS_READ)) return 0;
  /* The upper 32 bits of flags ask for that many packet bytes after the sample. */
  u64 pkt_bytes = flags >> 32;
  const void *extra = NULL;
  if (pkt_bytes) {
    u32 len = st->env->data_end - st->env->data;
    if (pkt_bytes > len) return (u64)(s64)-14; /* -EFAULT */
    extra = (const void *)(uptr)st->env->data;
  }
  return (u64)vm_perf_event_output(m, flags & VM_BPF_F_INDEX_MASK, (const void *)(uptr)data, size, extra, pkt_bytes);
}

/* --- the table ----------------------------------------------------------------------------- */

#define XDP (1u << VM_HELPERS_XDP)
#define TC (1u << VM_HELPERS_TC)
#define BOTH (XDP | TC)

struct helper_entry {
  u32 id;
  u32 sets;
  helper_fn fn;
};

static const struct helper_entry table[] = {
  {5, 1u << VM_HELPERS_CONFORMANCE, conformance_unwind},
  {BPF_FUNC_map_lookup_elem, BOTH, h_map_lookup_elem},
  {BPF_FUNC_map_update_elem, BOTH, h_map_update_elem},
  {BPF_FUNC_map_delete_elem, BOTH, h_map_delete_elem},
  {BPF_FUNC_map_push_elem, BOTH, h_map_push_elem},
  {BPF_FUNC_map_pop_elem, BOTH, h_map_pop_elem},
  {BPF_FUNC_map_peek_elem, BOTH, h_map_peek_elem},
  {BPF_FUNC_for_each_map_elem, BOTH, h_for_each_map_elem},
  {BPF_FUNC_loop, BOTH, h_loop},
  {BPF_FUNC_tail_call, BOTH, h_tail_call},
  {BPF_FUNC_ktime_get_ns, BOTH, h_ktime_get_ns},
  {BPF_FUNC_ktime_get_boot_ns, BOTH, h_ktime_get_ns},
  {BPF_FUNC_jiffies64, BOTH, h_jiffies64},
  {BPF_FUNC_get_prandom_u32, BOTH, h_get_prandom_u32},
  {BPF_FUNC_get_smp_processor_id, BOTH, h_get_smp_processor_id},
  {BPF_FUNC_trace_printk, BOTH, vm_h_trace_printk},
  {BPF_FUNC_redirect, BOTH, h_redirect},
  {BPF_FUNC_redirect_map, XDP, h_redirect_map},
  {BPF_FUNC_ringbuf_output, BOTH, h_ringbuf_output},
  {BPF_FUNC_ringbuf_reserve, BOTH, h_ringbuf_reserve},
  {BPF_FUNC_ringbuf_submit, BOTH, h_ringbuf_submit},
  {BPF_FUNC_ringbuf_discard, BOTH, h_ringbuf_discard},
  {BPF_FUNC_ringbuf_query, BOTH, h_ringbuf_query},
  {BPF_FUNC_perf_event_output, BOTH, h_perf_event_output},
  {BPF_FUNC_csum_diff, BOTH, vm_h_csum_diff},
  {BPF_FUNC_skb_load_bytes, TC, vm_h_skb_load_bytes},
  {BPF_FUNC_skb_store_bytes, TC, vm_h_skb_store_bytes},
  {BPF_FUNC_l3_csum_replace, TC, vm_h_l3_csum_replace},
  {BPF_FUNC_l4_csum_replace, TC, vm_h_l4_csum_replace},
  {BPF_FUNC_csum_update, TC, vm_h_csum_update},
  {BPF_FUNC_skb_pull_data, TC, vm_h_skb_pull_data},
  {BPF_FUNC_skb_change_head, TC, vm_h_skb_change_head},
  {BPF_FUNC_skb_change_tail, TC, vm_h_skb_change_tail},
  {BPF_FUNC_skb_adjust_room, TC, vm_h_skb_adjust_room},
  {BPF_FUNC_skb_vlan_push, TC, vm_h_skb_vlan_push},
  {BPF_FUNC_skb_vlan_pop, TC, vm_h_skb_vlan_pop},
  {BPF_FUNC_get_hash_recalc, TC, vm_h_get_hash_recalc},
  {BPF_FUNC_xdp_adjust_head, XDP, vm_h_xdp_adjust_head},
  {BPF_FUNC_xdp_adjust_tail, XDP, vm_h_xdp_adjust_tail},
  {BPF_FUNC_xdp_adjust_meta, XDP, vm_h_xdp_adjust_meta},
};

helper_fn vm_find_helper(u32 set, u32 id) {
  for (u32 k = 0; k < sizeof table / sizeof table[0]; k++)
    if (table[k].id == id && (table[k].sets & (1u << set))) return table[k].fn;
  return NULL;
}

/* Whether any helper set knows the id (to tell "unknown" from "not allowed at this hook"). */
EXPORT("vm_helper_known") u32 vm_helper_known(u32 id) {
  for (u32 k = 0; k < sizeof table / sizeof table[0]; k++)
    if (table[k].id == id && table[k].id != 5) return 1;
  return 0;
}

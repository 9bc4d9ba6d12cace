/* eBPF maps inside the VM: the contract between the map implementations (maps.c, map_*.c), the
 * helpers and the interpreter. Semantics follow the kernel's: the same flags (BPF_ANY, BPF_NOEXIST,
 * BPF_EXIST), the same negative errno values, max_entries enforced, LRU eviction, longest-prefix
 * match. Types are numbered as enum bpf_map_type numbers them. */
#ifndef TWINPATH_MAPS_H
#define TWINPATH_MAPS_H

#include "vm.h"

/* Errno values the map operations return (negated), as Linux numbers them. */
#define VM_EPERM 1
#define VM_ENOENT 2
#define VM_E2BIG 7
#define VM_EBADF 9
#define VM_EAGAIN 11
#define VM_ENOMEM 12
#define VM_EBUSY 16
#define VM_EEXIST 17
#define VM_EINVAL 22
#define VM_ENOSPC 28
#define VM_EOPNOTSUPP 95
#define VM_ENOTSUPP 524

/* Update flags. */
#define VM_BPF_ANY 0
#define VM_BPF_NOEXIST 1
#define VM_BPF_EXIST 2
#define VM_BPF_F_LOCK 4

/* Map types (enum bpf_map_type). */
#define VM_MAP_HASH 1
#define VM_MAP_ARRAY 2
#define VM_MAP_PROG_ARRAY 3
#define VM_MAP_PERF_EVENT_ARRAY 4
#define VM_MAP_PERCPU_HASH 5
#define VM_MAP_PERCPU_ARRAY 6
#define VM_MAP_LRU_HASH 9
#define VM_MAP_LRU_PERCPU_HASH 10
#define VM_MAP_LPM_TRIE 11
#define VM_MAP_ARRAY_OF_MAPS 12
#define VM_MAP_HASH_OF_MAPS 13
#define VM_MAP_DEVMAP 14
#define VM_MAP_CPUMAP 16
#define VM_MAP_XSKMAP 17
#define VM_MAP_QUEUE 22
#define VM_MAP_STACK 23
#define VM_MAP_DEVMAP_HASH 25
#define VM_MAP_RINGBUF 27

/* Map flags (map_flags). */
#define VM_BPF_F_NO_PREALLOC 1
#define VM_BPF_F_NO_COMMON_LRU 2
#define VM_BPF_F_RDONLY 8
#define VM_BPF_F_WRONLY 16
#define VM_BPF_F_RDONLY_PROG 128
#define VM_BPF_F_WRONLY_PROG 256
#define VM_BPF_F_MMAPABLE 1024

struct vm_map;

struct vm_map_ops {
  /* A pointer to the value in the map's own storage, or NULL. For *_OF_MAPS, the inner map. */
  void *(*lookup)(struct vm_map *m, const void *key);
  /* 0 or a negative errno. */
  s32 (*update)(struct vm_map *m, const void *key, const void *value, u64 flags);
  s32 (*delete)(struct vm_map *m, const void *key);
  /* key NULL (or not found, for hashes) gives the first key; -ENOENT after the last. */
  s32 (*get_next_key)(struct vm_map *m, const void *key, void *next);
  /* QUEUE and STACK. */
  s32 (*push)(struct vm_map *m, const void *value, u64 flags);
  s32 (*pop)(struct vm_map *m, void *value);
  s32 (*peek)(struct vm_map *m, void *value);
  void (*free)(struct vm_map *m);
  /* Optional: a lookup from TypeScript (the kernel's syscall path), where it differs from a
   * program's: an LRU lookup from user space does not mark the entry referenced. */
  void *(*lookup_sys)(struct vm_map *m, const void *key);
};

struct vm_map {
  u32 magic; /* VM_MAP_MAGIC while alive: helpers check map pointers from programs with it */
  u32 id;    /* handle for TypeScript, index in the map table */
  u32 type;
  u32 key_size;
  u32 value_size;
  u32 max_entries;
  u32 flags;
  u32 inner_id; /* *_OF_MAPS: the template inner map's id */
  /* The storage programs may touch through value pointers (and a ring buffer's data area):
   * registered as a memory region while the map lives. */
  u8 *arena;
  u32 arena_len;
  const struct vm_map_ops *ops;
  void *impl;
};

#define VM_MAP_MAGIC 0x6d617021u
#define VM_MAX_MAPS 4096

/* Creates a map; NULL with *err set to a negative errno on bad parameters or no memory. */
struct vm_map *vm_map_create(u32 type, u32 key_size, u32 value_size, u32 max_entries, u32 flags,
                             u32 inner_id, s32 *err);
void vm_map_destroy(struct vm_map *m);
struct vm_map *vm_map_by_id(u32 id);
/* The live map at this address (a value a program passed as a map argument), or NULL. */
struct vm_map *vm_map_from_ptr(u64 addr);
/* Whether [addr, addr+size) lies inside one live map's arena, with the access `need`
 * (VM_REGION_READ / VM_REGION_WRITE); read-only maps (BPF_F_RDONLY_PROG) refuse writes. */
int vm_map_region_ok(u64 addr, u32 size, u32 need);
/* The live map whose arena holds [addr, addr+size), or NULL (a ring buffer sample's map). */
struct vm_map *vm_map_by_arena(u64 addr, u32 size);

/* PROG_ARRAY: the program handle at index, 0 when the slot is empty or out of range (what a tail
 * call needs; running it is the interpreter's business). */
u32 vm_prog_array_get(struct vm_map *m, u32 index);

/* DEVMAP, DEVMAP_HASH, CPUMAP, XSKMAP: the entry bpf_redirect_map would send to, or NULL. */
void *vm_redirect_lookup(struct vm_map *m, u64 index);

/* RINGBUF, as bpf_ringbuf_* do. reserve returns the sample's address in the arena, or NULL (bad
 * flags, too large, no room); submit/discard take that address; flags BPF_RB_NO_WAKEUP and
 * BPF_RB_FORCE_WAKEUP are accepted (and mean nothing here). output returns 0 or a negative
 * errno; query answers BPF_RB_AVAIL_DATA, BPF_RB_RING_SIZE, BPF_RB_CONS_POS, BPF_RB_PROD_POS. */
#define VM_BPF_RB_NO_WAKEUP 1
#define VM_BPF_RB_FORCE_WAKEUP 2
#define VM_BPF_RB_AVAIL_DATA 0
#define VM_BPF_RB_RING_SIZE 1
#define VM_BPF_RB_CONS_POS 2
#define VM_BPF_RB_PROD_POS 3
void *vm_ringbuf_reserve(struct vm_map *m, u64 size, u64 flags);
void vm_ringbuf_submit(void *sample, u64 flags);
void vm_ringbuf_discard(void *sample, u64 flags);
s64 vm_ringbuf_output(struct vm_map *m, const void *data, u64 size, u64 flags);
u64 vm_ringbuf_query(struct vm_map *m, u64 flags);

/* PERF_EVENT_ARRAY, as bpf_perf_event_output does: flags carry the index (BPF_F_CURRENT_CPU is
 * CPU 0); the slot must hold a value (E2BIG out of range, ENOENT empty). The record is data
 * followed by extra (bpf_skb_event_output's packet bytes; NULL/0 when there are none). */
#define VM_BPF_F_INDEX_MASK 0xffffffffull
#define VM_BPF_F_CURRENT_CPU 0xffffffffull
s64 vm_perf_event_output(struct vm_map *m, u64 flags, const void *data, u64 size, const void *extra,
                         u64 extra_size);

/* The number of possible CPUs the kernel being imitated has, read when a map is made. LRU maps
 * size their free-list batches and per-CPU shares by it, a CPUMAP takes entries only for those
 * CPUs (everything still runs on CPU 0). */
extern u32 vm_maps_possible_cpus;

/* Internal to the map implementations. */
static inline u32 vm_round8(u32 n) { return (n + 7) & ~7u; }
/* Freestanding: __builtin_memcmp would call a libc memcmp. */
static inline int vm_memeq(const void *a, const void *b, u32 n) {
  const u8 *x = a, *y = b;
  for (; n >= 4; n -= 4, x += 4, y += 4) {
    u32 p, q;
    __builtin_memcpy(&p, x, 4);
    __builtin_memcpy(&q, y, 4);
    if (p != q) return 0;
  }
  for (; n; n--)
    if (*x++ != *y++) return 0;
  return 1;
}
/* Each family's constructor: checks the parameters as the kernel does, then sets ops, arena,
 * arena_len and impl. 0 or a negative errno; on failure it frees what it took. */
s32 vm_map_array_init(struct vm_map *m);
s32 vm_map_hash_init(struct vm_map *m);
s32 vm_map_lpm_init(struct vm_map *m);
s32 vm_map_queue_init(struct vm_map *m);
s32 vm_map_ringbuf_init(struct vm_map *m);
s32 vm_map_dev_init(struct vm_map *m);
/* Records waiting for TypeScript: a ring buffer's committed samples, a perf array's outputs.
 * Each is written as u32 length, u32 CPU, the bytes, padded to 8. drain writes whole records
 * while they fit in cap and returns the bytes written; pending is what draining all needs. */
u32 vm_map_records_drain(struct vm_map *m, u8 *out, u32 cap);
u32 vm_map_records_pending(struct vm_map *m);
/* PERF_EVENT_ARRAY (map_array.c holds the slots, map_ringbuf.c the records). */
s32 vm_perf_slot_check(struct vm_map *m, u64 flags);
void vm_perf_records_free(struct vm_map *m);
/* Map-in-map: whether `inner` may be stored in `outer` (the template's type, sizes, flags). */
int vm_map_inner_ok(struct vm_map *outer, u32 inner_id);
/* LRU free-list machinery for map_hash.c (map_lru.c). Nodes are element indexes. */
struct vm_lru;
struct vm_lru *vm_lru_new(u32 n_elems, int percpu);
void vm_lru_free(struct vm_lru *l);
/* Takes a free element for a new entry, evicting through evict(ctx, elem) (which unlinks the
 * element from the hash and returns nonzero) when none is free; -1 when none can be had. */
s32 vm_lru_pop_free(struct vm_lru *l, int (*evict)(void *ctx, u32 elem), void *ctx);
void vm_lru_push_free(struct vm_lru *l, u32 elem);
void vm_lru_set_ref(struct vm_lru *l, u32 elem);

#endif

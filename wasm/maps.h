/* eBPF maps inside the VM: the contract between the map implementations (maps*.c), the helpers
 * and the interpreter. Semantics follow the kernel's: the same flags (BPF_ANY, BPF_NOEXIST,
 * BPF_EXIST), the same negative errno values, max_entries enforced, LRU eviction, longest-prefix
 * match. Types are numbered as enum bpf_map_type numbers them. */
#ifndef TWINPATH_MAPS_H
#define TWINPATH_MAPS_H

#include "vm.h"

/* Errno values the map operations return (negated), as Linux numbers them. */
#define VM_ENOENT 2
#define VM_E2BIG 7
#define VM_EBADF 9
#define VM_EAGAIN 11
#define VM_ENOMEM 12
#define VM_EBUSY 16
#define VM_EEXIST 17
#define VM_EINVAL 22
#define VM_ENOSPC 28
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
#define VM_MAP_QUEUE 22
#define VM_MAP_STACK 23
#define VM_MAP_RINGBUF 27

/* Map flags (map_flags). */
#define VM_BPF_F_NO_PREALLOC 1
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

#endif

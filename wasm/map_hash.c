/* Hash maps: HASH, PERCPU_HASH (one CPU), LRU_HASH, LRU_PERCPU_HASH and HASH_OF_MAPS. All
 * elements are preallocated: values in the arena (round_up(value_size, 8) bytes each, so a
 * value pointer stays valid and aligned), keys and chains beside it. Buckets are a power of two
 * at least max_entries, chained at the head as the kernel chains them. The hash function is our
 * own, so get_next_key walks entries in a different order than the kernel's; callers compare
 * hash contents as sets. Eviction for the LRU types is map_lru.c's. */
#include "maps.h"

#define VM_BPF_F_NUMA_NODE 4u
#define VM_BPF_F_ZERO_SEED 64u
#define HASH_FLAGS                                                                               \
  (VM_BPF_F_NO_PREALLOC | VM_BPF_F_NO_COMMON_LRU | VM_BPF_F_NUMA_NODE | VM_BPF_F_RDONLY |       \
   VM_BPF_F_WRONLY | VM_BPF_F_RDONLY_PROG | VM_BPF_F_WRONLY_PROG | VM_BPF_F_ZERO_SEED)
#define MAX_KEY 512 /* MAX_BPF_STACK: programs build keys on their stack */
#define PCPU_MIN_UNIT_SIZE 32768u
#define NONE 0xffffffffu

struct htab {
  u32 n_buckets;
  u32 count;
  u32 free_head;  /* non-LRU: a stack of free elements through chain[] */
  u32 *bucket;    /* first element of each chain, or NONE */
  u32 *chain;     /* next element in its chain (or in the free stack) */
  u32 *hash;
  u8 *keys;
  u8 *values;     /* the arena (for HASH_OF_MAPS, inner map ids that programs never see) */
  u32 vsize;      /* round_up(value_size, 8) */
  struct vm_lru *lru;
};

static struct htab *H(struct vm_map *m) { return m->impl; }
static int is_lru(const struct vm_map *m) {
  return m->type == VM_MAP_LRU_HASH || m->type == VM_MAP_LRU_PERCPU_HASH;
}
static int is_percpu(const struct vm_map *m) {
  return m->type == VM_MAP_PERCPU_HASH || m->type == VM_MAP_LRU_PERCPU_HASH;
}

/* FNV-1a, then a final mix so that keys differing in their last bytes spread over buckets. */
static u32 hash_key(const u8 *k, u32 n) {
  u32 h = 2166136261u;
  for (u32 i = 0; i < n; i++) h = (h ^ k[i]) * 16777619u;
  h ^= h >> 16;
  h *= 0x7feb352du;
  h ^= h >> 15;
  return h;
}

static u8 *key_at(struct htab *t, struct vm_map *m, u32 e) { return t->keys + (u64)e * m->key_size; }
static u8 *value_at(struct htab *t, u32 e) { return t->values + (u64)e * t->vsize; }

static u32 find(struct vm_map *m, const void *key, u32 h) {
  struct htab *t = H(m);
  for (u32 e = t->bucket[h & (t->n_buckets - 1)]; e != NONE; e = t->chain[e])
    if (t->hash[e] == h && vm_memeq(key_at(t, m, e), key, m->key_size)) return e;
  return NONE;
}

static void link(struct vm_map *m, u32 e, const void *key, u32 h) {
  struct htab *t = H(m);
  u32 b = h & (t->n_buckets - 1);
  vm_memcpy(key_at(t, m, e), key, m->key_size);
  t->hash[e] = h;
  t->chain[e] = t->bucket[b];
  t->bucket[b] = e;
  t->count++;
}

/* Takes e out of its chain; 0 when it is in none. */
static int unlink(struct vm_map *m, u32 e) {
  struct htab *t = H(m);
  u32 *p = &t->bucket[t->hash[e] & (t->n_buckets - 1)];
  for (; *p != NONE; p = &t->chain[*p])
    if (*p == e) {
      *p = t->chain[e];
      t->count--;
      return 1;
    }
  return 0;
}

static int lru_evict(void *ctx, u32 e) { return unlink(ctx, e); }

static void *lookup_elem(struct vm_map *m, const void *key, int from_prog) {
  u32 e = find(m, key, hash_key(key, m->key_size));
  if (e == NONE) return NULL;
  if (is_lru(m) && from_prog) vm_lru_set_ref(H(m)->lru, e);
  if (m->type == VM_MAP_HASH_OF_MAPS) return vm_map_by_id(*(u32 *)value_at(H(m), e));
  return value_at(H(m), e);
}
static void *hash_lookup(struct vm_map *m, const void *key) { return lookup_elem(m, key, 1); }
static void *hash_lookup_sys(struct vm_map *m, const void *key) { return lookup_elem(m, key, 0); }

static s32 check_flags(u32 old, u64 flags) {
  if (old != NONE && flags == VM_BPF_NOEXIST) return -VM_EEXIST;
  if (old == NONE && flags == VM_BPF_EXIST) return -VM_ENOENT;
  return 0;
}

static s32 value_ok(struct vm_map *m, const void *value) {
  if (m->type != VM_MAP_HASH_OF_MAPS) return 0;
  u32 id;
  vm_memcpy(&id, value, 4);
  return vm_map_inner_ok(m, id);
}

/* The kernel's LRU update takes a free element before it looks for the key (taking one may
 * evict), so even a failing update can evict; a replaced element goes back to the free list
 * and its successor is marked referenced. */
static s32 lru_update(struct vm_map *m, const void *key, const void *value, u32 h, u64 flags) {
  struct htab *t = H(m);
  s32 e = vm_lru_pop_free(t->lru, lru_evict, m);
  if (e < 0) return -VM_ENOMEM;
  u32 old = find(m, key, h);
  s32 r = check_flags(old, flags);
  if (r) {
    vm_lru_push_free(t->lru, (u32)e);
    return r;
  }
  vm_memcpy(value_at(t, (u32)e), value, m->value_size);
  link(m, (u32)e, key, h);
  if (old != NONE) {
    vm_lru_set_ref(t->lru, (u32)e);
    unlink(m, old);
    vm_lru_push_free(t->lru, old);
  }
  return 0;
}

/* The per-CPU LRU variant updates in place and takes no element for BPF_EXIST. */
static s32 lru_percpu_update(struct vm_map *m, const void *key, const void *value, u32 h, u64 flags) {
  struct htab *t = H(m);
  s32 e = -1;
  if (flags != VM_BPF_EXIST) {
    e = vm_lru_pop_free(t->lru, lru_evict, m);
    if (e < 0) return -VM_ENOMEM;
  }
  u32 old = find(m, key, h);
  s32 r = check_flags(old, flags);
  if (r == 0 && old != NONE) {
    vm_lru_set_ref(t->lru, old);
    vm_memcpy(value_at(t, old), value, m->value_size);
  } else if (r == 0) {
    vm_memcpy(value_at(t, (u32)e), value, m->value_size);
    link(m, (u32)e, key, h);
    e = -1;
  }
  if (e >= 0) vm_lru_push_free(t->lru, (u32)e);
  return r;
}

static s32 hash_update(struct vm_map *m, const void *key, const void *value, u64 flags) {
  if ((flags & ~(u64)VM_BPF_F_LOCK) > VM_BPF_EXIST || (flags & VM_BPF_F_LOCK)) return -VM_EINVAL;
  s32 r = value_ok(m, value);
  if (r) return r;
  struct htab *t = H(m);
  u32 h = hash_key(key, m->key_size);
  if (m->type == VM_MAP_LRU_HASH) return lru_update(m, key, value, h, flags);
  if (m->type == VM_MAP_LRU_PERCPU_HASH) return lru_percpu_update(m, key, value, h, flags);
  u32 old = find(m, key, h);
  r = check_flags(old, flags);
  if (r) return r;
  if (old != NONE) {
    /* The kernel swaps in a fresh element (per-CPU maps copy in place); the contents are the
     * same either way, and in place keeps a program's value pointer pointing at the value. */
    vm_memcpy(value_at(t, old), value, m->value_size);
    return 0;
  }
  if (t->free_head == NONE) return -VM_E2BIG;
  u32 e = t->free_head;
  t->free_head = t->chain[e];
  vm_memcpy(value_at(t, e), value, m->value_size);
  link(m, e, key, h);
  return 0;
}

static s32 hash_delete(struct vm_map *m, const void *key) {
  struct htab *t = H(m);
  u32 e = find(m, key, hash_key(key, m->key_size));
  if (e == NONE) return -VM_ENOENT;
  unlink(m, e);
  if (t->lru) {
    vm_lru_push_free(t->lru, e);
  } else {
    t->chain[e] = t->free_head;
    t->free_head = e;
  }
  return 0;
}

/* Bucket by bucket, each chain from its head. A key that is not in the map starts the walk
 * over, as in the kernel. */
static s32 hash_get_next_key(struct vm_map *m, const void *key, void *next) {
  struct htab *t = H(m);
  u32 b = 0, e = NONE;
  if (key) {
    u32 h = hash_key(key, m->key_size), cur = find(m, key, h);
    if (cur != NONE) {
      e = t->chain[cur];
      b = (h & (t->n_buckets - 1)) + 1;
    }
  }
  for (; e == NONE && b < t->n_buckets; b++) e = t->bucket[b];
  if (e == NONE) return -VM_ENOENT;
  vm_memcpy(next, key_at(t, m, e), m->key_size);
  return 0;
}

static s32 no_push(struct vm_map *m, const void *v, u64 f) { return -VM_ENOTSUPP; }
static s32 no_pop(struct vm_map *m, void *v) { return -VM_ENOTSUPP; }

static void hash_free(struct vm_map *m) {
  struct htab *t = H(m);
  if (!t) return;
  vm_lru_free(t->lru);
  vm_free(t->bucket);
  vm_free(t->chain);
  vm_free(t->hash);
  vm_free(t->keys);
  vm_free(t->values);
  vm_free(t);
  m->impl = NULL;
  m->arena = NULL;
}

static const struct vm_map_ops hash_ops = {
    .lookup = hash_lookup, .update = hash_update, .delete = hash_delete,
    .get_next_key = hash_get_next_key, .push = no_push, .pop = no_pop, .peek = no_pop,
    .free = hash_free, .lookup_sys = hash_lookup_sys,
};

s32 vm_map_hash_init(struct vm_map *m) {
  if ((m->flags & ~HASH_FLAGS) || ((m->flags & VM_BPF_F_RDONLY) && (m->flags & VM_BPF_F_WRONLY)) ||
      ((m->flags & VM_BPF_F_RDONLY_PROG) && (m->flags & VM_BPF_F_WRONLY_PROG)))
    return -VM_EINVAL;
  if (!is_lru(m) && (m->flags & VM_BPF_F_NO_COMMON_LRU)) return -VM_EINVAL;
  if (is_lru(m) && (m->flags & VM_BPF_F_NO_PREALLOC)) return -VM_ENOTSUPP;
  if (m->max_entries == 0 || m->key_size == 0 || m->value_size == 0) return -VM_EINVAL;
  if (m->type == VM_MAP_HASH_OF_MAPS && m->value_size != 4) return -VM_EINVAL;
  if (m->key_size > MAX_KEY) return -VM_E2BIG;
  if ((u64)m->key_size + m->value_size >= VM_MAP_MAX_ARENA) return -VM_E2BIG;
  if (is_percpu(m) && vm_round8(m->value_size) > PCPU_MIN_UNIT_SIZE) return -VM_E2BIG;
  if (m->max_entries > 0x80000000u) return -VM_E2BIG;
  /* A per-CPU LRU gives each possible CPU an equal share, so the kernel rounds max_entries up
   * to a multiple of their number. */
  if (is_lru(m) && (m->flags & VM_BPF_F_NO_COMMON_LRU)) {
    u32 c = vm_maps_possible_cpus ? vm_maps_possible_cpus : 1;
    u64 r = ((u64)m->max_entries + c - 1) / c * c;
    if (r <= 0xffffffffu) m->max_entries = (u32)r;
  }
  u32 n = m->max_entries;
  u32 nb = 1;
  while (nb < n) nb <<= 1;
  u32 vsize = vm_round8(m->value_size);
  if ((u64)n * vsize > VM_MAP_MAX_ARENA || (u64)n * m->key_size > VM_MAP_MAX_ARENA ||
      (u64)nb * 4 > VM_MAP_MAX_ARENA)
    return -VM_ENOMEM;
  struct htab *t = vm_calloc(sizeof *t);
  if (!t) return -VM_ENOMEM;
  m->impl = t;
  t->n_buckets = nb;
  t->vsize = vsize;
  t->bucket = vm_malloc(nb * 4);
  t->chain = vm_malloc(n * 4);
  t->hash = vm_malloc(n * 4);
  t->keys = vm_malloc(n * m->key_size);
  t->values = vm_calloc(n * vsize);
  if (is_lru(m)) t->lru = vm_lru_new(n, (m->flags & VM_BPF_F_NO_COMMON_LRU) != 0);
  if (!t->bucket || !t->chain || !t->hash || !t->keys || !t->values || (is_lru(m) && !t->lru)) {
    hash_free(m);
    return -VM_ENOMEM;
  }
  vm_memset(t->bucket, 0xff, nb * 4);
  for (u32 e = 0; e < n; e++) t->chain[e] = e + 1 < n ? e + 1 : NONE;
  t->free_head = is_lru(m) ? NONE : 0;
  m->ops = &hash_ops;
  if (m->type != VM_MAP_HASH_OF_MAPS) {
    m->arena = t->values;
    m->arena_len = n * vsize;
  }
  return 0;
}

/* Redirect maps: DEVMAP, DEVMAP_HASH, CPUMAP and XSKMAP, the map types bpf_redirect_map takes.
 * Semantics follow kernel/bpf/devmap.c, cpumap.c and net/xdp/xskmap.c for what user space and a
 * program can see; what they hold in the kernel (net devices, kthreads, AF_XDP sockets) does not
 * exist here, so:
 * - a DEVMAP entry is its struct bpf_devmap_val {ifindex, prog id}: any nonzero ifindex is taken
 *   (there is no device list to check it against; the kernel says EINVAL for an unknown one),
 *   ifindex 0 empties a DEVMAP slot and is refused by DEVMAP_HASH, as in the kernel;
 * - a CPUMAP entry is its struct bpf_cpumap_val {qsize, prog id}: qsize 0 empties the slot, more
 *   than 16384 is EOVERFLOW, a CPU the imitated kernel does not have is ENODEV;
 * - an XSKMAP value stands for an AF_XDP socket and is the receive queue it is bound to (what a
 *   program reads through struct bpf_xdp_sock); user space cannot read it back (EOPNOTSUPP);
 * - a program fd in a DEVMAP or CPUMAP value (the 8-byte layouts) is refused as the kernel refuses
 *   an fd that names no program of the right attach type (DEVMAP EINVAL, CPUMAP ENOMEM): the VM
 *   has no fds, and such programs run when a frame is transmitted, which a test run never does.
 * A program's lookup returns a pointer into the arena, which is read-only to programs (the kernel
 * sets BPF_F_RDONLY_PROG on device maps for the same reason). */
#include "maps.h"

#define VM_ENODEV 19
#define VM_EOVERFLOW 75
#define VM_BPF_F_NUMA_NODE 4u
#define DEV_FLAGS (VM_BPF_F_NUMA_NODE | VM_BPF_F_RDONLY | VM_BPF_F_WRONLY)
#define CPUMAP_MAX_QSIZE 16384u
#define SLOT 8u /* struct bpf_devmap_val and struct bpf_cpumap_val */

static u32 rd32(const void *p) {
  u32 v;
  vm_memcpy(&v, p, 4);
  return v;
}

/* ---- DEVMAP, CPUMAP, XSKMAP: a slot per index, a byte per slot saying whether it is filled ---- */

struct idx {
  u32 cpus; /* CPUMAP: the possible CPUs when the map was made */
  u8 filled[];
};

static u8 *filled(struct vm_map *m) { return ((struct idx *)m->impl)->filled; }
static u32 slot_size(const struct vm_map *m) { return m->type == VM_MAP_XSKMAP ? 4 : SLOT; }
static u8 *slot(struct vm_map *m, u32 i) { return m->arena + (u64)i * slot_size(m); }

static void *idx_lookup(struct vm_map *m, const void *key) {
  u32 i = rd32(key);
  if (i >= m->max_entries || !filled(m)[i]) return NULL;
  return slot(m, i);
}

/* The second word of an 8-byte value: a program fd (0 or negative: none). */
static s32 prog_fd(const struct vm_map *m, const void *value) {
  if (m->value_size < 8) return 0;
  return (s32)rd32((const u8 *)value + 4);
}

static s32 idx_update(struct vm_map *m, const void *key, const void *value, u64 flags) {
  u32 i = rd32(key), v = rd32(value);
  if (flags > VM_BPF_EXIST) return -VM_EINVAL;
  if (i >= m->max_entries) return -VM_E2BIG;
  if (m->type == VM_MAP_XSKMAP) {
    if (filled(m)[i] && flags == VM_BPF_NOEXIST) return -VM_EEXIST;
    if (!filled(m)[i] && flags == VM_BPF_EXIST) return -VM_ENOENT;
    vm_memcpy(slot(m, i), &v, 4);
    filled(m)[i] = 1;
    return 0;
  }
  /* Every index of a DEVMAP or CPUMAP exists, filled or not. */
  if (flags == VM_BPF_NOEXIST) return -VM_EEXIST;
  s32 fd = prog_fd(m, value);
  if (m->type == VM_MAP_CPUMAP) {
    if (v > CPUMAP_MAX_QSIZE) return -VM_EOVERFLOW;
    if (i >= ((struct idx *)m->impl)->cpus) return -VM_ENODEV;
  } else if (!v && fd > 0) {
    return -VM_EINVAL;
  }
  if (!v) { /* ifindex or qsize 0: the slot empties */
    filled(m)[i] = 0;
    vm_memset(slot(m, i), 0, SLOT);
    return 0;
  }
  if (fd > 0) return m->type == VM_MAP_CPUMAP ? -VM_ENOMEM : -VM_EINVAL;
  u32 val[2] = {v, 0};
  vm_memcpy(slot(m, i), val, SLOT);
  filled(m)[i] = 1;
  return 0;
}

static s32 idx_delete(struct vm_map *m, const void *key) {
  u32 i = rd32(key);
  if (i >= m->max_entries) return -VM_EINVAL;
  filled(m)[i] = 0;
  vm_memset(slot(m, i), 0, slot_size(m));
  return 0;
}

static s32 idx_get_next_key(struct vm_map *m, const void *key, void *next) {
  u32 i = key ? rd32(key) : 0xffffffffu, n;
  if (i >= m->max_entries) n = 0;
  else if (i == m->max_entries - 1) return -VM_ENOENT;
  else n = i + 1;
  vm_memcpy(next, &n, 4);
  return 0;
}

static s32 no_push(struct vm_map *m, const void *v, u64 f) { return -VM_ENOTSUPP; }
static s32 no_pop(struct vm_map *m, void *v) { return -VM_ENOTSUPP; }

static void dev_free(struct vm_map *m) {
  vm_free(m->arena);
  vm_free(m->impl);
}

static const struct vm_map_ops idx_ops = {
    .lookup = idx_lookup, .update = idx_update, .delete = idx_delete,
    .get_next_key = idx_get_next_key, .push = no_push, .pop = no_pop, .peek = no_pop,
    .free = dev_free,
};

/* ---- DEVMAP_HASH: chained buckets indexed by key & (n_buckets - 1), newest first in a bucket,
 * as the kernel keeps them, so get_next_key walks in the kernel's order. Elements live in the
 * arena: {key, value}, SLOT + 8 bytes each. ---- */

struct dhash {
  u32 n_buckets;
  u32 count;
  s32 free_head;
  s32 *heads; /* per bucket: first element, -1 for none */
  s32 *next;  /* per element: next in its bucket (or in the free list) */
};

#define ELEM 16u
static struct dhash *dh(struct vm_map *m) { return m->impl; }
static u8 *elem(struct vm_map *m, s32 e) { return m->arena + (u64)(u32)e * ELEM; }
static u32 elem_key(struct vm_map *m, s32 e) { return rd32(elem(m, e)); }

static s32 dh_find(struct vm_map *m, u32 key, s32 *prev_out) {
  struct dhash *h = dh(m);
  s32 prev = -1;
  for (s32 e = h->heads[key & (h->n_buckets - 1)]; e >= 0; prev = e, e = h->next[e]) {
    if (elem_key(m, e) == key) {
      if (prev_out) *prev_out = prev;
      return e;
    }
  }
  return -1;
}

static void dh_unlink(struct vm_map *m, s32 e, s32 prev) {
  struct dhash *h = dh(m);
  if (prev < 0) h->heads[elem_key(m, e) & (h->n_buckets - 1)] = h->next[e];
  else h->next[prev] = h->next[e];
}

static void *dh_lookup(struct vm_map *m, const void *key) {
  s32 e = dh_find(m, rd32(key), NULL);
  return e < 0 ? NULL : elem(m, e) + 8;
}

static s32 dh_update(struct vm_map *m, const void *key, const void *value, u64 flags) {
  struct dhash *h = dh(m);
  u32 k = rd32(key), v = rd32(value);
  if (flags > VM_BPF_EXIST || !v) return -VM_EINVAL;
  s32 prev = -1, old = dh_find(m, k, &prev);
  if (old >= 0 && flags == VM_BPF_NOEXIST) return -VM_EEXIST;
  if (prog_fd(m, value) > 0) return -VM_EINVAL;
  s32 e;
  if (old >= 0) {
    /* The kernel puts a new node at the head of the bucket in place of the old one. */
    dh_unlink(m, old, prev);
    e = old;
  } else {
    if (h->count >= m->max_entries || h->free_head < 0) return -VM_E2BIG;
    e = h->free_head;
    h->free_head = h->next[e];
    h->count++;
  }
  u32 rec[4] = {k, 0, v, 0};
  vm_memcpy(elem(m, e), rec, ELEM);
  u32 b = k & (h->n_buckets - 1);
  h->next[e] = h->heads[b];
  h->heads[b] = e;
  return 0;
}

static s32 dh_delete(struct vm_map *m, const void *key) {
  struct dhash *h = dh(m);
  s32 prev = -1, e = dh_find(m, rd32(key), &prev);
  if (e < 0) return -VM_ENOENT;
  dh_unlink(m, e, prev);
  vm_memset(elem(m, e), 0, ELEM);
  h->next[e] = h->free_head;
  h->free_head = e;
  h->count--;
  return 0;
}

static s32 dh_get_next_key(struct vm_map *m, const void *key, void *next) {
  struct dhash *h = dh(m);
  u32 b = 0;
  if (key) {
    u32 k = rd32(key);
    s32 e = dh_find(m, k, NULL);
    if (e >= 0) {
      if (h->next[e] >= 0) {
        u32 n = elem_key(m, h->next[e]);
        vm_memcpy(next, &n, 4);
        return 0;
      }
      b = (k & (h->n_buckets - 1)) + 1;
    }
  }
  for (; b < h->n_buckets; b++) {
    if (h->heads[b] < 0) continue;
    u32 n = elem_key(m, h->heads[b]);
    vm_memcpy(next, &n, 4);
    return 0;
  }
  return -VM_ENOENT;
}

static void dh_free(struct vm_map *m) {
  struct dhash *h = dh(m);
  if (h) {
    vm_free(h->heads);
    vm_free(h->next);
  }
  vm_free(h);
  vm_free(m->arena);
}

static const struct vm_map_ops dhash_ops = {
    .lookup = dh_lookup, .update = dh_update, .delete = dh_delete,
    .get_next_key = dh_get_next_key, .push = no_push, .pop = no_pop, .peek = no_pop,
    .free = dh_free,
};

static u32 roundup_pow2(u32 n) {
  u32 p = 1;
  while (p < n) p <<= 1;
  return p;
}

s32 vm_map_dev_init(struct vm_map *m) {
  u32 allowed = m->type == VM_MAP_CPUMAP ? VM_BPF_F_NUMA_NODE : DEV_FLAGS;
  int eight_ok = m->type != VM_MAP_XSKMAP;
  if (m->max_entries == 0 || m->key_size != 4 || (m->flags & ~allowed)) return -VM_EINVAL;
  if (m->value_size != 4 && !(eight_ok && m->value_size == 8)) return -VM_EINVAL;
  if (m->max_entries > VM_MAP_MAX_ARENA / ELEM) return -VM_ENOMEM;
  /* Programs only read what a device map holds. */
  m->flags |= VM_BPF_F_RDONLY_PROG;
  if (m->type == VM_MAP_DEVMAP_HASH) {
    if (m->max_entries > 0x80000000u) return -VM_EINVAL;
    struct dhash *h = vm_calloc(sizeof *h);
    if (!h) return -VM_ENOMEM;
    m->impl = h;
    h->n_buckets = roundup_pow2(m->max_entries);
    h->heads = vm_malloc(h->n_buckets * 4);
    h->next = vm_malloc(m->max_entries * 4);
    m->arena = vm_calloc(m->max_entries * ELEM);
    if (!h->heads || !h->next || !m->arena) {
      dh_free(m);
      return -VM_ENOMEM;
    }
    for (u32 b = 0; b < h->n_buckets; b++) h->heads[b] = -1;
    for (u32 e = 0; e < m->max_entries; e++) h->next[e] = e + 1 < m->max_entries ? (s32)e + 1 : -1;
    h->free_head = 0;
    m->arena_len = m->max_entries * ELEM;
    m->ops = &dhash_ops;
    return 0;
  }
  u32 len = m->max_entries * slot_size(m);
  m->arena = vm_calloc(len);
  m->impl = vm_calloc(sizeof(struct idx) + m->max_entries);
  if (!m->arena || !m->impl) {
    dev_free(m);
    return -VM_ENOMEM;
  }
  ((struct idx *)m->impl)->cpus = vm_maps_possible_cpus;
  m->arena_len = len;
  m->ops = &idx_ops;
  return 0;
}

/* What bpf_redirect_map looks up: the entry's address, or NULL (index truncated to u32, as the
 * kernel's lookup functions take it). */
void *vm_redirect_lookup(struct vm_map *m, u64 index) {
  u32 k = (u32)index;
  return m->ops->lookup(m, &k);
}

/* The map table: creation and destruction by type, the lookup of a map from a pointer a program
 * holds, the check of value pointers against live arenas, and the exported API TypeScript uses
 * (src/vm/maps.ts). The semantics of each type live in map_*.c. */
#include "maps.h"

u32 vm_maps_possible_cpus = 1;

static struct vm_map *table[VM_MAX_MAPS];

/* Live maps that have an arena, sorted by arena address, for vm_map_region_ok's binary search:
 * it runs on every access a program makes outside its packet and stack. */
static struct vm_map *by_arena[VM_MAX_MAPS];
static u32 n_arenas;

static void arena_insert(struct vm_map *m) {
  u32 k = n_arenas;
  while (k > 0 && by_arena[k - 1]->arena > m->arena) {
    by_arena[k] = by_arena[k - 1];
    k--;
  }
  by_arena[k] = m;
  n_arenas++;
}

static void arena_remove(struct vm_map *m) {
  for (u32 k = 0; k < n_arenas; k++) {
    if (by_arena[k] != m) continue;
    for (; k + 1 < n_arenas; k++) by_arena[k] = by_arena[k + 1];
    n_arenas--;
    return;
  }
}

struct vm_map *vm_map_by_arena(u64 addr, u32 size) {
  u32 lo = 0, hi = n_arenas;
  while (lo < hi) { /* the last arena starting at or below addr */
    u32 mid = (lo + hi) / 2;
    if ((u64)(uptr)by_arena[mid]->arena <= addr) lo = mid + 1;
    else hi = mid;
  }
  if (lo == 0) return NULL;
  struct vm_map *m = by_arena[lo - 1];
  u64 start = (uptr)m->arena;
  if (m->arena_len < size || addr - start > (u64)(m->arena_len - size)) return NULL;
  return m;
}

int vm_map_region_ok(u64 addr, u32 size, u32 need) {
  struct vm_map *m = vm_map_by_arena(addr, size);
  if (!m) return 0;
  if ((need & VM_REGION_WRITE) && (m->flags & VM_BPF_F_RDONLY_PROG)) return 0;
  if ((need & VM_REGION_READ) && (m->flags & VM_BPF_F_WRONLY_PROG)) return 0;
  return 1;
}

struct vm_map *vm_map_by_id(u32 id) {
  return id > 0 && id < VM_MAX_MAPS ? table[id] : NULL;
}

/* A program's map argument is any 64-bit value: read the candidate's magic only when the whole
 * struct lies inside linear memory, then confirm against the table so a forged copy fails. */
struct vm_map *vm_map_from_ptr(u64 addr) {
  u64 mem = (u64)__builtin_wasm_memory_size(0) * 65536;
  if (addr == 0 || addr % 4 != 0 || addr > mem || mem - addr < sizeof(struct vm_map)) return NULL;
  struct vm_map *m = (struct vm_map *)(uptr)addr;
  if (m->magic != VM_MAP_MAGIC) return NULL;
  return vm_map_by_id(m->id) == m ? m : NULL;
}

int vm_map_inner_ok(struct vm_map *outer, u32 inner_id) {
  struct vm_map *t = vm_map_by_id(outer->inner_id), *in = vm_map_by_id(inner_id);
  if (!in) return -VM_EBADF;
  if (!t) return -VM_EINVAL;
  /* The kernel compares type, sizes, flags and max_entries with the template's. Map-in-map
   * inside map-in-map is refused. */
  if (in->type != t->type || in->key_size != t->key_size || in->value_size != t->value_size ||
      in->flags != t->flags || in->max_entries != t->max_entries ||
      in->type == VM_MAP_ARRAY_OF_MAPS || in->type == VM_MAP_HASH_OF_MAPS)
    return -VM_EINVAL;
  return 0;
}

struct vm_map *vm_map_create(u32 type, u32 key_size, u32 value_size, u32 max_entries, u32 flags,
                             u32 inner_id, s32 *err) {
  u32 id = 0;
  for (u32 k = 1; k < VM_MAX_MAPS; k++)
    if (!table[k]) { id = k; break; }
  if (!id) { *err = -VM_ENOSPC; return NULL; }
  struct vm_map *m = vm_calloc(sizeof *m);
  if (!m) { *err = -VM_ENOMEM; return NULL; }
  m->id = id;
  m->type = type;
  m->key_size = key_size;
  m->value_size = value_size;
  m->max_entries = max_entries;
  m->flags = flags;
  m->inner_id = inner_id;
  s32 r;
  switch (type) {
  case VM_MAP_ARRAY: case VM_MAP_PERCPU_ARRAY: case VM_MAP_PROG_ARRAY:
  case VM_MAP_PERF_EVENT_ARRAY: case VM_MAP_ARRAY_OF_MAPS:
    r = vm_map_array_init(m); break;
  case VM_MAP_HASH: case VM_MAP_PERCPU_HASH: case VM_MAP_LRU_HASH: case VM_MAP_LRU_PERCPU_HASH:
  case VM_MAP_HASH_OF_MAPS:
    r = vm_map_hash_init(m); break;
  case VM_MAP_LPM_TRIE: r = vm_map_lpm_init(m); break;
  case VM_MAP_QUEUE: case VM_MAP_STACK: r = vm_map_queue_init(m); break;
  case VM_MAP_RINGBUF: r = vm_map_ringbuf_init(m); break;
  case VM_MAP_DEVMAP: case VM_MAP_DEVMAP_HASH: case VM_MAP_CPUMAP: case VM_MAP_XSKMAP:
    r = vm_map_dev_init(m); break;
  default: r = -VM_EINVAL;
  }
  /* Map-in-map needs a live template (the kernel takes its fd at creation). */
  if (r == 0 && (type == VM_MAP_ARRAY_OF_MAPS || type == VM_MAP_HASH_OF_MAPS)) {
    struct vm_map *t = vm_map_by_id(inner_id);
    if (!t) r = -VM_EBADF;
    else if (t->type == VM_MAP_ARRAY_OF_MAPS || t->type == VM_MAP_HASH_OF_MAPS) r = -VM_EINVAL;
    if (r) m->ops->free(m);
  }
  if (r) {
    vm_free(m);
    *err = r;
    return NULL;
  }
  m->magic = VM_MAP_MAGIC;
  table[id] = m;
  if (m->arena) arena_insert(m);
  *err = 0;
  return m;
}

/* Outer maps that still hold the map being destroyed drop it: the kernel keeps an inner map
 * alive while referenced, but here its id may be reused, and a stale id must not find it. */
static void drop_from_outer_maps(u32 id) {
  for (u32 k = 1; k < VM_MAX_MAPS; k++) {
    struct vm_map *o = table[k];
    if (!o || (o->type != VM_MAP_ARRAY_OF_MAPS && o->type != VM_MAP_HASH_OF_MAPS)) continue;
    u8 key[512], next[512];
    int have = 0;
    while (o->ops->get_next_key(o, have ? key : NULL, next) == 0) {
      vm_memcpy(key, next, o->key_size);
      have = 1;
      struct vm_map *in = o->ops->lookup(o, key);
      if (in && in->id == id) o->ops->delete(o, key);
      /* An array's slot stays; a hash restarts its walk after a delete. */
      if (o->type == VM_MAP_HASH_OF_MAPS && in && in->id == id) have = 0;
    }
  }
}

void vm_map_destroy(struct vm_map *m) {
  if (!m || vm_map_by_id(m->id) != m) return;
  drop_from_outer_maps(m->id);
  if (m->arena) arena_remove(m);
  table[m->id] = NULL;
  m->magic = 0;
  m->ops->free(m);
  vm_free(m);
}

/* ---- The exported API: ids, and addresses of buffers TypeScript took with tp_alloc. ---- */

#define PTR(a) ((void *)(uptr)(a))

EXPORT("tp_map_create")
s32 tp_map_create(u32 type, u32 key_size, u32 value_size, u32 max_entries, u32 flags, u32 inner_id) {
  s32 err;
  struct vm_map *m = vm_map_create(type, key_size, value_size, max_entries, flags, inner_id, &err);
  return m ? (s32)m->id : err;
}

EXPORT("tp_map_destroy") s32 tp_map_destroy(u32 id) {
  struct vm_map *m = vm_map_by_id(id);
  if (!m) return -VM_EBADF;
  vm_map_destroy(m);
  return 0;
}

/* Copies the value out. *_OF_MAPS give the inner map's id, PROG_ARRAY the program handle,
 * QUEUE/STACK peek; the kernel refuses lookups of perf arrays and ring buffers (ENOTSUPP) and of
 * the sockets in an XSKMAP (EOPNOTSUPP). */
EXPORT("tp_map_lookup") s32 tp_map_lookup(u32 id, u32 key, u32 out) {
  struct vm_map *m = vm_map_by_id(id);
  if (!m) return -VM_EBADF;
  if (m->flags & VM_BPF_F_WRONLY) return -VM_EPERM;
  switch (m->type) {
  case VM_MAP_QUEUE: case VM_MAP_STACK: return m->ops->peek(m, PTR(out));
  case VM_MAP_PERF_EVENT_ARRAY: case VM_MAP_RINGBUF: return -VM_ENOTSUPP;
  case VM_MAP_XSKMAP: return -VM_EOPNOTSUPP;
  }
  void *v = m->ops->lookup_sys ? m->ops->lookup_sys(m, PTR(key)) : m->ops->lookup(m, PTR(key));
  if (!v) return -VM_ENOENT;
  if (m->type == VM_MAP_ARRAY_OF_MAPS || m->type == VM_MAP_HASH_OF_MAPS)
    *(u32 *)PTR(out) = ((struct vm_map *)v)->id;
  else
    vm_memcpy(PTR(out), v, m->value_size);
  return 0;
}

EXPORT("tp_map_update") s32 tp_map_update(u32 id, u32 key, u32 value, u32 flags) {
  struct vm_map *m = vm_map_by_id(id);
  if (!m) return -VM_EBADF;
  if (m->flags & VM_BPF_F_RDONLY) return -VM_EPERM;
  if (m->type == VM_MAP_QUEUE || m->type == VM_MAP_STACK) return m->ops->push(m, PTR(value), flags);
  return m->ops->update(m, PTR(key), PTR(value), flags);
}

/* Many updates in one call: `count` keys and values back to back, each applied as
 * tp_map_update applies one, in order. Stops at the first refusal and returns it; *done says how
 * many were written before it (the kernel's BPF_MAP_UPDATE_BATCH reports the same). */
EXPORT("tp_map_update_batch")
s32 tp_map_update_batch(u32 id, u32 keys, u32 values, u32 count, u32 flags, u32 done) {
  struct vm_map *m = vm_map_by_id(id);
  u32 n = 0;
  s32 r = 0;
  if (!m) r = -VM_EBADF;
  else if (m->flags & VM_BPF_F_RDONLY) r = -VM_EPERM;
  else if (m->type == VM_MAP_QUEUE || m->type == VM_MAP_STACK) r = -VM_EINVAL; /* no keys */
  for (; r == 0 && n < count; n++) {
    r = m->ops->update(m, PTR(keys + n * m->key_size), PTR(values + n * m->value_size), flags);
    if (r) break;
  }
  *(u32 *)PTR(done) = n;
  return r;
}

/* ARRAY and PERCPU_ARRAY (one CPU here): the values of indexes first .. first+count-1, back to
 * back, copied straight into the arena. All or nothing: a range past the end is E2BIG. */
EXPORT("tp_map_array_write")
s32 tp_map_array_write(u32 id, u32 first, u32 values, u32 count) {
  struct vm_map *m = vm_map_by_id(id);
  if (!m) return -VM_EBADF;
  if (m->flags & VM_BPF_F_RDONLY) return -VM_EPERM;
  if (m->type != VM_MAP_ARRAY && m->type != VM_MAP_PERCPU_ARRAY) return -VM_EINVAL;
  if (first >= m->max_entries || count > m->max_entries - first) return -VM_E2BIG;
  u32 stride = vm_round8(m->value_size);
  const u8 *src = PTR(values);
  u8 *dst = m->arena + (u64)first * stride;
  if (stride == m->value_size) {
    vm_memcpy(dst, src, (u64)count * stride);
  } else {
    for (u32 i = 0; i < count; i++) vm_memcpy(dst + (u64)i * stride, src + (u64)i * m->value_size, m->value_size);
  }
  return 0;
}

EXPORT("tp_map_delete") s32 tp_map_delete(u32 id, u32 key) {
  struct vm_map *m = vm_map_by_id(id);
  if (!m) return -VM_EBADF;
  if (m->flags & VM_BPF_F_RDONLY) return -VM_EPERM;
  return m->ops->delete(m, PTR(key));
}

/* key 0 asks for the first key. */
EXPORT("tp_map_next_key") s32 tp_map_next_key(u32 id, u32 key, u32 next) {
  struct vm_map *m = vm_map_by_id(id);
  return m ? m->ops->get_next_key(m, key ? PTR(key) : NULL, PTR(next)) : -VM_EBADF;
}

EXPORT("tp_map_push") s32 tp_map_push(u32 id, u32 value, u32 flags) {
  struct vm_map *m = vm_map_by_id(id);
  if (!m) return -VM_EBADF;
  if (m->flags & VM_BPF_F_RDONLY) return -VM_EPERM;
  return m->ops->push(m, PTR(value), flags);
}

/* Pop is the kernel's lookup-and-delete, which needs both rights. */
EXPORT("tp_map_pop") s32 tp_map_pop(u32 id, u32 out) {
  struct vm_map *m = vm_map_by_id(id);
  if (!m) return -VM_EBADF;
  if (m->flags & (VM_BPF_F_RDONLY | VM_BPF_F_WRONLY)) return -VM_EPERM;
  return m->ops->pop(m, PTR(out));
}

EXPORT("tp_map_peek") s32 tp_map_peek(u32 id, u32 out) {
  struct vm_map *m = vm_map_by_id(id);
  return m ? m->ops->peek(m, PTR(out)) : -VM_EBADF;
}

/* Ring buffer and perf array records: bytes needed, then drain into a buffer of that size. */
EXPORT("tp_map_records_pending") s32 tp_map_records_pending(u32 id) {
  struct vm_map *m = vm_map_by_id(id);
  return m ? (s32)vm_map_records_pending(m) : -VM_EBADF;
}

EXPORT("tp_map_records_drain") s32 tp_map_records_drain(u32 id, u32 out, u32 cap) {
  struct vm_map *m = vm_map_by_id(id);
  return m ? (s32)vm_map_records_drain(m, PTR(out), cap) : -VM_EBADF;
}

/* The address of the map's arena and its length (for tools that show where values live). */
EXPORT("tp_map_arena") u32 tp_map_arena(u32 id) {
  struct vm_map *m = vm_map_by_id(id);
  return m ? (u32)(uptr)m->arena : 0;
}

/* The address of the struct vm_map (what a program's map argument holds after relocation). */
EXPORT("tp_map_addr") u32 tp_map_addr(u32 id) {
  return (u32)(uptr)vm_map_by_id(id);
}

/* max_entries as the map has it (a per-CPU LRU rounds it up, as the kernel does). */
EXPORT("tp_map_max_entries") u32 tp_map_max_entries(u32 id) {
  struct vm_map *m = vm_map_by_id(id);
  return m ? m->max_entries : 0;
}

/* Sets the possible CPUs for LRU maps created from now on; returns the previous number. */
EXPORT("tp_map_set_possible_cpus") u32 tp_map_set_possible_cpus(u32 n) {
  u32 old = vm_maps_possible_cpus;
  vm_maps_possible_cpus = n ? n : 1;
  return old;
}

/* The ring buffer and perf operations programs reach through helpers, exported so that
 * TypeScript tests and tools can drive them without a program. */
EXPORT("tp_ringbuf_reserve") u32 tp_ringbuf_reserve(u32 id, u32 size, u32 flags) {
  struct vm_map *m = vm_map_by_id(id);
  return m ? (u32)(uptr)vm_ringbuf_reserve(m, size, flags) : 0;
}
EXPORT("tp_ringbuf_submit") void tp_ringbuf_submit(u32 sample, u32 flags) {
  vm_ringbuf_submit(PTR(sample), flags);
}
EXPORT("tp_ringbuf_discard") void tp_ringbuf_discard(u32 sample, u32 flags) {
  vm_ringbuf_discard(PTR(sample), flags);
}
EXPORT("tp_ringbuf_output") s32 tp_ringbuf_output(u32 id, u32 data, u32 size, u32 flags) {
  struct vm_map *m = vm_map_by_id(id);
  return m ? (s32)vm_ringbuf_output(m, PTR(data), size, flags) : -VM_EBADF;
}
EXPORT("tp_ringbuf_query") u64 tp_ringbuf_query(u32 id, u32 flags) {
  struct vm_map *m = vm_map_by_id(id);
  return m ? vm_ringbuf_query(m, flags) : 0;
}
EXPORT("tp_perf_event_output") s32 tp_perf_event_output(u32 id, u64 flags, u32 data, u32 size) {
  struct vm_map *m = vm_map_by_id(id);
  return m ? (s32)vm_perf_event_output(m, flags, PTR(data), size, NULL, 0) : -VM_EBADF;
}
/* Whether a program may touch [addr, addr+size) of a map (for the TypeScript tests of the rule). */
EXPORT("tp_map_region_ok") u32 tp_map_region_ok(u32 addr, u32 size, u32 need) {
  return (u32)vm_map_region_ok(addr, size, need);
}

/* Array maps: ARRAY and PERCPU_ARRAY (one CPU) keep their values in the arena, one slot of
 * round_up(value_size, 8) bytes per index, as the kernel lays them out; PROG_ARRAY,
 * ARRAY_OF_MAPS and PERF_EVENT_ARRAY (the kernel's "fd arrays") keep a u32 per index outside
 * the arena (program handles, inner map ids, a marker that an event reader is attached), since
 * programs never get a pointer into them. */
#include "maps.h"

#define VM_BPF_F_NUMA_NODE 4u
#define VM_BPF_F_PRESERVE_ELEMS 2048u
#define VM_BPF_F_INNER_MAP 4096u
#define ARRAY_FLAGS                                                                              \
  (VM_BPF_F_NUMA_NODE | VM_BPF_F_RDONLY | VM_BPF_F_WRONLY | VM_BPF_F_RDONLY_PROG |             \
   VM_BPF_F_WRONLY_PROG | VM_BPF_F_MMAPABLE | VM_BPF_F_PRESERVE_ELEMS | VM_BPF_F_INNER_MAP)
#define PCPU_MIN_UNIT_SIZE 32768u /* the kernel's cap on a per-CPU value */

static int is_fd_array(const struct vm_map *m) {
  return m->type == VM_MAP_PROG_ARRAY || m->type == VM_MAP_ARRAY_OF_MAPS ||
         m->type == VM_MAP_PERF_EVENT_ARRAY;
}

static u32 index_of(const void *key) {
  u32 i;
  vm_memcpy(&i, key, 4);
  return i;
}

static void *array_lookup(struct vm_map *m, const void *key) {
  u32 i = index_of(key);
  if (i >= m->max_entries) return NULL;
  return m->arena + (u64)i * vm_round8(m->value_size);
}

static s32 array_update(struct vm_map *m, const void *key, const void *value, u64 flags) {
  if ((flags & ~(u64)VM_BPF_F_LOCK) > VM_BPF_EXIST) return -VM_EINVAL;
  if (flags & VM_BPF_F_LOCK) return -VM_EINVAL; /* no bpf_spin_lock in our values */
  u32 i = index_of(key);
  if (i >= m->max_entries) return -VM_E2BIG;
  /* Every index always exists. */
  if (flags == VM_BPF_NOEXIST) return -VM_EEXIST;
  vm_memcpy(m->arena + (u64)i * vm_round8(m->value_size), value, m->value_size);
  return 0;
}

static s32 array_delete(struct vm_map *m, const void *key) { return -VM_EINVAL; }

static s32 array_get_next_key(struct vm_map *m, const void *key, void *next) {
  u32 i = key ? index_of(key) : 0xffffffffu;
  u32 n;
  if (!key || i >= m->max_entries) n = 0;
  else if (i == m->max_entries - 1) return -VM_ENOENT;
  else n = i + 1;
  vm_memcpy(next, &n, 4);
  return 0;
}

static s32 no_push(struct vm_map *m, const void *v, u64 f) { return -VM_ENOTSUPP; }
static s32 no_pop(struct vm_map *m, void *v) { return -VM_ENOTSUPP; }

static void array_free(struct vm_map *m) {
  if (m->type == VM_MAP_PERF_EVENT_ARRAY) vm_perf_records_free(m);
  vm_free(m->arena);
  vm_free(m->impl);
}

static const struct vm_map_ops array_ops = {
    .lookup = array_lookup, .update = array_update, .delete = array_delete,
    .get_next_key = array_get_next_key, .push = no_push, .pop = no_pop, .peek = no_pop,
    .free = array_free,
};

/* ---- fd arrays ---- */

static u32 *slots(struct vm_map *m) { return m->impl; }

static void *fd_lookup(struct vm_map *m, const void *key) {
  u32 i = index_of(key);
  if (i >= m->max_entries || !slots(m)[i]) return NULL;
  if (m->type == VM_MAP_ARRAY_OF_MAPS) return vm_map_by_id(slots(m)[i]);
  return &slots(m)[i];
}

static s32 fd_update(struct vm_map *m, const void *key, const void *value, u64 flags) {
  if (flags != VM_BPF_ANY) return -VM_EINVAL;
  u32 i = index_of(key), v;
  if (i >= m->max_entries) return -VM_E2BIG;
  vm_memcpy(&v, value, 4);
  /* A value names a program, a map or a reader; 0 names nothing, as a bad fd does. */
  if (!v) return -VM_EBADF;
  if (m->type == VM_MAP_ARRAY_OF_MAPS) {
    s32 r = vm_map_inner_ok(m, v);
    if (r) return r;
  }
  slots(m)[i] = v;
  return 0;
}

static s32 fd_delete(struct vm_map *m, const void *key) {
  u32 i = index_of(key);
  if (i >= m->max_entries) return -VM_E2BIG;
  if (!slots(m)[i]) return -VM_ENOENT;
  slots(m)[i] = 0;
  return 0;
}

static const struct vm_map_ops fd_array_ops = {
    .lookup = fd_lookup, .update = fd_update, .delete = fd_delete,
    .get_next_key = array_get_next_key, .push = no_push, .pop = no_pop, .peek = no_pop,
    .free = array_free,
};

u32 vm_prog_array_get(struct vm_map *m, u32 index) {
  if (!m || m->type != VM_MAP_PROG_ARRAY || index >= m->max_entries) return 0;
  return slots(m)[index];
}

/* Whether the perf array slot for this output holds a reader: 0, or the errno. */
s32 vm_perf_slot_check(struct vm_map *m, u64 flags) {
  if (m->type != VM_MAP_PERF_EVENT_ARRAY) return -VM_EINVAL;
  u64 index = flags & VM_BPF_F_INDEX_MASK;
  if (index == VM_BPF_F_CURRENT_CPU) index = 0;
  if (index >= m->max_entries) return -VM_E2BIG;
  if (!slots(m)[index]) return -VM_ENOENT;
  /* A reader on another CPU than the one running (CPU 0): the kernel says EOPNOTSUPP. */
  if (index != 0) return -VM_EOPNOTSUPP;
  return 0;
}

s32 vm_map_array_init(struct vm_map *m) {
  int fd = is_fd_array(m);
  if (m->max_entries == 0 || m->key_size != 4 || m->value_size == 0 || (m->flags & ~ARRAY_FLAGS))
    return -VM_EINVAL;
  if ((m->flags & VM_BPF_F_RDONLY) && (m->flags & VM_BPF_F_WRONLY)) return -VM_EINVAL;
  if ((m->flags & VM_BPF_F_RDONLY_PROG) && (m->flags & VM_BPF_F_WRONLY_PROG)) return -VM_EINVAL;
  if (m->type != VM_MAP_ARRAY && (m->flags & (VM_BPF_F_MMAPABLE | VM_BPF_F_INNER_MAP)))
    return -VM_EINVAL;
  if (fd && (m->value_size != 4 || (m->flags & (VM_BPF_F_RDONLY_PROG | VM_BPF_F_WRONLY_PROG))))
    return -VM_EINVAL;
  if (m->type == VM_MAP_PERCPU_ARRAY && vm_round8(m->value_size) > PCPU_MIN_UNIT_SIZE)
    return -VM_E2BIG;
  if (m->value_size > VM_MAP_MAX_ARENA) return -VM_E2BIG;
  if (fd) {
    if ((u64)m->max_entries * 4 > VM_MAP_MAX_ARENA) return -VM_ENOMEM;
    m->impl = vm_calloc(m->max_entries * 4);
    if (!m->impl) return -VM_ENOMEM;
    m->ops = &fd_array_ops;
    return 0;
  }
  u64 len = (u64)m->max_entries * vm_round8(m->value_size);
  if (len > VM_MAP_MAX_ARENA) return -VM_ENOMEM;
  m->arena = vm_calloc((u32)len);
  if (!m->arena) return -VM_ENOMEM;
  m->arena_len = (u32)len;
  m->ops = &array_ops;
  return 0;
}

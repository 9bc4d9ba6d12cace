/* QUEUE and STACK: a ring of max_entries + 1 value slots (one stays empty so that full and
 * empty differ), as the kernel keeps them. Values are copied in and out, never pointed at, so
 * these maps have no arena. Pushing with BPF_EXIST into a full map drops the oldest value, for
 * a stack too. */
#include "maps.h"

#define VM_BPF_F_NUMA_NODE 4u
#define QUEUE_FLAGS                                                                              \
  (VM_BPF_F_NUMA_NODE | VM_BPF_F_RDONLY | VM_BPF_F_WRONLY | VM_BPF_F_RDONLY_PROG |              \
   VM_BPF_F_WRONLY_PROG)

struct qs {
  u32 size; /* max_entries + 1 */
  u32 head; /* the next slot to write */
  u32 tail; /* the oldest value */
  u8 *slots;
};

static struct qs *Q(struct vm_map *m) { return m->impl; }
static int empty(struct qs *q) { return q->head == q->tail; }
static int full(struct qs *q) { return (q->head + 1 == q->size ? 0 : q->head + 1) == q->tail; }
static u8 *slot(struct vm_map *m, u32 i) { return Q(m)->slots + (u64)i * m->value_size; }

static s32 qs_push(struct vm_map *m, const void *value, u64 flags) {
  struct qs *q = Q(m);
  if ((flags & VM_BPF_NOEXIST) || flags > VM_BPF_EXIST) return -VM_EINVAL;
  if (full(q)) {
    if (flags != VM_BPF_EXIST) return -VM_E2BIG;
    if (++q->tail == q->size) q->tail = 0;
  }
  vm_memcpy(slot(m, q->head), value, m->value_size);
  if (++q->head == q->size) q->head = 0;
  return 0;
}

static s32 queue_take(struct vm_map *m, void *value, int remove) {
  struct qs *q = Q(m);
  if (empty(q)) return -VM_ENOENT;
  vm_memcpy(value, slot(m, q->tail), m->value_size);
  if (remove && ++q->tail == q->size) q->tail = 0;
  return 0;
}

static s32 stack_take(struct vm_map *m, void *value, int remove) {
  struct qs *q = Q(m);
  if (empty(q)) return -VM_ENOENT;
  u32 top = q->head == 0 ? q->size - 1 : q->head - 1;
  vm_memcpy(value, slot(m, top), m->value_size);
  if (remove) q->head = top;
  return 0;
}

static s32 qs_pop(struct vm_map *m, void *v) {
  return m->type == VM_MAP_QUEUE ? queue_take(m, v, 1) : stack_take(m, v, 1);
}
static s32 qs_peek(struct vm_map *m, void *v) {
  return m->type == VM_MAP_QUEUE ? queue_take(m, v, 0) : stack_take(m, v, 0);
}

/* Keyed operations do not exist for these maps. */
static void *qs_lookup(struct vm_map *m, const void *key) { return NULL; }
static s32 qs_update(struct vm_map *m, const void *key, const void *value, u64 flags) {
  return qs_push(m, value, flags);
}
static s32 qs_delete(struct vm_map *m, const void *key) { return -VM_EINVAL; }
static s32 qs_next(struct vm_map *m, const void *key, void *next) { return -VM_EINVAL; }

static void qs_free(struct vm_map *m) {
  if (!Q(m)) return;
  vm_free(Q(m)->slots);
  vm_free(Q(m));
  m->impl = NULL;
}

static const struct vm_map_ops qs_ops = {
    .lookup = qs_lookup, .update = qs_update, .delete = qs_delete, .get_next_key = qs_next,
    .push = qs_push, .pop = qs_pop, .peek = qs_peek, .free = qs_free,
};

s32 vm_map_queue_init(struct vm_map *m) {
  if (m->max_entries == 0 || m->key_size != 0 || m->value_size == 0 || (m->flags & ~QUEUE_FLAGS) ||
      ((m->flags & VM_BPF_F_RDONLY) && (m->flags & VM_BPF_F_WRONLY)) ||
      ((m->flags & VM_BPF_F_RDONLY_PROG) && (m->flags & VM_BPF_F_WRONLY_PROG)))
    return -VM_EINVAL;
  if (m->value_size > VM_MAP_MAX_ARENA) return -VM_E2BIG;
  u64 len = ((u64)m->max_entries + 1) * m->value_size;
  if (len > VM_MAP_MAX_ARENA) return -VM_ENOMEM;
  struct qs *q = vm_calloc(sizeof *q);
  if (!q) return -VM_ENOMEM;
  q->size = m->max_entries + 1;
  q->slots = vm_malloc((u32)len);
  if (!q->slots) {
    vm_free(q);
    return -VM_ENOMEM;
  }
  m->impl = q;
  m->ops = &qs_ops;
  return 0;
}

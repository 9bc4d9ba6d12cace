/* Records for TypeScript to drain: RINGBUF maps, and the outputs of PERF_EVENT_ARRAY maps.
 *
 * A ring buffer works as the kernel's does: producer and consumer positions that only grow, an
 * 8-byte header before each record (its length with a BUSY bit while reserved and a DISCARD
 * bit once discarded), records rounded up to 8 bytes, and a reservation refused when the
 * producer would get a whole ring ahead of the consumer or of the oldest record still busy.
 * The kernel maps the data pages twice in a row so that a record crossing the end of the ring
 * is contiguous; here the arena is twice the ring for the same reason, and the consumer (drain)
 * reads a record where its producer wrote it. The consumer is TypeScript: drain copies out the
 * committed records in order, skips discarded ones, and stops at the first still busy.
 *
 * Perf event outputs are appended to a list per map (the kernel's per-CPU perf buffers have no
 * counterpart here); more than PERF_MAX pending bytes fail with ENOSPC as a full buffer would. */
#include "maps.h"

#define VM_BPF_F_NUMA_NODE 4u
#define BUSY 0x80000000u
#define DISCARD 0x40000000u
#define HDR 8u
#define MAX_RECORD 0x3fffffffu /* UINT_MAX / 4: the length field keeps two bits for flags */
#define PERF_MAX (16u << 20)

struct rb {
  u32 size;
  u64 cons, prod, pend;
};

static struct rb *R(struct vm_map *m) { return m->impl; }
static u8 *hdr_at(struct vm_map *m, u64 pos) { return m->arena + (u32)(pos & (R(m)->size - 1)); }
static u32 hdr_len(struct vm_map *m, u64 pos) {
  u32 v;
  vm_memcpy(&v, hdr_at(m, pos), 4);
  return v;
}
static u32 rec_len(u32 len_field) { return vm_round8((len_field & ~(BUSY | DISCARD)) + HDR); }

void *vm_ringbuf_reserve(struct vm_map *m, u64 size, u64 flags) {
  if (!m || m->type != VM_MAP_RINGBUF || flags || size > MAX_RECORD) return NULL;
  struct rb *r = R(m);
  u32 len = vm_round8((u32)size + HDR);
  if (len > r->size) return NULL;
  /* The oldest record still busy limits the producer as much as the consumer does. */
  while (r->pend < r->prod) {
    u32 h = hdr_len(m, r->pend);
    if (h & BUSY) break;
    r->pend += rec_len(h);
  }
  u64 next = r->prod + len;
  if (next - r->cons > r->size - 1 || next - r->pend > r->size - 1) return NULL;
  u8 *h = hdr_at(m, r->prod);
  u32 words[2] = {(u32)size | BUSY, m->id};
  vm_memcpy(h, words, HDR);
  r->prod = next;
  return h + HDR;
}

/* The map of a sample, and its header, when the sample is one that is reserved. */
static struct vm_map *sample_map(void *sample, u32 *len) {
  u64 a = (u64)(uptr)sample;
  if (a < HDR) return NULL;
  struct vm_map *m = vm_map_by_arena(a - HDR, HDR);
  if (!m || m->type != VM_MAP_RINGBUF || (a - HDR - (uptr)m->arena) % 8 != 0 ||
      a - HDR - (uptr)m->arena >= R(m)->size)
    return NULL;
  vm_memcpy(len, (u8 *)sample - HDR, 4);
  return (*len & BUSY) ? m : NULL;
}

static void commit(void *sample, int discard) {
  u32 len;
  if (!sample_map(sample, &len)) return; /* the verifier stops this in the kernel */
  len &= ~BUSY;
  if (discard) len |= DISCARD;
  vm_memcpy((u8 *)sample - HDR, &len, 4);
}

void vm_ringbuf_submit(void *sample, u64 flags) { commit(sample, 0); }
void vm_ringbuf_discard(void *sample, u64 flags) { commit(sample, 1); }

s64 vm_ringbuf_output(struct vm_map *m, const void *data, u64 size, u64 flags) {
  if (flags & ~(u64)(VM_BPF_RB_NO_WAKEUP | VM_BPF_RB_FORCE_WAKEUP)) return -VM_EINVAL;
  u8 *rec = vm_ringbuf_reserve(m, size, 0);
  if (!rec) return -VM_EAGAIN;
  vm_memcpy(rec, data, (u32)size);
  commit(rec, 0);
  return 0;
}

u64 vm_ringbuf_query(struct vm_map *m, u64 flags) {
  if (!m || m->type != VM_MAP_RINGBUF) return 0;
  struct rb *r = R(m);
  switch (flags) {
  case VM_BPF_RB_AVAIL_DATA: return r->prod - r->cons;
  case VM_BPF_RB_RING_SIZE: return r->size;
  case VM_BPF_RB_CONS_POS: return r->cons;
  case VM_BPF_RB_PROD_POS: return r->prod;
  default: return 0;
  }
}

static u32 put_record(u8 *out, u32 at, const void *a, u32 alen, const void *b, u32 blen) {
  u32 words[2] = {alen + blen, 0};
  vm_memcpy(out + at, words, 8);
  if (alen) vm_memcpy(out + at + 8, a, alen);
  if (blen) vm_memcpy(out + at + 8 + alen, b, blen);
  u32 total = vm_round8(alen + blen);
  vm_memset(out + at + 8 + alen + blen, 0, total - alen - blen);
  return 8 + total;
}

/* Walks committed records from the consumer position; consumes them when out is not NULL. */
static u32 ringbuf_walk(struct vm_map *m, u8 *out, u32 cap) {
  struct rb *r = R(m);
  u64 pos = r->cons;
  u32 used = 0;
  while (pos < r->prod) {
    u32 h = hdr_len(m, pos);
    if (h & BUSY) break;
    u32 n = h & ~DISCARD;
    if (!(h & DISCARD)) {
      if (out && used + 8 + vm_round8(n) > cap) break;
      if (out) put_record(out, used, hdr_at(m, pos) + HDR, n, NULL, 0);
      used += 8 + vm_round8(n);
    }
    pos += rec_len(h);
    if (out) r->cons = pos;
  }
  return used;
}

/* ---- perf event outputs ---- */

struct perf_records {
  u32 len, cap;
  u8 *buf;
};
static struct perf_records *perf[VM_MAX_MAPS];

s64 vm_perf_event_output(struct vm_map *m, u64 flags, const void *data, u64 size, const void *extra,
                         u64 extra_size) {
  if (!m || (flags & ~VM_BPF_F_INDEX_MASK)) return -VM_EINVAL;
  s32 r = vm_perf_slot_check(m, flags);
  if (r) return r;
  struct perf_records *p = perf[m->id];
  if (!p) p = perf[m->id] = vm_calloc(sizeof *p);
  if (!p) return -VM_ENOMEM;
  u64 need = 8 + vm_round8((u32)(size + extra_size));
  if (size + extra_size > PERF_MAX || p->len + need > PERF_MAX) return -VM_ENOSPC;
  if (p->len + need > p->cap) {
    u32 cap = p->cap ? p->cap : 4096;
    while (cap < p->len + need) cap *= 2;
    u8 *b = vm_malloc(cap);
    if (!b) return -VM_ENOMEM;
    if (p->len) vm_memcpy(b, p->buf, p->len);
    vm_free(p->buf);
    p->buf = b;
    p->cap = cap;
  }
  p->len += put_record(p->buf, p->len, data, (u32)size, extra, (u32)extra_size);
  return 0;
}

void vm_perf_records_free(struct vm_map *m) {
  struct perf_records *p = perf[m->id];
  if (!p) return;
  vm_free(p->buf);
  vm_free(p);
  perf[m->id] = NULL;
}

static u32 perf_drain(struct vm_map *m, u8 *out, u32 cap) {
  struct perf_records *p = perf[m->id];
  if (!p) return 0;
  u32 used = 0;
  while (used < p->len) {
    u32 n;
    vm_memcpy(&n, p->buf + used, 4);
    u32 rec = 8 + vm_round8(n);
    if (used + rec > cap) break;
    used += rec;
  }
  vm_memcpy(out, p->buf, used);
  __builtin_memmove(p->buf, p->buf + used, p->len - used);
  p->len -= used;
  return used;
}

u32 vm_map_records_pending(struct vm_map *m) {
  if (m->type == VM_MAP_RINGBUF) return ringbuf_walk(m, NULL, 0);
  if (m->type == VM_MAP_PERF_EVENT_ARRAY) return perf[m->id] ? perf[m->id]->len : 0;
  return 0;
}

u32 vm_map_records_drain(struct vm_map *m, u8 *out, u32 cap) {
  if (m->type == VM_MAP_RINGBUF) return ringbuf_walk(m, out, cap);
  if (m->type == VM_MAP_PERF_EVENT_ARRAY) return perf_drain(m, out, cap);
  return 0;
}

/* ---- the map ---- */

static void *rb_lookup(struct vm_map *m, const void *key) { return NULL; }
static s32 rb_update(struct vm_map *m, const void *k, const void *v, u64 f) { return -VM_ENOTSUPP; }
static s32 rb_delete(struct vm_map *m, const void *k) { return -VM_ENOTSUPP; }
static s32 rb_next(struct vm_map *m, const void *k, void *n) { return -VM_ENOTSUPP; }
static s32 rb_push(struct vm_map *m, const void *v, u64 f) { return -VM_ENOTSUPP; }
static s32 rb_pop(struct vm_map *m, void *v) { return -VM_ENOTSUPP; }
static void rb_free(struct vm_map *m) {
  vm_free(m->arena);
  vm_free(m->impl);
  m->arena = NULL;
  m->impl = NULL;
}

static const struct vm_map_ops rb_ops = {
    .lookup = rb_lookup, .update = rb_update, .delete = rb_delete, .get_next_key = rb_next,
    .push = rb_push, .pop = rb_pop, .peek = rb_pop, .free = rb_free,
};

s32 vm_map_ringbuf_init(struct vm_map *m) {
  u32 n = m->max_entries;
  if (m->key_size || m->value_size || n == 0 || (n & (n - 1)) || n % 4096 ||
      (m->flags & ~VM_BPF_F_NUMA_NODE))
    return -VM_EINVAL;
  if (n > VM_MAP_MAX_ARENA / 2) return -VM_ENOMEM;
  struct rb *r = vm_calloc(sizeof *r);
  u8 *data = vm_calloc(2 * n);
  if (!r || !data) {
    vm_free(r);
    vm_free(data);
    return -VM_ENOMEM;
  }
  r->size = n;
  m->impl = r;
  m->arena = data;
  m->arena_len = 2 * n;
  m->ops = &rb_ops;
  return 0;
}

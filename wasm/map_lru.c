/* The LRU lists behind LRU_HASH and LRU_PERCPU_HASH, modelled on the kernel's bpf_lru_list for
 * one running CPU (CPU 0) of vm_maps_possible_cpus possible ones, so that a sequence of
 * operations evicts the same entries the kernel evicts. The kernel's LRU is not a strict LRU:
 * it keeps active and inactive lists with a "referenced" bit (second chance), hands free
 * elements to a per-CPU local list in batches, and keeps new elements on a per-CPU pending list
 * until the next batch is taken. Which entries survive depends on those details, so they are
 * reproduced here: the list moves, the scan limits, the batch size
 * clamp(elements / possible CPUs / 2, 1, 128), and the order in which lists are searched.
 *
 * Lists are circular and doubly linked over indexes: 0..n-1 are elements, n+LIST are heads.
 * Free elements are interchangeable, so only which list they are on matters. */
#include "maps.h"

enum { ACTIVE, INACTIVE, FREE, LOCAL_FREE, LOCAL_PENDING, N_LISTS };

#define COMMON_TARGET_MAX 128 /* the kernel's LOCAL_FREE_TARGET and LOCAL_NR_SCANS */
#define PERCPU_TARGET 4       /* PERCPU_FREE_TARGET and PERCPU_NR_SCANS */

struct vm_lru {
  u32 n;
  int percpu;
  u32 target_free;
  u32 nr_scans;
  u32 counts[2]; /* ACTIVE and INACTIVE */
  u32 next_inactive_rotation;
  u32 *next, *prev;
  u8 *type, *ref;
};

#define HEAD(l, t) ((l)->n + (t))

static void l_del(struct vm_lru *l, u32 x) {
  l->next[l->prev[x]] = l->next[x];
  l->prev[l->next[x]] = l->prev[x];
}
static void l_add(struct vm_lru *l, u32 x, u32 h) { /* after h: at the head of its list */
  u32 f = l->next[h];
  l->next[x] = f;
  l->prev[x] = h;
  l->prev[f] = x;
  l->next[h] = x;
}
static void l_move(struct vm_lru *l, u32 x, u32 h) { l_del(l, x); l_add(l, x, h); }
static int l_empty(struct vm_lru *l, u32 h) { return l->next[h] == h; }

static void count_inc(struct vm_lru *l, u32 t) { if (t < 2) l->counts[t]++; }
static void count_dec(struct vm_lru *l, u32 t) { if (t < 2) l->counts[t]--; }

/* The inactive rotation remembers a position; a node leaving must not take it along. */
static void keep_rotation(struct vm_lru *l, u32 x) {
  if (l->next_inactive_rotation == x) l->next_inactive_rotation = l->prev[x];
}

static void to_free(struct vm_lru *l, u32 x, u32 free_head, u32 free_type) {
  keep_rotation(l, x);
  count_dec(l, l->type[x]);
  l->type[x] = (u8)free_type;
  l_move(l, x, free_head);
}

/* From the local pending list into the global lists. */
static void move_in(struct vm_lru *l, u32 x, u32 t) {
  count_inc(l, t);
  l->type[x] = (u8)t;
  l->ref[x] = 0;
  l_move(l, x, HEAD(l, t));
}

/* Within the global lists (or to the global free list). */
static void move(struct vm_lru *l, u32 x, u32 t) {
  if (l->type[x] != t) {
    count_dec(l, l->type[x]);
    count_inc(l, t);
    l->type[x] = (u8)t;
  }
  l->ref[x] = 0;
  keep_rotation(l, x);
  l_move(l, x, HEAD(l, t));
}

/* From the tail of the active list: referenced nodes get another round at its head, the others
 * go to the head of the inactive list; at most nr_scans nodes, never past the first node. */
static void rotate_active(struct vm_lru *l) {
  u32 h = HEAD(l, ACTIVE), first = l->next[h], i = 0;
  for (u32 x = l->prev[h], p; x != h; x = p) {
    p = l->prev[x];
    move(l, x, l->ref[x] ? ACTIVE : INACTIVE);
    if (++i == l->nr_scans || x == first) break;
  }
}

/* From the remembered position backwards: referenced nodes go to the active list. */
static void rotate_inactive(struct vm_lru *l) {
  u32 h = HEAD(l, INACTIVE);
  if (l_empty(l, h)) return;
  u32 last = l->next[l->next_inactive_rotation];
  if (last == h) last = l->next[last];
  u32 cur = l->next_inactive_rotation, nx = h, i = 0;
  while (i < l->nr_scans) {
    if (cur == h) {
      cur = l->prev[cur];
      continue;
    }
    nx = l->prev[cur];
    if (l->ref[cur]) move(l, cur, ACTIVE);
    if (cur == last) break;
    cur = nx;
    i++;
  }
  l->next_inactive_rotation = nx;
}

static void rotate(struct vm_lru *l) {
  if (l->counts[INACTIVE] < l->counts[ACTIVE]) rotate_active(l);
  rotate_inactive(l);
}

typedef int (*evict_fn)(void *ctx, u32 elem);

static u32 shrink_inactive(struct vm_lru *l, u32 want, u32 free_head, u32 free_type, evict_fn ev,
                           void *ctx) {
  u32 h = HEAD(l, INACTIVE), got = 0, i = 0;
  for (u32 x = l->prev[h], p; x != h; x = p) {
    p = l->prev[x];
    if (l->ref[x]) {
      move(l, x, ACTIVE);
    } else if (ev(ctx, x)) {
      to_free(l, x, free_head, free_type);
      if (++got == want) break;
    }
    if (++i == l->nr_scans) break;
  }
  return got;
}

/* Unreferenced inactive nodes first; failing those, one node from the tail of the inactive list
 * (or of the active list when the inactive one is empty), referenced or not. */
static u32 shrink(struct vm_lru *l, u32 want, u32 free_head, u32 free_type, evict_fn ev, void *ctx) {
  u32 got = shrink_inactive(l, want, free_head, free_type, ev, ctx);
  if (got) return got;
  u32 h = HEAD(l, l_empty(l, HEAD(l, INACTIVE)) ? ACTIVE : INACTIVE);
  for (u32 x = l->prev[h], p; x != h; x = p) {
    p = l->prev[x];
    if (ev(ctx, x)) {
      to_free(l, x, free_head, free_type);
      return 1;
    }
  }
  return 0;
}

static void local_flush(struct vm_lru *l) {
  u32 h = HEAD(l, LOCAL_PENDING);
  for (u32 x = l->prev[h], p; x != h; x = p) {
    p = l->prev[x];
    move_in(l, x, l->ref[x] ? ACTIVE : INACTIVE);
  }
}

static void refill_local(struct vm_lru *l, evict_fn ev, void *ctx) {
  local_flush(l);
  rotate(l);
  u32 got = 0, h = HEAD(l, FREE);
  for (u32 x = l->next[h], nx; x != h && got < l->target_free; x = nx) {
    nx = l->next[x];
    to_free(l, x, HEAD(l, LOCAL_FREE), LOCAL_FREE);
    got++;
  }
  if (got < l->target_free)
    shrink(l, l->target_free - got, HEAD(l, LOCAL_FREE), LOCAL_FREE, ev, ctx);
}

static s32 pop_local_free(struct vm_lru *l) {
  u32 h = HEAD(l, LOCAL_FREE);
  if (l_empty(l, h)) return -1;
  u32 x = l->next[h];
  l_del(l, x);
  return (s32)x;
}

/* The last resort: an element from this CPU's own pending list, oldest unreferenced first. */
static s32 steal_pending(struct vm_lru *l, evict_fn ev, void *ctx) {
  u32 h = HEAD(l, LOCAL_PENDING);
  for (int force = 0; force < 2; force++)
    for (u32 x = l->prev[h]; x != h; x = l->prev[x])
      if ((force || !l->ref[x]) && ev(ctx, x)) {
        l_del(l, x);
        return (s32)x;
      }
  return -1;
}

static s32 common_pop(struct vm_lru *l, evict_fn ev, void *ctx) {
  s32 x = pop_local_free(l);
  if (x < 0) {
    refill_local(l, ev, ctx);
    x = pop_local_free(l);
  }
  if (x < 0) x = steal_pending(l, ev, ctx);
  if (x < 0) return -1;
  l->type[x] = LOCAL_PENDING;
  l->ref[x] = 0;
  l_add(l, (u32)x, HEAD(l, LOCAL_PENDING));
  return x;
}

static s32 percpu_pop(struct vm_lru *l, evict_fn ev, void *ctx) {
  rotate(l);
  u32 h = HEAD(l, FREE);
  if (l_empty(l, h)) shrink(l, PERCPU_TARGET, h, FREE, ev, ctx);
  if (l_empty(l, h)) return -1;
  u32 x = l->next[h];
  l->ref[x] = 0;
  move(l, x, INACTIVE);
  return (s32)x;
}

s32 vm_lru_pop_free(struct vm_lru *l, evict_fn ev, void *ctx) {
  return l->percpu ? percpu_pop(l, ev, ctx) : common_pop(l, ev, ctx);
}

void vm_lru_push_free(struct vm_lru *l, u32 x) {
  if (!l->percpu && l->type[x] == LOCAL_PENDING) {
    l->type[x] = LOCAL_FREE;
    l->ref[x] = 0;
    l_move(l, x, HEAD(l, LOCAL_FREE));
    return;
  }
  move(l, x, FREE);
}

void vm_lru_set_ref(struct vm_lru *l, u32 x) { l->ref[x] = 1; }

/* percpu: the kernel splits the elements evenly between the possible CPUs' own lists; only
 * CPU 0's share is ever used here. */
struct vm_lru *vm_lru_new(u32 n_elems, int percpu) {
  struct vm_lru *l = vm_calloc(sizeof *l);
  if (!l) return NULL;
  u32 total = n_elems + N_LISTS;
  l->n = n_elems;
  l->percpu = percpu;
  l->next = vm_malloc(total * 4);
  l->prev = vm_malloc(total * 4);
  l->type = vm_calloc(total);
  l->ref = vm_calloc(total);
  if (!l->next || !l->prev || !l->type || !l->ref) {
    vm_lru_free(l);
    return NULL;
  }
  for (u32 t = 0; t < N_LISTS; t++) l->next[HEAD(l, t)] = l->prev[HEAD(l, t)] = HEAD(l, t);
  l->next_inactive_rotation = HEAD(l, INACTIVE);
  u32 cpus = vm_maps_possible_cpus ? vm_maps_possible_cpus : 1;
  u32 usable = percpu ? n_elems / cpus : n_elems;
  for (u32 x = 0; x < usable; x++) {
    l->type[x] = FREE;
    l_add(l, x, HEAD(l, FREE));
  }
  if (percpu) {
    l->nr_scans = PERCPU_TARGET;
  } else {
    u32 t = n_elems / cpus / 2;
    l->target_free = t < 1 ? 1 : t > COMMON_TARGET_MAX ? COMMON_TARGET_MAX : t;
    l->nr_scans = COMMON_TARGET_MAX;
  }
  return l;
}

void vm_lru_free(struct vm_lru *l) {
  if (!l) return;
  vm_free(l->next);
  vm_free(l->prev);
  vm_free(l->type);
  vm_free(l->ref);
  vm_free(l);
}

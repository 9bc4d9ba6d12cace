/* LPM_TRIE: keys are {u32 prefixlen; u8 data[]} with bits counted from the most significant bit
 * of data[0] (network order). Lookup finds the longest stored prefix of the key; update and
 * delete need the exact prefix. Stored as a path-compressed binary trie, as the kernel stores
 * it: a node's children split on the bit just past its prefix, and "intermediate" nodes (no
 * value) join two subtrees. get_next_key walks in post order, the kernel's order: a longer
 * prefix before the prefix containing it, and at a fork the 0 side first. Values live in the
 * arena, max_entries slots; nodes are allocated one by one. */
#include "maps.h"

#define VM_BPF_F_NUMA_NODE 4u
#define LPM_FLAGS                                                                                \
  (VM_BPF_F_NUMA_NODE | VM_BPF_F_NO_PREALLOC | VM_BPF_F_RDONLY | VM_BPF_F_WRONLY |              \
   VM_BPF_F_RDONLY_PROG | VM_BPF_F_WRONLY_PROG)
#define LPM_DATA_MAX 256
#define NONE 0xffffffffu

struct lnode {
  struct lnode *child[2], *parent;
  u32 prefixlen;
  u32 slot; /* value slot, NONE for an intermediate node */
  u8 data[];
};

struct trie {
  struct lnode *root;
  u32 data_size;
  u32 n_entries;
  u32 free_top;  /* free value slots, a stack */
  u32 *free_slots;
};

static struct trie *T(struct vm_map *m) { return m->impl; }

static u32 bit_at(const u8 *d, u32 i) { return (d[i / 8] >> (7 - i % 8)) & 1; }

/* Leading bits a and b share, at most limit. */
static u32 match_len(const u8 *a, const u8 *b, u32 limit) {
  u32 n = 0;
  while (n < limit) {
    u8 x = a[n / 8] ^ b[n / 8];
    if (n % 8 == 0 && x == 0) { n += 8; continue; }
    if ((x >> (7 - n % 8)) & 1) break;
    n++;
  }
  return n < limit ? n : limit;
}

static u32 key_plen(const void *key) {
  u32 p;
  vm_memcpy(&p, key, 4);
  return p;
}
static const u8 *key_data(const void *key) { return (const u8 *)key + 4; }
static u32 min(u32 a, u32 b) { return a < b ? a : b; }

static struct lnode **link_of(struct trie *t, struct lnode *n) {
  if (!n->parent) return &t->root;
  return &n->parent->child[n->parent->child[1] == n];
}

/* The node holding exactly this prefix (intermediate or not), or NULL. */
static struct lnode *find_exact(struct trie *t, u32 plen, const u8 *data) {
  struct lnode *n = t->root;
  while (n) {
    u32 ml = match_len(n->data, data, min(n->prefixlen, plen));
    if (ml != n->prefixlen) return NULL;
    if (n->prefixlen == plen) return n;
    n = n->child[bit_at(data, n->prefixlen)];
  }
  return NULL;
}

static void *lpm_lookup(struct vm_map *m, const void *key) {
  struct trie *t = T(m);
  u32 plen = key_plen(key);
  const u8 *data = key_data(key);
  struct lnode *found = NULL;
  if (plen > t->data_size * 8) return NULL;
  for (struct lnode *n = t->root; n;) {
    u32 ml = match_len(n->data, data, min(n->prefixlen, plen));
    if (ml < n->prefixlen) break;
    if (n->slot != NONE) found = n;
    if (n->prefixlen >= plen) break;
    n = n->child[bit_at(data, n->prefixlen)];
  }
  return found ? m->arena + (u64)found->slot * vm_round8(m->value_size) : NULL;
}

static struct lnode *new_node(struct trie *t, u32 plen, const u8 *data) {
  struct lnode *n = vm_calloc(sizeof *n + t->data_size);
  if (!n) return NULL;
  n->prefixlen = plen;
  n->slot = NONE;
  vm_memcpy(n->data, data, t->data_size);
  return n;
}

static void set_value(struct vm_map *m, struct lnode *n, const void *value) {
  vm_memcpy(m->arena + (u64)n->slot * vm_round8(m->value_size), value, m->value_size);
}

static s32 lpm_update(struct vm_map *m, const void *key, const void *value, u64 flags) {
  struct trie *t = T(m);
  u32 plen = key_plen(key);
  const u8 *data = key_data(key);
  if (flags > VM_BPF_EXIST || plen > t->data_size * 8) return -VM_EINVAL;
  /* Where the prefix belongs: below `parent`, at *at (which may hold a node to split). */
  struct lnode **at = &t->root, *parent = NULL, *n;
  u32 ml = 0;
  while ((n = *at)) {
    ml = match_len(n->data, data, min(n->prefixlen, plen));
    if (ml != n->prefixlen || ml == plen) break;
    parent = n;
    at = &n->child[bit_at(data, n->prefixlen)];
  }
  int exact = n && n->prefixlen == plen && ml == plen;
  if (exact && n->slot != NONE) {
    if (flags == VM_BPF_NOEXIST) return -VM_EEXIST;
    vm_memcpy(n->data, data, t->data_size); /* the kernel keeps the newest key's bytes */
    set_value(m, n, value);
    return 0;
  }
  if (flags == VM_BPF_EXIST) return -VM_ENOENT;
  if (t->n_entries == m->max_entries) return -VM_ENOSPC;
  if (exact) { /* an intermediate node becomes an entry */
    vm_memcpy(n->data, data, t->data_size);
  } else {
    struct lnode *nn = new_node(t, plen, data), *im = NULL;
    if (!nn) return -VM_ENOMEM;
    if (n && ml < plen) { /* neither contains the other: join them under a new fork */
      im = new_node(t, ml, data);
      if (!im) { vm_free(nn); return -VM_ENOMEM; }
      im->child[bit_at(data, ml)] = nn;
      im->child[bit_at(n->data, ml)] = n;
      im->parent = parent;
      nn->parent = im;
      n->parent = im;
      *at = im;
    } else {
      if (n) { /* the new prefix contains n */
        nn->child[bit_at(n->data, plen)] = n;
        n->parent = nn;
      }
      nn->parent = parent;
      *at = nn;
    }
    n = nn;
  }
  n->slot = t->free_slots[--t->free_top];
  t->n_entries++;
  set_value(m, n, value);
  return 0;
}

/* Replaces n by its only child (or by nothing) in its parent. */
static void splice_out(struct trie *t, struct lnode *n) {
  struct lnode *c = n->child[0] ? n->child[0] : n->child[1];
  *link_of(t, n) = c;
  if (c) c->parent = n->parent;
  vm_free(n);
}

static s32 lpm_delete(struct vm_map *m, const void *key) {
  struct trie *t = T(m);
  u32 plen = key_plen(key);
  if (plen > t->data_size * 8) return -VM_EINVAL;
  struct lnode *n = find_exact(t, plen, key_data(key));
  if (!n || n->slot == NONE) return -VM_ENOENT;
  t->free_slots[t->free_top++] = n->slot;
  n->slot = NONE;
  t->n_entries--;
  if (n->child[0] && n->child[1]) return 0; /* still needed as a fork */
  struct lnode *p = n->parent;
  int leaf = !n->child[0] && !n->child[1];
  splice_out(t, n);
  /* A fork left with one side is no longer needed either. */
  if (leaf && p && p->slot == NONE) splice_out(t, p);
  return 0;
}

static struct lnode *leftmost(struct lnode *n) {
  while (n && (n->child[0] || n->child[1])) n = n->child[0] ? n->child[0] : n->child[1];
  return n;
}

static s32 lpm_get_next_key(struct vm_map *m, const void *key, void *next) {
  struct trie *t = T(m);
  struct lnode *n = NULL;
  if (key && key_plen(key) <= t->data_size * 8) n = find_exact(t, key_plen(key), key_data(key));
  if (!n || n->slot == NONE) {
    n = leftmost(t->root);
  } else {
    for (;;) { /* the post-order successor that is an entry */
      struct lnode *p = n->parent;
      if (!p) return -VM_ENOENT;
      if (p->child[0] == n && p->child[1]) { n = leftmost(p->child[1]); break; }
      n = p;
      if (n->slot != NONE) break;
    }
  }
  if (!n) return -VM_ENOENT;
  vm_memcpy(next, &n->prefixlen, 4);
  vm_memcpy((u8 *)next + 4, n->data, t->data_size);
  return 0;
}

static s32 no_push(struct vm_map *m, const void *v, u64 f) { return -VM_ENOTSUPP; }
static s32 no_pop(struct vm_map *m, void *v) { return -VM_ENOTSUPP; }

static void free_tree(struct lnode *n) {
  while (n) { /* recursion on one side only keeps the depth at most the prefix length */
    free_tree(n->child[0]);
    struct lnode *r = n->child[1];
    vm_free(n);
    n = r;
  }
}

static void lpm_free(struct vm_map *m) {
  struct trie *t = T(m);
  if (!t) return;
  free_tree(t->root);
  vm_free(t->free_slots);
  vm_free(t);
  vm_free(m->arena);
  m->impl = NULL;
  m->arena = NULL;
}

static const struct vm_map_ops lpm_ops = {
    .lookup = lpm_lookup, .update = lpm_update, .delete = lpm_delete,
    .get_next_key = lpm_get_next_key, .push = no_push, .pop = no_pop, .peek = no_pop,
    .free = lpm_free,
};

s32 vm_map_lpm_init(struct vm_map *m) {
  /* The kernel insists on BPF_F_NO_PREALLOC for this type (it allocates nodes on update); the
   * values here are preallocated all the same, so that they can be one arena. */
  if (m->max_entries == 0 || !(m->flags & VM_BPF_F_NO_PREALLOC) || (m->flags & ~LPM_FLAGS) ||
      ((m->flags & VM_BPF_F_RDONLY) && (m->flags & VM_BPF_F_WRONLY)) ||
      ((m->flags & VM_BPF_F_RDONLY_PROG) && (m->flags & VM_BPF_F_WRONLY_PROG)) ||
      m->key_size < 5 || m->key_size > 4 + LPM_DATA_MAX || m->value_size == 0 ||
      m->value_size > VM_MAP_MAX_ARENA)
    return -VM_EINVAL;
  u64 len = (u64)m->max_entries * vm_round8(m->value_size);
  if (len > VM_MAP_MAX_ARENA || (u64)m->max_entries * 4 > VM_MAP_MAX_ARENA) return -VM_ENOMEM;
  struct trie *t = vm_calloc(sizeof *t);
  u8 *arena = vm_calloc((u32)len);
  u32 *free_slots = vm_malloc(m->max_entries * 4);
  if (!t || !arena || !free_slots) {
    vm_free(t); vm_free(arena); vm_free(free_slots);
    return -VM_ENOMEM;
  }
  t->data_size = m->key_size - 4;
  t->free_top = m->max_entries;
  for (u32 i = 0; i < m->max_entries; i++) free_slots[i] = m->max_entries - 1 - i;
  t->free_slots = free_slots;
  m->impl = t;
  m->arena = arena;
  m->arena_len = (u32)len;
  m->ops = &lpm_ops;
  return 0;
}

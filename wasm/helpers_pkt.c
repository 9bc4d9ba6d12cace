/* Packet helpers for tc and XDP programs, checksum arithmetic, and trace_printk. Each follows
 * the kernel helper of the same name for a linear packet as a test run builds it: the same
 * bounds, the same errno values, the same bytes written. */
#include "helpers.h"
#include <linux/bpf.h>

#define EFAULT 14
#define EINVAL 22
#define ENOMEM 12
#define ENOTSUPP 524
#define EACCES 13
#define ETH_HLEN 14
#define XDP_FRAME_STRUCT 40 /* sizeof(struct xdp_frame): the head of an XDP buffer is kept for it */
#define NEG(e) ((u64)(s64)-(e))

static struct __sk_buff *skb(struct vm_state *st) { return (struct __sk_buff *)(uptr)st->env->ctx; }
static u8 *data(struct vm_state *st) { return (u8 *)(uptr)st->env->data; }
static u32 len(struct vm_state *st) { return st->env->data_end - st->env->data; }

/* --- ones' complement arithmetic, as include/net/checksum.h defines it ---------------------- */

static u32 csum_add(u32 a, u32 b) {
  u32 r = a + b;
  return r + (r < b);
}
static u32 csum_sub(u32 a, u32 b) { return csum_add(a, ~b); }
static u16 csum_fold(u32 c) {
  c = (c & 0xffff) + (c >> 16);
  c = (c & 0xffff) + (c >> 16);
  return (u16)~c;
}
static u16 csum16_add(u16 c, u16 a) {
  u16 r = (u16)(c + a);
  return (u16)(r + (r < a));
}
static u16 rd16(const u8 *p) { u16 v; vm_memcpy(&v, p, 2); return v; }
static void wr16(u8 *p, u16 v) { vm_memcpy(p, &v, 2); }

/* csum_partial over 32-bit words in memory order, with end-around carry. */
static u32 csum_words(const u8 *p, u32 n, u32 seed) {
  u64 acc = seed;
  for (u32 k = 0; k + 4 <= n; k += 4) {
    u32 w;
    vm_memcpy(&w, p + k, 4);
    acc += w;
  }
  acc = (acc & 0xffffffffull) + (acc >> 32);
  acc = (acc & 0xffffffffull) + (acc >> 32);
  return (u32)acc;
}

HELPER(vm_h_csum_diff) {
  u64 from = a1, from_size = a2, to = a3, to_size = a4;
  u32 seed = (u32)a5;
  if (((from_size | to_size) & 3) || from_size + to_size > 512) return NEG(EINVAL);
  if (!helper_mem(st, from, from_size, VM_ACCESS_READ) || !helper_mem(st, to, to_size, VM_ACCESS_READ)) return 0;
  u32 diff[128];
  u32 n = 0;
  for (u64 k = 0; k < from_size; k += 4, n++) {
    vm_memcpy(&diff[n], (const u8 *)(uptr)from + k, 4);
    diff[n] = ~diff[n];
  }
  for (u64 k = 0; k < to_size; k += 4, n++) vm_memcpy(&diff[n], (const u8 *)(uptr)to + k, 4);
  return csum_words((const u8 *)diff, n * 4, seed);
}

HELPER(vm_h_l3_csum_replace) {
  u64 off = a2, from = a3, to = a4, flags = a5;
  if (flags & ~(u64)BPF_F_HDR_FIELD_MASK) return NEG(EINVAL);
  if (off > 0x7fffffff || off + 2 > len(st)) return NEG(EFAULT);
  u8 *p = data(st) + off;
  u16 sum = rd16(p);
  switch (flags & BPF_F_HDR_FIELD_MASK) {
  case 0:
    if (from != 0) return NEG(EINVAL);
    wr16(p, csum_fold(csum_add((u32)to, ~(u32)sum & 0xffff)));
    break;
  case 2:
    wr16(p, (u16)~csum16_add(csum16_add((u16)~sum, (u16)~(u16)from), (u16)to));
    break;
  case 4:
    wr16(p, csum_fold(csum_add(csum_sub(~(u32)sum & 0xffff, (u32)from), (u32)to)));
    break;
  default:
    return NEG(EINVAL);
  }
  return 0;
}

HELPER(vm_h_l4_csum_replace) {
  u64 off = a2, from = a3, to = a4, flags = a5;
  int mmzero = (flags & BPF_F_MARK_MANGLED_0) != 0;
  if (flags & ~(u64)(BPF_F_MARK_MANGLED_0 | BPF_F_MARK_ENFORCE | BPF_F_PSEUDO_HDR | BPF_F_HDR_FIELD_MASK | 0x80))
    return NEG(EINVAL);
  if (off > 0x7fffffff || off + 2 > len(st)) return NEG(EFAULT);
  u8 *p = data(st) + off;
  u16 sum = rd16(p);
  if (mmzero && !sum) return 0;
  u32 seed = ~(u32)sum & 0xffff;
  switch (flags & BPF_F_HDR_FIELD_MASK) {
  case 0:
    sum = csum_fold(csum_add((u32)to, seed));
    break;
  case 2:
  case 4: {
    u32 f = (flags & BPF_F_HDR_FIELD_MASK) == 2 ? (u16)from : (u32)from;
    u32 t = (flags & BPF_F_HDR_FIELD_MASK) == 2 ? (u16)to : (u32)to;
    sum = csum_fold(csum_add(csum_add(seed, ~f), t));
    break;
  }
  default:
    return NEG(EINVAL);
  }
  if (mmzero && !sum) sum = 0xffff;
  wr16(p, sum);
  return 0;
}

/* A test run's skb carries no full checksum (CHECKSUM_NONE), so there is nothing to update. */
HELPER(vm_h_csum_update) { return NEG(ENOTSUPP); }

/* --- bytes ------------------------------------------------------------------------------------ */

HELPER(vm_h_skb_load_bytes) {
  u64 off = a2, to = a3, n = a4;
  if (!helper_mem(st, to, n, VM_ACCESS_WRITE)) return 0;
  if (off > 0x7fffffff || off + n > len(st)) {
    vm_memset((void *)(uptr)to, 0, (u32)n);
    return NEG(EFAULT);
  }
  vm_memcpy((void *)(uptr)to, data(st) + off, (u32)n);
  return 0;
}

HELPER(vm_h_skb_store_bytes) {
  u64 off = a2, from = a3, n = a4, flags = a5;
  if (flags & ~(u64)(BPF_F_RECOMPUTE_CSUM | BPF_F_INVALIDATE_HASH)) return NEG(EINVAL);
  if (!helper_mem(st, from, n, VM_ACCESS_READ)) return 0;
  if (off > 0x7fffffff || off + n > len(st)) return NEG(EFAULT);
  __builtin_memmove(data(st) + off, (const void *)(uptr)from, (u32)n);
  if (flags & BPF_F_INVALIDATE_HASH) skb(st)->hash = 0;
  return 0;
}

HELPER(vm_h_skb_pull_data) {
  if (a2 > len(st)) return NEG(ENOMEM);
  return 0;
}

/* --- growing and shrinking an skb ------------------------------------------------------------ */

#define SKB_MAX_LEN (65536 + ETH_HLEN) /* loopback MTU plus the link header */

/* skb->encapsulation: set by bpf_skb_adjust_room with an ENCAP flag; bpf_skb_change_tail then
 * refuses the skb, as the kernel's does. Reset for every run. */
static int encapsulated;

HELPER(vm_h_skb_change_tail) {
  u64 new_len = a2, flags = a3;
  if (flags || new_len > SKB_MAX_LEN || new_len < ETH_HLEN) return NEG(EINVAL);
  if (encapsulated) return NEG(ENOTSUPP);
  u32 old = len(st);
  if (new_len > old) {
    s32 r = vm_packet_reserve(st, st->env->data - st->env->data_meta, (u32)new_len);
    if (r) return (u64)(s64)r;
    vm_memset(data(st) + old, 0, (u32)new_len - old);
  }
  st->env->data_end = st->env->data + (u32)new_len;
  vm_packet_changed(st);
  return 0;
}

HELPER(vm_h_skb_change_head) {
  u64 room = a2, flags = a3;
  u32 old = len(st);
  if (flags || room > SKB_MAX_LEN || old + room > SKB_MAX_LEN) return NEG(EINVAL);
  s32 r = vm_packet_reserve(st, (u32)room, old);
  if (r) return (u64)(s64)r;
  st->env->data -= (u32)room;
  st->env->data_meta = st->env->data;
  vm_memset(data(st), 0, (u32)room);
  vm_packet_changed(st);
  return 0;
}

/* Inserts (diff > 0, zeros) or removes (diff < 0) bytes at offset `at` of the packet. */
static s32 packet_splice(struct vm_state *st, u32 at, s32 diff) {
  u32 old = len(st);
  if (diff > 0) {
    s32 r = vm_packet_reserve(st, st->env->data - st->env->data_meta, old + (u32)diff);
    if (r) return r;
    u8 *p = data(st);
    __builtin_memmove(p + at + diff, p + at, old - at);
    vm_memset(p + at, 0, (u32)diff);
    st->env->data_end += (u32)diff;
  } else if (diff < 0) {
    u32 cut = (u32)-diff;
    if (at + cut > old) return -EINVAL;
    u8 *p = data(st);
    __builtin_memmove(p + at, p + at + cut, old - at - cut);
    st->env->data_end -= cut;
  }
  vm_packet_changed(st);
  return 0;
}

void vm_helpers_reset(void) { encapsulated = 0; }

#define ADJ_ROOM_ENCAP_L3_MASK (BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 | BPF_F_ADJ_ROOM_ENCAP_L3_IPV6)
#define ADJ_ROOM_ENCAP_L4_MASK (BPF_F_ADJ_ROOM_ENCAP_L4_GRE | BPF_F_ADJ_ROOM_ENCAP_L4_UDP)
/* BPF_F_ADJ_ROOM_DECAP_L3_IPV4/IPV6 came with Linux 6.3, after the UAPI header this builds
 * against; the kernel it imitates has them. */
#define ADJ_ROOM_DECAP_L3_MASK ((1ull << 7) | (1ull << 8))
#define ADJ_ROOM_ENCAP_L2_MASK (0xffull << 56)
#define ADJ_ROOM_ENCAP_MASK (ADJ_ROOM_ENCAP_L3_MASK | ADJ_ROOM_ENCAP_L4_MASK | BPF_F_ADJ_ROOM_ENCAP_L2_ETH | ADJ_ROOM_ENCAP_L2_MASK)

/* bpf_skb_adjust_room: room opens (or closes) after the MAC header (BPF_ADJ_ROOM_MAC) or after
 * the fixed IP header (BPF_ADJ_ROOM_NET: 20 bytes for IPv4 whatever its options, 40 for IPv6).
 * Encapsulation flags change only the skb's bookkeeping, not the bytes written. */
HELPER(vm_h_skb_adjust_room) {
  s32 diff = (s32)a2;
  u64 mode = a3, flags = a4;
  const u64 known = BPF_F_ADJ_ROOM_FIXED_GSO | ADJ_ROOM_ENCAP_MASK | BPF_F_ADJ_ROOM_NO_CSUM_RESET | ADJ_ROOM_DECAP_L3_MASK;
  if (flags & ~known) return NEG(EINVAL);
  u16 proto = __builtin_bswap16((u16)skb(st)->protocol);
  u32 len_min;
  if (proto == 0x0800) len_min = 20;
  else if (proto == 0x86dd) len_min = 40;
  else return NEG(ENOTSUPP);
  u32 at = ETH_HLEN;
  if (mode == BPF_ADJ_ROOM_NET) at += len_min;
  else if (mode != BPF_ADJ_ROOM_MAC) return NEG(ENOTSUPP);
  int shrink = diff < 0;
  u32 abs = shrink ? (u32)-diff : (u32)diff;
  if (flags & ADJ_ROOM_DECAP_L3_MASK) {
    if (!shrink || (flags & ADJ_ROOM_ENCAP_MASK)) return NEG(EINVAL);
    if ((flags & ADJ_ROOM_DECAP_L3_MASK) == ADJ_ROOM_DECAP_L3_MASK) return NEG(EINVAL);
  }
  u32 len_cur = len(st) - ETH_HLEN;
  if ((shrink && (abs >= len_cur || len_cur - abs < len_min)) || (!shrink && len(st) + abs > SKB_MAX_LEN))
    return NEG(ENOTSUPP);
  if (shrink) {
    if (flags & ADJ_ROOM_ENCAP_MASK) return NEG(EINVAL);
    if (at + abs > len(st)) return NEG(EFAULT);
  } else if (flags & ADJ_ROOM_ENCAP_MASK) {
    u64 l3 = flags & ADJ_ROOM_ENCAP_L3_MASK, l4 = flags & ADJ_ROOM_ENCAP_L4_MASK;
    if (l3 == ADJ_ROOM_ENCAP_L3_MASK || !l3) return NEG(EINVAL);
    if (l4 == ADJ_ROOM_ENCAP_L4_MASK) return NEG(EINVAL);
  }
  s32 r = packet_splice(st, at, diff);
  if (r) return (u64)(s64)r;
  if (!shrink && (flags & ADJ_ROOM_ENCAP_L3_MASK)) encapsulated = 1;
  if (shrink && (flags & ADJ_ROOM_DECAP_L3_MASK)) encapsulated = 0;
  return 0;
}

/* --- VLAN: the pushed tag lives in the skb (hardware acceleration), not in the bytes --------- */

static int is_vlan_proto(u16 be_proto) {
  u16 p = __builtin_bswap16(be_proto);
  return p == 0x8100 || p == 0x88a8;
}

HELPER(vm_h_skb_vlan_push) {
  u16 proto = (u16)a2, tci = (u16)a3;
  struct __sk_buff *s = skb(st);
  if (!is_vlan_proto(proto)) return NEG(EINVAL);
  if (s->vlan_present) {
    /* The tag already held moves into the packet, after the MAC addresses. */
    s32 r = packet_splice(st, 12, 4);
    if (r) return (u64)(s64)r;
    u8 *p = data(st);
    wr16(p + 12, (u16)s->vlan_proto);
    wr16(p + 14, __builtin_bswap16((u16)s->vlan_tci));
    s->protocol = s->vlan_proto;
  }
  s->vlan_present = 1;
  s->vlan_proto = proto;
  s->vlan_tci = tci;
  return 0;
}

/* Takes the tag out of the packet bytes, setting skb->protocol to what it carried. */
static s32 pop_payload_tag(struct vm_state *st, u16 *tci) {
  if (len(st) < ETH_HLEN + 4) return -EINVAL;
  u8 *p = data(st);
  *tci = __builtin_bswap16(rd16(p + 14));
  u16 inner = rd16(p + 16);
  s32 r = packet_splice(st, 12, -4);
  if (r) return r;
  skb(st)->protocol = inner;
  return 0;
}

HELPER(vm_h_skb_vlan_pop) {
  struct __sk_buff *s = skb(st);
  u16 tci;
  if (s->vlan_present) {
    s->vlan_present = 0;
    s->vlan_tci = 0;
    s->vlan_proto = 0;
  } else {
    if (!is_vlan_proto((u16)s->protocol)) return 0;
    s32 r = pop_payload_tag(st, &tci);
    if (r) return (u64)(s64)r;
  }
  /* A further tag in the packet moves up into the skb. */
  if (!is_vlan_proto((u16)s->protocol)) return 0;
  u16 proto = (u16)s->protocol;
  s32 r = pop_payload_tag(st, &tci);
  if (r) return (u64)(s64)r;
  s->vlan_present = 1;
  s->vlan_proto = proto;
  s->vlan_tci = tci;
  return 0;
}

/* The kernel hashes the flow with a secret chosen at boot, so no two machines agree on the
 * value; the VM hashes the bytes after the MAC header deterministically (FNV-1a), never 0. */
HELPER(vm_h_get_hash_recalc) {
  u32 h = 2166136261u;
  u32 n = len(st) < 64 ? len(st) : 64;
  for (u32 k = ETH_HLEN; k < n; k++) h = (h ^ data(st)[k]) * 16777619u;
  if (!h) h = 1;
  skb(st)->hash = h;
  return h;
}

/* --- XDP -------------------------------------------------------------------------------------- */

HELPER(vm_h_xdp_adjust_head) {
  struct vm_env *e = st->env;
  s32 delta = (s32)a2;
  u32 meta = e->data - e->data_meta;
  s64 nd = (s64)e->data + delta;
  if (nd < (s64)(e->buf + XDP_FRAME_STRUCT + meta) || nd > (s64)e->data_end - ETH_HLEN) return NEG(EINVAL);
  if (meta) __builtin_memmove((u8 *)(uptr)(e->data_meta + delta), (u8 *)(uptr)e->data_meta, meta);
  e->data_meta = (u32)(e->data_meta + delta);
  e->data = (u32)nd;
  vm_packet_changed(st);
  return 0;
}

HELPER(vm_h_xdp_adjust_tail) {
  struct vm_env *e = st->env;
  s32 delta = (s32)a2;
  s64 ne = (s64)e->data_end + delta;
  u32 hard_end = e->buf + VM_XDP_FRAME_SIZE - VM_SKB_SHARED_INFO;
  if (ne > (s64)hard_end || ne < (s64)e->data + ETH_HLEN) return NEG(EINVAL);
  if (delta > 0) vm_memset((u8 *)(uptr)e->data_end, 0, (u32)delta);
  e->data_end = (u32)ne;
  vm_packet_changed(st);
  return 0;
}

HELPER(vm_h_xdp_adjust_meta) {
  struct vm_env *e = st->env;
  s32 delta = (s32)a2;
  s64 nm = (s64)e->data_meta + delta;
  if (nm < (s64)(e->buf + XDP_FRAME_STRUCT) || nm > (s64)e->data) return NEG(EINVAL);
  u32 metalen = e->data - (u32)nm;
  if ((metalen & 3) || metalen > 32) return NEG(EACCES);
  e->data_meta = (u32)nm;
  vm_packet_changed(st);
  return 0;
}

/* --- trace_printk ------------------------------------------------------------------------------ */

static void put(struct vm_env *e, char c) {
  if (e->trace_len < VM_TRACE_CAP) e->trace[e->trace_len++] = (u8)c;
}

static void put_num(struct vm_env *e, u64 v, int neg, u32 base, int upper) {
  char tmp[24];
  int n = 0;
  do {
    u32 d = (u32)(v % base);
    tmp[n++] = (char)(d < 10 ? '0' + d : (upper ? 'A' : 'a') + d - 10);
    v /= base;
  } while (v);
  if (neg) put(e, '-');
  while (n) put(e, tmp[--n]);
}

/* bpf_trace_printk(fmt, fmt_size, ...): up to three arguments, %d %i %u %x %X %c %s %p %% with
 * l/ll; each call is one line. Returns the bytes of the message, or -EINVAL for a bad format. */
HELPER(vm_h_trace_printk) {
  struct vm_env *e = st->env;
  u64 fmt = a1, size = a2;
  u64 args[3] = {a3, a4, a5};
  if (size == 0 || !helper_mem(st, fmt, size, VM_ACCESS_READ)) return size == 0 ? NEG(EINVAL) : 0;
  const char *f = (const char *)(uptr)fmt;
  if (f[size - 1] != 0) return NEG(EINVAL);
  u32 start = e->trace_len;
  u32 used = 0;
  for (u32 k = 0; f[k]; k++) {
    char c = f[k];
    if (c != '%') {
      put(e, c);
      continue;
    }
    c = f[++k];
    if (c == '%') {
      put(e, '%');
      continue;
    }
    int longs = 0;
    while (c == 'l') {
      longs++;
      c = f[++k];
    }
    if (used >= 3 || longs > 2) goto bad;
    u64 v = args[used++];
    if (longs == 0 && c != 'p' && c != 's') v = (c == 'd' || c == 'i') ? (u64)(s64)(s32)v : (u32)v;
    switch (c) {
    case 'd':
    case 'i':
      put_num(e, (s64)v < 0 ? (u64)-(s64)v : v, (s64)v < 0, 10, 0);
      break;
    case 'u':
      put_num(e, v, 0, 10, 0);
      break;
    case 'x':
    case 'X':
      put_num(e, v, 0, 16, c == 'X');
      break;
    case 'c':
      put(e, (char)v);
      break;
    case 'p':
      put(e, '0');
      put(e, 'x');
      put_num(e, v, 0, 16, 0);
      break;
    case 's': {
      for (u32 j = 0; j < 256; j++) {
        if (!vm_mem_ok(st, v + j, 1, VM_REGION_READ)) break;
        char ch = *(const char *)(uptr)(v + j);
        if (!ch) break;
        put(e, ch);
      }
      break;
    }
    default:
      goto bad;
    }
  }
  /* The kernel returns the formatted length; the VM ends each call's text with one newline. */
  u32 n = e->trace_len - start;
  if (n == 0 || e->trace[e->trace_len - 1] != '\n') put(e, '\n');
  if (e->trace_len >= VM_TRACE_CAP) e->trace_dropped++;
  return n;
bad:
  e->trace_len = start;
  return NEG(EINVAL);
}

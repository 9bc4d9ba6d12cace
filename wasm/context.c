/* Hook runs: the packet buffer and the context a tc or XDP program sees, filled as the kernel's
 * BPF_PROG_TEST_RUN fills them (tc: an skb on the loopback device after eth_type_trans, data at
 * the MAC header, 64 bytes of headroom in a 4 KiB buffer; XDP: 256 bytes of headroom in a 4 KiB
 * frame whose last bytes hold the shared info), and kept in step when helpers move the packet. */
#include "vm.h"
#include "helpers.h"
#include <linux/bpf.h>

struct vm_env vm_env;

/* What TypeScript writes for a run's context, laid out as the UAPI struct: like ctx_in of a
 * kernel test run. */
static union {
  struct __sk_buff skb;
  struct xdp_md xdp;
} ctx_in;
static u32 has_ctx_in;

static struct __sk_buff skb_ctx;
static struct xdp_md xdp_ctx;

#define PACKET_OTHERHOST 3
#define PACKET_MULTICAST 2
#define PACKET_HOST 0
#define LOOPBACK_IFINDEX 1

EXPORT("vm_env_addr") u32 vm_env_addr(void) { return (u32)(uptr)&vm_env; }
EXPORT("vm_ctx_in_addr") u32 vm_ctx_in_addr(void) { return (u32)(uptr)&ctx_in; }
EXPORT("vm_ctx_size") u32 vm_ctx_size(u32 hook) {
  return hook == VM_HOOK_XDP ? sizeof(struct xdp_md) : sizeof(struct __sk_buff);
}

static u32 headroom_of(u32 hook) { return hook == VM_HOOK_XDP ? VM_XDP_HEADROOM : VM_SKB_HEADROOM; }

/* Prepares the buffer for a packet of `len` bytes and returns where TypeScript writes it. */
EXPORT("vm_packet_buffer") u32 vm_packet_buffer(u32 hook, u32 len) {
  u32 head = headroom_of(hook);
  u32 cap = VM_XDP_FRAME_SIZE;
  if (head + len + VM_SKB_SHARED_INFO > cap) cap = head + len + VM_SKB_SHARED_INFO;
  if (vm_env.buf_cap < cap) {
    vm_free((void *)(uptr)vm_env.buf);
    vm_env.buf = (u32)(uptr)vm_malloc(cap);
    vm_env.buf_cap = vm_env.buf ? cap : 0;
    if (!vm_env.buf) return 0;
  }
  /* The kernel's buffer starts zeroed. Only the headroom can be seen without a helper that
   * zeroes what it exposes (bpf_xdp_adjust_head moves data into it), so only it is cleared. */
  vm_memset((void *)(uptr)vm_env.buf, 0, head);
  vm_env.hook = hook;
  vm_env.data = vm_env.buf + head;
  vm_env.data_end = vm_env.data + len;
  vm_env.data_meta = vm_env.data;
  return vm_env.data;
}

EXPORT("vm_set_ctx_in") void vm_set_ctx_in(u32 present) { has_ctx_in = present; }

static const u8 *pkt(void) { return (const u8 *)(uptr)vm_env.data; }
static u32 pkt_len(void) { return vm_env.data_end - vm_env.data; }

/* eth_type_trans on the loopback device: its address and its broadcast address are both all
 * zeros, so a group address is always MULTICAST (even ff:ff:ff:ff:ff:ff), an all-zero one is
 * HOST and any other OTHERHOST. The protocol is the EtherType, or 802.3/802.2 for lengths. */
static void eth_type_trans(struct __sk_buff *s) {
  const u8 *p = pkt();
  if (p[0] & 1) {
    s->pkt_type = PACKET_MULTICAST;
  } else {
    int zero = 1;
    for (int k = 0; k < 6; k++) zero &= p[k] == 0;
    s->pkt_type = zero ? PACKET_HOST : PACKET_OTHERHOST;
  }
  u16 type = (u16)((p[12] << 8) | p[13]);
  u16 proto;
  if (type >= 0x0600) proto = type;
  else if (pkt_len() >= 16 && p[14] == 0xff && p[15] == 0xff) proto = 0x0001; /* ETH_P_802_3 */
  else proto = 0x0004;                                                         /* ETH_P_802_2 */
  s->protocol = (u32)__builtin_bswap16(proto); /* skb->protocol is big-endian */
}

void vm_packet_changed(struct vm_state *st) {
  struct vm_env *e = st->env;
  if (e->hook == VM_HOOK_TC) {
    skb_ctx.data = e->data;
    skb_ctx.data_end = e->data_end;
    skb_ctx.data_meta = e->data_meta;
    skb_ctx.len = e->data_end - e->data;
  } else if (e->hook == VM_HOOK_XDP) {
    xdp_ctx.data = e->data;
    xdp_ctx.data_end = e->data_end;
    xdp_ctx.data_meta = e->data_meta;
  }
  if (st->cfg->n_regions > 0 && st->cfg->regions[0].kind == VM_REGION_PACKET) {
    st->cfg->regions[0].lo = e->data_meta;
    st->cfg->regions[0].len = e->data_end - e->data_meta;
  }
}

s32 vm_packet_reserve(struct vm_state *st, u32 head, u32 len) {
  struct vm_env *e = st->env;
  u32 meta = e->data - e->data_meta;
  if (len > VM_MAX_PACKET) return -12; /* -ENOMEM */
  if (e->data - e->buf >= head + meta && e->data + len + VM_SKB_SHARED_INFO <= e->buf + e->buf_cap) return 0;
  /* Move to a larger buffer, as pskb_expand_head does: the old pointers become invalid. */
  u32 cap = head + meta + len + VM_SKB_SHARED_INFO + 64;
  u8 *nb = vm_calloc(cap);
  if (!nb) return -12;
  u32 cur = e->data_end - e->data;
  u32 keep = cur < len ? cur : len;
  vm_memcpy(nb + head, (const void *)(uptr)e->data_meta, meta + keep);
  vm_free((void *)(uptr)e->buf);
  e->buf = (u32)(uptr)nb;
  e->buf_cap = cap;
  e->data_meta = e->buf + head;
  e->data = e->data_meta + meta;
  e->data_end = e->data + cur;
  vm_packet_changed(st);
  return 0;
}

/* Fills the context for the packet in the buffer and runs the program on it, as a kernel test
 * run would: tc programs get r1 = struct __sk_buff, XDP programs r1 = struct xdp_md. */
EXPORT("vm_run_packet") u32 vm_run_packet(u32 handle, u32 budget_lo, u32 budget_hi) {
  const struct vm_prog *prog = vm_prog_by_handle(handle);
  extern struct vm_run_config vm_run_cfg;
  struct vm_run_config *cfg = &vm_run_cfg;
  vm_memset(&vm_report, 0, sizeof vm_report);
  if (!prog) {
    vm_report.status = VM_ERR_BAD_CALL_TARGET;
    return VM_ERR_BAD_CALL_TARGET;
  }
  vm_env.trace_len = 0;
  vm_env.trace_dropped = 0;
  vm_env.redirect_ifindex = 0;
  vm_env.redirect_flags = 0;
  vm_env.redirect_map = 0;
  vm_env.redirect_key = 0;
  vm_env.tail_calls = 0;
  vm_helpers_reset();
  vm_memset(cfg, 0, sizeof *cfg);
  cfg->budget = ((u64)budget_hi << 32) | budget_lo;
  cfg->n_regions = 2;
  cfg->regions[0] = (struct vm_region){vm_env.data_meta, vm_env.data_end - vm_env.data_meta, VM_REGION_PACKET,
                                       VM_REGION_READ | VM_REGION_WRITE};
  if (vm_env.hook == VM_HOOK_XDP) {
    vm_memset(&xdp_ctx, 0, sizeof xdp_ctx);
    xdp_ctx.ingress_ifindex = has_ctx_in && ctx_in.xdp.ingress_ifindex ? ctx_in.xdp.ingress_ifindex : LOOPBACK_IFINDEX;
    xdp_ctx.rx_queue_index = has_ctx_in ? ctx_in.xdp.rx_queue_index : 0;
    vm_env.ctx = (u32)(uptr)&xdp_ctx;
    cfg->regions[1] = (struct vm_region){vm_env.ctx, sizeof xdp_ctx, VM_REGION_CTX, VM_REGION_READ};
  } else {
    struct __sk_buff *s = &skb_ctx;
    vm_memset(s, 0, sizeof *s);
    if (has_ctx_in) {
      /* The fields a tc test run takes from ctx_in (convert___skb_to_skb). */
      s->mark = ctx_in.skb.mark;
      s->priority = ctx_in.skb.priority;
      s->ingress_ifindex = ctx_in.skb.ingress_ifindex;
      s->ifindex = ctx_in.skb.ifindex;
      for (int k = 0; k < 5; k++) s->cb[k] = ctx_in.skb.cb[k];
      s->tstamp = ctx_in.skb.tstamp;
      s->wire_len = ctx_in.skb.wire_len;
      s->gso_segs = ctx_in.skb.gso_segs;
      s->gso_size = ctx_in.skb.gso_size;
      s->hwtstamp = ctx_in.skb.hwtstamp;
    }
    if (!s->ifindex) s->ifindex = LOOPBACK_IFINDEX;
    if (!s->wire_len) s->wire_len = pkt_len();
    eth_type_trans(s);
    vm_env.ctx = (u32)(uptr)s;
    cfg->regions[1] = (struct vm_region){vm_env.ctx, sizeof *s, VM_REGION_CTX, VM_REGION_READ | VM_REGION_WRITE};
  }
  struct vm_state st;
  vm_memset(&st, 0, sizeof st);
  st.cfg = cfg;
  st.env = &vm_env;
  vm_packet_changed(&st);
  cfg->regs[1] = vm_env.ctx;
  return vm_execute(prog, cfg, &vm_env);
}

/* The layout TypeScript reads and writes (src/vm/vm.ts). */
_Static_assert(__builtin_offsetof(struct vm_env, time_ns) == 0, "env layout");
_Static_assert(__builtin_offsetof(struct vm_env, rng_state) == 8, "env layout");
_Static_assert(__builtin_offsetof(struct vm_env, hook) == 16, "env layout");
_Static_assert(__builtin_offsetof(struct vm_env, ctx) == 20, "env layout");
_Static_assert(__builtin_offsetof(struct vm_env, data) == 32, "env layout");
_Static_assert(__builtin_offsetof(struct vm_env, data_end) == 36, "env layout");
_Static_assert(__builtin_offsetof(struct vm_env, data_meta) == 40, "env layout");
_Static_assert(__builtin_offsetof(struct vm_env, redirect_ifindex) == 44, "env layout");
_Static_assert(__builtin_offsetof(struct vm_env, redirect_flags) == 48, "env layout");
_Static_assert(__builtin_offsetof(struct vm_env, trace_len) == 52, "env layout");
_Static_assert(__builtin_offsetof(struct vm_env, trace_dropped) == 56, "env layout");
_Static_assert(__builtin_offsetof(struct vm_env, tail_calls) == 60, "env layout");
_Static_assert(__builtin_offsetof(struct vm_env, redirect_map) == 64, "env layout");
_Static_assert(__builtin_offsetof(struct vm_env, redirect_key) == 68, "env layout");
_Static_assert(__builtin_offsetof(struct vm_env, trace) == 72, "env layout");

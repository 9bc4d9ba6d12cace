/* Internal declarations of the twinpath eBPF VM: decoded programs, run state, the allocator.
 * Freestanding C for wasm32: no libc, only compiler builtins. */
#ifndef TWINPATH_VM_H
#define TWINPATH_VM_H

#include "ebpf.h"
#include "vm_abi.h"

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;
typedef signed char s8;
typedef short s16;
typedef int s32;
typedef long long s64;
typedef unsigned long uptr;

#define NULL ((void *)0)
#define EXPORT(name) __attribute__((export_name(name)))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* A validated instruction, decoded once at load so the interpreter never re-parses a slot.
 * imm is sign-extended (or the whole 64-bit value of an lddw, or the helper's address). */
struct dinsn {
  u8 op;
  u8 dst;
  u8 src;
  u8 pad;
  s32 off;
  s64 imm;
};

struct vm_state;
typedef u64 (*helper_fn)(struct vm_state *st, u64 a1, u64 a2, u64 a3, u64 a4, u64 a5);

struct helper_def {
  u32 id;
  helper_fn fn;
};

struct vm_prog {
  u32 handle;
  u32 n_slots;
  u32 helper_set;
  const u64 *raw;     /* the original slots, for error reports */
  struct dinsn *code; /* one decoded entry per slot */
  u32 *ord;           /* instructions before each slot (an lddw is one instruction, two slots) */
};

/* A memory region a program may touch: [lo, lo + len). */
struct vm_region {
  u32 lo;
  u32 len;
  u32 kind;
  u32 flags;
};

/* What TypeScript writes before a run. */
struct vm_run_config {
  u64 regs[6];  /* r0..r5 on entry (r1..r5 are the arguments) */
  u64 budget;   /* instructions that may execute; 0 means EBPF_DEFAULT_BUDGET */
  u32 n_regions;
  u32 pad;
  struct vm_region regions[VM_MAX_REGIONS];
};

/* What a run or a load reports back. */
struct vm_report {
  u32 status;
  u32 pc;        /* instruction index of the failure, in slots */
  u64 insn;      /* the raw slot at pc */
  u64 addr;      /* VM_ERR_OOB_ACCESS: the address accessed */
  u32 size;      /* VM_ERR_OOB_ACCESS: bytes accessed */
  u32 access;    /* VM_ACCESS_* */
  u32 detail;    /* VM_FIELD_* for field errors; helper id; call depth */
  u32 n_regions; /* the regions allowed at the failure */
  u64 r0;
  u64 executed;  /* instructions executed */
  u32 stack_lo;  /* the stack region allowed at the failure */
  u32 stack_len;
  struct vm_region regions[VM_MAX_REGIONS];
  u32 prog;      /* handle of the program the failure is in (a tail call's target, perhaps) */
};

/* What a hook run sees besides its registers: the packet, the context, the clock and the
 * random state, and what the program left behind (redirect target, trace_printk text). TypeScript
 * sets time_ns and rng_state before a run and reads the rest after it. */
struct vm_env {
  u64 time_ns;   /* bpf_ktime_get_ns and bpf_ktime_get_boot_ns; jiffies derive from it */
  u64 rng_state; /* bpf_get_prandom_u32: the VM's generator state, advanced by each call */
  u32 hook;      /* VM_HOOK_* of the current run */
  u32 ctx;       /* address of the context struct (struct xdp_md or struct __sk_buff) */
  u32 buf;       /* packet buffer: [buf, buf + buf_cap) */
  u32 buf_cap;
  u32 data;      /* packet: [data, data_end), metadata [data_meta, data) */
  u32 data_end;
  u32 data_meta;
  u32 redirect_ifindex;
  u32 redirect_flags;
  u32 trace_len;     /* bytes of trace_printk text in trace */
  u32 trace_dropped; /* lines that did not fit */
  u32 tail_calls;
  u32 redirect_map; /* bpf_redirect_map: the map's id (0: the target is redirect_ifindex or none) */
  u32 redirect_key;
  u8 trace[VM_TRACE_CAP];
};

/* One executed instruction of a traced run. Only the register the instruction wrote is kept
 * (with the address and size of a memory access), not all eleven: a record stays 32 bytes, so a
 * ring of 65,536 costs 2 MiB and a run is traced whole in the common case. */
struct vm_exec_rec {
  u32 prog;  /* handle of the program the instruction is in */
  u32 pc;    /* its index, in slots */
  u8 kind;   /* VM_EXEC_* */
  u8 depth;  /* frames below it: 0 in the entry function, 1 in a function it calls, ... */
  u8 reg;    /* the register `value` was written to, or VM_EXEC_NO_REG */
  u8 size;   /* bytes accessed by a load, store or atomic */
  u32 aux;   /* helper id (HELPER); callee's first slot (CALL); target's handle (TAIL_CALL) */
  u64 value; /* the register after the instruction; a store's bytes; 1 if a jump was taken */
  u64 addr;  /* the address a load, store or atomic accessed */
};

/* The ring a traced run writes (TypeScript provides the buffer). cap 0: runs are not traced. */
struct vm_exec_trace {
  u32 buf;   /* address of cap records */
  u32 cap;
  u32 next;  /* where the next record goes */
  u32 pad;
  u64 count; /* records the run wrote; beyond cap, the oldest were overwritten */
};

struct vm_state {
  const struct vm_prog *prog; /* the running program (a tail call replaces it) */
  struct vm_run_config *cfg;
  struct vm_env *env;
  u32 stop;      /* set by a helper to end the program (the conformance "unwind" helper) */
  u64 stop_r0;
  const struct vm_prog *tail_target; /* set by bpf_tail_call: continue in this program */
  u64 left;      /* instructions the budget still allows */
  u32 depth;     /* frames in use, across callbacks */
  u32 status;    /* a failure inside a helper or a nested run, to pass up */
  u32 stack_lo;  /* lowest stack address in use when a helper was called */
  u64 tail_ctx;  /* r1 for the tail call target */
  u32 traced;    /* the run records its instructions (vm_exec_trace) */
};

/* interp.c: checks for helpers' memory arguments. */
int vm_mem_ok(const struct vm_state *st, u64 addr, u32 size, u32 need);
void vm_helper_fault(struct vm_state *st, u64 addr, u32 size, u32 access);

extern struct vm_report vm_report;
extern struct vm_exec_trace vm_exec_trace;

/* alloc.c */
void *vm_malloc(u32 size);
void *vm_calloc(u32 size);
void vm_free(void *p);

/* helpers.c */
helper_fn vm_find_helper(u32 set, u32 id);

/* validate.c */
u32 vm_validate(const u64 *raw, u32 n, u32 helper_set, struct dinsn *out);

/* interp.c */
u32 vm_execute(const struct vm_prog *prog, struct vm_run_config *cfg, struct vm_env *env);
/* Runs the function at instruction `target` of the current program as a callback (bpf_loop,
 * bpf_for_each_map_elem) in a new frame, sharing the run's budget. Returns VM_OK with r0 in
 * *ret, or a failure status already in vm_report. */
u32 vm_call_function(struct vm_state *st, u32 target, u64 a1, u64 a2, u64 a3, u64 a4, u64 a5, u64 *ret);

/* vm.c */
const struct vm_prog *vm_prog_by_handle(u32 handle);
extern struct vm_env vm_env;

/* context.c */
/* The packet moved or changed size: refresh the context's pointers and the packet region. */
void vm_packet_changed(struct vm_state *st);
/* Makes room for `len` bytes with `head` bytes of headroom before them, moving the packet if
 * needed; returns 0 or a negative errno. */
s32 vm_packet_reserve(struct vm_state *st, u32 head, u32 len);

static inline void vm_memset(void *d, int c, u32 n) { __builtin_memset(d, c, n); }
static inline void vm_memcpy(void *d, const void *s, u32 n) { __builtin_memcpy(d, s, n); }

#endif

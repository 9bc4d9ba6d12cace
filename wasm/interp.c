/* The interpreter. It runs code that vm_validate has already checked and decoded, so it never
 * re-examines an instruction's shape; what it does check is what only the run can know: each
 * memory access against the regions the program may touch, the instruction budget, and the
 * target of callx.
 *
 * The budget is charged per straight-line run of instructions rather than per instruction: when
 * control leaves a run (a taken jump, a call, an exit) the run's length is taken from what is
 * left. A run cannot loop, so a runaway program is still stopped, and the accounting is exact:
 * when a run overdraws, the error names the first instruction the budget did not cover, and any
 * other error inside an overdrawn run is reported as the budget error it would have been.
 * Helper calls end a run too, so no helper runs past the budget.
 *
 * The loop itself is in interp_loop.h, compiled twice: run() for ordinary runs and run_traced()
 * for runs that record every instruction they complete into vm_exec_trace (a ring, so a long run
 * keeps its last records). A run picks one at its start, so tracing costs the untraced loop
 * nothing. A traced record is written after the instruction completes: one that faults has none,
 * and the error names it. Records are not trimmed to the budget: when a straight-line run
 * overdraws it, the instructions of that run executed before the error are in the trace. */
#include "vm.h"
#include "maps.h"

struct frame {
  const struct dinsn *ret;
  const struct vm_prog *prog; /* the caller's program: a tail call may have replaced the callee's */
  u64 saved[4]; /* r6-r9 */
  u64 fp;       /* r10 */
};

static u8 stack_mem[EBPF_STACK_SIZE * EBPF_MAX_CALL_FRAMES] __attribute__((aligned(16)));
#define STACK_TOP ((u32)(uptr)stack_mem + sizeof stack_mem)

/* Whether [addr, addr+size) lies in [lo, lo+len), without overflow for any 64-bit addr. */
static inline int in_range(u64 addr, u32 size, u32 lo, u32 len) {
  return addr >= lo && len >= size && addr - lo <= (u64)(len - size);
}

/* Slow path of the memory check: the regions after the first (which the fast path tries), then
 * the maps' storage. */
static int region_ok(const struct vm_run_config *cfg, u64 addr, u32 size, u32 need) {
  for (u32 k = 1; k < cfg->n_regions; k++) {
    const struct vm_region *r = &cfg->regions[k];
    if (in_range(addr, size, r->lo, r->len)) return (r->flags & need) == need;
  }
  return vm_map_region_ok(addr, size, need);
}

int vm_mem_ok(const struct vm_state *st, u64 addr, u32 size, u32 need) {
  if (in_range(addr, size, st->stack_lo, STACK_TOP - st->stack_lo)) return 1;
  const struct vm_run_config *cfg = st->cfg;
  if (cfg->n_regions && in_range(addr, size, cfg->regions[0].lo, cfg->regions[0].len))
    return (cfg->regions[0].flags & need) == need;
  return region_ok(cfg, addr, size, need);
}

/* Records a refused access and the regions that were allowed at that moment. */
static void note_access(const struct vm_run_config *cfg, u64 addr, u32 size, u32 access, u32 stack_lo) {
  vm_report.addr = addr;
  vm_report.size = size;
  vm_report.access = access;
  vm_report.stack_lo = stack_lo;
  vm_report.stack_len = STACK_TOP - stack_lo;
  vm_report.n_regions = cfg->n_regions;
  vm_memcpy(vm_report.regions, cfg->regions, cfg->n_regions * sizeof(struct vm_region));
}

/* A helper was given memory the program may not touch: the run stops as if the program had
 * made the access itself, at the call instruction. */
void vm_helper_fault(struct vm_state *st, u64 addr, u32 size, u32 access) {
  note_access(st->cfg, addr, size, access, st->stack_lo);
  st->status = VM_ERR_OOB_ACCESS;
}

static u32 report_oob(const struct vm_prog *prog, const struct vm_run_config *cfg, u32 pc, u64 addr,
                      u32 size, u32 access, u32 stack_lo) {
  vm_report.status = VM_ERR_OOB_ACCESS;
  vm_report.prog = prog->handle;
  vm_report.pc = pc;
  vm_report.insn = prog->raw[pc];
  note_access(cfg, addr, size, access, stack_lo);
  return VM_ERR_OOB_ACCESS;
}

static u32 report(const struct vm_prog *prog, u32 status, u32 pc, u32 detail) {
  vm_report.status = status;
  vm_report.prog = prog->handle;
  vm_report.pc = pc;
  vm_report.insn = prog->raw[pc];
  vm_report.detail = detail;
  return status;
}

static inline u16 bswap16(u16 v) { return __builtin_bswap16(v); }
static inline u32 bswap32(u32 v) { return __builtin_bswap32(v); }
static inline u64 bswap64(u64 v) { return __builtin_bswap64(v); }

#define RELOAD_HOT()                                                                          \
  do {                                                                                        \
    const struct vm_region *r0_ = cfg->n_regions ? &cfg->regions[0] : NULL;                   \
    int rw_ = r0_ && r0_->len && r0_->flags == (VM_REGION_READ | VM_REGION_WRITE);            \
    hot_lo = rw_ ? r0_->lo : 0;                                                               \
    hot_len = rw_ ? r0_->len : 0;                                                             \
  } while (0)


/* Hands the budget and the stack in use to a helper, and takes them back after it. */
#define BEFORE_HELPER()                                                                       \
  do {                                                                                        \
    st->left = left;                                                                          \
    st->depth = depth + 1;                                                                    \
    st->stack_lo = stack_lo;                                                                  \
  } while (0)
/* After a helper: a failure inside it or an unwind leave the loop; a tail call (bpf_tail_call)
 * continues it in the target program, in the frame of the function that made the call, with r1
 * the context. As in the kernel's JIT (which unwinds only the current function's frame before it
 * jumps), a tail call from a subprogram keeps its callers' frames: the target's exit returns to
 * the subprogram's caller, with the target's r0. Handled here, inside the loop, so that the loop
 * keeps a single entry (a jump back into it from outside makes the control flow irreducible, and
 * the compiled wasm then pays for a dispatch variable on every instruction). */
#define AFTER_HELPER()                                                                        \
  do {                                                                                        \
    left = st->left;                                                                          \
    RELOAD_HOT();                                                                             \
    if (unlikely(st->status | st->stop)) goto helper_done;                                    \
    if (unlikely(st->tail_target != NULL)) {                                                  \
      const struct vm_prog *t_ = st->tail_target;                                             \
      st->tail_target = NULL;                                                                 \
      TR(t_tail = t_;)                                                                        \
      st->prog = prog = t_;                                                                   \
      code = t_->code;                                                                        \
      ord = t_->ord;                                                                          \
      vm_memset((void *)(uptr)stack_lo, 0, EBPF_STACK_SIZE);                                  \
      reg[1] = st->tail_ctx;                                                                  \
      reg[10] = stack_lo + EBPF_STACK_SIZE;                                                   \
      ip = blk = code;                                                                        \
    }                                                                                         \
  } while (0)

/* Address of an access of SIZE bytes at ADDR, or a jump to oob. The first region (the packet or
 * the input, where a packet program's accesses go) and the stack are each decided by one
 * subtraction and compare; the other regions are searched. */
#define ACCESS(ADDR, SIZE, KIND, NEED)                                                      \
  ({                                                                                        \
    u64 a_ = (ADDR);                                                                        \
    if ((hot_len < (SIZE) || a_ - hot_lo > (u64)(hot_len - (SIZE))) &&                       \
        a_ - stack_lo > (u64)(stack_len - (SIZE)) &&                                          \
        !region_ok(cfg, a_, SIZE, NEED)) {                                                   \
      bad_addr = a_; bad_size = SIZE; bad_access = KIND;                                    \
      goto oob;                                                                             \
    }                                                                                       \
    TR(t_addr = a_; t_size = (SIZE);)                                                       \
    (u8 *)(uptr)(u32)a_;                                                                    \
  })
#define RD(ADDR, SIZE) ACCESS(ADDR, SIZE, VM_ACCESS_READ, VM_REGION_READ)
#define WR(ADDR, SIZE) ACCESS(ADDR, SIZE, VM_ACCESS_WRITE, VM_REGION_WRITE)
#define RMW(ADDR, SIZE) ACCESS(ADDR, SIZE, VM_ACCESS_ATOMIC, VM_REGION_READ | VM_REGION_WRITE)

/* Takes the run from blk to I (inclusive) from the budget. */
#define CHARGE(I)                                                                             \
  do {                                                                                        \
    u64 ran_ = (u64)(ord[(I) - code] - ord[blk - code]) + 1;                                  \
    if (unlikely(ran_ > left)) goto out_of_budget;                                            \
    left -= ran_;                                                                             \
  } while (0)
#define GOTO(TARGET)                                                                          \
  do {                                                                                        \
    CHARGE(i);                                                                                \
    ip = (TARGET);                                                                            \
    blk = ip;                                                                                 \
  } while (0)

#define DST reg[i->dst]
#define SRC reg[i->src]
#define IMM ((u64)i->imm)
#define DST32 ((u32)reg[i->dst])
#define SRC32 ((u32)reg[i->src])
#define IMM32 ((u32)i->imm)

#define BINOP(OPC, OP)                                                                        \
  case EBPF_CLS_ALU64 | OPC | EBPF_SRC_K: DST = DST OP IMM; break;                             \
  case EBPF_CLS_ALU64 | OPC | EBPF_SRC_X: DST = DST OP SRC; break;                             \
  case EBPF_CLS_ALU | OPC | EBPF_SRC_K: DST = (u32)(DST32 OP IMM32); break;                    \
  case EBPF_CLS_ALU | OPC | EBPF_SRC_X: DST = (u32)(DST32 OP SRC32); break;

#define SHIFT(OPC, T64, T32, OP)                                                              \
  case EBPF_CLS_ALU64 | OPC | EBPF_SRC_K: DST = (u64)((T64)DST OP (IMM & 63)); break;         \
  case EBPF_CLS_ALU64 | OPC | EBPF_SRC_X: DST = (u64)((T64)DST OP (SRC & 63)); break;         \
  case EBPF_CLS_ALU | OPC | EBPF_SRC_K: DST = (u32)((T32)DST32 OP (IMM32 & 31)); break;       \
  case EBPF_CLS_ALU | OPC | EBPF_SRC_X: DST = (u32)((T32)DST32 OP (SRC32 & 31)); break;

#define JUMP(OPC, T64, T32, OP)                                                               \
  case EBPF_CLS_JMP | OPC | EBPF_SRC_K: if ((T64)DST OP (T64)IMM) GOTO(ip + i->off); break;         \
  case EBPF_CLS_JMP | OPC | EBPF_SRC_X: if ((T64)DST OP (T64)SRC) GOTO(ip + i->off); break;         \
  case EBPF_CLS_JMP32 | OPC | EBPF_SRC_K: if ((T32)DST32 OP (T32)IMM32) GOTO(ip + i->off); break;   \
  case EBPF_CLS_JMP32 | OPC | EBPF_SRC_X: if ((T32)DST32 OP (T32)SRC32) GOTO(ip + i->off); break;

#define LOAD(SIZE_BITS, T, ST)                                                                \
  case EBPF_CLS_LDX | EBPF_MODE_MEM | SIZE_BITS: {                                            \
    T v_; vm_memcpy(&v_, RD(SRC + i->off, sizeof(T)), sizeof(T)); DST = v_; break; }          \
  case EBPF_CLS_ST | EBPF_MODE_MEM | SIZE_BITS: {                                             \
    T v_ = (T)IMM; vm_memcpy(WR(DST + i->off, sizeof(T)), &v_, sizeof(T)); break; }           \
  case EBPF_CLS_STX | EBPF_MODE_MEM | SIZE_BITS: {                                            \
    T v_ = (T)SRC; vm_memcpy(WR(DST + i->off, sizeof(T)), &v_, sizeof(T)); break; }

#define LOADSX(SIZE_BITS, T)                                                                  \
  case EBPF_CLS_LDX | EBPF_MODE_MEMSX | SIZE_BITS: {                                          \
    T v_; vm_memcpy(&v_, RD(SRC + i->off, sizeof(T)), sizeof(T)); DST = (u64)(s64)v_; break; }

#define ATOMIC(SIZE_BITS, T)                                                                  \
  case EBPF_CLS_STX | EBPF_MODE_ATOMIC | SIZE_BITS: {                                         \
    u8 *p_ = RMW(DST + i->off, sizeof(T));                                                    \
    T old_, new_;                                                                             \
    vm_memcpy(&old_, p_, sizeof(T));                                                          \
    T s_ = (T)SRC;                                                                            \
    switch ((u32)i->imm & ~(u32)EBPF_ATOMIC_FETCH) {                                          \
    case EBPF_ATOMIC_ADD: new_ = old_ + s_; break;                                            \
    case EBPF_ATOMIC_OR: new_ = old_ | s_; break;                                             \
    case EBPF_ATOMIC_AND: new_ = old_ & s_; break;                                            \
    case EBPF_ATOMIC_XOR: new_ = old_ ^ s_; break;                                            \
    case EBPF_ATOMIC_XCHG & ~EBPF_ATOMIC_FETCH: new_ = s_; break;                             \
    default: /* cmpxchg */                                                                    \
      new_ = old_ == (T)reg[0] ? s_ : old_;                                                   \
      vm_memcpy(p_, &new_, sizeof(T));                                                        \
      reg[0] = (u64)old_;                                                                     \
      goto atomic_done_##T;                                                                   \
    }                                                                                         \
    vm_memcpy(p_, &new_, sizeof(T));                                                          \
    if ((u32)i->imm & EBPF_ATOMIC_FETCH) SRC = (u64)old_;                                     \
  atomic_done_##T:                                                                            \
    break; }

/* The next record of the ring, with the fields every kind has. */
static struct vm_exec_rec *exec_rec(u32 kind, const struct vm_prog *p, u32 pc, u32 depth) {
  struct vm_exec_trace *t = &vm_exec_trace;
  struct vm_exec_rec *r = (struct vm_exec_rec *)(uptr)t->buf + t->next;
  if (++t->next == t->cap) t->next = 0;
  t->count++;
  r->prog = p->handle;
  r->pc = pc;
  r->kind = (u8)kind;
  r->depth = (u8)depth;
  r->reg = VM_EXEC_NO_REG;
  r->size = 0;
  r->aux = 0;
  r->value = 0;
  r->addr = 0;
  return r;
}

/* Up to 8 bytes of memory the instruction has just accessed (so in bounds), little-endian. */
static u64 exec_peek(u64 addr, u32 size) {
  u64 v = 0;
  vm_memcpy(&v, (const void *)(uptr)(u32)addr, size <= 8 ? size : 8);
  return v;
}

static void exec_exit(const struct vm_prog *p, u32 pc, u32 depth, u64 r0) {
  struct vm_exec_rec *r = exec_rec(VM_EXEC_EXIT, p, pc, depth);
  r->reg = 0;
  r->value = r0;
}

/* Records instruction i (slot pc of p, in the frame at `depth`), which has just completed; `next`
 * is the instruction that runs after it, addr and size the memory it accessed, `tail` the program
 * a tail call made by it went to. Exits are recorded where they happen, as a final exit leaves
 * the loop. */
static void exec_step(const struct vm_prog *p, u32 pc, u32 depth, const struct dinsn *i, const u64 *reg,
                      const struct dinsn *next, u64 addr, u32 size, const struct vm_prog *tail) {
  u32 op = i->op;
  struct vm_exec_rec *r;
  switch (op & 0x07) {
  case EBPF_CLS_LDX:
    r = exec_rec(VM_EXEC_LOAD, p, pc, depth);
    r->reg = i->dst;
    r->value = reg[i->dst];
    r->addr = addr;
    r->size = (u8)size;
    return;
  case EBPF_CLS_ST:
    r = exec_rec(VM_EXEC_STORE, p, pc, depth);
    r->value = exec_peek(addr, size);
    r->addr = addr;
    r->size = (u8)size;
    return;
  case EBPF_CLS_STX:
    if ((op & 0xe0) != EBPF_MODE_ATOMIC) {
      r = exec_rec(VM_EXEC_STORE, p, pc, depth);
      r->value = exec_peek(addr, size);
    } else {
      /* The register it wrote, if any (r0 for cmpxchg, src for the fetch forms), else what the
       * memory holds after it. */
      r = exec_rec(VM_EXEC_ATOMIC, p, pc, depth);
      u32 reg_no = (u32)i->imm == EBPF_ATOMIC_CMPXCHG ? 0 : ((u32)i->imm & EBPF_ATOMIC_FETCH) ? i->src : VM_EXEC_NO_REG;
      r->reg = (u8)reg_no;
      r->value = reg_no == VM_EXEC_NO_REG ? exec_peek(addr, size) : reg[reg_no];
    }
    r->addr = addr;
    r->size = (u8)size;
    return;
  case EBPF_CLS_JMP:
  case EBPF_CLS_JMP32:
    if (op == EBPF_OP_EXIT) return;
    if (op == EBPF_OP_CALL && i->src == EBPF_PSEUDO_CALL_LOCAL) {
      r = exec_rec(VM_EXEC_CALL, p, pc, depth);
      r->aux = (u32)(next - p->code);
      return;
    }
    if (op == EBPF_OP_CALL || op == EBPF_OP_CALLX) {
      if (tail) {
        r = exec_rec(VM_EXEC_TAIL_CALL, p, pc, depth);
        r->aux = tail->handle;
        return;
      }
      r = exec_rec(VM_EXEC_HELPER, p, pc, depth);
      r->reg = 0;
      r->value = reg[0];
      /* A decoded call holds the helper's address; the id is in the raw slot (callx: addr). */
      r->aux = op == EBPF_OP_CALL ? (u32)(p->raw[pc] >> 32) : (u32)addr;
      return;
    }
    r = exec_rec(VM_EXEC_JUMP, p, pc, depth);
    r->value = op == EBPF_OP_JA || op == EBPF_OP_JA32 || next != i + 1;
    return;
  default: /* ALU, ALU64, lddw */
    r = exec_rec(VM_EXEC_ALU, p, pc, depth);
    r->reg = i->dst;
    r->value = reg[i->dst];
    return;
  }
}

#define TR(...)
#define RUN_FN run
#include "interp_loop.h"
#undef RUN_FN
#undef TR

#define TR(...) __VA_ARGS__
#define RUN_FN run_traced
#include "interp_loop.h"
#undef RUN_FN
#undef TR


u32 vm_call_function(struct vm_state *st, u32 target, u64 a1, u64 a2, u64 a3, u64 a4, u64 a5, u64 *ret) {
  const u64 args[5] = {a1, a2, a3, a4, a5};
  u32 saved_depth = st->depth;
  u32 saved_lo = st->stack_lo;
  if (target >= st->prog->n_slots) return report(st->prog, VM_ERR_BAD_CALL_TARGET, 0, target);
  u32 status = st->traced ? run_traced(st, st->prog->code + target, args, ret) : run(st, st->prog->code + target, args, ret);
  st->depth = saved_depth;
  st->stack_lo = saved_lo;
  return status;
}

u32 vm_execute(const struct vm_prog *prog, struct vm_run_config *cfg, struct vm_env *env) {
  struct vm_state st;
  vm_memset(&st, 0, sizeof st);
  st.prog = prog;
  st.cfg = cfg;
  st.env = env;
  st.left = cfg->budget ? cfg->budget : EBPF_DEFAULT_BUDGET;
  const u64 budget = st.left;
  u64 r0 = 0;
  u32 status;
  if (unlikely(vm_exec_trace.cap != 0)) {
    st.traced = 1;
    vm_exec_trace.next = 0;
    vm_exec_trace.count = 0;
    status = run_traced(&st, prog->code, &cfg->regs[1], &r0);
  } else {
    status = run(&st, prog->code, &cfg->regs[1], &r0);
  }
  vm_report.executed = budget - st.left;
  if (status != VM_OK) return status;
  vm_report.status = VM_OK;
  vm_report.r0 = r0;
  return VM_OK;
}

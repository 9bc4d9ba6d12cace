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
 * Helper calls end a run too, so no helper runs past the budget. */
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

/* Runs from `start` in a new frame at st->depth with r1-r5 = args, until that frame exits.
 * The main program and every callback go through here; the budget lives in st->left. */
static u32 run(struct vm_state *st, const struct dinsn *start, const u64 *args, u64 *ret) {
  const struct vm_prog *prog = st->prog;
  const struct dinsn *code = prog->code;
  const u32 *ord = prog->ord;
  struct vm_run_config *const cfg = st->cfg;
  u64 reg[11];
  struct frame frames[EBPF_MAX_CALL_FRAMES];
  const u32 base = st->depth; /* global index of this run's first frame */
  u32 depth = base;
  const struct dinsn *ip = start; /* the next instruction */
  const struct dinsn *blk = start; /* first instruction of the current straight-line run */
  const struct dinsn *i = start;
  const u32 stack_top = STACK_TOP;
  u32 stack_lo = stack_top - EBPF_STACK_SIZE * (depth + 1);
  u32 stack_len = stack_top - stack_lo;
  const u64 budget = st->left;
  u64 left = budget;
  /* The first region (the packet or the input) is checked inline like the stack; the rest in
   * region_ok. An empty or read-only first region is left to region_ok. Helpers that move the
   * packet change it, so it is reloaded after every helper call. */
  u32 hot_lo = 0, hot_len = 0;
#define RELOAD_HOT()                                                                          \
  do {                                                                                        \
    const struct vm_region *r0_ = cfg->n_regions ? &cfg->regions[0] : NULL;                   \
    int rw_ = r0_ && r0_->len && r0_->flags == (VM_REGION_READ | VM_REGION_WRITE);            \
    hot_lo = rw_ ? r0_->lo : 0;                                                               \
    hot_len = rw_ ? r0_->len : 0;                                                             \
  } while (0)
  RELOAD_HOT();
  u64 bad_addr = 0;
  u32 bad_size = 0, bad_access = 0;
  u32 fail_status = 0, fail_detail = 0;

  if (depth >= EBPF_MAX_CALL_FRAMES) return report(prog, VM_ERR_CALL_DEPTH, (u32)(start - code), depth + 1);
  reg[0] = 0;
  for (int k = 0; k < 5; k++) reg[k + 1] = args[k];
  reg[6] = reg[7] = reg[8] = reg[9] = 0;
  reg[10] = stack_lo + EBPF_STACK_SIZE;
  vm_memset((void *)(uptr)stack_lo, 0, EBPF_STACK_SIZE);

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

  for (;;) {
    i = ip++;
    switch (i->op) {
      BINOP(EBPF_ALU_ADD, +)
      BINOP(EBPF_ALU_SUB, -)
      BINOP(EBPF_ALU_MUL, *)
      BINOP(EBPF_ALU_OR, |)
      BINOP(EBPF_ALU_AND, &)
      BINOP(EBPF_ALU_XOR, ^)
      SHIFT(EBPF_ALU_LSH, u64, u32, <<)
      SHIFT(EBPF_ALU_RSH, u64, u32, >>)
      SHIFT(EBPF_ALU_ARSH, s64, s32, >>)

    /* Division and modulo as RFC 9669 defines them: x / 0 = 0, x % 0 = x; the signed forms
     * (off = 1) truncate toward zero, and INT_MIN / -1 wraps instead of trapping. */
    case EBPF_CLS_ALU64 | EBPF_ALU_DIV | EBPF_SRC_K:
    case EBPF_CLS_ALU64 | EBPF_ALU_DIV | EBPF_SRC_X: {
      u64 d = (i->op & EBPF_SRC_X) ? SRC : IMM;
      if (d == 0) DST = 0;
      else if (i->off == 0) DST = DST / d;
      else if ((s64)d == -1) DST = -DST;
      else DST = (u64)((s64)DST / (s64)d);
      break;
    }
    case EBPF_CLS_ALU | EBPF_ALU_DIV | EBPF_SRC_K:
    case EBPF_CLS_ALU | EBPF_ALU_DIV | EBPF_SRC_X: {
      u32 d = (i->op & EBPF_SRC_X) ? SRC32 : IMM32;
      if (d == 0) DST = 0;
      else if (i->off == 0) DST = DST32 / d;
      else if ((s32)d == -1) DST = (u32)-DST32;
      else DST = (u32)((s32)DST32 / (s32)d);
      break;
    }
    case EBPF_CLS_ALU64 | EBPF_ALU_MOD | EBPF_SRC_K:
    case EBPF_CLS_ALU64 | EBPF_ALU_MOD | EBPF_SRC_X: {
      u64 d = (i->op & EBPF_SRC_X) ? SRC : IMM;
      if (d == 0) break;
      if (i->off == 0) DST = DST % d;
      else if ((s64)d == -1) DST = 0;
      else DST = (u64)((s64)DST % (s64)d);
      break;
    }
    case EBPF_CLS_ALU | EBPF_ALU_MOD | EBPF_SRC_K:
    case EBPF_CLS_ALU | EBPF_ALU_MOD | EBPF_SRC_X: {
      u32 d = (i->op & EBPF_SRC_X) ? SRC32 : IMM32;
      if (d == 0) DST = DST32;
      else if (i->off == 0) DST = DST32 % d;
      else if ((s32)d == -1) DST = 0;
      else DST = (u32)((s32)DST32 % (s32)d);
      break;
    }

    case EBPF_CLS_ALU64 | EBPF_ALU_NEG: DST = -DST; break;
    case EBPF_CLS_ALU | EBPF_ALU_NEG: DST = (u32)-DST32; break;

    case EBPF_CLS_ALU64 | EBPF_ALU_MOV | EBPF_SRC_K: DST = IMM; break;
    case EBPF_CLS_ALU | EBPF_ALU_MOV | EBPF_SRC_K: DST = IMM32; break;
    case EBPF_CLS_ALU64 | EBPF_ALU_MOV | EBPF_SRC_X:
      switch (i->off) {
      case 0: DST = SRC; break;
      case 8: DST = (u64)(s64)(s8)SRC; break;
      case 16: DST = (u64)(s64)(s16)SRC; break;
      default: DST = (u64)(s64)(s32)SRC; break;
      }
      break;
    case EBPF_CLS_ALU | EBPF_ALU_MOV | EBPF_SRC_X:
      switch (i->off) {
      case 0: DST = SRC32; break;
      case 8: DST = (u32)(s32)(s8)SRC; break;
      default: DST = (u32)(s32)(s16)SRC; break;
      }
      break;

    case EBPF_CLS_ALU | EBPF_ALU_END | EBPF_END_TO_LE:
      DST = i->imm == 16 ? (u16)DST : i->imm == 32 ? (u64)(u32)DST : DST;
      break;
    case EBPF_CLS_ALU | EBPF_ALU_END | EBPF_END_TO_BE:
    case EBPF_CLS_ALU64 | EBPF_ALU_END | EBPF_END_TO_LE:
      DST = i->imm == 16 ? bswap16((u16)DST) : i->imm == 32 ? (u64)bswap32((u32)DST) : bswap64(DST);
      break;

    case EBPF_OP_LDDW:
      DST = (u64)i->imm;
      ip++;
      break;

      LOAD(EBPF_SIZE_B, u8, s8)
      LOAD(EBPF_SIZE_H, u16, s16)
      LOAD(EBPF_SIZE_W, u32, s32)
      LOAD(EBPF_SIZE_DW, u64, s64)
      LOADSX(EBPF_SIZE_B, s8)
      LOADSX(EBPF_SIZE_H, s16)
      LOADSX(EBPF_SIZE_W, s32)
      ATOMIC(EBPF_SIZE_W, u32)
      ATOMIC(EBPF_SIZE_DW, u64)

    case EBPF_OP_JA: GOTO(ip + i->off); break;
    case EBPF_OP_JA32: GOTO(ip + (s32)i->imm); break;
      JUMP(EBPF_JMP_JEQ, u64, u32, ==)
      JUMP(EBPF_JMP_JNE, u64, u32, !=)
      JUMP(EBPF_JMP_JGT, u64, u32, >)
      JUMP(EBPF_JMP_JGE, u64, u32, >=)
      JUMP(EBPF_JMP_JLT, u64, u32, <)
      JUMP(EBPF_JMP_JLE, u64, u32, <=)
      JUMP(EBPF_JMP_JSGT, s64, s32, >)
      JUMP(EBPF_JMP_JSGE, s64, s32, >=)
      JUMP(EBPF_JMP_JSLT, s64, s32, <)
      JUMP(EBPF_JMP_JSLE, s64, s32, <=)
    case EBPF_CLS_JMP | EBPF_JMP_JSET | EBPF_SRC_K: if (DST & IMM) GOTO(ip + i->off); break;
    case EBPF_CLS_JMP | EBPF_JMP_JSET | EBPF_SRC_X: if (DST & SRC) GOTO(ip + i->off); break;
    case EBPF_CLS_JMP32 | EBPF_JMP_JSET | EBPF_SRC_K: if (DST32 & IMM32) GOTO(ip + i->off); break;
    case EBPF_CLS_JMP32 | EBPF_JMP_JSET | EBPF_SRC_X: if (DST32 & SRC32) GOTO(ip + i->off); break;

    case EBPF_OP_CALL:
      if (i->src == EBPF_PSEUDO_CALL_HELPER) {
        GOTO(ip);
        BEFORE_HELPER();
        reg[0] = ((helper_fn)(uptr)i->imm)(st, reg[1], reg[2], reg[3], reg[4], reg[5]);
        AFTER_HELPER();
        break;
      }
      /* bpf-to-bpf call: a new frame with its own 512 bytes of stack below the caller's. */
      if (unlikely(depth + 1 >= EBPF_MAX_CALL_FRAMES)) {
        fail_status = VM_ERR_CALL_DEPTH;
        fail_detail = depth + 2;
        goto fail;
      }
      GOTO(ip + (s32)i->imm);
      frames[depth - base].ret = i + 1;
      frames[depth - base].prog = prog;
      frames[depth - base].saved[0] = reg[6];
      frames[depth - base].saved[1] = reg[7];
      frames[depth - base].saved[2] = reg[8];
      frames[depth - base].saved[3] = reg[9];
      frames[depth - base].fp = reg[10];
      depth++;
      reg[10] -= EBPF_STACK_SIZE;
      stack_lo -= EBPF_STACK_SIZE;
      stack_len += EBPF_STACK_SIZE;
      vm_memset((void *)(uptr)stack_lo, 0, EBPF_STACK_SIZE);
      break;

    case EBPF_OP_CALLX: {
      /* RFC 9669 callx: the register holds a helper id. */
      u64 target = DST;
      helper_fn fn = target <= 0xffffffffull ? vm_find_helper(prog->helper_set, (u32)target) : NULL;
      if (!fn) {
        fail_status = VM_ERR_BAD_CALL_TARGET;
        fail_detail = (u32)target;
        goto fail;
      }
      GOTO(ip);
      BEFORE_HELPER();
      reg[0] = fn(st, reg[1], reg[2], reg[3], reg[4], reg[5]);
      AFTER_HELPER();
      break;
    }

    case EBPF_OP_EXIT:
      CHARGE(i);
      if (depth == base) goto done;
      depth--;
      ip = blk = frames[depth - base].ret;
      if (unlikely(frames[depth - base].prog != prog)) { /* the callee was a tail call's target */
        st->prog = prog = frames[depth - base].prog;
        code = prog->code;
        ord = prog->ord;
      }
      reg[6] = frames[depth - base].saved[0];
      reg[7] = frames[depth - base].saved[1];
      reg[8] = frames[depth - base].saved[2];
      reg[9] = frames[depth - base].saved[3];
      reg[10] = frames[depth - base].fp;
      stack_lo += EBPF_STACK_SIZE;
      stack_len -= EBPF_STACK_SIZE;
      break;

    default:
      /* Unreachable for validated code; kept so a decoding bug cannot run off into memory. */
      fail_status = VM_ERR_BAD_OPCODE;
      goto fail;
    }
  }

helper_done:
  /* After a helper: a failure inside it, or an unwind. */
  if (st->status) {
    u32 status = st->status;
    if (vm_report.status == VM_OK) { /* a fault in the helper itself, not in a nested run */
      vm_report.status = status;
      vm_report.prog = prog->handle;
      vm_report.pc = (u32)(i - code);
      vm_report.insn = prog->raw[i - code];
    }
    return status;
  }
  reg[0] = st->stop_r0;
  goto done;

done:
  st->left = left;
  *ret = reg[0];
  return VM_OK;

oob:
  /* An access past the budget would not have run: the budget error comes first. */
  if (ord[i - code] - ord[blk - code] >= left) goto out_of_budget;
  st->left = left - (ord[i - code] - ord[blk - code]);
  return report_oob(prog, cfg, (u32)(i - code), bad_addr, bad_size, bad_access, stack_lo);

fail:
  if (ord[i - code] - ord[blk - code] >= left) goto out_of_budget;
  st->left = left - (ord[i - code] - ord[blk - code]);
  return report(prog, fail_status, (u32)(i - code), fail_detail);

out_of_budget: {
  /* The first instruction of the run that the budget does not cover. */
  const struct dinsn *p = blk;
  while (ord[p - code] - ord[blk - code] < left) p += p->op == EBPF_OP_LDDW ? 2 : 1;
  st->left = 0;
  return report(prog, VM_ERR_BUDGET_EXHAUSTED, (u32)(p - code), 0);
}
}

u32 vm_call_function(struct vm_state *st, u32 target, u64 a1, u64 a2, u64 a3, u64 a4, u64 a5, u64 *ret) {
  const u64 args[5] = {a1, a2, a3, a4, a5};
  u32 saved_depth = st->depth;
  u32 saved_lo = st->stack_lo;
  if (target >= st->prog->n_slots) return report(st->prog, VM_ERR_BAD_CALL_TARGET, 0, target);
  u32 status = run(st, st->prog->code + target, args, ret);
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
  u32 status = run(&st, prog->code, &cfg->regs[1], &r0);
  vm_report.executed = budget - st.left;
  if (status != VM_OK) return status;
  vm_report.status = VM_OK;
  vm_report.r0 = r0;
  return VM_OK;
}

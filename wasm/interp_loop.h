/* The interpreter loop, included twice by interp.c: as run() with TRACE 0, and as run_traced()
 * with TRACE 1, where TR(...) expands to the code that records each executed instruction. One
 * source for both keeps them from drifting apart; the untraced copy compiles to what it was
 * before tracing existed. Not a header to include anywhere else. */

/* Runs from `start` in a new frame at st->depth with r1-r5 = args, until that frame exits.
 * The main program and every callback go through here; the budget lives in st->left. */
static u32 RUN_FN(struct vm_state *st, const struct dinsn *start, const u64 *args, u64 *ret) {
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
  RELOAD_HOT();
  u64 bad_addr = 0;
  u32 bad_size = 0, bad_access = 0;
  u32 fail_status = 0, fail_detail = 0;
  TR(u64 t_addr = 0; u32 t_size = 0; const struct vm_prog *t_tail = NULL;)

  if (depth >= EBPF_MAX_CALL_FRAMES) return report(prog, VM_ERR_CALL_DEPTH, (u32)(start - code), depth + 1);
  reg[0] = 0;
  for (int k = 0; k < 5; k++) reg[k + 1] = args[k];
  reg[6] = reg[7] = reg[8] = reg[9] = 0;
  reg[10] = stack_lo + EBPF_STACK_SIZE;
  vm_memset((void *)(uptr)stack_lo, 0, EBPF_STACK_SIZE);

  for (;;) {
    i = ip++;
    TR(const struct vm_prog *const t_prog = prog; const u32 t_depth = depth;)
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
      TR(t_addr = target;)
      BEFORE_HELPER();
      reg[0] = fn(st, reg[1], reg[2], reg[3], reg[4], reg[5]);
      AFTER_HELPER();
      break;
    }

    case EBPF_OP_EXIT:
      CHARGE(i);
      TR(exec_exit(prog, (u32)(i - code), depth, reg[0]);)
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
    TR(exec_step(t_prog, (u32)(i - t_prog->code), t_depth, i, reg, ip, t_addr, t_size, t_tail); t_tail = NULL;)
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

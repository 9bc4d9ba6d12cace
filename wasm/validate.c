/* Load-time validation and decoding. Every check that depends only on the program's bytes is
 * made here, once, so the interpreter can trust the shape of every instruction: opcodes and
 * reserved fields, registers, jump and call targets, 64-bit immediates, fall-through off the end
 * of a function, and the depth of bpf-to-bpf calls. Each failure names the instruction index. */
#include "vm.h"
#include "maps.h"

static const u64 *g_raw;

static u32 fail(u32 status, u32 pc, u32 detail) {
  vm_report.status = status;
  vm_report.pc = pc;
  vm_report.insn = g_raw ? g_raw[pc] : 0;
  vm_report.detail = detail;
  return status;
}

#define OP_CLASS(op) ((op) & 0x07)

static int is_alu_op_valid(u32 code) { return code <= 0xd0; }

/* Checks one instruction's fields. `writes_dst` says whether dst is written (r10 is read-only). */
static u32 check_fields(u32 pc, u8 op, u8 dst, u8 src, s16 off, s32 imm) {
  u32 cls = OP_CLASS(op);
  if (dst > 10) return fail(VM_ERR_BAD_REGISTER, pc, VM_FIELD_DST);
  if (src > 10) return fail(VM_ERR_BAD_REGISTER, pc, VM_FIELD_SRC);
  switch (cls) {
  case EBPF_CLS_ALU:
  case EBPF_CLS_ALU64: {
    u32 code = op & 0xf0;
    u32 x = op & EBPF_SRC_X;
    if (!is_alu_op_valid(code)) return fail(VM_ERR_BAD_OPCODE, pc, 0);
    if (dst == 10) return fail(VM_ERR_BAD_REGISTER, pc, VM_FIELD_DST);
    if (code == EBPF_ALU_END) {
      if (cls == EBPF_CLS_ALU64 && x) return fail(VM_ERR_BAD_OPCODE, pc, 0);
      if (src != 0) return fail(VM_ERR_BAD_FIELD, pc, VM_FIELD_SRC);
      if (off != 0) return fail(VM_ERR_BAD_FIELD, pc, VM_FIELD_OFF);
      if (imm != 16 && imm != 32 && imm != 64) return fail(VM_ERR_BAD_FIELD, pc, VM_FIELD_IMM);
      return VM_OK;
    }
    if (code == EBPF_ALU_NEG) {
      if (x) return fail(VM_ERR_BAD_OPCODE, pc, 0);
      if (src != 0) return fail(VM_ERR_BAD_FIELD, pc, VM_FIELD_SRC);
      if (off != 0) return fail(VM_ERR_BAD_FIELD, pc, VM_FIELD_OFF);
      if (imm != 0) return fail(VM_ERR_BAD_FIELD, pc, VM_FIELD_IMM);
      return VM_OK;
    }
    if (x) {
      if (imm != 0) return fail(VM_ERR_BAD_FIELD, pc, VM_FIELD_IMM);
    } else if (src != 0) {
      return fail(VM_ERR_BAD_FIELD, pc, VM_FIELD_SRC);
    }
    if (code == EBPF_ALU_DIV || code == EBPF_ALU_MOD) {
      if (off != 0 && off != 1) return fail(VM_ERR_BAD_FIELD, pc, VM_FIELD_OFF);
    } else if (code == EBPF_ALU_MOV) {
      /* MOVSX: sign-extending moves exist only in register form. */
      int ok = off == 0 || (x && (off == 8 || off == 16 || (off == 32 && cls == EBPF_CLS_ALU64)));
      if (!ok) return fail(VM_ERR_BAD_FIELD, pc, VM_FIELD_OFF);
    } else if (off != 0) {
      return fail(VM_ERR_BAD_FIELD, pc, VM_FIELD_OFF);
    }
    return VM_OK;
  }
  case EBPF_CLS_JMP:
  case EBPF_CLS_JMP32: {
    u32 code = op & 0xf0;
    u32 x = op & EBPF_SRC_X;
    if (code == EBPF_JMP_JA) {
      if (x || dst || src) return fail(x ? VM_ERR_BAD_OPCODE : VM_ERR_BAD_FIELD, pc, dst ? VM_FIELD_DST : VM_FIELD_SRC);
      if (cls == EBPF_CLS_JMP && imm != 0) return fail(VM_ERR_BAD_FIELD, pc, VM_FIELD_IMM);
      if (cls == EBPF_CLS_JMP32 && off != 0) return fail(VM_ERR_BAD_FIELD, pc, VM_FIELD_OFF);
      return VM_OK;
    }
    if (code == EBPF_JMP_CALL || code == EBPF_JMP_EXIT) {
      if (cls == EBPF_CLS_JMP32) return fail(VM_ERR_BAD_OPCODE, pc, 0);
      if (code == EBPF_JMP_EXIT) {
        if (x) return fail(VM_ERR_BAD_OPCODE, pc, 0);
        if (dst || src) return fail(VM_ERR_BAD_FIELD, pc, dst ? VM_FIELD_DST : VM_FIELD_SRC);
        if (off) return fail(VM_ERR_BAD_FIELD, pc, VM_FIELD_OFF);
        if (imm) return fail(VM_ERR_BAD_FIELD, pc, VM_FIELD_IMM);
        return VM_OK;
      }
      if (x) { /* callx: the target is in dst */
        if (src) return fail(VM_ERR_BAD_FIELD, pc, VM_FIELD_SRC);
        if (off) return fail(VM_ERR_BAD_FIELD, pc, VM_FIELD_OFF);
        if (imm) return fail(VM_ERR_BAD_FIELD, pc, VM_FIELD_IMM);
        return VM_OK;
      }
      if (dst) return fail(VM_ERR_BAD_FIELD, pc, VM_FIELD_DST);
      if (off) return fail(VM_ERR_BAD_FIELD, pc, VM_FIELD_OFF);
      if (src == EBPF_PSEUDO_CALL_KFUNC) return fail(VM_ERR_UNSUPPORTED, pc, 0);
      if (src != EBPF_PSEUDO_CALL_HELPER && src != EBPF_PSEUDO_CALL_LOCAL)
        return fail(VM_ERR_BAD_FIELD, pc, VM_FIELD_SRC);
      return VM_OK;
    }
    if (code > EBPF_JMP_JSLE) return fail(VM_ERR_BAD_OPCODE, pc, 0);
    if (x) {
      if (imm) return fail(VM_ERR_BAD_FIELD, pc, VM_FIELD_IMM);
    } else if (src) {
      return fail(VM_ERR_BAD_FIELD, pc, VM_FIELD_SRC);
    }
    return VM_OK;
  }
  case EBPF_CLS_LD:
    if (op == EBPF_OP_LDDW) {
      if (dst == 10) return fail(VM_ERR_BAD_REGISTER, pc, VM_FIELD_DST);
      if (off) return fail(VM_ERR_BAD_FIELD, pc, VM_FIELD_OFF);
      /* The object loader turns map references into map ids (src 1: the map, src 2: an
       * address in an array map's value) and function addresses into relative offsets (src 4). */
      if (src == EBPF_PSEUDO_IMM64 || src == EBPF_PSEUDO_MAP_FD || src == EBPF_PSEUDO_MAP_VALUE ||
          src == EBPF_PSEUDO_FUNC)
        return VM_OK;
      if (src <= EBPF_PSEUDO_MAP_IDX_VALUE) return fail(VM_ERR_UNSUPPORTED, pc, src);
      return fail(VM_ERR_BAD_FIELD, pc, VM_FIELD_SRC);
    }
    if ((op & 0xe0) == EBPF_MODE_ABS || (op & 0xe0) == EBPF_MODE_IND) return fail(VM_ERR_UNSUPPORTED, pc, 0);
    return fail(VM_ERR_BAD_OPCODE, pc, 0);
  case EBPF_CLS_LDX: {
    u32 mode = op & 0xe0;
    if (mode != EBPF_MODE_MEM && mode != EBPF_MODE_MEMSX) return fail(VM_ERR_BAD_OPCODE, pc, 0);
    if (mode == EBPF_MODE_MEMSX && (op & 0x18) == EBPF_SIZE_DW) return fail(VM_ERR_BAD_OPCODE, pc, 0);
    if (dst == 10) return fail(VM_ERR_BAD_REGISTER, pc, VM_FIELD_DST);
    if (imm) return fail(VM_ERR_BAD_FIELD, pc, VM_FIELD_IMM);
    return VM_OK;
  }
  case EBPF_CLS_ST:
    if ((op & 0xe0) != EBPF_MODE_MEM) return fail(VM_ERR_BAD_OPCODE, pc, 0);
    if (src) return fail(VM_ERR_BAD_FIELD, pc, VM_FIELD_SRC);
    return VM_OK;
  case EBPF_CLS_STX: {
    u32 mode = op & 0xe0;
    if (mode == EBPF_MODE_MEM) {
      if (imm) return fail(VM_ERR_BAD_FIELD, pc, VM_FIELD_IMM);
      return VM_OK;
    }
    if (mode != EBPF_MODE_ATOMIC) return fail(VM_ERR_BAD_OPCODE, pc, 0);
    u32 size = op & 0x18;
    if (size != EBPF_SIZE_W && size != EBPF_SIZE_DW) return fail(VM_ERR_BAD_OPCODE, pc, 0);
    switch (imm) {
    case EBPF_ATOMIC_ADD: case EBPF_ATOMIC_OR: case EBPF_ATOMIC_AND: case EBPF_ATOMIC_XOR:
      return VM_OK;
    case EBPF_ATOMIC_ADD | EBPF_ATOMIC_FETCH: case EBPF_ATOMIC_OR | EBPF_ATOMIC_FETCH:
    case EBPF_ATOMIC_AND | EBPF_ATOMIC_FETCH: case EBPF_ATOMIC_XOR | EBPF_ATOMIC_FETCH:
    case EBPF_ATOMIC_XCHG:
      if (src == 10) return fail(VM_ERR_BAD_REGISTER, pc, VM_FIELD_SRC); /* fetch writes src */
      return VM_OK;
    case EBPF_ATOMIC_CMPXCHG:
      return VM_OK;
    default:
      return fail(VM_ERR_BAD_FIELD, pc, VM_FIELD_IMM);
    }
  }
  }
  return fail(VM_ERR_BAD_OPCODE, pc, 0);
}

static int is_jump(u8 op) {
  u32 cls = OP_CLASS(op);
  if (cls != EBPF_CLS_JMP && cls != EBPF_CLS_JMP32) return 0;
  u32 code = op & 0xf0;
  return code != EBPF_JMP_CALL && code != EBPF_JMP_EXIT;
}

/* An instruction after which execution cannot continue at the next slot. */
static int ends_flow(u8 op) {
  return op == EBPF_OP_EXIT || op == EBPF_OP_JA || op == EBPF_OP_JA32;
}

static s64 jump_target(const struct dinsn *d, u32 pc) {
  if (d->op == EBPF_OP_JA32) return (s64)pc + 1 + d->imm;
  return (s64)pc + 1 + d->off;
}

/* Height of function f: the most frames a call chain starting in f uses (1 for a leaf), or -1
 * on recursion, with the call that closes the cycle in *bad_pc. `state`: 0 unvisited, 1 on the
 * current path, 2 done. */
static s32 call_height(u32 f, const u32 *func_of, const u32 *starts, u32 n_funcs, u32 n,
                       const struct dinsn *code, u8 *state, u32 *height, u32 *bad_pc) {
  if (state[f] == 2) return (s32)height[f];
  if (state[f] == 1) return -1;
  state[f] = 1;
  u32 end = f + 1 < n_funcs ? starts[f + 1] : n;
  u32 best = 1;
  for (u32 pc = starts[f]; pc < end; pc++) {
    const struct dinsn *d = &code[pc];
    if (d->op == EBPF_OP_CALL && d->src == EBPF_PSEUDO_CALL_LOCAL) {
      s32 sub = call_height(func_of[pc + 1 + d->imm], func_of, starts, n_funcs, n, code, state, height, bad_pc);
      if (sub < 0) {
        if (*bad_pc == (u32)-1) *bad_pc = pc;
        return -1;
      }
      if ((u32)sub + 1 > best) best = (u32)sub + 1;
    }
  }
  state[f] = 2;
  height[f] = best;
  return (s32)best;
}

/* The call that opens one frame too many: walk down from main along a chain that is too deep
 * until the frame that may not call any further. */
static u32 deepest_bad_call(const u32 *func_of, const u32 *starts, u32 n_funcs, u32 n,
                            const struct dinsn *code, const u32 *height) {
  u32 f = 0;
  for (u32 frames = 1;; frames++) {
    u32 end = f + 1 < n_funcs ? starts[f + 1] : n;
    for (u32 pc = starts[f]; pc < end; pc++) {
      const struct dinsn *d = &code[pc];
      if (d->op != EBPF_OP_CALL || d->src != EBPF_PSEUDO_CALL_LOCAL) continue;
      u32 callee = func_of[pc + 1 + d->imm];
      if (frames + height[callee] <= EBPF_MAX_CALL_FRAMES) continue;
      if (frames == EBPF_MAX_CALL_FRAMES) return pc;
      f = callee;
      goto next;
    }
    return 0; /* unreachable when height[0] is too large */
  next:;
  }
}

u32 vm_validate(const u64 *raw, u32 n, u32 helper_set, struct dinsn *out) {
  g_raw = raw;
  if (n == 0) return fail(VM_ERR_EMPTY_PROGRAM, 0, 0);
  if (n > EBPF_MAX_INSNS) return fail(VM_ERR_TOO_LARGE, 0, n);

  u8 *second = vm_calloc(n);       /* slot is the second half of an lddw */
  u8 *is_start = vm_calloc(n);     /* slot starts a function */
  u32 *func_of = vm_calloc(n * 4); /* function index of each slot */
  u32 *starts = NULL;
  u8 *state = NULL;
  u32 *depth = NULL;
  u32 status = VM_OK;
  if (!second || !is_start || !func_of) { status = fail(VM_ERR_OUT_OF_MEMORY, 0, 0); goto out; }

  /* Pass 1: decode and check each instruction's own fields. */
  for (u32 pc = 0; pc < n; pc++) {
    u64 w = raw[pc];
    u8 op = (u8)w;
    u8 dst = (u8)(w >> 8) & 0x0f;
    u8 src = (u8)(w >> 12) & 0x0f;
    s16 off = (s16)(u16)(w >> 16);
    s32 imm = (s32)(u32)(w >> 32);
    struct dinsn *d = &out[pc];
    d->op = op; d->dst = dst; d->src = src; d->pad = 0; d->off = off; d->imm = imm;
    if ((status = check_fields(pc, op, dst, src, off, imm)) != VM_OK) goto out;
    if (op == EBPF_OP_LDDW) {
      if (pc + 1 >= n) { status = fail(VM_ERR_BAD_LDDW, pc, 0); goto out; }
      u64 w2 = raw[pc + 1];
      /* The second slot must be all zero but its imm, which holds the high 32 bits. */
      if ((u32)w2 != 0) { status = fail(VM_ERR_BAD_LDDW, pc, 1); goto out; }
      d->imm = (s64)(((u64)(u32)(w >> 32)) | (w2 & 0xffffffff00000000ull));
      if (src == EBPF_PSEUDO_MAP_FD || src == EBPF_PSEUDO_MAP_VALUE) {
        struct vm_map *m = vm_map_by_id((u32)imm);
        u32 off = (u32)(w2 >> 32);
        if (!m) { status = fail(VM_ERR_BAD_FIELD, pc, VM_FIELD_IMM); goto out; }
        if (src == EBPF_PSEUDO_MAP_FD) {
          d->imm = (s64)(uptr)m;
        } else {
          /* Direct value access: array maps only, inside the value. */
          if (m->type != VM_MAP_ARRAY || off >= m->value_size) { status = fail(VM_ERR_BAD_FIELD, pc, VM_FIELD_IMM); goto out; }
          d->imm = (s64)((uptr)m->arena + off);
        }
        d->src = 0;
      }
      struct dinsn *d2 = &out[pc + 1];
      d2->op = 0; d2->dst = 0; d2->src = 0; d2->pad = 0; d2->off = 0; d2->imm = 0;
      second[pc + 1] = 1;
      pc++;
      continue;
    }
    if (op == EBPF_OP_CALL && src == EBPF_PSEUDO_CALL_HELPER) {
      helper_fn fn = vm_find_helper(helper_set, (u32)imm);
      if (!fn) { status = fail(VM_ERR_UNKNOWN_HELPER, pc, (u32)imm); goto out; }
      d->imm = (s64)(uptr)fn;
    }
  }

  /* Pass 2: jump and call targets land on instructions, not on an lddw's second slot;
   * call targets and function addresses start functions. */
  is_start[0] = 1;
  for (u32 pc = 0; pc < n; pc++) {
    struct dinsn *d = &out[pc];
    if (second[pc]) continue;
    s64 t;
    int func = d->op == EBPF_OP_LDDW && d->src == EBPF_PSEUDO_FUNC;
    if (is_jump(d->op)) t = jump_target(d, pc);
    else if (d->op == EBPF_OP_CALL && d->src == EBPF_PSEUDO_CALL_LOCAL) t = (s64)pc + 1 + d->imm;
    else if (func) t = (s64)pc + 1 + (s32)(u32)(raw[pc] >> 32);
    else continue;
    if (t < 0 || t >= (s64)n || second[t]) { status = fail(VM_ERR_JUMP_OUT_OF_RANGE, pc, 0); goto out; }
    if (d->op == EBPF_OP_CALL || func) is_start[t] = 1;
    if (func) {
      d->imm = (s64)(((u64)VM_FUNC_TAG << 32) | (u64)t);
      d->src = 0;
    }
  }

  /* Pass 3: functions. Each ends in exit or an unconditional jump, and jumps stay inside. */
  u32 n_funcs = 0;
  for (u32 pc = 0; pc < n; pc++) n_funcs += is_start[pc];
  starts = vm_calloc(n_funcs * 4);
  state = vm_calloc(n_funcs);
  depth = vm_calloc(n_funcs * 4);
  if (!starts || !state || !depth) { status = fail(VM_ERR_OUT_OF_MEMORY, 0, 0); goto out; }
  for (u32 pc = 0, f = 0; pc < n; pc++) {
    if (is_start[pc]) starts[f++] = pc;
    func_of[pc] = f - 1;
  }
  for (u32 f = 0; f < n_funcs; f++) {
    u32 end = f + 1 < n_funcs ? starts[f + 1] : n;
    u32 last = end - 1;
    if (second[last]) { status = fail(VM_ERR_FALLTHROUGH, last - 1, 0); goto out; }
    if (!ends_flow(out[last].op)) { status = fail(VM_ERR_FALLTHROUGH, last, 0); goto out; }
  }
  for (u32 pc = 0; pc < n; pc++) {
    if (second[pc] || !is_jump(out[pc].op)) continue;
    s64 t = jump_target(&out[pc], pc);
    if (func_of[t] != func_of[pc]) { status = fail(VM_ERR_JUMP_OUT_OF_RANGE, pc, 1); goto out; }
  }

  /* Pass 4: bpf-to-bpf calls may nest EBPF_MAX_CALL_FRAMES frames deep, without recursion. */
  u32 bad_pc = (u32)-1;
  s32 frames = call_height(0, func_of, starts, n_funcs, n, out, state, depth, &bad_pc);
  if (frames < 0) {
    status = fail(VM_ERR_CALL_DEPTH, bad_pc, 0);
    goto out;
  }
  if (frames > EBPF_MAX_CALL_FRAMES) {
    status = fail(VM_ERR_CALL_DEPTH, deepest_bad_call(func_of, starts, n_funcs, n, out, depth), (u32)frames);
    goto out;
  }

out:
  vm_free(second);
  vm_free(is_start);
  vm_free(func_of);
  vm_free(starts);
  vm_free(state);
  vm_free(depth);
  g_raw = NULL;
  return status;
}

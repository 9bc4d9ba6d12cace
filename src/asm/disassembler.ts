// One eBPF instruction to text, in llvm-objdump-19's BPF syntax, and plain listings of
// instruction runs. Which encodings llvm decodes, and which fields it ignores while doing so,
// follow llvm's BPF instruction tables: a field an instruction does not use is not checked, so
// `r1 = 0x5` prints the same whatever the src field holds. Object files are in objdump.ts.

import {
  EBPF_ATOMIC_AND,
  EBPF_ATOMIC_CMPXCHG,
  EBPF_ATOMIC_FETCH,
  EBPF_ATOMIC_OR,
  EBPF_ATOMIC_XCHG,
  EBPF_ATOMIC_XOR,
  EBPF_ATOMIC_ADD,
  EBPF_CLS_ALU,
  EBPF_CLS_ALU64,
  EBPF_CLS_JMP,
  EBPF_CLS_JMP32,
  EBPF_CLS_LD,
  EBPF_CLS_LDX,
  EBPF_CLS_ST,
  EBPF_CLS_STX,
  EBPF_MODE_ABS,
  EBPF_MODE_ATOMIC,
  EBPF_MODE_IMM,
  EBPF_MODE_IND,
  EBPF_MODE_MEM,
  EBPF_MODE_MEMSX,
  EBPF_SIZE_DW,
  EBPF_SRC_X,
} from '../vm/constants.generated.js';
import { type Insn, INSN_SIZE, decodeInsns, encodeInsns, hexColumn } from './insn.js';

/** JCOND (`may_goto`), a kernel 6.9 extension outside RFC 9669 that llvm 19 already prints. */
export const EBPF_JMP_JCOND = 0xe0;

export interface FormatOptions {
  /**
   * Reproduce llvm-objdump-19 -d to the byte, including its gaps: without `--mattr=+alu32` it
   * has no decoding for 32-bit atomics other than `lock ... +=`, printing `<unknown>` (or, for
   * an add with the fetch bit, the plain add). Off by default, when those print in the syntax
   * llvm uses with alu32 enabled, so nothing valid is hidden.
   */
  strict?: boolean;
  /**
   * Keep what llvm's syntax drops: a call's kind (`call local 0x3`, `call kfunc 0x7`), so that
   * the text assembles back to the same bytes. Off by default.
   */
  exact?: boolean;
  /** Names the slot a jump lands on, for the ` <name+0x..>` annotation; undefined omits it. */
  target?: (slot: number) => string | undefined;
}

export const UNKNOWN = '<unknown>';

const ALU_OPS: Record<number, string> = {
  0x00: '+=', 0x10: '-=', 0x20: '*=', 0x30: '/=', 0x40: '|=', 0x50: '&=', 0x60: '<<=',
  0x70: '>>=', 0x90: '%=', 0xa0: '^=', 0xc0: 's>>=',
};
const JMP_OPS: Record<number, string> = {
  0x10: '==', 0x20: '>', 0x30: '>=', 0x40: '&', 0x50: '!=', 0x60: 's>', 0x70: 's>=',
  0xa0: '<', 0xb0: '<=', 0xc0: 's<', 0xd0: 's<=',
};
const SIZE_BITS: Record<number, number> = { 0x00: 32, 0x08: 16, 0x10: 8, 0x18: 64 };

/** llvm prints immediates as signed hex: 0x10, -0x1. */
export function shex(v: number | bigint): string {
  const b = BigInt(v);
  return b < 0n ? `-0x${(-b).toString(16)}` : `0x${b.toString(16)}`;
}

/** Jump displacements carry an explicit sign: +0x3, -0x1, +0x0. */
function disp(v: number): string {
  return v < 0 ? `-0x${(-v).toString(16)}` : `+0x${v.toString(16)}`;
}

function mem(base: number, off: number): string {
  return off < 0 ? `${reg('r', base)} - 0x${(-off).toString(16)}` : `${reg('r', base)} + 0x${off.toString(16)}`;
}

/** The 64-bit constant of an lddw pair, or undefined when the second slot is missing. */
export function lddwValue(insns: readonly Insn[], index: number): bigint | undefined {
  const lo = insns[index];
  const hi = insns[index + 1];
  if (!lo || !hi) return undefined;
  return (BigInt(hi.imm >>> 0) << 32n) | BigInt(lo.imm >>> 0);
}

/** How many slots the instruction at index occupies when printed: 2 for a decodable lddw. */
export function insnSlots(insns: readonly Insn[], index: number): number {
  const insn = insns[index]!;
  return insn.opcode === (EBPF_CLS_LD | EBPF_MODE_IMM | EBPF_SIZE_DW) && insn.off === 0 && index + 1 < insns.length
    ? 2
    : 1;
}

/** Thrown inside the formatter when a register field names no register llvm knows. */
const BAD_REGISTER = Symbol('bad register');

/** llvm's BPF register file has r0-r11 (r11 is internal, but decodes); 12-15 do not decode. */
function reg(prefix: string, n: number): string {
  if (n > 11) throw BAD_REGISTER;
  return `${prefix}${n}`;
}

/** One instruction (two slots for lddw) in llvm-objdump's syntax; never throws. */
export function formatInsn(insns: readonly Insn[], index: number, opts: FormatOptions = {}): string {
  try {
    return formatChecked(insns, index, opts);
  } catch (e) {
    if (e === BAD_REGISTER) return UNKNOWN;
    throw e;
  }
}

function formatChecked(insns: readonly Insn[], index: number, opts: FormatOptions): string {
  const insn = insns[index];
  if (!insn) return UNKNOWN;
  const { opcode, dst, src, off, imm } = insn;
  const cls = opcode & 0x07;
  switch (cls) {
    case EBPF_CLS_ALU:
    case EBPF_CLS_ALU64:
      return formatAlu(insn, cls === EBPF_CLS_ALU64);
    case EBPF_CLS_JMP:
    case EBPF_CLS_JMP32:
      return formatJmp(insn, index, cls === EBPF_CLS_JMP32, opts);
    case EBPF_CLS_LD: {
      const mode = opcode & 0xe0;
      const size = opcode & 0x18;
      if (mode === EBPF_MODE_IMM && size === EBPF_SIZE_DW) {
        const value = lddwValue(insns, index);
        if (off !== 0 || value === undefined) return UNKNOWN;
        if (src === 0) return `${reg('r', dst)} = 0x${value.toString(16)} ll`;
        return `ld_pseudo\tr${dst}, ${shex(src)}, ${shex(imm >>> 0)}`;
      }
      if (size === EBPF_SIZE_DW) return UNKNOWN;
      if (mode === EBPF_MODE_ABS) return `r0 = *(u${SIZE_BITS[size]} *)skb[${shex(imm)}]`;
      if (mode === EBPF_MODE_IND) return `r0 = *(u${SIZE_BITS[size]} *)skb[${reg('r', src)}]`;
      return UNKNOWN;
    }
    case EBPF_CLS_LDX: {
      const mode = opcode & 0xe0;
      const size = opcode & 0x18;
      if (mode === EBPF_MODE_MEM) return `${reg('r', dst)} = *(u${SIZE_BITS[size]} *)(${mem(src, off)})`;
      if (mode === EBPF_MODE_MEMSX && size !== EBPF_SIZE_DW) {
        return `${reg('r', dst)} = *(s${SIZE_BITS[size]} *)(${mem(src, off)})`;
      }
      return UNKNOWN;
    }
    case EBPF_CLS_ST: {
      if ((opcode & 0xe0) !== EBPF_MODE_MEM) return UNKNOWN;
      return `*(u${SIZE_BITS[opcode & 0x18]} *)(${mem(dst, off)}) = ${shex(imm)}`;
    }
    default: {
      const mode = opcode & 0xe0;
      const size = opcode & 0x18;
      if (mode === EBPF_MODE_MEM) return `*(u${SIZE_BITS[size]} *)(${mem(dst, off)}) = ${reg('r', src)}`;
      if (mode === EBPF_MODE_ATOMIC && size === EBPF_SIZE_DW) return formatAtomic(insn, 64);
      if (mode === EBPF_MODE_ATOMIC && size === 0x00) {
        if (opts.strict) {
          // llvm's default table knows only the legacy 32-bit xadd, and looks at imm bits 4-7 alone.
          return (imm & 0xf0) === 0 ? `lock *(u32 *)(${mem(dst, off)}) += ${reg('r', src)}` : UNKNOWN;
        }
        return formatAtomic(insn, 32);
      }
      return UNKNOWN;
    }
  }
  void src;
}

/**
 * Atomics: llvm looks only at the low byte of imm. The fetch forms match all eight bits; the
 * plain forms match the operation nibble alone, so `imm = 0x03` still prints as a plain add.
 */
function formatAtomic(insn: Insn, bits: 32 | 64): string {
  const { dst, src, off } = insn;
  const low = insn.imm & 0xff;
  const r = bits === 64 ? 'r' : 'w';
  const addr = mem(dst, off);
  const ty = `u${bits}`;
  const fetch: Record<number, string> = {
    [EBPF_ATOMIC_ADD | EBPF_ATOMIC_FETCH]: 'add',
    [EBPF_ATOMIC_OR | EBPF_ATOMIC_FETCH]: 'or',
    [EBPF_ATOMIC_AND | EBPF_ATOMIC_FETCH]: 'and',
    [EBPF_ATOMIC_XOR | EBPF_ATOMIC_FETCH]: 'xor',
  };
  const plain: Record<number, string> = {
    [EBPF_ATOMIC_ADD]: '+=', [EBPF_ATOMIC_OR]: '|=', [EBPF_ATOMIC_AND]: '&=', [EBPF_ATOMIC_XOR]: '^=',
  };
  const sfx = bits === 64 ? '_64' : '32_32';
  if (fetch[low]) return `${reg(r, src)} = atomic_fetch_${fetch[low]}((${ty} *)(${addr}), ${reg(r, src)})`;
  if (low === EBPF_ATOMIC_XCHG) return `${reg(r, src)} = xchg${sfx}(${addr}, ${reg(r, src)})`;
  if (low === EBPF_ATOMIC_CMPXCHG) return `${r}0 = cmpxchg${sfx}(${addr}, ${r}0, ${reg(r, src)})`;
  const op = plain[low & 0xf0];
  if (op === undefined) return UNKNOWN;
  // The add keeps llvm's default-mode r register (the legacy xadd), so strict and loose agree on it.
  return `lock *(${ty} *)(${addr}) ${op} ${reg(low & 0xf0 ? r : 'r', src)}`;
}

function formatAlu(insn: Insn, is64: boolean): string {
  const { opcode, dst, src, off, imm } = insn;
  const r = is64 ? 'r' : 'w';
  const op = opcode & 0xf0;
  const x = (opcode & EBPF_SRC_X) !== 0;
  // Lazy: an ignored src field must not be checked as a register.
  const rhs = (): string => (x ? reg(r, src) : shex(imm));
  switch (op) {
    case 0x80: // neg: llvm's table fixes only the opcode and dst
      return x ? UNKNOWN : `${reg(r, dst)} = -${reg(r, dst)}`;
    case 0xd0: {
      // END: ALU picks le/be by the source bit; ALU64 with source bit clear is the v4 bswap.
      if (is64 && x) return UNKNOWN;
      if (imm !== 16 && imm !== 32 && imm !== 64) return UNKNOWN;
      const name = is64 ? 'bswap' : x ? 'be' : 'le';
      return `${reg('r', dst)} = ${name}${imm} ${reg('r', dst)}`;
    }
    case 0xb0: {
      if (!x) return off === 0 ? `${reg(r, dst)} = ${shex(imm)}` : UNKNOWN;
      if (off === 0) return `${reg(r, dst)} = ${reg(r, src)}`;
      if (off === 8 || off === 16 || (is64 && off === 32)) return `${reg(r, dst)} = (s${off})${reg(r, src)}`;
      if (is64 && off === 1) return `${reg('r', dst)} = addr_space_cast(${reg('r', src)}, ${shex(imm >>> 16)}, ${shex(imm & 0xffff)})`;
      return UNKNOWN;
    }
    case 0x30:
    case 0x90:
      if (off === 1) return `${reg(r, dst)} s${ALU_OPS[op]} ${rhs()}`;
      return off === 0 ? `${reg(r, dst)} ${ALU_OPS[op]} ${rhs()}` : UNKNOWN;
    default: {
      const sym = ALU_OPS[op];
      if (sym === undefined || off !== 0) return UNKNOWN;
      return `${reg(r, dst)} ${sym} ${rhs()}`;
    }
  }
}

function formatJmp(insn: Insn, index: number, is32: boolean, opts: FormatOptions): string {
  const { opcode, dst, src, off, imm } = insn;
  const op = opcode & 0xf0;
  const x = (opcode & EBPF_SRC_X) !== 0;
  const label = (delta: number): string => {
    const name = opts.target?.(index + 1 + delta);
    return name === undefined ? '' : ` <${name}>`;
  };
  if (op === 0x00) {
    if (x) return UNKNOWN;
    return is32 ? `gotol ${disp(imm)}${label(imm)}` : `goto ${disp(off)}${label(off)}`;
  }
  if (op === 0x80) {
    if (is32) return UNKNOWN;
    if (x) return `callx ${reg('r', dst)}`;
    const kind = opts.exact && src === 1 ? 'local ' : opts.exact && src === 2 ? 'kfunc ' : '';
    return `call ${kind}${shex(imm)}`;
  }
  if (op === 0x90) return !is32 && !x && imm === 0 ? 'exit' : UNKNOWN;
  if (op === EBPF_JMP_JCOND) return !is32 && !x ? `may_goto ${disp(off)}${label(off)}` : UNKNOWN;
  const cond = JMP_OPS[op];
  if (cond === undefined) return UNKNOWN;
  const r = is32 ? 'w' : 'r';
  const rhs = x ? `${reg(r, src)}` : shex(imm);
  return `if ${reg(r, dst)} ${cond} ${rhs} goto ${disp(off)}${label(off)}`;
}

/** One instruction for an error message: no address, bytes or jump annotation. */
export function formatInsnShort(insns: readonly Insn[], index: number): string {
  return formatInsn(insns, index, {});
}

export interface ListingOptions extends FormatOptions {
  /** Slot number of the first instruction, for the address column. */
  firstSlot?: number;
}

/**
 * A listing of raw instructions, one line per instruction in llvm-objdump's layout
 * (`      N:\t<bytes>\t<insn>`), lddw taking two slots on one line.
 */
export function disassemble(code: Uint8Array | readonly Insn[], opts: ListingOptions = {}): string {
  const insns = code instanceof Uint8Array ? decodeInsns(code) : code;
  const bytes = code instanceof Uint8Array ? code : encodeInsns(insns);
  const first = opts.firstSlot ?? 0;
  let out = '';
  for (let i = 0; i < insns.length; ) {
    const slots = insnSlots(insns, i);
    const text = formatInsn(insns, i, opts);
    const n = text === UNKNOWN ? 1 : slots;
    out += `${String(first + i).padStart(8)}:\t${hexColumn(bytes.subarray(i * INSN_SIZE, (i + n) * INSN_SIZE))}\t${text}\n`;
    i += n;
  }
  return out;
}

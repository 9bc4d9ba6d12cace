// Numbers and registers as both assembler syntaxes write them, with range checks that name
// the operand's column. Hex is read as the bit pattern (0xffffffff is -1 in a 32-bit field),
// decimal as a signed value; both may carry a leading sign.

import type { Insn } from './insn.js';

/** A jump or call whose displacement names a label, resolved once every label is known. */
export interface LabelRef {
  label: string;
  field: 'off' | 'imm';
  column: number;
}

/** One parsed instruction: its slots (two for lddw) and, maybe, a label to resolve. */
export interface Parsed {
  insns: Insn[];
  ref?: LabelRef;
}

/** Raised by the syntax modules; the assembler adds file and line. */
export class AsmProblem {
  constructor(
    readonly code: 'ASM_SYNTAX' | 'ASM_UNKNOWN_MNEMONIC' | 'ASM_BAD_OPERAND' | 'ASM_BAD_LABEL',
    readonly detail: string,
    readonly column: number,
  ) {}
}


const NUM_RE = /^([+-]?)(0[xX][0-9a-fA-F]+|\d+)$/;

export function parseBig(text: string, column: number): bigint {
  const m = NUM_RE.exec(text.trim());
  if (!m) throw new AsmProblem('ASM_BAD_OPERAND', `expected a number, found "${text.trim()}"`, column);
  const v = BigInt(m[2]!);
  return m[1] === '-' ? -v : v;
}

/** A 32-bit immediate: -2^31 .. 2^32-1, stored as its signed 32-bit reading. */
export function parseImm32(text: string, column: number): number {
  const v = parseBig(text, column);
  if (v < -(1n << 31n) || v > 0xffffffffn) {
    throw new AsmProblem('ASM_BAD_OPERAND', `immediate ${text.trim()} does not fit in 32 bits`, column);
  }
  return Number(BigInt.asIntN(32, v));
}

/** A 64-bit immediate for lddw, as two's complement. */
export function parseImm64(text: string, column: number): bigint {
  const v = parseBig(text, column);
  if (v < -(1n << 63n) || v > (1n << 64n) - 1n) {
    throw new AsmProblem('ASM_BAD_OPERAND', `immediate ${text.trim()} does not fit in 64 bits`, column);
  }
  return BigInt.asUintN(64, v);
}

/** A 16-bit signed offset (hex may also be written as its unsigned bit pattern). */
export function parseOff16(text: string, column: number): number {
  const v = parseBig(text, column);
  if (v < -0x8000n || v > 0xffffn) throw new AsmProblem('ASM_BAD_OPERAND', `offset ${text.trim()} does not fit in 16 bits`, column);
  return Number(BigInt.asIntN(16, v));
}

/** A register in either syntax: `%r3`, `r3`, `w3`; returns its number (0-10). */
export function parseReg(text: string, column: number, prefixes = '%r|r|w'): number {
  const t = text.trim();
  const m = new RegExp(`^(?:${prefixes})(\\d+)$`).exec(t);
  const n = m ? Number(m[1]) : NaN;
  if (!m || n > 10) throw new AsmProblem('ASM_BAD_OPERAND', `expected a register r0-r10, found "${t}"`, column);
  return n;
}

export function insn(opcode: number, dst = 0, src = 0, off = 0, imm = 0): { opcode: number; dst: number; src: number; off: number; imm: number } {
  return { opcode, dst, src, off, imm };
}

/** The two slots of an lddw carrying value. */
export function lddw(dst: number, src: number, value: bigint): ReturnType<typeof insn>[] {
  const lo = Number(BigInt.asIntN(32, value & 0xffffffffn));
  const hi = Number(BigInt.asIntN(32, value >> 32n));
  return [insn(0x18, dst, src, 0, lo), insn(0, 0, 0, 0, hi)];
}

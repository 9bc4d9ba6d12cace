// llvm-objdump's BPF syntax, as formatInsn prints it (`r0 = *(u32 *)(r1 + 0x4)`,
// `if w1 s> 0x64 goto +0x1`, `lock *(u64 *)(r10 - 0x8) += r1`), one instruction per line.
// Also `call local N` / `call kfunc N`, which formatInsn prints with { exact: true } because
// llvm's `call N` does not say which kind of call it is.

import { AsmProblem, type Parsed, insn, lddw, parseImm32, parseImm64, parseOff16 } from './asm-operands.js';

const NUM = '(-?0x[0-9a-fA-F]+|-?\\d+)';
const REG = '([rw])(\\d+)';
const MEM = '\\(r(\\d+) ([+-]) (0x[0-9a-fA-F]+|\\d+)\\)';
const TGT = '([+-](?:0x[0-9a-fA-F]+|\\d+)|[A-Za-z_.$][\\w.$]*)';
const re = (s: string): RegExp => new RegExp(`^${s}$`);

const ALU: Record<string, number> = {
  '+': 0x00, '-': 0x10, '*': 0x20, '/': 0x30, '|': 0x40, '&': 0x50, '<<': 0x60, '>>': 0x70,
  '%': 0x90, '^': 0xa0, 's>>': 0xc0, 's/': 0x30, 's%': 0x90,
};
const JMP: Record<string, number> = {
  '==': 0x10, '>': 0x20, '>=': 0x30, '&': 0x40, '!=': 0x50, 's>': 0x60, 's>=': 0x70,
  '<': 0xa0, '<=': 0xb0, 's<': 0xc0, 's<=': 0xd0,
};
const BITS_SIZE: Record<string, number> = { '32': 0x00, '16': 0x08, '8': 0x10, '64': 0x18 };
const ATOMIC_OP: Record<string, number> = { '+': 0x00, '|': 0x40, '&': 0x50, '^': 0xa0, add: 0x01, or: 0x41, and: 0x51, xor: 0xa1 };

export function parseLlvmLine(text: string, column: number): Parsed {
  // Jump annotations (`<count+0xa0>`) are llvm's comment on the target, not part of it.
  const line = text.replace(/\s+<[A-Za-z_.$][^<>]*>$/, '').replace(/\s+/g, ' ').trim();
  const parsed: Parsed = { insns: [] };
  const one = (i: ReturnType<typeof insn>): Parsed => ((parsed.insns = [i]), parsed);
  const bad = (detail: string): never => {
    throw new AsmProblem('ASM_BAD_OPERAND', detail, column);
  };
  const r = (n: string): number => {
    const v = Number(n);
    if (v > 10) bad(`no register r${n}`);
    return v;
  };
  const off = (sign: string, mag: string): number => parseOff16(`${sign}${mag}`, column);
  const tgt = (t: string, field: 'off' | 'imm'): number => {
    if (/^[+-]/.test(t)) return field === 'off' ? parseOff16(t, column) : parseImm32(t, column);
    parsed.ref = { label: t, field, column };
    return 0;
  };
  /** Both operands of a 32-bit form are w registers; mixing widths is a typo worth reporting. */
  const width = (...letters: string[]): boolean => {
    if (letters.some((l) => l !== letters[0])) bad('mixed r and w registers');
    return letters[0] === 'w';
  };
  let m: RegExpExecArray | null;

  if (line === 'exit') return one(insn(0x95));
  if ((m = re(`call (?:(local|kfunc|helper) )?${NUM}`).exec(line))) {
    const src = m[1] === 'local' ? 1 : m[1] === 'kfunc' ? 2 : 0;
    return one(insn(0x85, 0, src, 0, parseImm32(m[2]!, column)));
  }
  if ((m = re(`callx r(\\d+)`).exec(line))) return one(insn(0x8d, r(m[1]!)));
  if ((m = re(`(goto|may_goto) ${TGT}`).exec(line))) return one(insn(m[1] === 'goto' ? 0x05 : 0xe5, 0, 0, tgt(m[2]!, 'off')));
  if ((m = re(`gotol ${TGT}`).exec(line))) return one(insn(0x06, 0, 0, 0, tgt(m[1]!, 'imm')));
  if ((m = re(`if ${REG} (==|!=|>=|>|<=|<|s>=|s>|s<=|s<|&) (?:${REG}|${NUM}) goto ${TGT}`).exec(line))) {
    const cls = m[1] === 'w' ? 0x06 : 0x05;
    const op = JMP[m[3]!]!;
    const o = tgt(m[7]!, 'off');
    if (m[4]) return width(m[1]!, m[4]), one(insn(cls | op | 0x08, r(m[2]!), r(m[5]!), o));
    return one(insn(cls | op, r(m[2]!), 0, o, parseImm32(m[6]!, column)));
  }
  if ((m = re(`r(\\d+) = (0x[0-9a-fA-F]+|\\d+) ll`).exec(line))) {
    parsed.insns = lddw(r(m[1]!), 0, parseImm64(m[2]!, column));
    return parsed;
  }
  if ((m = re(`ld_pseudo r(\\d+), ${NUM}, ${NUM}`).exec(line))) {
    const src = Number(parseImm32(m[2]!, column));
    if (src < 0 || src > 15) bad('ld_pseudo kind must be 0-15');
    parsed.insns = lddw(r(m[1]!), src, BigInt(parseImm32(m[3]!, column) >>> 0));
    return parsed;
  }
  if ((m = re(`${REG} = \\*\\((u|s)(8|16|32|64) \\*\\)${MEM}`).exec(line))) {
    if (m[3] === 's' && m[4] === '64') bad('there is no sign-extending 64-bit load');
    return one(insn((m[3] === 's' ? 0x81 : 0x61) | BITS_SIZE[m[4]!]!, r(m[2]!), r(m[5]!), off(m[6]!, m[7]!)));
  }
  if ((m = re(`r0 = \\*\\(u(8|16|32|64) \\*\\)skb\\[(?:r(\\d+)|${NUM})\\]`).exec(line))) {
    if (m[2] !== undefined) return one(insn(0x40 | BITS_SIZE[m[1]!]!, 0, r(m[2]), 0));
    return one(insn(0x20 | BITS_SIZE[m[1]!]!, 0, 0, 0, parseImm32(m[3]!, column)));
  }
  if ((m = re(`\\*\\(u(8|16|32|64) \\*\\)${MEM} = (?:${REG}|${NUM})`).exec(line))) {
    const size = BITS_SIZE[m[1]!]!;
    const o = off(m[3]!, m[4]!);
    if (m[5]) return one(insn(0x63 | size, r(m[2]!), r(m[6]!), o));
    return one(insn(0x62 | size, r(m[2]!), 0, o, parseImm32(m[7]!, column)));
  }
  if ((m = re(`lock \\*\\(u(32|64) \\*\\)${MEM} (\\+|\\||&|\\^)= ${REG}`).exec(line))) {
    return one(insn(m[1] === '64' ? 0xdb : 0xc3, r(m[2]!), r(m[7]!), off(m[3]!, m[4]!), ATOMIC_OP[m[5]!]!));
  }
  if ((m = re(`${REG} = atomic_fetch_(add|or|and|xor)\\(\\(u(32|64) \\*\\)${MEM}, ${REG}\\)`).exec(line))) {
    width(m[1]!, m[8]!);
    if (m[2] !== m[9]) bad('atomic_fetch returns into its source register');
    return one(insn(m[4] === '64' ? 0xdb : 0xc3, r(m[5]!), r(m[2]!), off(m[6]!, m[7]!), ATOMIC_OP[m[3]!]!));
  }
  if ((m = re(`${REG} = xchg(_64|32_32)\\(r(\\d+) ([+-]) (0x[0-9a-fA-F]+|\\d+), ${REG}\\)`).exec(line))) {
    if (m[2] !== m[8]) bad('xchg returns into its source register');
    return one(insn(m[3] === '_64' ? 0xdb : 0xc3, r(m[4]!), r(m[2]!), off(m[5]!, m[6]!), 0xe1));
  }
  if ((m = re(`[rw]0 = cmpxchg(_64|32_32)\\(r(\\d+) ([+-]) (0x[0-9a-fA-F]+|\\d+), [rw]0, ${REG}\\)`).exec(line))) {
    return one(insn(m[1] === '_64' ? 0xdb : 0xc3, r(m[2]!), r(m[6]!), off(m[3]!, m[4]!), 0xf1));
  }
  if ((m = re(`r(\\d+) = (bswap|le|be)(16|32|64) r(\\d+)`).exec(line))) {
    if (m[1] !== m[4]) bad('a byte swap works in place');
    return one(insn(m[2] === 'bswap' ? 0xd7 : m[2] === 'le' ? 0xd4 : 0xdc, r(m[1]!), 0, 0, Number(m[3])));
  }
  if ((m = re(`${REG} = -${REG}`).exec(line))) {
    if (m[2] !== m[4]) bad('negation works in place');
    return one(insn(width(m[1]!, m[3]!) ? 0x84 : 0x87, r(m[2]!)));
  }
  if ((m = re(`${REG} = \\(s(8|16|32)\\)${REG}`).exec(line))) {
    const w = width(m[1]!, m[4]!);
    return one(insn(w ? 0xbc : 0xbf, r(m[2]!), r(m[5]!), Number(m[3])));
  }
  if ((m = re(`r(\\d+) = addr_space_cast\\(r(\\d+), ${NUM}, ${NUM}\\)`).exec(line))) {
    const imm = ((parseImm32(m[3]!, column) & 0xffff) << 16) | (parseImm32(m[4]!, column) & 0xffff);
    return one(insn(0xbf, r(m[1]!), r(m[2]!), 1, imm));
  }
  if ((m = re(`${REG} (\\+|-|\\*|/|\\||&|<<|>>|%|\\^|s>>|s/|s%)?= (?:${REG}|${NUM})`).exec(line))) {
    const cls = m[1] === 'w' ? 0x04 : 0x07;
    const op = m[3] === undefined ? 0xb0 : ALU[m[3]]!;
    const o = m[3] === 's/' || m[3] === 's%' ? 1 : 0;
    if (m[4]) return width(m[1]!, m[4]), one(insn(cls | op | 0x08, r(m[2]!), r(m[5]!), o));
    return one(insn(cls | op, r(m[2]!), 0, o, parseImm32(m[6]!, column)));
  }
  const word = /^\S+/.exec(line)?.[0] ?? line;
  if (/^(if|goto|gotol|call|callx|lock|ld_pseudo|may_goto)$/.test(word) || line.includes('=')) {
    throw new AsmProblem('ASM_SYNTAX', `cannot read "${line}"`, column);
  }
  throw new AsmProblem('ASM_UNKNOWN_MNEMONIC', `unknown mnemonic "${word}"`, column);
}

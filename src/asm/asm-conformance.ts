// The bpf_conformance suite's assembly syntax, one instruction per line: `mov32 %r0, -1`,
// `ldxh %r0, [%r1+2]`, `jsgt32 %r1, 0x5, label`, `lock fetch xor32 [%r10-4], %r1`, `call local f`.

import { AsmProblem, type Parsed, insn, lddw, parseImm32, parseImm64, parseOff16, parseReg } from './asm-operands.js';

const ALU: Record<string, number> = {
  add: 0x00, sub: 0x10, mul: 0x20, div: 0x30, or: 0x40, and: 0x50, lsh: 0x60, rsh: 0x70,
  neg: 0x80, mod: 0x90, xor: 0xa0, mov: 0xb0, arsh: 0xc0, sdiv: 0x30, smod: 0x90,
};
const JMP: Record<string, number> = {
  jeq: 0x10, jgt: 0x20, jge: 0x30, jset: 0x40, jne: 0x50, jsgt: 0x60, jsge: 0x70,
  jlt: 0xa0, jle: 0xb0, jslt: 0xc0, jsle: 0xd0,
};
const SIZE: Record<string, number> = { w: 0x00, h: 0x08, b: 0x10, dw: 0x18 };
const ATOMIC: Record<string, number> = { add: 0x00, or: 0x40, and: 0x50, xor: 0xa0, xchg: 0xe1, cmpxchg: 0xf1 };

interface Operand {
  text: string;
  column: number;
}

/** Splits operands on commas outside brackets, keeping each one's column. */
function operands(rest: string, column: number): Operand[] {
  const out: Operand[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i <= rest.length; i++) {
    const c = rest[i];
    if (c === '[') depth++;
    else if (c === ']') depth--;
    if (i === rest.length || (c === ',' && depth === 0)) {
      const piece = rest.slice(start, i);
      const lead = piece.length - piece.trimStart().length;
      if (piece.trim() !== '') out.push({ text: piece.trim(), column: column + start + lead });
      start = i + 1;
    }
  }
  return out;
}

function memOperand(o: Operand): { reg: number; off: number } {
  const m = /^\[\s*(%r\d+)\s*(?:([+-])\s*(0[xX][0-9a-fA-F]+|\d+))?\s*\]$/.exec(o.text);
  if (!m) throw new AsmProblem('ASM_BAD_OPERAND', `expected [%rN+offset], found "${o.text}"`, o.column);
  const reg = parseReg(m[1]!, o.column, '%r');
  const off = m[2] ? parseOff16(`${m[2]}${m[3]}`, o.column) : 0;
  return { reg, off };
}

function want(ops: Operand[], n: number, mnemonic: string, column: number): void {
  if (ops.length !== n) {
    throw new AsmProblem('ASM_BAD_OPERAND', `${mnemonic} takes ${n} operand${n === 1 ? '' : 's'}, found ${ops.length}`, ops[n]?.column ?? column);
  }
}

/** A jump target: `+N`/`-N` relative, or a label resolved later. */
function target(o: Operand, field: 'off' | 'imm', parsed: Parsed): number {
  if (/^[+-]/.test(o.text)) return field === 'off' ? parseOff16(o.text, o.column) : parseImm32(o.text, o.column);
  if (!/^[A-Za-z_.$][\w.$]*$/.test(o.text)) throw new AsmProblem('ASM_BAD_OPERAND', `expected a label or +offset, found "${o.text}"`, o.column);
  parsed.ref = { label: o.text, field, column: o.column };
  return 0;
}

export function parseConformanceLine(line: string, column: number): Parsed {
  const m = /^(\S+)\s*(.*)$/.exec(line)!;
  const mn = m[1]!.toLowerCase();
  const rest = m[2]!;
  const ops = operands(rest, column + line.indexOf(rest, m[1]!.length));
  const parsed: Parsed = { insns: [] };
  const one = (i: ReturnType<typeof insn>): Parsed => ((parsed.insns = [i]), parsed);
  const reg = (o: Operand): number => parseReg(o.text, o.column, '%r');
  let k: RegExpExecArray | null;

  if (mn === 'exit') return want(ops, 0, mn, column), one(insn(0x95));
  if (mn === 'lddw') {
    want(ops, 2, mn, column);
    parsed.insns = lddw(reg(ops[0]!), 0, parseImm64(ops[1]!.text, ops[1]!.column));
    return parsed;
  }
  if ((k = /^(be|le|swap|bswap)(16|32|64)$/.exec(mn))) {
    want(ops, 1, mn, column);
    const op = k[1] === 'be' ? 0xdc : k[1] === 'le' ? 0xd4 : 0xd7;
    return one(insn(op, reg(ops[0]!), 0, 0, Number(k[2])));
  }
  if ((k = /^movsx(8|16|32)(32|64)$/.exec(mn))) {
    want(ops, 2, mn, column);
    return one(insn(k[2] === '64' ? 0xbf : 0xbc, reg(ops[0]!), reg(ops[1]!), Number(k[1])));
  }
  if ((k = /^([a-z]+?)(32)?$/.exec(mn)) && ALU[k[1]!] !== undefined) {
    const cls = k[2] ? 0x04 : 0x07;
    const base = ALU[k[1]!]!;
    const off = k[1] === 'sdiv' || k[1] === 'smod' ? 1 : 0;
    if (base === 0x80) return want(ops, 1, mn, column), one(insn(cls | base, reg(ops[0]!)));
    want(ops, 2, mn, column);
    const dst = reg(ops[0]!);
    if (ops[1]!.text.startsWith('%')) return one(insn(cls | base | 0x08, dst, reg(ops[1]!), off));
    return one(insn(cls | base, dst, 0, off, parseImm32(ops[1]!.text, ops[1]!.column)));
  }
  if ((k = /^ldxs?(b|h|w|dw)$/.exec(mn))) {
    want(ops, 2, mn, column);
    const mode = mn.startsWith('ldxs') ? 0x80 : 0x60;
    if (mode === 0x80 && k[1] === 'dw') throw new AsmProblem('ASM_UNKNOWN_MNEMONIC', `unknown mnemonic "${mn}"`, column);
    const a = memOperand(ops[1]!);
    return one(insn(0x01 | mode | SIZE[k[1]!]!, reg(ops[0]!), a.reg, a.off));
  }
  if ((k = /^st(x?)(b|h|w|dw)$/.exec(mn))) {
    want(ops, 2, mn, column);
    const a = memOperand(ops[0]!);
    if (k[1]) return one(insn(0x63 | SIZE[k[2]!]!, a.reg, reg(ops[1]!), a.off));
    return one(insn(0x62 | SIZE[k[2]!]!, a.reg, 0, a.off, parseImm32(ops[1]!.text, ops[1]!.column)));
  }
  if ((k = /^ld(abs|ind)(b|h|w|dw)$/.exec(mn))) {
    const mode = k[1] === 'abs' ? 0x20 : 0x40;
    if (mode === 0x20) return want(ops, 1, mn, column), one(insn(mode | SIZE[k[2]!]!, 0, 0, 0, parseImm32(ops[0]!.text, ops[0]!.column)));
    want(ops, 2, mn, column);
    return one(insn(mode | SIZE[k[2]!]!, 0, reg(ops[0]!), 0, parseImm32(ops[1]!.text, ops[1]!.column)));
  }
  if (mn === 'ja' || mn === 'ja32') {
    want(ops, 1, mn, column);
    if (mn === 'ja') return one(insn(0x05, 0, 0, target(ops[0]!, 'off', parsed)));
    return one(insn(0x06, 0, 0, 0, target(ops[0]!, 'imm', parsed)));
  }
  if ((k = /^([a-z]+?)(32)?$/.exec(mn)) && JMP[k[1]!] !== undefined) {
    want(ops, 3, mn, column);
    const cls = k[2] ? 0x06 : 0x05;
    const dst = reg(ops[0]!);
    const off = target(ops[2]!, 'off', parsed);
    if (ops[1]!.text.startsWith('%')) return one(insn(cls | JMP[k[1]!]! | 0x08, dst, reg(ops[1]!), off));
    return one(insn(cls | JMP[k[1]!]!, dst, 0, off, parseImm32(ops[1]!.text, ops[1]!.column)));
  }
  if (mn === 'call') {
    // `call local f`, `call helper 5`, `call runtime 7` (a kfunc), `call %r2` (callx), `call 5`.
    const words = rest.trim().split(/\s+/);
    const kind = words.length === 2 ? words[0] : undefined;
    const argText = words[words.length - 1] ?? '';
    const arg: Operand = { text: argText, column: column + line.lastIndexOf(argText) };
    if (words.length === 0 || argText === '' || words.length > 2) throw new AsmProblem('ASM_BAD_OPERAND', 'call takes one target', column);
    if (kind === undefined && argText.startsWith('%')) return one(insn(0x8d, reg(arg)));
    if (kind === 'local') {
      // A number is the displacement itself, as `call local 0x5` from the disassembler says.
      const rel = /^[+-]?(0x[0-9a-fA-F]+|\d+)$/.test(arg.text) ? parseImm32(arg.text, arg.column) : target(arg, 'imm', parsed);
      return one(insn(0x85, 0, 1, 0, rel));
    }
    const src = kind === undefined || kind === 'helper' ? 0 : kind === 'runtime' || kind === 'kfunc' ? 2 : -1;
    if (src < 0) throw new AsmProblem('ASM_BAD_OPERAND', `unknown call kind "${kind}"`, column + 5);
    return one(insn(0x85, 0, src, 0, parseImm32(arg.text, arg.column)));
  }
  if (mn === 'lock') {
    // lock [fetch] op[32] [%rD+off], %rS
    const w = /^(fetch\s+)?([a-z]+?)(32)?\s+(\[.*)$/.exec(rest.trim());
    if (!w || ATOMIC[w[2]!] === undefined) throw new AsmProblem('ASM_UNKNOWN_MNEMONIC', `unknown atomic operation "${rest.trim()}"`, column);
    const mops = operands(w[4]!, column + line.indexOf(w[4]!));
    want(mops, 2, mn, column);
    const a = memOperand(mops[0]!);
    const imm = ATOMIC[w[2]!]! | (w[1] ? 0x01 : 0);
    return one(insn(w[3] ? 0xc3 : 0xdb, a.reg, reg(mops[1]!), a.off, imm));
  }
  throw new AsmProblem('ASM_UNKNOWN_MNEMONIC', `unknown mnemonic "${m[1]}"`, column);
}

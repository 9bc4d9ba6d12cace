// Text to eBPF bytes. Two syntaxes, chosen line by line: the bpf_conformance suite's
// (`mov %r0, 0x1`, `ldxw %r0, [%r1+4]`, `jeq %r1, 0x5, +2`, labels, `lock fetch add ...`) and
// llvm-objdump's, as the disassembler prints it (optionally with its `N:` and byte columns),
// so that a listing assembles back to the bytes it came from. Syntax details live in
// asm-conformance.ts and asm-llvm.ts; this module owns lines, labels and error locations.

import { TwinpathError } from '../errors.js';
import { type Insn, encodeInsns, parseHexBytes, decodeInsns } from './insn.js';
import { parseConformanceLine } from './asm-conformance.js';
import { parseLlvmLine } from './asm-llvm.js';

export { AsmProblem, type LabelRef, type Parsed } from './asm-operands.js';
import { AsmProblem, type LabelRef, type Parsed } from './asm-operands.js';

const LABEL_RE = /^([A-Za-z_.$][\w.$]*):(?!\S)/;
const OBJDUMP_HEADER_RE = /^[0-9a-fA-F]{16} <([^>]+)>:\s*$/;
const OBJDUMP_ADDR_RE = /^\s*\d+:\s/;
const HEX_COLUMN_RE = /^((?:[0-9a-f]{2} )*[0-9a-f]{2})\t/;

export function assemble(text: string, file?: string): Uint8Array {
  return encodeInsns(assembleInsns(text, file));
}

export function assembleInsns(text: string, file?: string): Insn[] {
  const out: Insn[] = [];
  const labels = new Map<string, number>();
  const refs: { at: number; ref: LabelRef; line: number }[] = [];
  let firstExit: number | undefined;
  const fail = (p: AsmProblem, line: number): never => {
    const loc: { file?: string; line: number; column: number } = { line, column: p.column };
    if (file !== undefined) loc.file = file;
    throw new TwinpathError(p.code, p.detail, loc);
  };

  text.split(/\r?\n/).forEach((raw, i) => {
    const lineNo = i + 1;
    let line = stripComment(raw);
    let col = 1;
    const skip = (n: number): void => {
      col += n;
      line = line.slice(n);
    };
    const ws = /^\s*/.exec(line)![0].length;
    skip(ws);
    if (line === '' || line.startsWith('Disassembly of section') || /^\S+:\s+file format /.test(line)) return;
    const header = OBJDUMP_HEADER_RE.exec(line);
    if (header) {
      defineLabel(header[1]!, col + 17);
      return;
    }
    let bytesColumn: string | undefined;
    if (OBJDUMP_ADDR_RE.test(line)) {
      const n = /^\d+:\s*/.exec(line)![0].length;
      skip(n);
      const hex = HEX_COLUMN_RE.exec(line);
      if (hex) {
        bytesColumn = hex[1]!;
        skip(hex[0].length);
      }
    }
    for (let m = LABEL_RE.exec(line); m; m = LABEL_RE.exec(line)) {
      defineLabel(m[1]!, col);
      skip(m[0].length);
      const w = /^\s*/.exec(line)![0].length;
      skip(w);
    }
    line = line.replace(/\s+$/, '');
    if (line === '') return;
    // An instruction llvm could not decode is taken from the listing's byte column as it stands.
    if (line === '<unknown>') {
      if (bytesColumn === undefined) fail(new AsmProblem('ASM_UNKNOWN_MNEMONIC', '<unknown> without a byte column', col), lineNo);
      out.push(...decodeInsns(parseHexBytes(bytesColumn!)));
      return;
    }
    let parsed: Parsed;
    try {
      parsed = isLlvmSyntax(line) ? parseLlvmLine(line, col) : parseConformanceLine(line, col);
    } catch (e) {
      if (e instanceof AsmProblem) return fail(e, lineNo);
      throw e;
    }
    if (firstExit === undefined && parsed.insns.length === 1 && parsed.insns[0]!.opcode === 0x95) firstExit = out.length;
    if (parsed.ref) refs.push({ at: out.length, ref: parsed.ref, line: lineNo });
    out.push(...parsed.insns);

    function defineLabel(name: string, column: number): void {
      if (labels.has(name)) fail(new AsmProblem('ASM_BAD_LABEL', `label "${name}" is defined twice`, column), lineNo);
      labels.set(name, out.length);
    }
  });

  for (const { at, ref, line } of refs) {
    let target = labels.get(ref.label);
    // The conformance suite's implicit label: `exit` is the first exit instruction.
    if (target === undefined && ref.label === 'exit') target = firstExit;
    if (target === undefined) fail(new AsmProblem('ASM_BAD_LABEL', `undefined label "${ref.label}"`, ref.column), line);
    const delta = target! - at - 1;
    if (ref.field === 'off' && (delta < -0x8000 || delta > 0x7fff)) {
      fail(new AsmProblem('ASM_BAD_LABEL', `label "${ref.label}" is ${delta} instructions away, beyond a 16-bit offset`, ref.column), line);
    }
    out[at]![ref.field] = delta;
  }
  return out;
}

function stripComment(line: string): string {
  const hash = line.indexOf('#');
  const cut = [hash, line.indexOf('//'), line.indexOf(';')].filter((n) => n >= 0);
  return cut.length ? line.slice(0, Math.min(...cut)) : line;
}

/** llvm's syntax is C-like: assignments, `if ... goto`, `*(` stores, `lock *(`. */
function isLlvmSyntax(line: string): boolean {
  return (
    line.includes('=') ||
    /^(if|goto|gotol|may_goto|callx|ld_pseudo)\b/.test(line) ||
    line.startsWith('*(') ||
    /^lock\s+\*/.test(line) ||
    /^call\s+(-?0x|-?\d)/.test(line)
  );
}

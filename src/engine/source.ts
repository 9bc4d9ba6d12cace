// C source lines of instructions, from the .BTF.ext line info clang records with -g: which line
// an instruction index came from, and the location fields (source file, line, column, text) that
// put it into an error. The line info of a program is already laid out as the program is (its
// subprograms appended, as src/elf/object.ts places them), so indexes match the VM's.

import { basename } from 'node:path';
import type { ErrorLocation } from '../errors.js';
import type { LineInfo } from '../elf/object.js';

/** The line the instruction at `insn` belongs to: the last record at or before it. */
export function lineAt(lines: readonly LineInfo[], insn: number): LineInfo | undefined {
  let lo = 0;
  let hi = lines.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (lines[mid]!.insn <= insn) lo = mid + 1;
    else hi = mid;
  }
  return lo > 0 ? lines[lo - 1] : undefined;
}

/** Error location fields naming the C line of an instruction (none without line info). */
export function sourceLocation(lines: readonly LineInfo[], insn: number): ErrorLocation {
  const l = lineAt(lines, insn);
  if (!l) return {};
  const loc: ErrorLocation = { source: basename(l.file), line: l.line };
  if (l.column) loc.column = l.column;
  const text = l.source.trim();
  if (text) loc.sourceText = text;
  return loc;
}

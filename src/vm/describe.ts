// One instruction as text for error messages: the disassembler's llvm-objdump form, with the raw
// bytes when the disassembler cannot decode it.

import { decodeInsns } from '../asm/insn.js';
import { formatInsnShort, UNKNOWN } from '../asm/disassembler.js';

export function describeInsn(code: Uint8Array, index: number): string {
  const bytes = code.subarray(index * 8, index * 8 + 8);
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
  let text = UNKNOWN;
  try {
    // Two slots, so that an lddw prints with its high half.
    text = formatInsnShort(decodeInsns(code.subarray(index * 8, Math.min(code.length, index * 8 + 16))), 0);
  } catch {
    // keep <unknown>
  }
  return text === UNKNOWN ? `<unknown> (${hex})` : `${text} (${hex})`;
}

// Hand-encoded eBPF programs for the VM tests: one instruction slot from its fields, a program
// from slots, and `exit`.

/** One 8-byte instruction slot: opcode, registers, 16-bit offset, 32-bit immediate (little-endian). */
export function insn(op: number, dst: number, src: number, off: number, imm: number): number[] {
  const b = new Uint8Array(8);
  const dv = new DataView(b.buffer);
  b[0] = op;
  b[1] = (src << 4) | dst;
  dv.setInt16(2, off, true);
  dv.setInt32(4, imm, true);
  return [...b];
}

export const prog = (...slots: number[][]): Uint8Array => Uint8Array.from(slots.flat());
export const EXIT = insn(0x95, 0, 0, 0, 0);

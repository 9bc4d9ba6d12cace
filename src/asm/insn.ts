// The eBPF instruction as a plain record, and the conversions between instructions, raw bytes
// and hex text. One Insn is one 8-byte slot: an lddw is two Insns, the second carrying the
// upper 32 bits of the constant in its imm, exactly as the kernel and llvm-objdump count slots.

import { TwinpathError } from '../errors.js';

export interface Insn {
  opcode: number;
  /** 4-bit register field (0-15; only 0-10 name real registers). */
  dst: number;
  src: number;
  /** Signed 16-bit offset. */
  off: number;
  /** Signed 32-bit immediate. */
  imm: number;
}

export const INSN_SIZE = 8;

/** One Insn per 8-byte slot, little-endian, as RFC 9669 lays them out. */
export function decodeInsns(bytes: Uint8Array): Insn[] {
  if (bytes.length % INSN_SIZE !== 0) {
    throw new TwinpathError(
      'HEX_BAD_INPUT',
      `${bytes.length} bytes is not a whole number of 8-byte instructions`,
      { offset: bytes.length - (bytes.length % INSN_SIZE) },
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Insn[] = [];
  for (let at = 0; at < bytes.length; at += INSN_SIZE) out.push(decodeInsnAt(view, at));
  return out;
}

export function decodeInsnAt(view: DataView, at: number): Insn {
  const regs = view.getUint8(at + 1);
  return {
    opcode: view.getUint8(at),
    dst: regs & 0x0f,
    src: regs >> 4,
    off: view.getInt16(at + 2, true),
    imm: view.getInt32(at + 4, true),
  };
}

export function encodeInsns(insns: readonly Insn[]): Uint8Array {
  const bytes = new Uint8Array(insns.length * INSN_SIZE);
  const view = new DataView(bytes.buffer);
  insns.forEach((insn, i) => {
    const at = i * INSN_SIZE;
    view.setUint8(at, insn.opcode & 0xff);
    view.setUint8(at + 1, ((insn.src & 0x0f) << 4) | (insn.dst & 0x0f));
    // Masking first lets callers hand in either the signed or the unsigned reading of a field.
    view.setInt16(at + 2, (insn.off << 16) >> 16, true);
    view.setInt32(at + 4, insn.imm | 0, true);
  });
  return bytes;
}

/**
 * Hex digits to bytes. Accepts the conformance plugin's form (`b7  00  00 ...`), a run of
 * digits (`b700000001000000`), `0x` prefixes on groups, and any whitespace or commas between
 * whole bytes. A group with an odd number of digits is an error, not a silently padded nibble.
 */
export function parseHexBytes(text: string): Uint8Array {
  const out: number[] = [];
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === ',') {
      i++;
      continue;
    }
    if (c === '0' && (text[i + 1] === 'x' || text[i + 1] === 'X') && isHex(text[i + 2])) i += 2;
    const start = i;
    while (i < n && isHex(text[i])) i++;
    if (i === start || (i < n && !/[\s,]/.test(text[i]!))) {
      throw new TwinpathError('HEX_BAD_INPUT', `unexpected character ${JSON.stringify(text[i])} in hex input`, {
        offset: i,
      });
    }
    if ((i - start) % 2 !== 0) {
      throw new TwinpathError('HEX_BAD_INPUT', 'odd number of hex digits in a group', { offset: i - 1 });
    }
    for (let j = start; j < i; j += 2) out.push(parseInt(text.slice(j, j + 2), 16));
  }
  return Uint8Array.from(out);
}

function isHex(c: string | undefined): boolean {
  return c !== undefined && /^[0-9a-fA-F]$/.test(c);
}

/** Bytes as lowercase hex, each byte followed by a space except the last (llvm-objdump's column). */
export function hexColumn(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
}

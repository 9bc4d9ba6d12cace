// Disassembling and assembling again gives back the same bytes: over every test object's code
// and over the canonical encodings (unused fields zero) of the sweep.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { assemble } from '../../src/asm/assembler.js';
import { UNKNOWN, disassemble, formatInsn } from '../../src/asm/disassembler.js';
import { type Insn, encodeInsns } from '../../src/asm/insn.js';
import { disassembleObject } from '../../src/asm/objdump.js';
import { readElf, SHF_EXECINSTR } from '../../src/elf/elf.js';
import { ROOT } from '../helpers/paths.js';

const OBJ_DIR = join(ROOT, 'bpf/test/disasm');
const objects = readdirSync(OBJ_DIR).filter((f) => f.endsWith('.o')).sort();

describe('round trip over object code', () => {
  it.each(objects)('%s', (obj) => {
    const elf = readElf(readFileSync(join(OBJ_DIR, obj)), obj);
    for (const sec of elf.sections) {
      if ((sec.flags & SHF_EXECINSTR) === 0n || sec.data.length === 0) continue;
      expect(assemble(disassemble(sec.data, { exact: true })), sec.name).toEqual(new Uint8Array(sec.data));
      // The objdump-style listing, headers and all, reads back too (in non-strict form).
      expect(assemble(disassembleObject(elf, { section: sec.name, strict: false }).replace(/call (-?0x)/g, 'call $1'))).toHaveLength(sec.data.length);
    }
  });
});

/** Canonical encodings: each instruction with only the fields it uses set. */
function canonical(): Insn[][] {
  const out: Insn[][] = [];
  const I = (opcode: number, dst = 0, src = 0, off = 0, imm = 0): Insn => ({ opcode, dst, src, off, imm });
  for (const cls of [0x04, 0x07]) {
    for (const op of [0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x90, 0xa0, 0xb0, 0xc0]) {
      for (const d of [0, 5, 10]) {
        out.push([I(cls | op, d, 0, 0, -7)], [I(cls | op, d, 0, 0, 0x7fffffff)], [I(cls | op | 8, d, 9)]);
        if (op === 0x30 || op === 0x90) out.push([I(cls | op, d, 0, 1, -3)], [I(cls | op | 8, d, 2, 1)]);
      }
    }
    out.push([I(cls | 0x80, 3)]);
    for (const o of cls === 0x07 ? [8, 16, 32] : [8, 16]) out.push([I(cls | 0xb8, 1, 2, o)]);
  }
  for (const w of [16, 32, 64]) out.push([I(0xd4, 1, 0, 0, w)], [I(0xdc, 2, 0, 0, w)], [I(0xd7, 3, 0, 0, w)]);
  for (const cls of [0x05, 0x06]) {
    for (const op of [0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0xa0, 0xb0, 0xc0, 0xd0]) {
      out.push([I(cls | op, 1, 0, -4, -9)], [I(cls | op | 8, 1, 2, 0x7fff)]);
    }
  }
  out.push([I(0x05, 0, 0, -0x8000)], [I(0x06, 0, 0, 0, 0x12345)], [I(0x85, 0, 0, 0, 12)], [I(0x85, 0, 1, 0, -4)]);
  out.push([I(0x85, 0, 2, 0, 77)], [I(0x8d, 4)], [I(0x95)], [I(0xe5, 0, 0, 3)]);
  for (let src = 0; src <= 6; src++) out.push([I(0x18, 1, src, 0, src === 0 ? -2 : 7), I(0, 0, 0, 0, src === 0 ? 0x1234 : 0)]);
  for (const size of [0x00, 0x08, 0x10, 0x18]) {
    out.push([I(0x61 | size, 1, 2, -8)], [I(0x62 | size, 10, 0, -16, -1)], [I(0x63 | size, 10, 3, 0x7fff)]);
    if (size !== 0x18) out.push([I(0x81 | size, 1, 2, 6)], [I(0x20 | size, 0, 0, 0, 14)], [I(0x40 | size, 0, 7)]);
  }
  for (const op of [0xc3, 0xdb]) {
    for (const imm of [0x00, 0x01, 0x40, 0x41, 0x50, 0x51, 0xa0, 0xa1, 0xe1, 0xf1]) out.push([I(op, 10, 1, -8, imm)]);
  }
  return out;
}

describe('round trip over canonical encodings', () => {
  const cases = canonical();
  it('covers the instruction set', () => expect(cases.length).toBeGreaterThan(200));
  it.each(cases.map((c) => [formatInsn(c, 0, { exact: true }), c] as const))('%s', (text, insns) => {
    expect(text).not.toBe(UNKNOWN);
    expect(assemble(text)).toEqual(encodeInsns(insns));
  });
});

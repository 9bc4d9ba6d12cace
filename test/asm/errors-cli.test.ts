// Assembler and hex errors carry stable codes and locations; the disasm command end to end.

import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { assemble } from '../../src/asm/assembler.js';
import { formatInsnShort } from '../../src/asm/disassembler.js';
import { decodeInsns, parseHexBytes } from '../../src/asm/insn.js';
import { TwinpathError } from '../../src/errors.js';
import { main } from '../../src/cli/main.js';
import { bufferIo } from '../../src/cli/io.js';
import { ROOT } from '../helpers/paths.js';

function caught(f: () => unknown): TwinpathError {
  try {
    f();
  } catch (e) {
    if (e instanceof TwinpathError) return e;
    throw e;
  }
  throw new Error('expected an error');
}

describe('assembler errors', () => {
  it.each([
    ['mov %r0, 1\nfrob %r1, 2\n', 'ASM_UNKNOWN_MNEMONIC', 2, 1],
    ['  mov %r0, %r11\n', 'ASM_BAD_OPERAND', 1, 12],
    ['mov32 %r0, 0x100000000\n', 'ASM_BAD_OPERAND', 1, 12],
    ['ja nowhere\nexit\n', 'ASM_BAD_LABEL', 1, 4],
    ['a:\na:\nexit\n', 'ASM_BAD_LABEL', 2, 1],
    ['ldxw %r0, %r1\n', 'ASM_BAD_OPERAND', 1, 11],
    ['exit\nr1 = *(u32 *)(r1 ^ 3)\n', 'ASM_SYNTAX', 2, 1],
    ['add %r1\n', 'ASM_BAD_OPERAND', 1, 1],
  ] as const)('%j', (text, code, line, column) => {
    const e = caught(() => assemble(text, 'prog.asm'));
    expect(e.code).toBe(code);
    expect(e.location).toEqual({ file: 'prog.asm', line, column });
  });

  it('resolves the implicit exit label and call local', () => {
    const insns = decodeInsns(assemble('jeq %r1, 0, exit\ncall local f\nexit\nf:\nmov %r0, 1\nexit\n'));
    expect(insns[0]!.off).toBe(1);
    expect(insns[1]).toEqual({ opcode: 0x85, dst: 0, src: 1, off: 0, imm: 1 });
  });

  it('reads objdump listings with address and byte columns', () => {
    const bytes = assemble('       0:\t18 01 00 00 88 77 66 55 00 00 00 00 44 33 22 11\tr1 = 0x1122334455667788 ll\n       2:\tff 00 00 00 00 00 00 00\t<unknown>\n');
    expect(Array.from(bytes.subarray(0, 2))).toEqual([0x18, 0x01]);
    expect(bytes[16]).toBe(0xff);
  });
});

describe('hex input', () => {
  it('accepts spaced and packed forms', () => {
    expect(parseHexBytes('b7  00  00  00  01  00  00  00  ')).toEqual(parseHexBytes('b700000001000000'));
  });
  it('names the offending character', () => {
    const e = caught(() => parseHexBytes('b7 0g'));
    expect(e.code).toBe('HEX_BAD_INPUT');
    expect(e.location.offset).toBe(4);
  });
  it('rejects a partial instruction', () => {
    expect(caught(() => decodeInsns(new Uint8Array(12))).code).toBe('HEX_BAD_INPUT');
  });
  it('formats one instruction for messages', () => {
    expect(formatInsnShort(decodeInsns(parseHexBytes('2d 21 03 00 00 00 00 00')), 0)).toBe('if r1 > r2 goto +0x3');
  });
});

describe('twinpath disasm', () => {
  it('lists an object like llvm-objdump', async () => {
    const io = bufferIo();
    const obj = join(ROOT, 'bpf/test/disasm/calls.bpf.o');
    expect(await main(['disasm', obj, '--section', 'xdp'], io)).toBe(0);
    const golden = readFileSync(join(ROOT, 'test/golden/disasm/calls.bpf.txt'), 'utf8');
    const xdp = golden.slice(golden.indexOf('Disassembly of section xdp:'));
    expect(io.stdout()).toBe(xdp.slice(0, xdp.indexOf('\nDisassembly', 1)));
  });
  it('lists hex bytes', async () => {
    const io = bufferIo();
    expect(await main(['disasm', '--hex', 'b7 00 00 00 01 00 00 00 95 00 00 00 00 00 00 00'], io)).toBe(0);
    expect(io.stdout()).toBe('       0:\tb7 00 00 00 01 00 00 00\tr0 = 0x1\n       1:\t95 00 00 00 00 00 00 00\texit\n');
  });
  it('reports a missing section with a code', async () => {
    const io = bufferIo();
    expect(await main(['disasm', join(ROOT, 'bpf/test/disasm/calls.bpf.o'), '--section', 'nope'], io)).toBe(2);
    expect(io.stderr()).toContain('[ELF_BAD_SECTION]');
  });
});

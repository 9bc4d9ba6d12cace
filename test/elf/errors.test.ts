// Every error code of src/elf, with the section and offset it names (offsets are relative to
// the named section, else to the file).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseBtf } from '../../src/elf/btf.js';
import { readElf } from '../../src/elf/elf.js';
import { readObject } from '../../src/elf/object.js';
import { caught, load, mapFieldOffset, renameSection, section, shdr, view } from './helpers.js';

const F = 'x.o';
const good = load('maps.bpf.o');
const elf = readElf(good);
const shoff = Number(view(good).getBigUint64(40, true));

function mutate(f: (b: Uint8Array, v: DataView) => void, from = good): Uint8Array {
  const b = from.slice();
  f(b, view(b));
  return b;
}

describe('ELF errors', () => {
  it('ELF_TRUNCATED: the committed truncated-section-header.o', () => {
    const b = new Uint8Array(readFileSync('test/fixtures/elf/truncated-section-header.o'));
    const shoffG = Number(view(b).getBigUint64(40, true));
    expect(caught(() => readObject(b, F))).toEqual({ code: 'ELF_TRUNCATED', location: { file: F, offset: shoffG } });
  });

  it('ELF_TRUNCATED: a header cut short and section contents past the end', () => {
    expect(caught(() => readElf(good.subarray(0, 63), F))).toEqual({ code: 'ELF_TRUNCATED', location: { file: F, offset: 0 } });
    const xdp = section(elf, 'xdp');
    const b = mutate((_, v) => v.setBigUint64(shdr(elf, good, xdp.index) + 32, 1n << 40n, true));
    expect(caught(() => readElf(b, F))).toEqual({ code: 'ELF_TRUNCATED', location: { file: F, offset: xdp.offset } });
  });

  it('ELF_BAD_MAGIC, ELF_BAD_CLASS, ELF_BAD_MACHINE', () => {
    expect(caught(() => readElf(mutate((b) => { b[1] = 0; }), F))).toEqual({ code: 'ELF_BAD_MAGIC', location: { file: F, offset: 0 } });
    expect(caught(() => readElf(mutate((b) => { b[4] = 1; }), F))).toEqual({ code: 'ELF_BAD_CLASS', location: { file: F, offset: 4 } });
    expect(caught(() => readElf(mutate((b) => { b[5] = 2; }), F))).toEqual({ code: 'ELF_BAD_CLASS', location: { file: F, offset: 5 } });
    expect(caught(() => readElf(mutate((_, v) => v.setUint16(16, 2, true)), F))).toEqual({ code: 'ELF_BAD_CLASS', location: { file: F, offset: 16 } });
    const x86 = mutate((_, v) => v.setUint16(18, 62, true));
    expect(caught(() => readObject(x86, F))).toEqual({ code: 'ELF_BAD_MACHINE', location: { file: F, offset: 18 } });
    expect(readElf(x86, F, { anyMachine: true }).machine).toBe(62);
  });

  it('ELF_BAD_SECTION: a section name table that is not a string table', () => {
    const text = section(elf, '.text').index;
    expect(caught(() => readElf(mutate((_, v) => v.setUint16(62, text, true)), F)))
      .toEqual({ code: 'ELF_BAD_SECTION', location: { file: F, offset: 62 } });
  });

  it('ELF_BAD_SECTION: a symbol table with the wrong entry size', () => {
    const st = section(elf, '.symtab');
    const b = mutate((_, v) => v.setBigUint64(shdr(elf, good, st.index) + 56, 16n, true));
    expect(caught(() => readElf(b, F))).toEqual({ code: 'ELF_BAD_SECTION', location: { file: F, section: '.symtab', offset: 0 } });
  });

  it('ELF_BAD_SYMBOL: a symbol in a section that does not exist', () => {
    const st = section(elf, '.symtab');
    const at = st.offset + 3 * 24 + 6;
    expect(caught(() => readElf(mutate((_, v) => v.setUint16(at, 999, true)), F)))
      .toEqual({ code: 'ELF_BAD_SYMBOL', location: { file: F, section: '.symtab', offset: 3 * 24 + 6 } });
  });

  it('ELF_BAD_RELOC: symbol out of range', () => {
    const rel = section(elf, '.relxdp');
    const b = mutate((_, v) => v.setUint32(rel.offset + 12, 100000, true));
    expect(caught(() => readElf(b, F))).toEqual({ code: 'ELF_BAD_RELOC', location: { file: F, section: '.relxdp', offset: 8 } });
  });

  it('ELF_BAD_RELOC: a relocation on an instruction that is neither ld_imm64 nor call', () => {
    const rel = section(elf, '.relxdp');
    const b = mutate((_, v) => v.setBigUint64(rel.offset, 0n, true));
    expect(caught(() => readObject(b, F)))
      .toEqual({ code: 'ELF_BAD_RELOC', location: { file: F, program: 'xdp_count', section: 'xdp', offset: 0 } });
  });

  it('ELF_BAD_RELOC: relocations for a section that does not exist', () => {
    const rel = section(elf, '.relxdp');
    const b = mutate((_, v) => v.setUint32(shdr(elf, good, rel.index) + 44, 5000, true));
    expect(caught(() => readElf(b, F))).toEqual({ code: 'ELF_BAD_RELOC', location: { file: F, section: '.relxdp', offset: 0 } });
  });

  it('ELF_BAD_MAP: unknown map type, at the map in .maps', () => {
    const b = mutate((_, v) => v.setUint32(mapFieldOffset(good, 'flows', 'type'), 200, true));
    const flows = elf.symbols.find((s) => s.name === 'flows')!;
    expect(caught(() => readObject(b, F))).toEqual({ code: 'ELF_BAD_MAP', location: { file: F, section: '.maps', offset: Number(flows.value) } });
  });

  it('ELF_BAD_MAP: a legacy maps section', () => {
    expect(caught(() => readObject(renameSection(good, '.maps', 1), F))).toEqual({ code: 'ELF_BAD_MAP', location: { file: F, section: 'maps', offset: 0 } });
  });

  it('BTF_MISSING: BTF-defined maps without .BTF', () => {
    expect(caught(() => readObject(renameSection(good, '.BTF', 1), F))).toEqual({ code: 'BTF_MISSING', location: { file: F, section: '.maps', offset: 0 } });
  });

  it('BTF_BAD: bad magic and a dangling type reference, at the offset in .BTF', () => {
    const btfSec = section(elf, '.BTF');
    expect(caught(() => readObject(mutate((b) => { b[btfSec.offset] = 0; }), F)))
      .toEqual({ code: 'BTF_BAD', location: { file: F, section: '.BTF', offset: 0 } });
    const btf = parseBtf(btfSec.data);
    const ptr = btf.types.find((t) => t.kind === 'ptr')!;
    const b = mutate((_, v) => v.setUint32(btfSec.offset + ptr.offset + 8, 0xfffff, true));
    expect(caught(() => readObject(b, F))).toEqual({ code: 'BTF_BAD', location: { file: F, section: '.BTF', offset: ptr.offset } });
  });

  it('BTF_BAD: a .BTF.ext record size that is too small', () => {
    const ext = section(elf, '.BTF.ext');
    const v = view(good);
    const funcInfo = v.getUint32(ext.offset + 4, true) + v.getUint32(ext.offset + 8, true);
    const b = mutate((_, w) => w.setUint32(ext.offset + funcInfo, 4, true));
    expect(caught(() => readObject(b, F))).toEqual({ code: 'BTF_BAD', location: { file: F, section: '.BTF.ext', offset: funcInfo } });
  });

  it('objects without a section header table or programs are empty, not errors', () => {
    const b = mutate((_, v) => v.setBigUint64(40, 0n, true));
    expect(readObject(b, F)).toMatchObject({ programs: [], maps: [], license: '' });
    expect(shoff).toBeGreaterThan(0);
  });
});

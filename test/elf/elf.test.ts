import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readElf, SHT_NOBITS, SHT_REL } from '../../src/elf/elf.js';
import { TwinpathError } from '../../src/errors.js';

const MAPS = 'bpf/test/elf/maps.bpf.o';

function code(f: () => unknown): { code: string; location: object } {
  try {
    f();
  } catch (e) {
    if (e instanceof TwinpathError) return { code: e.code, location: e.location };
    throw e;
  }
  throw new Error('expected a TwinpathError');
}

describe('readElf', () => {
  const bytes = new Uint8Array(readFileSync(MAPS));
  const elf = readElf(bytes, MAPS);

  it('reads sections, symbols and relocations', () => {
    expect(elf.machine).toBe(247);
    const names = elf.sections.map((s) => s.name);
    expect(names).toContain('xdp');
    expect(names).toContain('tc/ingress');
    expect(names).toContain('.maps');
    expect(names).toContain('.BTF');
    const xdp = elf.sections.find((s) => s.name === 'xdp')!;
    expect(xdp.size % 8).toBe(0);
    expect(xdp.data.length).toBe(xdp.size);
    const rel = elf.relocations.get(xdp.index)!;
    expect(rel.length).toBeGreaterThan(0);
    for (const r of rel) {
      expect(r.symbol).toBeLessThan(elf.symbols.length);
      expect(r.offset % 8n).toBe(0n);
    }
    expect(elf.sections.some((s) => s.type === SHT_REL)).toBe(true);
    const sym = elf.symbols.find((s) => s.name === 'xdp_count')!;
    expect(sym.shndx).toBe(xdp.index);
    expect(sym.type).toBe(2);
    expect(sym.bind).toBe(1);
  });

  it('gives NOBITS sections no data', () => {
    for (const s of elf.sections) if (s.type === SHT_NOBITS) expect(s.data.length).toBe(0);
  });

  it('rejects bad magic, class and machine', () => {
    const b = bytes.slice();
    b[0] = 0;
    expect(code(() => readElf(b, 'x.o')).code).toBe('ELF_BAD_MAGIC');
    const c = bytes.slice();
    c[4] = 1;
    expect(code(() => readElf(c)).code).toBe('ELF_BAD_CLASS');
    const m = bytes.slice();
    m[18] = 62;
    expect(code(() => readElf(m, 'x.o'))).toEqual({ code: 'ELF_BAD_MACHINE', location: { file: 'x.o', offset: 18 } });
    expect(readElf(m, 'x.o', { anyMachine: true }).machine).toBe(62);
  });

  it('rejects truncation', () => {
    expect(code(() => readElf(bytes.subarray(0, 40))).code).toBe('ELF_TRUNCATED');
    expect(code(() => readElf(bytes.subarray(0, bytes.length - 100))).code).toBe('ELF_TRUNCATED');
  });
});

// Random truncations and byte flips of the test objects: the reader either returns a spec or
// throws a TwinpathError, never anything else, and never takes long.
import { describe, expect, it } from 'vitest';
import { formatValue } from '../../src/elf/btf.js';
import { readElf } from '../../src/elf/elf.js';
import { readObject } from '../../src/elf/object.js';
import { TwinpathError } from '../../src/errors.js';
import { load, objectNames, view } from './helpers.js';
import { mulberry32 } from '../../src/util/prng.js';

const ROUNDS = 2000;

describe('fuzz', () => {
  it(`${ROUNDS} mutated objects end in a spec or a TwinpathError`, () => {
    const objects = objectNames().map(load);
    const rand = mulberry32(0x7417);
    const pick = (n: number) => Math.floor(rand() * n);
    const started = Date.now();
    let slowest = 0, errors = 0;
    const counts = new Map<string, number>();
    for (let round = 0; round < ROUNDS; round++) {
      const src = objects[round % objects.length]!;
      let b: Uint8Array;
      if (round % 4 === 0) {
        b = src.slice(0, pick(src.length));
      } else {
        b = src.slice();
        // Aim half the flips at the structures that steer parsing: the ELF and section headers,
        // and the sections the loader interprets; the rest anywhere.
        const elf = readElf(src);
        const hot = elf.sections.filter((s) => ['.BTF', '.BTF.ext', '.maps', '.symtab', 'xdp', '.text'].includes(s.name) || s.name.startsWith('.rel'));
        const shoff = Number(view(src).getBigUint64(40, true));
        const flips = 1 + pick(8);
        for (let k = 0; k < flips; k++) {
          let at: number;
          const where = pick(4);
          if (where === 0) at = pick(64);
          else if (where === 1) at = shoff + pick(src.length - shoff);
          else if (where === 2) { const s = hot[pick(hot.length)]!; at = s.offset + pick(Math.max(1, s.size)); }
          else at = pick(src.length);
          b[at] = rand() < 0.5 ? pick(256) : b[at]! ^ (1 << pick(8));
        }
      }
      const t0 = Date.now();
      try {
        const spec = readObject(b, `fuzz-${round}.o`);
        for (const m of spec.maps) {
          if (!spec.btf) break;
          for (const [id, size] of [[m.keyTypeId, m.keySize], [m.valueTypeId, m.valueSize]] as const) {
            if (id) formatValue(spec.btf, id, new Uint8Array(Math.min(size, 1 << 16)));
          }
        }
      } catch (e) {
        if (!(e instanceof TwinpathError)) throw new Error(`round ${round}: ${String(e)}`, { cause: e });
        errors++;
        counts.set(e.code, (counts.get(e.code) ?? 0) + 1);
      }
      slowest = Math.max(slowest, Date.now() - t0);
    }
    expect(errors).toBeGreaterThan(ROUNDS / 4);
    expect(slowest).toBeLessThan(1000);
    expect(Date.now() - started).toBeLessThan(30_000);
  });
});

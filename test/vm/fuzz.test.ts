// No input program can crash or hang the host: random and mutated programs either load and run
// to a result, or end in a TwinpathError. A seeded generator keeps failures reproducible.

import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { Vm } from '../../src/vm/vm.js';
import { TwinpathError } from '../../src/errors.js';
import { loadDataFile } from '../helpers/datafiles.js';
import { conformanceFiles } from '../helpers/conformance.js';
import { CONFORMANCE_DIR, requireShared } from '../helpers/paths.js';
import { mulberry32 } from '../../src/util/prng.js';

function runSafely(vm: Vm, code: Uint8Array, memory: Uint8Array): 'ok' | 'error' {
  try {
    const p = vm.load(code, { helpers: 'conformance' });
    try {
      p.run({ memory, budget: 5000 });
    } finally {
      p.dispose();
    }
    return 'ok';
  } catch (e) {
    if (e instanceof TwinpathError) return 'error';
    throw e;
  }
}

describe('VM robustness', () => {
  const vm = new Vm();

  it('survives 20,000 random programs', () => {
    const r = mulberry32(1);
    const counts = { ok: 0, error: 0 };
    for (let k = 0; k < 20000; k++) {
      const n = 1 + Math.floor(r() * 12);
      const code = new Uint8Array(n * 8);
      for (let j = 0; j < n; j++) {
        // Mostly valid-looking opcodes with small registers and offsets, so some programs run.
        code[j * 8] = r() < 0.8 ? [0x07, 0x0f, 0xb7, 0xbf, 0x61, 0x63, 0x79, 0x7b, 0x05, 0x15, 0x25, 0x85, 0x95, 0xdb, 0xc3, 0x18][Math.floor(r() * 16)]! : Math.floor(r() * 256);
        code[j * 8 + 1] = r() < 0.9 ? Math.floor(r() * 11) | (Math.floor(r() * 11) << 4) : Math.floor(r() * 256);
        const off = r() < 0.7 ? Math.floor(r() * 16) - 8 : Math.floor(r() * 65536) - 32768;
        code[j * 8 + 2] = off & 0xff;
        code[j * 8 + 3] = (off >> 8) & 0xff;
        for (let b = 4; b < 8; b++) code[j * 8 + b] = r() < 0.5 ? 0 : Math.floor(r() * 256);
      }
      if (r() < 0.5) code.set([0x95, 0, 0, 0, 0, 0, 0, 0], (n - 1) * 8);
      counts[runSafely(vm, code, new Uint8Array(Math.floor(r() * 64)))]++;
    }
    expect(counts.ok + counts.error).toBe(20000);
    expect(counts.ok).toBeGreaterThan(100);
  });

  it.skipIf(!requireShared(CONFORMANCE_DIR))('survives byte flips of every conformance program', () => {
    const r = mulberry32(2);
    let runs = 0;
    for (const f of conformanceFiles()) {
      const { test, code } = loadDataFile(join(CONFORMANCE_DIR, f));
      for (let k = 0; k < 20; k++) {
        const mutated = code.slice();
        const flips = 1 + Math.floor(r() * 3);
        for (let j = 0; j < flips; j++) mutated[Math.floor(r() * mutated.length)] ^= 1 << Math.floor(r() * 8);
        runSafely(vm, mutated, test.memory);
        runs++;
      }
    }
    expect(runs).toBe(313 * 20);
  });

  it('stops a program that loops forever through bpf-to-bpf calls', () => {
    // main: call f; ja -2 (back to the call); f: exit
    const code = Uint8Array.from([
      0x85, 0x10, 0, 0, 2, 0, 0, 0, 0x05, 0, 0xfe, 0xff, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0,
      0x95, 0, 0, 0, 0, 0, 0, 0,
    ]);
    const p = vm.load(code);
    expect(() => p.run({ budget: 100000 })).toThrow(/budget/);
  });
});

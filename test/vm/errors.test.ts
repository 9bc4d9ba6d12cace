// Each file in test/vm/errors is one failure the VM must report, with its error code and the
// index of the instruction it names (or, for the limits themselves, the result just inside them).

import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Vm } from '../../src/vm/vm.js';
import { runDataFile } from '../helpers/datafiles.js';
import { ROOT } from '../helpers/paths.js';

const dir = join(ROOT, 'test/vm/errors');
const files = readdirSync(dir).filter((f) => f.endsWith('.data')).sort();

describe('VM errors', () => {
  const vm = new Vm();
  it('has a case for every kind of failure the issue names', () => {
    const kinds = ['oob-read', 'oob-write', 'budget', 'bad-opcode', 'jump-out-of-range', 'call-depth'];
    for (const k of kinds) expect(files.some((f) => f.startsWith(k)), k).toBe(true);
  });
  for (const f of files) {
    it(f, () => {
      const { test, outcome } = runDataFile(vm, join(dir, f));
      if (test.error !== undefined) expect(outcome.error, outcome.message).toBe(test.error);
      else expect(outcome).toEqual({ result: test.result });
    });
  }
});

describe('VM error messages', () => {
  const vm = new Vm();
  it('an out-of-bounds access names the instruction, the address, the size and the allowed regions', () => {
    const { outcome } = runDataFile(vm, join(dir, 'oob-read-past-input.data'));
    expect(outcome.message).toMatch(/insn 1: r0 = \*\(u32 \*\)\(r1 \+ 0x4\)/);
    expect(outcome.message).toMatch(/out-of-bounds read of 4 bytes at 0x[0-9a-f]+/);
    expect(outcome.message).toMatch(/allowed: stack \[0x[0-9a-f]+, 0x[0-9a-f]+\), input \[0x[0-9a-f]+, 0x[0-9a-f]+\)/);
  });
  it('a budget error says the budget ran out', () => {
    const { outcome } = runDataFile(vm, join(dir, 'budget-infinite-loop.data'));
    expect(outcome.message).toMatch(/insn 2: goto -0x2 .*instruction budget exhausted/);
  });
  it('the VM keeps working after failed loads and runs', () => {
    for (let k = 0; k < 50; k++) runDataFile(vm, join(dir, 'oob-write-past-input.data'));
    const { outcome } = runDataFile(vm, join(dir, 'budget-just-enough.data'));
    expect(outcome.result).toBe(0x190n);
  });
});

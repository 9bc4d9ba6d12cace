// The parsing program built by clang-14 and clang-19 with -mcpu v2, v3 and v4 (the
// build-variants line of bpf/test/progs/parse.bpf.c): every build loads in the kernel and gives
// the same verdicts, output, context and counters for the same packets as the recorded results.

import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { describeKernel } from '../helpers/kernel.js';
import { progsDir, readExpected } from './expected.js';
import { runInKernel } from './kernel_run.js';
import { runInVm } from './vm_run.js';

const variants = readdirSync(progsDir).filter((f) => /^parse(\.clang-\d+-v\d)?\.bpf\.o$/.test(f)).sort();

it('has every variant the build line asks for', () => {
  expect(variants).toEqual([
    'parse.bpf.o', 'parse.clang-14-v2.bpf.o', 'parse.clang-14-v3.bpf.o', 'parse.clang-19-v2.bpf.o', 'parse.clang-19-v4.bpf.o',
  ]);
});

describeKernel('parse built by every compiler and cpu version', () => {
  const exp = readExpected('parse');
  for (const file of variants) {
    it(`${file} agrees with the recorded results`, () => {
      const run = runInKernel(exp, file);
      expect(run.results).toEqual(exp.results);
    });
  }
});

describe('parse built by every compiler and cpu version, in the VM', () => {
  const exp = readExpected('parse');
  for (const file of variants) {
    it(`${file} agrees with the recorded results`, () => {
      expect(runInVm(exp, file)).toEqual(exp.results);
    });
  }
});

// Runs a test in the `-- asm` / `-- raw` / `-- mem` / `-- result` / `-- error` format through the
// VM, and says what happened in the same terms the file uses.

import { readFileSync } from 'node:fs';
import { parseConformanceFile, type ConformanceTest } from '../../src/conformance/datafile.js';
import { assemble } from '../../src/asm/assembler.js';
import { Vm } from '../../src/vm/vm.js';
import { VmError } from '../../src/vm/vm.js';

export interface Outcome {
  result?: bigint;
  /** `CODE insn N` for a VM error. */
  error?: string;
  message?: string;
}

export function loadDataFile(path: string): { test: ConformanceTest; code: Uint8Array } {
  const test = parseConformanceFile(readFileSync(path, 'utf8'), path);
  const code = test.raw ?? assemble(test.asm, path);
  return { test, code };
}

export function runDataFile(vm: Vm, path: string): { test: ConformanceTest; outcome: Outcome } {
  const { test, code } = loadDataFile(path);
  try {
    const program = vm.load(code, { helpers: 'conformance' });
    try {
      const r = program.run({ memory: test.memory, budget: test.budget });
      return { test, outcome: { result: r.r0 } };
    } finally {
      program.dispose();
    }
  } catch (e) {
    if (e instanceof VmError) return { test, outcome: { error: `${e.code} insn ${e.insnIndex}`, message: e.message } };
    throw e;
  }
}

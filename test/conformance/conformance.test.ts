// The standard eBPF conformance suite (../shared/conformance/bpf_conformance, 313 tests) run
// in-process through twinpath's own test-file reader, assembler and VM.

import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Vm } from '../../src/vm/vm.js';
import { runDataFile } from '../helpers/datafiles.js';
import { conformanceFiles, conformanceSkips } from '../helpers/conformance.js';
import { CONFORMANCE_DIR, requireShared } from '../helpers/paths.js';

const present = requireShared(CONFORMANCE_DIR);

describe.skipIf(!present)('bpf_conformance through the VM', () => {
  const files = present ? conformanceFiles() : [];
  const skips = present ? conformanceSkips() : new Map<string, string>();
  const vm = new Vm();

  it('has all 313 tests', () => {
    expect(files.length).toBe(313);
  });

  for (const f of files) {
    it.skipIf(skips.has(f))(f, () => {
      const { test, outcome } = runDataFile(vm, join(CONFORMANCE_DIR, f));
      if (test.error !== undefined) expect(outcome.error).toBeDefined();
      else expect(outcome, outcome.message).toEqual({ result: test.result });
    });
  }
});

// The VM engine on the engine-agreement programs: every packet, map, global and ring buffer
// record equals what the kernel recorded in test/progs/expected (masked values aside). Runs on
// any machine; kernel.test.ts holds the kernel to the same files, so in CI both engines agree.

import { describe, expect, it } from 'vitest';
import { PROGRAMS, readExpected } from './expected.js';
import { runInVm } from './vm_run.js';

describe('the VM engine gives what the kernel recorded', () => {
  for (const name of PROGRAMS) {
    const exp = readExpected(name);
    it.skipIf(exp.kernelOnly !== undefined)(`${name}${exp.kernelOnly ? ` (kernel only: ${exp.kernelOnly})` : ''}`, () => {
      const got = runInVm(exp);
      expect(got.packets).toHaveLength(exp.results!.packets.length);
      got.packets.forEach((p, i) => expect(p, `${name} packet ${i}`).toEqual(exp.results!.packets[i]));
      expect(got.maps).toEqual(exp.results!.maps);
      expect(got.globals).toEqual(exp.results!.globals);
      expect(got.ringbuf).toEqual(exp.results!.ringbuf);
    });
  }
});

// A tail call made from a subprogram (bpf/test/progs/tail.bpf.c, tail_sub): the kernel's JIT
// unwinds only the subprogram's frame before it jumps, so the target's return value comes back
// to the subprogram's caller, which goes on running. The VM must do the same, and both engines
// must agree on it; an empty slot leaves the subprogram to return on its own.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readObject } from '../../src/elf/object.js';
import { vmEngine } from '../../src/engine/vm.js';
import { kernelEngine } from '../../src/engine/kernel.js';
import type { Engine } from '../../src/engine/engine.js';
import { udp } from '../../src/pcap/build.js';
import { describeKernel } from '../helpers/kernel.js';
import { ROOT } from '../helpers/paths.js';

const file = join(ROOT, 'bpf', 'test', 'progs', 'tail.bpf.o');
const bytes = new Uint8Array(readFileSync(file));
const spec = readObject(bytes, 'tail.bpf.o');
const packet = udp({ src: '10.0.0.1', dst: '10.0.0.2', sport: 1000, dport: 53 });

function runs(engine: Engine): { retval: number; priority: number | undefined }[] {
  const o = engine.open({ bytes, spec });
  try {
    return [0, 1].map((mark) => {
      const r = o.run('tail_sub', { packet, ctx: { mark } });
      return { retval: r.retval, priority: r.ctx.priority };
    });
  } finally {
    o.close();
  }
}

// slot 0: tail_leaf's 42 returns into tail_sub, which returns TC_ACT_OK; slot 1 is empty.
const EXPECTED = [{ retval: 0, priority: 42 }, { retval: 0, priority: packet.length + 1000 }];

describe('a tail call from a subprogram in the VM', () => {
  it('returns the target\'s r0 to the subprogram\'s caller, which carries on', () => {
    expect(runs(vmEngine)).toEqual(EXPECTED);
  });
});

describeKernel('a tail call from a subprogram in the kernel', () => {
  it('does what the VM does', () => {
    expect(runs(kernelEngine)).toEqual(EXPECTED);
  });
});

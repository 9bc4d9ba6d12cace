// `twinpath run --engine both` over the engine-agreement programs whose results depend on
// nothing but their input: every packet of each capture, both engines, zero differences. (The
// programs that read the clock, the CPU number, the kernel's flow hash or the ring buffer's fill
// level are compared with those values masked, in vm.test.ts and kernel.test.ts.)

import { join } from 'node:path';
import { expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { bufferIo } from '../../src/cli/io.js';
import { describeKernel } from '../helpers/kernel.js';
import { capturesDir, progsDir } from './expected.js';

const DETERMINISTIC: [object: string, program: string, capture: string][] = [
  ['parse.bpf.o', 'parse', 'parse.pcap'],
  ['parse.clang-14-v2.bpf.o', 'parse', 'parse.pcap'],
  ['parse.clang-19-v4.bpf.o', 'parse', 'parse.pcap'],
  ['encap.bpf.o', 'encap', 'encap.pcap'],
  ['vlan.bpf.o', 'vlan', 'vlan.pcap'],
  ['xdp_edit.bpf.o', 'xdp_edit', 'xdp_edit.pcap'],
  ['ipcache.bpf.o', 'ipcache', 'ipcache.pcap'],
  ['tail.bpf.o', 'tail_entry', 'tail.pcap'],
];

describeKernel('twinpath run --engine both on the test programs', () => {
  for (const [object, program, capture] of DETERMINISTIC) {
    it(`${object} ${program}: zero differences`, async () => {
      const io = bufferIo();
      const status = await main(
        ['run', join(progsDir, object), '--program', program, '--pcap', join(capturesDir, capture), '--engine', 'both', '--json'],
        io,
      );
      const lines = io.stdout().trim().split('\n').map((l) => JSON.parse(l) as { engine: string; differences?: unknown[] });
      const kernelLines = lines.filter((l) => l.engine === 'kernel');
      expect(kernelLines.length).toBeGreaterThan(0);
      expect(kernelLines.flatMap((l) => l.differences ?? [])).toEqual([]);
      expect(io.stderr()).toBe('');
      expect(status).toBe(0);
    });
  }
});

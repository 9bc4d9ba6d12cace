// The same replay in the kernel (BPF_PROG_TEST_RUN) and in the VM gives the same output, line
// for line. The bundled capture spans under three seconds, far below every conntrack timeout,
// so the kernel's own clock (which a test run cannot set) decides nothing the capture's does not.

import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { bufferIo } from '../../src/cli/io.js';
import { Replayer } from '../../src/datapath/replay.js';
import { readCapture } from '../../src/pcap/reader.js';
import { describeKernel } from '../helpers/kernel.js';
import { CAPTURE, CLUSTER, POLICY, starwars } from './replay-fixture.js';

async function run(engine: 'vm' | 'kernel', ...extra: string[]) {
  const io = bufferIo();
  const status = await main(['replay', CAPTURE, '--cluster', CLUSTER, '--policy', POLICY, '--engine', engine, ...extra], io);
  return { status, out: io.stdout(), err: io.stderr() };
}

describeKernel('replay in the kernel', () => {
  it('prints exactly what the VM prints, in JSON and compact form', async () => {
    for (const format of ['json', 'compact']) {
      const vm = await run('vm', '-o', format);
      const kernel = await run('kernel', '-o', format);
      expect(kernel.err).toBe(vm.err);
      expect(kernel.status).toBe(0);
      expect(kernel.out).toBe(vm.out);
    }
  });

  it('leaves the same packets for the next program: outcomes and output frames agree', async () => {
    const [vm, kernel] = await Promise.all([Replayer.open({ compiled: starwars(), engine: 'vm' }), Replayer.open({ compiled: starwars(), engine: 'kernel' })]);
    try {
      let n = 0;
      for await (const record of readCapture(CAPTURE)) {
        const a = vm.packet(record);
        const b = kernel.packet(record);
        expect(b.outcome).toBe(a.outcome);
        expect(b.frame).toEqual(a.frame);
        n++;
      }
      expect(n).toBe(45);
    } finally {
      vm.close();
      kernel.close();
    }
  });
});

describe('replay engines', () => {
  it('the VM replays the bundled capture (the kernel comparison above needs root and BPF)', async () => {
    const r = await run('vm', '--no-summary');
    expect(r.status).toBe(0);
    expect(r.out.split('\n').length).toBeGreaterThan(60);
  });
});

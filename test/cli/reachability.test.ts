// `twinpath reachability`: the text matrices and the JSON (golden files), list options given
// comma-separated or repeated, the kernel engine agreeing with the VM, and usage errors.

import { describe, expect, it } from 'vitest';
import { describeKernel } from '../helpers/kernel.js';
import { cli, CLUSTER, golden, POLICIES } from './probe-golden.js';

const base = ['reachability', '--cluster', CLUSTER, '--policy', POLICIES];

describe('twinpath reachability', () => {
  it('prints one matrix per port and protocol (golden)', async () => {
    const r = await cli(...base, '--ports', '80,81', '--protocols', 'TCP,UDP', '--include-host', '--external', '8.8.8.8');
    expect(r.err).toBe('');
    expect(r.status).toBe(0);
    golden('reachability/x-y.txt', r.out);
  });

  it('--output json: endpoints, and per matrix the cells and the details of denied ones (golden)', async () => {
    const r = await cli(...base, '--ports', '80', '--output', 'json');
    expect(r.status).toBe(0);
    const j = JSON.parse(r.out) as { engine: string; endpoints: string[]; matrices: Array<{ port: number; protocol: string; cells: Array<Array<boolean | null>> }> };
    expect(j.engine).toBe('vm');
    expect(j.endpoints).toEqual(['x/a', 'x/b', 'y/a', 'y/c']);
    expect(j.matrices.map((m) => [m.protocol, m.port])).toEqual([['TCP', 80]]);
    expect(j.matrices[0]!.cells[2]).toEqual([true, false, true, true]);
    golden('reachability/x-y.json', r.out);
  });

  it('takes lists comma-separated or repeated, and defaults to TCP/80', async () => {
    const a = await cli(...base, '--ports', '80', '--ports', '81', '--protocols', 'udp', '--protocols', 'SCTP', '--output', 'json');
    const b = await cli(...base, '--ports', '80,81', '--protocols', 'UDP,SCTP', '--output', 'json');
    expect(a.out).toBe(b.out);
    const d = JSON.parse((await cli(...base, '--output', 'json')).out) as { matrices: Array<{ port: number; protocol: string }> };
    expect(d.matrices.map((m) => `${m.protocol}/${m.port}`)).toEqual(['TCP/80']);
  });

  for (const [what, args] of [
    ['a port out of range', ['--ports', '80,0']],
    ['a port that is not a number', ['--ports', 'http']],
    ['protocol ANY', ['--protocols', 'ANY']],
    ['a bad external address', ['--external', '10.1']],
  ] as const) {
    it(`refuses ${what} (USAGE, exit 2)`, async () => {
      const r = await cli(...base, ...args);
      expect(r.status).toBe(2);
      expect(r.err).toContain('[USAGE]');
    });
  }
});

describeKernel('twinpath reachability --engine kernel', () => {
  it('gives the same matrices as the VM', async () => {
    const args = [...base, '--ports', '80,81', '--protocols', 'TCP,UDP,SCTP', '--include-host', '--external', '8.8.8.8', '--output', 'json'];
    const vm = JSON.parse((await cli(...args)).out) as Record<string, unknown>;
    const kernel = await cli(...args, '--engine', 'kernel');
    expect(kernel.status).toBe(0);
    expect({ ...(JSON.parse(kernel.out) as Record<string, unknown>), engine: 'vm' }).toEqual(vm);
  });
});

// Reachability matrices over the hand-compiled cluster (probe-cluster.ts): every cell is the
// probe's verdict, cells that name no connection are null, and the text form is the upstream
// conformance tests' layout.

import { describe, expect, it } from 'vitest';
import { formatReachability, reachability } from '../../src/datapath/reachability.js';
import { runProbes } from '../../src/datapath/probe.js';
import { TwinpathError } from '../../src/errors.js';
import { describeKernel } from '../helpers/kernel.js';
import { smallCluster } from './probe-cluster.js';

const opts = { compiled: smallCluster(), ports: [80, 81], protocols: ['TCP' as const], includeHost: true, external: ['8.8.8.8'] };

describe('reachability', () => {
  it('fills every cell with the verdict of the same probe run alone', async () => {
    const r = await reachability({ ...opts, engine: 'vm' });
    expect(r.endpoints).toEqual(['x/a', 'x/b', 'y/a', 'y/c', 'z/u', 'host', 'ip:8.8.8.8']);
    expect(r.matrices.map((m) => `${m.protocol}/${m.port}`)).toEqual(['TCP/80', 'TCP/81']);
    const m80 = r.matrices[0]!;
    const probes = [];
    const at: Array<[number, number]> = [];
    m80.cells.forEach((row, i) => row.forEach((c, j) => {
      if (c !== null) {
        probes.push({ from: r.endpoints[i]!, to: r.endpoints[j]!, port: 80, protocol: 'TCP' as const });
        at.push([i, j]);
      }
    }));
    const alone = await runProbes({ compiled: smallCluster(), probes, engine: 'vm' });
    alone.forEach((res, k) => expect(m80.cells[at[k]![0]]![at[k]![1]], `${res.from} -> ${res.to}`).toBe(res.allowed));
    expect(m80.allowedCount + m80.deniedCount).toBe(probes.length);
    expect(m80.denied).toHaveLength(m80.deniedCount);
  });

  it('has the expected rows: x/a only from y, x/b from nobody but its node, not applicable cells null', async () => {
    const r = await reachability({ ...opts, engine: 'vm' });
    const row = (m: number, from: string) => r.matrices[m]!.cells[r.endpoints.indexOf(from)]!;
    const col = (m: number, to: string) => r.matrices[m]!.cells.map((row) => row[r.endpoints.indexOf(to)]);
    //                            x/a    x/b    y/a   y/c   z/u   host  ip
    expect(col(0, 'x/a')).toEqual([false, false, true, true, false, true, false]);
    expect(col(0, 'x/b')).toEqual([false, false, false, null, false, true, false]);
    expect(row(1, 'y/a')).toEqual([false, false, true, true, true, true, true]);
    // host to host, host to outside, outside to outside, and the implicit node's host: nothing to probe.
    expect(row(0, 'host').slice(4)).toEqual([null, null, null]);
    expect(row(0, 'ip:8.8.8.8').slice(5)).toEqual([null, null]);
    expect(r.matrices[1]!.denied.find((d) => d.from === 'y/a' && d.to === 'x/a')).toMatchObject({ dropReasonCode: 181, deniedAt: 'egress', ruleId: 4 });
  });

  it('prints one titled table per port and protocol', async () => {
    const r = await reachability({ ...opts, external: [], includeHost: false, engine: 'vm', ports: [80] });
    expect(formatReachability(r)).toBe([
      'TCP/80 (vm engine): 14 of 21 allowed',
      '-    x/a  x/b  y/a  y/c  z/u',
      'x/a  X    X    .    .    .',
      'x/b  X    X    .    -    .',
      'y/a  .    X    .    .    .',
      'y/c  .    -    .    .    -',
      'z/u  X    X    .    -    .',
      '',
    ].join('\n'));
  });

  it('refuses bad ports, protocols and addresses (USAGE)', async () => {
    for (const bad of [{ ports: [0] }, { ports: [] }, { protocols: ['ANY' as 'TCP'] }, { external: ['8.8.8'] }]) {
      const e = await reachability({ ...opts, engine: 'vm', ...bad }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(TwinpathError);
      expect((e as TwinpathError).code).toBe('USAGE');
    }
  });
});

describeKernel('reachability in the kernel engine', () => {
  it('is the same as in the VM', async () => {
    const [vm, kernel] = [await reachability({ ...opts, engine: 'vm' }), await reachability({ ...opts, engine: 'kernel' })];
    expect({ ...kernel, engine: 'vm' }).toEqual(vm);
  });
});

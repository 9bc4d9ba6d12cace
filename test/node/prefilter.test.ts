// The XDP prefilter on a node, live (root): attached with `node attach --sandbox --prefilter` on
// every node's uplink, a denied outside address cannot connect to a pod while another can;
// `node update --prefilter` swaps the list; `node status` shows the list and the counters;
// detach takes the XDP program off. Usage errors without root.

import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loadFiles } from '../../src/policy/load.js';
import { LiveProber, sandboxUp, type LiveProbeSpec, type SandboxState } from '../../src/sandbox/index.js';
import { nodeStatus, sandboxAttachments, type NodeStatus } from '../../src/node/index.js';
import { cli } from '../helpers/cli.js';
import { describeKernel } from '../helpers/kernel.js';
import { removeSandbox } from '../helpers/live.js';
import { describeRoot, uniqueSandboxName } from '../sandbox/helpers.js';

const DIR = join(import.meta.dirname, 'fixtures', 'services');
const CLUSTER = join(DIR, 'cluster.yaml');
const POLICY = join(DIR, 'policy.yaml');
const GOOD = '203.0.113.10';
const BAD = '203.0.113.11';

/** Whether an XDP program is on `dev` in `netns` (as ip link reports it). */
function hasXdp(netns: string, dev: string): boolean {
  const r = spawnSync('nsenter', [`--net=/run/netns/${netns}`, 'ip', '-j', '-d', 'link', 'show', 'dev', dev], { encoding: 'utf8' });
  const [link] = JSON.parse(r.stdout || '[{}]') as Array<{ xdp?: unknown }>;
  return link?.xdp !== undefined;
}

describe('prefilter usage', () => {
  test('--prefilter without --xdp, and an update that changes nothing, are refused', async () => {
    const a = await cli('node', 'attach', '--cluster', CLUSTER, '--node', 'node-a', '--interfaces', join(DIR, 'none.txt'), '--prefilter', '10.0.0.0/8');
    expect(a.status).toBe(2);
    expect(a.err).toContain('--prefilter needs --xdp');
    const b = await cli('node', 'update', 'nothing-here');
    expect(b.status).toBe(2);
    expect(b.err).toContain('--policy, --cluster and/or --prefilter');
  });
});

describeRoot('prefilter live', () => {
  describeKernel('in a sandbox', () => {
    let sb: SandboxState;
    let prober: LiveProber;
    const probes: LiveProbeSpec[] = [
      { from: `ip:${GOOD}`, to: 'shop/client', port: 9000, protocol: 'TCP' },
      { from: `ip:${BAD}`, to: 'shop/client', port: 9000, protocol: 'TCP' },
    ];
    const allowed = async () => (await prober.probe(probes, { timeoutMs: 500 })).map((r) => r.allowed);
    const statusOf = (node: string): NodeStatus => nodeStatus(sandboxAttachments(sb.name).find((n) => n.endsWith(node))!)!;

    beforeAll(() => {
      sb = sandboxUp(loadFiles([CLUSTER]).cluster, { name: uniqueSandboxName(), externals: [GOOD, BAD] });
      prober = new LiveProber(sb);
    }, 60_000);

    afterAll(() => removeSandbox(sb, prober));

    test('before any prefilter, both outside addresses connect', async () => {
      expect(await allowed()).toEqual([true, true]);
    });

    test('attach --prefilter: the denied address cannot connect, the other can; status shows list and drops', async () => {
      const r = await cli('node', 'attach', '--sandbox', sb.name, '--cluster', CLUSTER, '--policy', POLICY, '--prefilter', `${BAD}/32`, '--maglev-table-size', '251');
      expect(r.err).toBe('');
      expect(r.status).toBe(0);
      expect(r.out).toContain(`prefilter: ${BAD}/32`);
      for (const n of sb.nodes) expect(hasXdp(n.netns, n.ifname)).toBe(true);
      expect(await allowed()).toEqual([true, false]);
      const st = statusOf('node-a');
      expect(st.prefilter?.cidrs).toEqual([`${BAD}/32`]);
      expect(st.prefilter!.counters!.dropped.packets).toBeGreaterThan(0n);
      expect(st.prefilter!.counters!.passed.packets).toBeGreaterThan(0n);
      expect(st.hooks.filter((h) => h.hook === 'xdp').map((h) => [h.program, typeof h.progId])).toEqual([['cil_xdp_prefilter', 'number']]);
      const text = await cli('node', 'status', sandboxAttachments(sb.name)[0]!);
      expect(text.out).toMatch(new RegExp(`prefilter deny list: ${BAD.replace(/\./g, '\\.')}/32; passed \\d+ packets \\(\\d+ bytes\\), dropped [1-9]\\d* `));
    }, 30_000);

    test('node update --prefilter swaps the list live; an empty list lets both through', async () => {
      const u = await cli('node', 'update', '--sandbox', sb.name, '--prefilter', `${GOOD}/32`);
      expect(u.status).toBe(0);
      expect(u.out).toContain(`prefilter: +1 -1 +${GOOD}/32 -${BAD}/32`);
      expect(await allowed()).toEqual([false, true]);
      const e = await cli('node', 'update', '--sandbox', sb.name, '--prefilter');
      expect(e.status).toBe(0);
      expect(statusOf('node-b').prefilter?.cidrs).toEqual([]);
      expect(await allowed()).toEqual([true, true]);
      const bad = await cli('node', 'update', '--sandbox', sb.name, '--prefilter', '203.0.113.1/24');
      expect(bad.status).not.toBe(0);
      expect(bad.err).toContain('--prefilter[0]');
      expect(statusOf('node-b').prefilter?.cidrs).toEqual([]);
    }, 30_000);

    test('detach takes the XDP program off every uplink', async () => {
      const d = await cli('node', 'detach', '--sandbox', sb.name);
      expect(d.status).toBe(0);
      for (const n of sb.nodes) expect(hasXdp(n.netns, n.ifname)).toBe(false);
      expect(await allowed()).toEqual([true, true]);
    });
  });
});

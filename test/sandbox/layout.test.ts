// The sandbox layout without root: names, addresses, routes and refusals, from a Cluster.

import { describe, expect, test } from 'vitest';
import { computeLayout, nodeScript, outsideScript, podScript } from '../../src/sandbox/layout.js';
import { checkSandboxName, sandboxOfNetns } from '../../src/sandbox/names.js';
import { twoNodeCluster } from './helpers.js';

const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return undefined;
};

describe('computeLayout', () => {
  test('a namespace per node and per pod, all under the sandbox prefix', () => {
    const l = computeLayout('demo', twoNodeCluster());
    expect(l.underlay).toBe('tp-demo-u');
    expect(l.outside).toBe('tp-demo-w');
    expect(l.nodes.map((n) => n.netns)).toEqual(['tp-demo-n0', 'tp-demo-n1']);
    expect(l.pods.map((p) => [p.key, p.netns, p.nodeNetns, p.hostIfname])).toEqual([
      ['x/a', 'tp-demo-p0', 'tp-demo-n0', 'lxc0'],
      ['x/b', 'tp-demo-p1', 'tp-demo-n0', 'lxc1'],
      ['y/c', 'tp-demo-p2', 'tp-demo-n1', 'lxc2'],
      ['y/d', 'tp-demo-p3', 'tp-demo-n1', 'lxc3'],
    ]);
    for (const ns of [l.underlay, l.outside, ...l.nodes.map((n) => n.netns), ...l.pods.map((p) => p.netns)]) {
      expect(sandboxOfNetns(ns)).toBe('demo');
    }
    expect(l.externals).toEqual(['203.0.113.10']);
  });

  test('nodes without an address in a family get a documentation address', () => {
    const l = computeLayout('demo', twoNodeCluster());
    expect(l.nodes[0]!.addresses).toEqual(['172.18.0.2', '2001:db8:ffff::1']);
    expect(l.nodes[0]!.synthetic).toEqual(['2001:db8:ffff::1']);
    expect(l.nodes[1]!.addresses).toEqual(['172.18.0.3', 'fc00:f853::3']);
    expect(l.nodes[1]!.synthetic).toEqual([]);
  });

  test('hostNetwork pods live in their node namespace; pods without an IP are skipped', () => {
    const c = twoNodeCluster();
    c.pods.push({ ...c.pods[0]!, name: 'h', hostNetwork: true, ips: ['172.18.0.2'] });
    c.pods.push({ ...c.pods[0]!, name: 'pending', ips: [] });
    const l = computeLayout('demo', c);
    const h = l.pods.find((p) => p.key === 'x/h')!;
    expect(h.netns).toBe('tp-demo-n0');
    expect(h.hostIfname).toBeUndefined();
    expect(l.skipped).toEqual([{ pod: 'x/pending', reason: expect.stringContaining('no pod IP') }]);
  });

  test('pods on unknown or no nodes get a node of their own name, or the first node', () => {
    const c = twoNodeCluster();
    c.pods[0]!.nodeName = 'node-z';
    c.pods[1]!.nodeName = '';
    const l = computeLayout('demo', c);
    expect(l.nodes.map((n) => n.name)).toEqual(['node-a', 'node-b', 'node-z']);
    expect(l.pods[0]!.node).toBe('node-z');
    expect(l.pods[1]!.node).toBe('node-a');
  });

  test('routes: pods by veth on their node, via the node elsewhere, externals on the bridge', () => {
    const l = computeLayout('demo', twoNodeCluster(), ['203.0.113.10', '2001:db8:100::10']);
    const n0 = nodeScript(l, l.nodes[0]!);
    expect(n0).toContain('route add 10.244.0.10/32 dev lxc0');
    expect(n0).toContain('route add 10.244.1.11/32 via 172.18.0.3 dev eth0');
    expect(n0).toContain('route add fd00:10:244:1::11/128 via fc00:f853::3 dev eth0');
    expect(n0).toContain('route add 203.0.113.10/32 dev eth0');
    expect(n0).toContain('link add lxc0 type veth peer name eth0 netns tp-demo-p0');
    const d = podScript(l.pods[3]!);
    expect(d).toContain('address add fd00:10:244:1::11/128 dev eth0 nodad');
    expect(d).toContain('route add default via 169.254.1.1 dev eth0 onlink');
    expect(d).toContain('route add ::/0 via fe80::1 dev eth0');
    const w = outsideScript(l);
    expect(w).toContain('address add 2001:db8:100::10/128 dev eth0 nodad');
    expect(w).toContain('route add 10.244.0.11/32 via 172.18.0.2 dev eth0');
  });

  test('refusals: bad names, bad and duplicate addresses, duplicate pods', () => {
    expect(codeOf(() => checkSandboxName('Bad-Name'))).toBe('SANDBOX_ERROR');
    expect(codeOf(() => checkSandboxName(''))).toBe('SANDBOX_ERROR');
    expect(codeOf(() => computeLayout('demo', twoNodeCluster(), ['not-an-ip']))).toBe('SANDBOX_ERROR');
    expect(codeOf(() => computeLayout('demo', twoNodeCluster(), ['10.244.0.10']))).toBe('SANDBOX_ERROR');
    const dup = twoNodeCluster();
    dup.pods.push({ ...dup.pods[0]! });
    expect(codeOf(() => computeLayout('demo', dup))).toBe('SANDBOX_ERROR');
    const badIp = twoNodeCluster();
    badIp.pods[0]!.ips = ['10.244.0.300'];
    expect(codeOf(() => computeLayout('demo', badIp))).toBe('SANDBOX_ERROR');
  });
});

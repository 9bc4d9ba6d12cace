// Probes through the datapath programs, on a hand-compiled cluster (probe-cluster.ts): the
// verdicts and their details, the path a connection takes (which programs on which nodes),
// node addresses as host / remote-node, address families, errors, and the same verdicts and
// flows from the VM and the kernel.

import { describe, expect, it } from 'vitest';
import { runProbes, Prober, type ProbeResult, type ProbeSpec } from '../../src/datapath/probe.js';
import { IMPLICIT_NODE } from '../../src/datapath/datapath.js';
import type { EngineKind } from '../../src/engine/engine.js';
import { TwinpathError } from '../../src/errors.js';
import { describeKernel } from '../helpers/kernel.js';
import { smallCluster } from './probe-cluster.js';

interface Case {
  probe: ProbeSpec;
  allowed: boolean;
  deniedAt?: 'egress' | 'ingress';
  dropReasonCode?: number;
  ruleId?: number;
  /** Programs that ran, one flow event each. */
  flows: number;
}

const p = (from: string, to: string, port: number, protocol: ProbeSpec['protocol'] = 'TCP'): ProbeSpec => ({ from, to, port, protocol });

const CASES: Case[] = [
  { probe: p('y/a', 'x/a', 80), allowed: true, ruleId: 1, flows: 4 },
  { probe: p('y/a', 'x/a', 81), allowed: false, deniedAt: 'egress', dropReasonCode: 181, ruleId: 4, flows: 1 },
  { probe: p('x/b', 'x/a', 80), allowed: false, deniedAt: 'ingress', dropReasonCode: 133, flows: 2 },
  { probe: p('y/a', 'x/b', 80), allowed: false, deniedAt: 'ingress', dropReasonCode: 133, flows: 2 },
  { probe: p('y/a', 'x/a', 80, 'UDP'), allowed: false, deniedAt: 'ingress', dropReasonCode: 133, flows: 2 },
  { probe: p('x/a', 'y/a', 53, 'UDP'), allowed: true, ruleId: undefined, flows: 4 },
  { probe: p('x/a', 'y/a', 9000, 'SCTP'), allowed: true, flows: 4 },
  { probe: p('y/a', 'x/a', 9000, 'SCTP'), allowed: false, deniedAt: 'ingress', dropReasonCode: 133, flows: 2 },
  { probe: p('host', 'x/a', 80), allowed: true, flows: 2 },
  { probe: p('host', 'x/b', 8080), allowed: true, flows: 2 },
  { probe: p('x/a', 'ip:8.8.8.8', 443), allowed: true, flows: 2 },
  { probe: p('ip:8.8.8.8', 'x/a', 80), allowed: false, deniedAt: 'ingress', dropReasonCode: 133, flows: 1 },
  { probe: p('y/c', 'x/a', 80), allowed: true, ruleId: 1, flows: 4 },
  { probe: p('y/c', 'x/a', 81), allowed: false, deniedAt: 'egress', dropReasonCode: 181, ruleId: 4, flows: 1 },
  { probe: p('x/a', 'z/u', 80), allowed: true, flows: 4 },
];

async function all(engine: EngineKind): Promise<ProbeResult[]> {
  return runProbes({ compiled: smallCluster(), probes: CASES.map((c) => c.probe), engine });
}

function semantics(engine: EngineKind): void {
  it('gives each probe its verdict, where it was denied, why, and by which rule', async () => {
    const results = await all(engine);
    expect(results).toHaveLength(CASES.length);
    results.forEach((r, i) => {
      const c = CASES[i]!;
      const label = `${c.probe.from} -> ${c.probe.to} ${c.probe.protocol}/${c.probe.port}`;
      expect({ label, ...r, flows: r.flows.length }).toMatchObject({ label, ...c.probe, allowed: c.allowed, verdict: c.allowed ? 'FORWARDED' : 'DROPPED', flows: c.flows });
      expect(r.deniedAt, label).toBe(c.deniedAt);
      expect(r.dropReasonCode, label).toBe(c.dropReasonCode);
      expect(r.ruleId, label).toBe(c.ruleId);
      if (c.ruleId !== undefined) {
        const rule = smallCluster().rules.find((x) => x.id === c.ruleId)!;
        expect(r.rule, label).toBe(rule.text);
        expect(r.policy, label).toBe(`${rule.policy.kind} ${rule.policy.namespace}/${rule.policy.name}`);
      }
      expect(r.reply, label).toBe(c.allowed ? true : undefined);
      if (!c.allowed) expect(r.dropReason, label).toMatch(/\S/);
    });
  });

  it('follows the connection: out of the client, into the server, and the reply back', async () => {
    const [r] = await runProbes({ compiled: smallCluster(), probes: [p('y/a', 'x/a', 80)], engine });
    const f = r!.flows;
    expect(f.map((e) => [e.observationPoint, e.endpointId, e.direction, e.isReply, e.verdict])).toEqual([
      ['from-endpoint', 3, 'egress', false, 'FORWARDED'],
      ['to-endpoint', 1, 'ingress', false, 'FORWARDED'],
      ['from-endpoint', 1, 'egress', true, 'FORWARDED'],
      ['to-endpoint', 3, 'ingress', true, 'FORWARDED'],
    ]);
    expect(f[0]).toMatchObject({ srcIdentity: 258, dstIdentity: 256, srcPort: 32768, dstPort: 80, protocol: 6, family: 4, ctState: 'new' });
    expect(f[1]).toMatchObject({ srcIdentity: 258, dstIdentity: 256, ruleId: 1, ctState: 'new' });
    expect(f[2]).toMatchObject({ srcPort: 80, dstPort: 32768 });
  });

  it('sees node addresses as host on their own node and remote-node elsewhere, outside ones as world', async () => {
    const rs = await runProbes({
      compiled: smallCluster(),
      probes: [p('host', 'x/a', 80), p('y/a', 'ip:192.168.0.1', 22), p('x/a', 'host', 22), p('ip:8.8.8.8', 'y/a', 80)],
      engine,
    });
    expect(rs[0]!.flows[0]).toMatchObject({ observationPoint: 'to-endpoint', srcIdentity: 1, dstIdentity: 256 });
    expect(rs[1]!.flows[0]).toMatchObject({ observationPoint: 'from-endpoint', srcIdentity: 258, dstIdentity: 6 });
    expect(rs[2]!.flows[0]).toMatchObject({ dstIdentity: 1 });
    expect(rs[3]!.flows[0]).toMatchObject({ srcIdentity: 2, dstIdentity: 258 });
    expect(rs.every((r) => r.allowed)).toBe(true);
  });

  it('uses IPv4 unless an endpoint has only IPv6, and an explicit address decides its family', async () => {
    const rs = await runProbes({ compiled: smallCluster(), probes: [p('y/a', 'x/a', 80), p('y/c', 'x/a', 80), p('y/a', 'ip:fd00:1::10', 80), p('host', 'x/a', 80)], engine });
    expect(rs.map((r) => r.flows[0]!.family)).toEqual([4, 6, 6, 4]);
    // ip: of a pod's address is that pod: its own egress program runs first.
    expect(rs[2]!.flows.map((f) => f.endpointId)).toEqual([3, 1, 1, 3]);
  });

  it('is reproducible: the same probes give the same results, flows included', async () => {
    expect(await all(engine)).toEqual(await all(engine));
  });
}

describe('probes in the VM engine', () => {
  semantics('vm');

  it('opens only the nodes a probe touches, and pods without a node share one implicit node', async () => {
    const prober = await Prober.open(smallCluster(), 'vm');
    try {
      expect(prober.datapath.nodes()).toEqual([IMPLICIT_NODE, 'node-1', 'node-2']);
      prober.run(prober.plan(p('x/b', 'x/a', 80), 0));
      expect(prober.datapath.loadedNodes()).toEqual(['node-1']);
      const r = prober.run(prober.plan(p('x/a', 'z/u', 80), 1));
      expect(r.allowed).toBe(true);
      expect(prober.datapath.loadedNodes()).toEqual([IMPLICIT_NODE, 'node-1']);
      // Each node's object holds only its own endpoints' policy.
      const eps = new Set(prober.datapath.maps('node-1').policyEntries().map((e) => e.endpointId));
      expect([...eps].sort()).toEqual([1, 2]);
    } finally {
      prober.close();
    }
  });

  it('starts every probe as a fresh connection', async () => {
    const prober = await Prober.open(smallCluster(), 'vm');
    try {
      prober.run(prober.plan(p('y/a', 'x/a', 80), 0));
      expect(prober.datapath.maps('node-1').conntrack().length).toBeGreaterThan(0);
      // x/b -> x/a is denied even though x/a just saw traffic; and the old entries are gone.
      const r = prober.run(prober.plan(p('x/b', 'x/a', 80), 1));
      expect(r.allowed).toBe(false);
      expect(prober.datapath.maps('node-2').conntrack()).toEqual([]);
    } finally {
      prober.close();
    }
  });

  const errors: Array<[string, ProbeSpec, 'PROBE_UNKNOWN_ENDPOINT' | 'PROBE_BAD_FILE', string]> = [
    ['an unknown pod', p('y/a', 'x/zz', 80), 'PROBE_UNKNOWN_ENDPOINT', '[1].to'],
    ['an endpoint of no known form', p('somewhere', 'x/a', 80), 'PROBE_UNKNOWN_ENDPOINT', '[1].from'],
    ['a bad address', p('ip:10.0.0.300', 'x/a', 80), 'PROBE_UNKNOWN_ENDPOINT', '[1].from'],
    ['host on both sides', p('host', 'host', 80), 'PROBE_UNKNOWN_ENDPOINT', '[1].from'],
    ['host against an outside address', p('ip:8.8.8.8', 'host', 80), 'PROBE_UNKNOWN_ENDPOINT', '[1].to'],
    ['no pod on either side', p('ip:8.8.8.8', 'ip:192.168.0.1', 80), 'PROBE_UNKNOWN_ENDPOINT', '[1].from'],
    ['no shared address family', p('y/c', 'x/b', 80), 'PROBE_UNKNOWN_ENDPOINT', '[1].to'],
    ['host of the implicit node (it has no address)', p('host', 'z/u', 80), 'PROBE_UNKNOWN_ENDPOINT', '[1].from'],
    ['port 0', p('y/a', 'x/a', 0), 'PROBE_BAD_FILE', '[1].port'],
    ['protocol ANY', { ...p('y/a', 'x/a', 80), protocol: 'ANY' as ProbeSpec['protocol'] }, 'PROBE_BAD_FILE', '[1].protocol'],
  ];
  for (const [what, probe, code, path] of errors) {
    it(`refuses ${what} with ${code} at ${path}, before running anything`, async () => {
      const e = await runProbes({ compiled: smallCluster(), probes: [p('y/a', 'x/a', 80), probe], engine: 'vm' }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(TwinpathError);
      expect((e as TwinpathError).code).toBe(code);
      expect((e as TwinpathError).location.path).toBe(path);
      expect((e as TwinpathError).detail).toMatch(/^probe 1: /);
    });
  }
});

describeKernel('probes in the kernel engine', () => {
  semantics('kernel');

  it('gives the same results as the VM, flow by flow', async () => {
    const [vm, kernel] = [await all('vm'), await all('kernel')];
    expect(kernel).toEqual(vm);
  });
});

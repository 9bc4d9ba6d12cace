// The benchmark's cluster generator (bench/gen-cluster.js): deterministic, the shape it promises
// (namespaces, deployments sharing labels, pods on their node's CIDR, five policies a namespace),
// readable by the real loader, and compiled into entries that agree with the reference evaluator
// on flows between its pods and outside addresses, so the compile figures are of a valid input.

import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain JavaScript module of the benchmark, without type declarations
import { clusterFiles, generateCluster } from '../../bench/gen-cluster.js';
import { parseDocuments } from '../../src/policy/load.js';
import { compile } from '../../src/policy/compile.js';
import { policyVerdict, remoteIdentity, type Endpoint } from '../policy/compile_helpers.js';
import type { CompiledPolicy } from '../../src/policy/model.js';
import { Reference } from '../policy/reference.js';

interface K8sObject {
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: Record<string, unknown> & { nodeName?: string; podCIDR?: string };
  status?: { podIP?: string };
}
interface Generated {
  namespaces: K8sObject[];
  nodes: K8sObject[];
  pods: K8sObject[];
  policies: K8sObject[];
}

const text = (g: Generated): string => clusterFiles(g).map((f: { text: string }) => f.text).join('');

/** compile_helpers' datapathAllows, with each endpoint's entries found once rather than per call. */
function datapathVerdicts(c: CompiledPolicy): (from: Endpoint, to: Endpoint, proto: number, port: number) => boolean {
  const own = new Map<number, CompiledPolicy>();
  for (const ep of c.endpoints) own.set(ep.id, { ...c, entries: [] });
  for (const e of c.entries) own.get(e.endpointId)!.entries.push(e);
  const byPod = new Map(c.endpoints.map((e) => [`${e.namespace}/${e.pod}`, e]));
  const ep = (x: Endpoint) => ('pod' in x ? byPod.get(x.pod) : c.endpoints.find((e) => e.ips.includes(x.ip)));
  const addr = (x: Endpoint): string => ('ip' in x ? x.ip : ep(x)!.ips[0]!);
  return (from, to, proto, port) => {
    const src = ep(from);
    const dst = ep(to);
    if (src && !policyVerdict(own.get(src.id)!, src.id, 'egress', remoteIdentity(c, addr(to), src.node), proto, port)) return false;
    if (dst && !policyVerdict(own.get(dst.id)!, dst.id, 'ingress', remoteIdentity(c, addr(from), dst.node), proto, port)) return false;
    return true;
  };
}

describe('generated cluster', () => {
  const g: Generated = generateCluster({ namespaces: 12, nodes: 4 });

  it('is the same for the same seed, and differs for another', () => {
    expect(text(generateCluster({ namespaces: 12, nodes: 4 }))).toBe(text(g));
    expect(text(generateCluster({ namespaces: 12, nodes: 4, seed: 2 }))).not.toBe(text(g));
  });

  it('has 25 pods a namespace from 5 deployments sharing app, tier and pod-template-hash', () => {
    expect(g.namespaces).toHaveLength(12);
    expect(g.pods).toHaveLength(300);
    const deployments = new Map<string, Set<string>>();
    for (const p of g.pods) {
      const l = p.metadata.labels!;
      const key = `${p.metadata.namespace}/${l.app}`;
      deployments.set(key, (deployments.get(key) ?? new Set()).add(`${l.tier}/${l['pod-template-hash']}`));
      expect(p.metadata.name.startsWith(`${l.app}-${l['pod-template-hash']}-`)).toBe(true);
    }
    expect(deployments.size).toBe(60);
    for (const labels of deployments.values()) expect(labels.size).toBe(1);
  });

  it('puts every pod on a node, inside that node pod CIDR, with an address of its own', () => {
    const cidr = new Map(g.nodes.map((n) => [n.metadata.name, n.spec!.podCIDR!]));
    const ips = new Set<string>();
    for (const p of g.pods) {
      const c = cidr.get(p.spec!.nodeName!)!;
      expect(p.status!.podIP!.split('.').slice(0, 3)).toEqual(c.split('.').slice(0, 3));
      ips.add(p.status!.podIP!);
    }
    expect(ips.size).toBe(g.pods.length);
  });

  it('has five policies a namespace and four clusterwide ones, all read by the loader', () => {
    const inputs = parseDocuments(clusterFiles(g));
    expect(inputs.skipped).toEqual([]);
    expect(inputs.cluster.pods).toHaveLength(300);
    expect(inputs.cluster.nodes).toHaveLength(4);
    expect(inputs.policies).toHaveLength(12 * 5 + 4);
    for (const n of g.namespaces) {
      expect(inputs.policies.filter((p) => p.namespace === n.metadata.name)).toHaveLength(5);
    }
    const kinds = new Set(inputs.policies.map((p) => p.kind));
    expect([...kinds].sort()).toEqual(['CiliumClusterwideNetworkPolicy', 'CiliumNetworkPolicy', 'NetworkPolicy']);
  });

  it('compiles into entries that agree with the reference evaluator', () => {
    const inputs = parseDocuments(clusterFiles(g));
    const compiled = compile(inputs);
    expect(compiled.warnings).toEqual([]);
    const ref = new Reference(inputs);
    // One pod of every deployment in the first six namespaces (every variant of the rotating
    // policies), and addresses the policies name (or do not).
    const seen = new Set<string>();
    const ends: Endpoint[] = [];
    const first = new Set(g.namespaces.slice(0, 6).map((n) => n.metadata.name));
    for (const p of inputs.cluster.pods) {
      if (!first.has(p.namespace)) continue;
      const key = `${p.namespace}/${p.labels.app}`;
      if (seen.has(key)) continue;
      seen.add(key);
      ends.push({ pod: `${p.namespace}/${p.name}` });
    }
    for (const ip of ['8.8.8.8', '172.16.5.5', '172.20.0.9', '10.250.1.1', '10.250.99.1', '169.254.169.254', '169.254.20.10', '198.51.100.7', '203.0.113.200']) {
      ends.push({ ip });
    }
    const ports: Array<[number, number]> = [[6, 8080], [6, 9090], [6, 9102], [6, 5432], [6, 6379], [6, 443], [6, 22], [6, 25], [17, 53], [6, 8050], [6, 9005]];
    const allows = datapathVerdicts(compiled);
    let checked = 0;
    let allowed = 0;
    ends.forEach((from, i) => {
      ends.forEach((to, j) => {
        if (from === to || ('ip' in from && 'ip' in to)) return;
        // Two of the ports for each pair, varying over the pairs (the reference is slow).
        for (const k of [i + j, 3 * i + 5 * j + 4]) {
          const [proto, port] = ports[k % ports.length]!;
          const want = ref.allowed(from, to, proto, port);
          const got = allows(from, to, proto, port);
          if (want !== got) expect.fail(`${JSON.stringify(from)} -> ${JSON.stringify(to)} proto ${proto} port ${port}: reference ${want}, compiled ${got}`);
          checked++;
          if (want) allowed++;
        }
      });
    });
    // Both verdicts well represented, or the comparison proves little.
    expect(allowed).toBeGreaterThan(checked / 50);
    expect(checked - allowed).toBeGreaterThan(checked / 10);
  });
});

// Property test: for random small clusters and policies (both kinds, allows and denies, CIDRs,
// entities, named ports, dual-stack pods, host-network pods), looking up the compiled entries
// the way the datapath does agrees with the reference evaluator on every connection tried.

import { describe, expect, it } from 'vitest';
import type { CiliumEntity, CiliumSelector, LabelSelector, LabelSelectorRequirement, Pod, Policy } from '../../src/policy/ast.js';
import { compile, formatCompiled } from '../../src/policy/compile.js';
import { cnp, csel, datapathAllows, inputs, node, np, ns, pod, sel, type CRuleSpec, type Endpoint, type PeerSpec, type PortSpec } from './compile_helpers.js';
import { Reference } from './reference.js';
import { mulberry32 } from '../../src/util/prng.js';

const WORLD = ['10.0.0.200', '10.0.0.3', '10.0.1.200', '172.16.5.5', '8.8.8.8', 'fd00::200', '2001:db8::1'];
const CIDRS: Array<[string, string[]]> = [
  ['10.0.0.0/8', []],
  ['10.0.0.0/24', ['10.0.0.0/28']],
  ['10.0.0.0/28', []],
  ['10.0.1.0/24', []],
  ['10.0.0.0/16', ['10.0.1.0/24', '10.0.0.128/25']],
  ['172.16.0.0/12', []],
  ['0.0.0.0/0', ['10.0.0.0/8']],
  ['8.8.8.8/32', []],
  ['fd00::/64', []],
  ['::/0', ['fd00::/64']],
  ['10.0.0.5/32', []],
];
const PORTS: Array<[number, number]> = [
  [6, 80],
  [6, 8080],
  [6, 8050],
  [6, 443],
  [17, 53],
  [17, 80],
  [132, 9],
  [1, 8],
  [58, 128],
];

function generate(r: () => number) {
  const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const chance = (p: number): boolean => r() < p;
  const namespaces = [ns('a', { team: 'x' }), ns('b', { team: pick(['x', 'y']) }), ns('c')];
  const nodes = [node('n1', ['192.168.0.1', 'fd00:ff::1']), node('n2', ['192.168.0.2'])];
  const pods: Pod[] = [];
  const count = 3 + Math.floor(r() * 5);
  for (let i = 0; i < count; i++) {
    const labels: Record<string, string> = {};
    if (chance(0.8)) labels.app = pick(['web', 'db', 'api']);
    if (chance(0.4)) labels.tier = pick(['fe', 'be']);
    const ips = [`10.0.${pick([0, 0, 1])}.${i + 1}`];
    if (chance(0.3)) ips.push(`fd00::${i + 1}`);
    const ports = [];
    if (chance(0.5)) ports.push({ name: 'http', containerPort: pick([80, 8080]), protocol: 'TCP' as const });
    if (chance(0.3)) ports.push({ name: 'dns', containerPort: 53, protocol: 'UDP' as const });
    pods.push(pod(pick(['a', 'a', 'b', 'c']), `p${i}`, labels, ips, { node: pick(['n1', 'n2']), ports }));
  }
  pods.push(pod('c', 'hostnet', { app: 'web' }, ['192.168.0.2'], { node: 'n2', hostNetwork: true }));

  const expr = (): LabelSelectorRequirement => {
    const op = pick(['In', 'NotIn', 'Exists', 'DoesNotExist'] as const);
    const key = pick(['app', 'tier']);
    return { key, operator: op, values: op === 'In' || op === 'NotIn' ? [pick(['web', 'db', 'fe'])] : [] };
  };
  const k8sSel = (): LabelSelector => {
    const x = r();
    if (x < 0.25) return sel();
    if (x < 0.7) return sel({ app: pick(['web', 'db', 'api']) });
    return sel({}, [expr()]);
  };
  const nsSel = (): LabelSelector => (chance(0.5) ? sel({ team: pick(['x', 'y']) }) : chance(0.5) ? sel() : sel({ 'kubernetes.io/metadata.name': pick(['a', 'b', 'c']) }));
  const k8sPeer = (): PeerSpec => {
    const x = r();
    if (x < 0.3) return { pods: k8sSel() };
    if (x < 0.5) return { namespaces: nsSel() };
    if (x < 0.65) return { pods: k8sSel(), namespaces: nsSel() };
    const [cidr, except] = pick(CIDRS);
    return { cidr, except: chance(0.5) ? except : [] };
  };
  const k8sPorts = (): PortSpec[] =>
    pick([[], [{ port: 80 }], [{ protocol: 'UDP', port: 53 }], [{ port: 'http' }], [{ protocol: 'UDP', port: 'dns' }], [{ port: 8000, endPort: 8100 }], [{ protocol: 'SCTP' }], [{ port: 80 }, { port: 443 }]] as PortSpec[][]);

  const cSel = (): CiliumSelector => {
    const x = r();
    if (x < 0.2) return csel();
    if (x < 0.45) return csel({ [pick(['app', 'k8s:app', 'any:app'])]: pick(['web', 'db', 'api']) });
    if (x < 0.6) return csel({ 'k8s:io.kubernetes.pod.namespace': pick(['a', 'b']), app: pick(['web', 'db']) });
    if (x < 0.7) return csel({ 'k8s:io.cilium.k8s.namespace.labels.team': pick(['x', 'y']) });
    if (x < 0.8) return csel({ [`reserved:${pick(['host', 'world', 'remote-node', 'world-ipv4'])}`]: '' });
    if (x < 0.9) return csel({}, [{ key: 'reserved:world', operator: 'DoesNotExist', values: [] }]);
    return csel({}, [expr()]);
  };
  const cRule = (deny: boolean): CRuleSpec => {
    const rule: CRuleSpec = {};
    const x = r();
    if (x < 0.08) return {};
    if (x < 0.4) rule.endpoints = [cSel()];
    else if (x < 0.6) rule.entities = [pick(['world', 'host', 'remote-node', 'cluster', 'all', 'world-ipv4', 'world-ipv6', 'none'] as CiliumEntity[])];
    else if (x < 0.85) {
      const [cidr, except] = pick(CIDRS);
      rule.cidrs = [{ cidr, except: chance(0.5) ? except : [] }];
    }
    const y = r();
    if (y < 0.15) rule.ports = [{ port: 80, protocol: 'TCP' }];
    else if (y < 0.25) rule.ports = [{ port: 53, protocol: 'ANY' }];
    else if (y < 0.35) rule.ports = [{ port: 'http', protocol: 'TCP' }];
    else if (y < 0.45) rule.ports = [{ port: 8000, endPort: 8100, protocol: 'TCP' }];
    else if (y < 0.5) rule.ports = [{ protocol: 'ANY' }];
    else if (y < 0.55) rule.ports = [{ protocol: 'UDP' }];
    else if (y < 0.6) rule.icmps = [{ family: 'IPv4', type: 8 }];
    if (!deny && rule.ports && chance(0.2)) rule.http = true;
    return rule;
  };
  const policies: Policy[] = [];
  const pcount = 1 + Math.floor(r() * 4);
  for (let i = 0; i < pcount; i++) {
    const name = `pol${i}`;
    if (chance(0.5)) {
      const types = pick([['Ingress'], ['Egress'], ['Ingress', 'Egress']] as Array<Array<'Ingress' | 'Egress'>>);
      const rules = () => Array.from({ length: Math.floor(r() * 3) }, () => ({ peers: chance(0.2) ? [] : [k8sPeer()], ports: k8sPorts() }));
      policies.push(
        np({
          ns: pick(['a', 'b']),
          name,
          pods: k8sSel(),
          types,
          ingress: rules().map((x) => ({ from: x.peers, ports: x.ports })),
          egress: rules().map((x) => ({ to: x.peers, ports: x.ports })),
        }),
      );
    } else {
      const rules = (deny: boolean): CRuleSpec[] | undefined => (chance(0.5) ? undefined : Array.from({ length: 1 + Math.floor(r() * 2) }, () => cRule(deny)));
      policies.push(
        cnp({
          ns: chance(0.7) ? pick(['a', 'b']) : undefined,
          name,
          endpoints: chance(0.3) ? csel() : csel({ app: pick(['web', 'db', 'api']) }),
          ingress: rules(false),
          ingressDeny: chance(0.5) ? rules(true) : undefined,
          egress: rules(false),
          egressDeny: chance(0.5) ? rules(true) : undefined,
          defaultDeny: chance(0.2) ? { ingress: chance(0.5), egress: chance(0.5) } : {},
        }),
      );
    }
  }
  return inputs({ namespaces, nodes, pods }, policies);
}

describe('compiled entries agree with the reference evaluator', () => {
  const CASES = 300;
  it(`${CASES} random clusters and policies`, () => {
    let checked = 0;
    let allowedCount = 0;
    for (let seed = 1; seed <= CASES; seed++) {
      const inp = generate(mulberry32(seed));
      const compiled = compile(inp);
      const ref = new Reference(inp);
      const ends: Endpoint[] = [
        ...inp.cluster.pods.filter((p) => !p.hostNetwork).map((p) => ({ pod: `${p.namespace}/${p.name}` })),
        { ip: '192.168.0.1' },
        { ip: '192.168.0.2' },
        { ip: 'fd00:ff::1' },
        ...WORLD.map((ip) => ({ ip })),
      ];
      for (const from of ends) {
        for (const to of ends) {
          if (from === to || ('ip' in from && 'ip' in to)) continue;
          for (const [proto, port] of PORTS) {
            const want = ref.allowed(from, to, proto, port);
            const got = datapathAllows(compiled, from, to, proto, port);
            if (want !== got) {
              const flow = `${JSON.stringify(from)} -> ${JSON.stringify(to)} proto ${proto} port ${port}`;
              expect.fail(`seed ${seed}: ${flow}: reference ${want}, compiled ${got}\n${JSON.stringify(inp.policies, null, 1)}\n${formatCompiled(compiled)}`);
            }
            checked++;
            if (want) allowedCount++;
          }
        }
      }
    }
    // Both verdicts must be well represented, or the test proves little.
    expect(allowedCount).toBeGreaterThan(checked / 10);
    expect(checked - allowedCount).toBeGreaterThan(checked / 10);
  });
});

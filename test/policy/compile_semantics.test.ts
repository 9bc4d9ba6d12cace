// Each semantic rule of the compiler on a tiny cluster: identities and the ipcache, Kubernetes
// isolation, peers and ports, Cilium selectors, entities, CIDRs, toPorts, deny precedence and
// default-deny switches, the entry invariants, errors and warnings, determinism.

import { describe, expect, it } from 'vitest';
import type { Inputs, Policy } from '../../src/policy/ast.js';
import { compile } from '../../src/policy/compile.js';
import type { CompiledPolicy, PolicyEntry } from '../../src/policy/model.js';
import { FIRST_CIDR_IDENTITY, PROTO, RESERVED } from '../../src/policy/model.js';
import { cnp, csel, datapathAllows, inputs, node, np, ns, pod, remoteIdentity, resetLines, sel, type Endpoint } from './compile_helpers.js';
import { thrown } from '../helpers/errors.js';

const TCP = PROTO.TCP;
const UDP = PROTO.UDP;

/** Two namespaces, two nodes, five pods, one host-network pod. */
function tiny(policies: Policy[]): Inputs {
  return inputs(
    {
      namespaces: [ns('a', { team: 'x' }), ns('b', { team: 'y' })],
      nodes: [node('n1', ['192.168.0.1']), node('n2', ['192.168.0.2'])],
      pods: [
        pod('a', 'web', { app: 'web' }, ['10.0.0.1'], { node: 'n1', ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }] }),
        pod('a', 'web2', { app: 'web' }, ['10.0.1.2'], { node: 'n2', ports: [{ name: 'http', containerPort: 9090, protocol: 'TCP' }] }),
        pod('a', 'db', { app: 'db' }, ['10.0.0.3'], { node: 'n1' }),
        pod('b', 'web', { app: 'web' }, ['10.0.0.4'], { node: 'n2', ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }] }),
        pod('b', 'cli', { app: 'cli' }, ['10.0.0.5', 'fd00::5'], { node: 'n2' }),
        pod('b', 'agent', { app: 'agent' }, ['192.168.0.2'], { node: 'n2', hostNetwork: true }),
      ],
    },
    policies,
  );
}

const P = (name: string): Endpoint => ({ pod: name });
const IP = (ip: string): Endpoint => ({ ip });
const allows = (c: CompiledPolicy, from: Endpoint, to: Endpoint, port = 80, proto: number = TCP): boolean =>
  datapathAllows(c, from, to, proto, port);
const ep = (c: CompiledPolicy, name: string) => c.endpoints.find((e) => `${e.namespace}/${e.pod}` === name)!;
const entriesOf = (c: CompiledPolicy, name: string, dir: 'ingress' | 'egress'): PolicyEntry[] =>
  c.entries.filter((e) => e.endpointId === ep(c, name).id && e.direction === dir);
const key = (e: PolicyEntry): string => `${e.deny ? 'deny' : 'allow'} ${e.identity} ${e.protocol} ${e.port}/${e.portPrefixLen} r${e.ruleId}`;

describe('endpoints and identities', () => {
  const c = compile(tiny([]));
  it('endpoints are the non-host-network pods, numbered in (namespace, name) order', () => {
    expect(c.endpoints.map((e) => `${e.id} ${e.namespace}/${e.pod}`)).toEqual(['1 a/db', '2 a/web', '3 a/web2', '4 b/cli', '5 b/web']);
  });
  it('pods with one label set share an identity; the namespace is part of the label set', () => {
    expect(ep(c, 'a/web').identity).toBe(ep(c, 'a/web2').identity);
    expect(ep(c, 'a/web').identity).not.toBe(ep(c, 'b/web').identity);
    const id = c.identities.find((i) => i.id === ep(c, 'a/web').identity)!;
    expect(id.labels).toEqual([
      'k8s:app=web',
      'k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name=a',
      'k8s:io.cilium.k8s.namespace.labels.team=x',
      'k8s:io.kubernetes.pod.namespace=a',
    ]);
    expect(id.members).toEqual(['a/web', 'a/web2']);
  });
  it('the ipcache holds pod addresses only (nodes are added by the datapath); no policy, no CIDRs', () => {
    expect(c.ipcache.map((e) => e.prefix)).toEqual(['10.0.0.1/32', '10.0.0.3/32', '10.0.0.4/32', '10.0.0.5/32', '10.0.1.2/32', 'fd00::5/128']);
    expect(c.nodes).toEqual([{ name: 'n1', addresses: ['192.168.0.1'] }, { name: 'n2', addresses: ['192.168.0.2'] }]);
  });
  it('without policies every direction is one allow-all entry of rule 0', () => {
    expect(c.entries).toHaveLength(10);
    expect(new Set(c.entries.map(key))).toEqual(new Set(['allow 0 0 0/0 r0']));
    expect(c.endpoints.every((e) => !e.ingressEnforced && !e.egressEnforced)).toBe(true);
  });
  it('an ipBlock splits a label class by the pods inside it', () => {
    const k = compile(tiny([np({ ns: 'a', name: 'p', ingress: [{ from: [{ cidr: '10.0.0.0/24' }] }] })]));
    const a = ep(k, 'a/web');
    const b = ep(k, 'a/web2');
    expect(a.identity).not.toBe(b.identity);
    expect(k.identities.find((i) => i.id === a.identity)!.labels).toContain('ipblock:10.0.0.0/24');
    expect(allows(k, P('a/web'), P('a/db'))).toBe(true);
    expect(allows(k, P('a/web2'), P('a/db'))).toBe(false);
    expect(allows(k, IP('10.0.0.77'), P('a/db'))).toBe(true);
  });
  it('egress named ports split a label class by the port numbers behind the name', () => {
    const k = compile(tiny([np({ ns: 'a', name: 'p', types: ['Egress'], egress: [{ to: [{ pods: sel({ app: 'web' }) }], ports: [{ port: 'http' }] }] })]));
    expect(ep(k, 'a/web').identity).not.toBe(ep(k, 'a/web2').identity);
    expect(allows(k, P('a/db'), P('a/web'), 8080)).toBe(true);
    expect(allows(k, P('a/db'), P('a/web'), 9090)).toBe(false);
    expect(allows(k, P('a/db'), P('a/web2'), 9090)).toBe(true);
    expect(allows(k, P('a/db'), P('a/web2'), 8080)).toBe(false);
  });
  it('nested CIDRs with excepts: each named prefix is one class, and longest-prefix match gives the exact set', () => {
    const k = compile(
      tiny([cnp({ ns: 'a', name: 'p', endpoints: csel({ app: 'db' }), egress: [{ cidrs: [{ cidr: '20.0.0.0/8', except: ['20.1.0.0/16'] }] }, { cidrs: [{ cidr: '20.1.2.0/24' }] }] })]),
    );
    expect(k.ipcache.filter((e) => e.identity >= FIRST_CIDR_IDENTITY).map((e) => e.prefix)).toEqual(['20.0.0.0/8', '20.1.0.0/16', '20.1.2.0/24']);
    const mid = k.identities.find((i) => i.id === remoteIdentity(k, '20.1.9.9', 'n1'))!;
    expect(mid.labels).toEqual(['cidr:20.0.0.0/8', 'cidr:20.1.0.0/16', 'reserved:world', 'reserved:world-ipv4']);
    expect(allows(k, P('a/db'), IP('20.9.0.1'))).toBe(true);
    expect(allows(k, P('a/db'), IP('20.1.9.9'))).toBe(false);
    expect(allows(k, P('a/db'), IP('20.1.2.3'))).toBe(true);
    expect(allows(k, P('a/db'), IP('30.0.0.1'))).toBe(false);
  });
  it('Cilium CIDR rules never select pods; Kubernetes ipBlocks do', () => {
    const cil = compile(tiny([cnp({ ns: 'a', name: 'p', endpoints: csel({ app: 'db' }), egress: [{ cidrs: [{ cidr: '10.0.0.0/24' }] }] })]));
    expect(allows(cil, P('a/db'), IP('10.0.0.99'))).toBe(true);
    expect(allows(cil, P('a/db'), P('a/web'))).toBe(false);
    const k8s = compile(tiny([np({ ns: 'a', name: 'p', pods: sel({ app: 'db' }), types: ['Egress'], egress: [{ to: [{ cidr: '10.0.0.0/24' }] }] })]));
    expect(allows(k8s, P('a/db'), IP('10.0.0.99'))).toBe(true);
    expect(allows(k8s, P('a/db'), P('a/web'))).toBe(true);
    expect(allows(k8s, P('a/db'), P('a/web2'))).toBe(false);
  });
  it('a prefix naming exactly a pod or node address gets no CIDR class', () => {
    const k = compile(tiny([cnp({ ns: 'a', name: 'p', egress: [{ cidrs: [{ cidr: '10.0.0.1/32' }, { cidr: '192.168.0.1/32' }, { cidr: '1.2.3.4/32' }] }] })]));
    expect(k.ipcache.filter((e) => e.identity >= FIRST_CIDR_IDENTITY).map((e) => e.prefix)).toEqual(['1.2.3.4/32']);
  });
});

describe('Kubernetes NetworkPolicy', () => {
  it('isolation per direction; the node always reaches its pods; empty from is everyone', () => {
    const c = compile(tiny([np({ ns: 'a', name: 'deny', pods: sel({ app: 'db' }) })]));
    expect(ep(c, 'a/db').ingressEnforced).toBe(true);
    expect(ep(c, 'a/db').egressEnforced).toBe(false);
    expect(entriesOf(c, 'a/db', 'ingress').map(key)).toEqual([`allow ${RESERVED.host} 0 0/0 r0`]);
    expect(allows(c, P('a/web'), P('a/db'))).toBe(false);
    expect(allows(c, IP('192.168.0.1'), P('a/db'))).toBe(true);
    expect(allows(c, IP('192.168.0.2'), P('a/db'))).toBe(false);
    expect(allows(c, P('a/db'), P('a/web'))).toBe(true);
    const open = compile(tiny([np({ ns: 'a', name: 'all', pods: sel({ app: 'db' }), ingress: [{}] })]));
    expect(entriesOf(open, 'a/db', 'ingress').map(key)).toEqual(['allow 0 0 0/0 r1', `allow ${RESERVED.host} 0 0/0 r0`]);
    expect(allows(open, IP('8.8.8.8'), P('a/db'))).toBe(true);
  });
  it('podSelector alone is the policy namespace; namespaceSelector alone is every pod there; both is AND', () => {
    const only = (peer: object) => compile(tiny([np({ ns: 'a', name: 'p', pods: sel({ app: 'db' }), ingress: [{ from: [peer] }] })]));
    const pods = only({ pods: sel({ app: 'web' }) });
    expect([allows(pods, P('a/web'), P('a/db')), allows(pods, P('b/web'), P('a/db'))]).toEqual([true, false]);
    const nsOnly = only({ namespaces: sel({ team: 'y' }) });
    expect([allows(nsOnly, P('b/cli'), P('a/db')), allows(nsOnly, P('a/web'), P('a/db'))]).toEqual([true, false]);
    const both = only({ pods: sel({ app: 'web' }), namespaces: sel({ 'kubernetes.io/metadata.name': 'b' }) });
    expect([allows(both, P('b/web'), P('a/db')), allows(both, P('b/cli'), P('a/db')), allows(both, P('a/web'), P('a/db'))]).toEqual([true, false, false]);
  });
  it('ports: numbers, ranges as blocks, default TCP, SCTP, protocol without port', () => {
    const c = compile(
      tiny([np({ ns: 'a', name: 'p', pods: sel({ app: 'db' }), ingress: [{ ports: [{ port: 80 }, { port: 8000, endPort: 8100 }, { protocol: 'SCTP', port: 9 }, { protocol: 'UDP' }] }] })]),
    );
    const e = entriesOf(c, 'a/db', 'ingress').filter((x) => x.ruleId === 1).map((x) => `${x.protocol} ${x.port}/${x.portPrefixLen}`);
    expect(e).toEqual(['6 80/16', '6 8000/10', '6 8064/11', '6 8096/14', '6 8100/16', '17 0/0', '132 9/16']);
    expect(allows(c, P('a/web'), P('a/db'), 8100)).toBe(true);
    expect(allows(c, P('a/web'), P('a/db'), 8101)).toBe(false);
    expect(allows(c, P('a/web'), P('a/db'), 80, UDP)).toBe(true);
    expect(allows(c, P('a/web'), P('a/db'), 9, PROTO.SCTP)).toBe(true);
    expect(allows(c, P('a/web'), P('a/db'), 9, TCP)).toBe(false);
  });
  it('an ingress named port resolves on each selected pod; a pod without it matches nothing', () => {
    const c = compile(tiny([np({ ns: 'a', name: 'p', ingress: [{ ports: [{ port: 'http' }] }] })]));
    expect(allows(c, P('b/cli'), P('a/web'), 8080)).toBe(true);
    expect(allows(c, P('b/cli'), P('a/web2'), 9090)).toBe(true);
    expect(allows(c, P('b/cli'), P('a/web2'), 8080)).toBe(false);
    expect(entriesOf(c, 'a/db', 'ingress').filter((e) => e.ruleId === 1)).toEqual([]);
    const none = compile(tiny([np({ ns: 'a', name: 'p', ingress: [{ ports: [{ port: 'grpc' }] }] })]));
    expect(none.warnings.map((w) => w.code)).toContain('POLICY_NAMED_PORT');
  });
  it('ipBlock except', () => {
    const c = compile(tiny([np({ ns: 'a', name: 'p', pods: sel({ app: 'db' }), ingress: [{ from: [{ cidr: '10.0.0.0/16', except: ['10.0.1.0/24'] }] }] })]));
    expect(allows(c, P('a/web'), P('a/db'))).toBe(true);
    expect(allows(c, P('a/web2'), P('a/db'))).toBe(false);
    expect(allows(c, IP('10.0.7.7'), P('a/db'))).toBe(true);
    expect(allows(c, IP('10.0.1.7'), P('a/db'))).toBe(false);
    expect(allows(c, IP('192.168.0.2'), P('a/db'))).toBe(false);
  });
});

describe('Cilium policies', () => {
  it('toPorts alone applies to every peer; [{}] isolates and allows nothing', () => {
    const c = compile(tiny([cnp({ ns: 'a', name: 'p', endpoints: csel({ app: 'db' }), ingress: [{ ports: [{ port: 80, protocol: 'TCP' }] }] })]));
    expect(allows(c, IP('8.8.8.8'), P('a/db'))).toBe(true);
    expect(allows(c, IP('8.8.8.8'), P('a/db'), 81)).toBe(false);
    const d = compile(tiny([cnp({ ns: 'a', name: 'p', endpoints: csel({ app: 'db' }), ingress: [{}] })]));
    expect(ep(d, 'a/db').ingressEnforced).toBe(true);
    expect(entriesOf(d, 'a/db', 'ingress').map(key)).toEqual([`allow ${RESERVED.host} 0 0/0 r0`]);
  });
  it('ANY with a port is TCP, UDP and SCTP; ANY without one is every protocol; ICMP types are ports', () => {
    const c = compile(
      tiny([cnp({ ns: 'a', name: 'p', endpoints: csel({ app: 'db' }), ingress: [{ ports: [{ port: 53 }] }, { entities: ['world'], ports: [{ protocol: 'ANY' }] }, { icmps: [{ family: 'IPv4', type: 8 }] }] })]),
    );
    const rule = (id: number) => entriesOf(c, 'a/db', 'ingress').filter((e) => e.ruleId === id).map((e) => `${e.identity} ${e.protocol} ${e.port}/${e.portPrefixLen}`);
    expect(rule(1)).toEqual(['0 6 53/16', '0 17 53/16', '0 132 53/16']);
    expect(rule(2)).toEqual([`${RESERVED.world} 0 0/0`]);
    expect(rule(3)).toEqual(['0 1 8/16']);
  });
  it('L7 rules put a proxy port on the entry', () => {
    const c = compile(tiny([cnp({ ns: 'a', name: 'p', endpoints: csel({ app: 'db' }), ingress: [{ ports: [{ port: 80, protocol: 'TCP' }], http: true }] })]));
    expect(entriesOf(c, 'a/db', 'ingress').find((e) => e.ruleId === 1)!.proxyPort).toBe(15001);
    expect(c.rules[0]!.text).toBe('allow ingress from anyone on TCP/80 (L7 proxy 15001)');
  });
  it('entities: world, host, remote-node, cluster, all', () => {
    const mk = (entities: Array<'world' | 'host' | 'remote-node' | 'cluster' | 'all'>) =>
      compile(tiny([cnp({ ns: 'a', name: 'p', endpoints: csel({ app: 'db' }), egress: [{ entities }] })]));
    const v = (c: CompiledPolicy) => [P('a/web'), P('b/web'), IP('192.168.0.1'), IP('192.168.0.2'), IP('8.8.8.8')].map((t) => allows(c, P('a/db'), t));
    expect(v(mk(['world']))).toEqual([false, false, false, false, true]);
    expect(v(mk(['host']))).toEqual([false, false, true, false, false]);
    expect(v(mk(['remote-node']))).toEqual([false, false, false, true, false]);
    expect(v(mk(['cluster']))).toEqual([true, true, true, true, false]);
    expect(v(mk(['all']))).toEqual([true, true, true, true, true]);
    expect(entriesOf(mk(['all']), 'a/db', 'egress').map(key)).toEqual(['allow 0 0 0/0 r1']);
  });
  it('world-ipv4 and world-ipv6 put the default routes in the ipcache', () => {
    const c = compile(tiny([cnp({ ns: 'b', name: 'p', endpoints: csel({ app: 'cli' }), egress: [{ entities: ['world-ipv6'] }] })]));
    expect(c.ipcache.filter((e) => e.prefix.endsWith('/0'))).toEqual([
      { prefix: '0.0.0.0/0', identity: RESERVED['world-ipv4'] },
      { prefix: '::/0', identity: RESERVED['world-ipv6'] },
    ]);
    expect(allows(c, P('b/cli'), IP('2001:db8::1'))).toBe(true);
    expect(allows(c, P('b/cli'), IP('8.8.8.8'))).toBe(false);
  });
  it('endpoint selectors: namespace-local in a CNP, pods anywhere in a CCNP, reserved labels as they are', () => {
    const cnpC = compile(tiny([cnp({ ns: 'a', name: 'p', endpoints: csel({ app: 'db' }), ingress: [{ endpoints: [csel({ app: 'web' })] }] })]));
    expect([allows(cnpC, P('a/web'), P('a/db')), allows(cnpC, P('b/web'), P('a/db'))]).toEqual([true, false]);
    const ccnp = compile(tiny([cnp({ name: 'p', endpoints: csel({ app: 'db' }), ingress: [{ endpoints: [csel()] }] })]));
    expect([allows(ccnp, P('b/web'), P('a/db')), allows(ccnp, IP('8.8.8.8'), P('a/db')), allows(ccnp, IP('192.168.0.2'), P('a/db'))]).toEqual([true, false, false]);
    const res = compile(tiny([cnp({ ns: 'a', name: 'p', endpoints: csel({ app: 'db' }), ingress: [{ endpoints: [csel({ 'reserved:remote-node': '' })] }] })]));
    expect(allows(res, IP('192.168.0.2'), P('a/db'))).toBe(true);
    const other = compile(tiny([cnp({ ns: 'a', name: 'p', endpoints: csel({ app: 'db' }), ingress: [{ endpoints: [csel({ 'k8s:io.kubernetes.pod.namespace': 'b' })] }] })]));
    expect([allows(other, P('b/cli'), P('a/db')), allows(other, P('a/web'), P('a/db'))]).toEqual([true, false]);
  });
  it('deny wins over any allow, from any policy, in either policy kind', () => {
    const c = compile(
      tiny([
        np({ ns: 'a', name: 'allow', pods: sel({ app: 'db' }), ingress: [{}] }),
        cnp({ name: 'deny', endpoints: csel({ app: 'db' }), ingressDeny: [{ endpoints: [csel({ app: 'web' })], ports: [{ port: 80, protocol: 'TCP' }] }] }),
      ]),
    );
    expect(allows(c, P('a/web'), P('a/db'), 80)).toBe(false);
    expect(allows(c, P('a/web'), P('a/db'), 81)).toBe(true);
    expect(allows(c, P('b/cli'), P('a/db'), 80)).toBe(true);
  });
  it('an allow fully covered by a deny of the same or the wildcard identity is dropped; a partly covered one stays', () => {
    const c = compile(
      tiny([
        cnp({
          ns: 'a',
          name: 'p',
          endpoints: csel({ app: 'db' }),
          ingress: [{ endpoints: [csel({ app: 'web' })], ports: [{ port: 80, endPort: 81, protocol: 'TCP' }] }, { ports: [{ port: 443, protocol: 'TCP' }] }, { ports: [{ port: 53, protocol: 'UDP' }] }],
          ingressDeny: [{ endpoints: [csel({ app: 'web' })], ports: [{ port: 81, protocol: 'TCP' }] }, { ports: [{ port: 443, protocol: 'TCP' }] }, { entities: ['world'] }],
        }),
      ]),
    );
    const web = ep(c, 'a/web').identity;
    const lines = entriesOf(c, 'a/db', 'ingress').map(key);
    expect(lines).toContain(`allow ${web} 6 80/15 r1`);
    expect(lines).toContain(`deny ${web} 6 81/16 r4`);
    expect(lines.some((l) => l.startsWith('allow 0 6 443/16'))).toBe(false);
    expect(lines).toContain('deny 0 6 443/16 r5');
    expect(lines).toContain('allow 0 17 53/16 r3');
    expect(allows(c, P('a/web'), P('a/db'), 80)).toBe(true);
    expect(allows(c, P('a/web'), P('a/db'), 81)).toBe(false);
    expect(allows(c, IP('8.8.8.8'), P('a/db'), 53, UDP)).toBe(false);
  });
  it('duplicates merge to the lowest rule id', () => {
    const c = compile(
      tiny([
        np({ ns: 'a', name: 'one', pods: sel({ app: 'db' }), ingress: [{ ports: [{ port: 80 }] }] }),
        np({ ns: 'a', name: 'two', pods: sel({ app: 'db' }), ingress: [{ ports: [{ port: 80 }] }] }),
      ]),
    );
    expect(entriesOf(c, 'a/db', 'ingress').map(key)).toEqual(['allow 0 6 80/16 r1', `allow ${RESERVED.host} 0 0/0 r0`]);
  });
  it('enableDefaultDeny false: denies apply, everything else stays allowed', () => {
    const c = compile(
      tiny([cnp({ ns: 'a', name: 'p', endpoints: csel({ app: 'db' }), ingressDeny: [{ entities: ['world'] }], defaultDeny: { ingress: false } })]),
    );
    expect(ep(c, 'a/db').ingressEnforced).toBe(false);
    expect(entriesOf(c, 'a/db', 'ingress').map(key)).toEqual(['allow 0 0 0/0 r0', `deny ${RESERVED.world} 0 0/0 r1`]);
    expect(allows(c, IP('8.8.8.8'), P('a/db'))).toBe(false);
    expect(allows(c, P('b/cli'), P('a/db'))).toBe(true);
    const withDeny = compile(tiny([cnp({ ns: 'a', name: 'p', endpoints: csel({ app: 'db' }), ingressDeny: [{ entities: ['world'] }] })]));
    expect(ep(withDeny, 'a/db').ingressEnforced).toBe(true);
    expect(allows(withDeny, P('b/cli'), P('a/db'))).toBe(false);
  });
});

describe('errors and warnings', () => {
  it('fromRequires and nodeSelector are POLICY_UNSUPPORTED at their source', () => {
    const req = csel({ env: 'prod' });
    const e = thrown(() => compile(tiny([cnp({ ns: 'a', name: 'p', ingress: [{ requires: [req] }] })])));
    expect(e.code).toBe('POLICY_UNSUPPORTED');
    expect(e.location.line).toBe(req.src.line);
    const nodeSel = csel({ role: 'x' });
    const n = thrown(() => compile(tiny([cnp({ name: 'p', nodeSelector: nodeSel, ingress: [{}] })])));
    expect([n.code, n.location.line]).toEqual(['POLICY_UNSUPPORTED', nodeSel.src.line]);
  });
  it('bad selectors, ports and excepts', () => {
    expect(thrown(() => compile(tiny([cnp({ ns: 'a', name: 'p', ingress: [{ endpoints: [csel({ 'foo:app': 'x' })] }] })]))).code).toBe('POLICY_BAD_SELECTOR');
    expect(thrown(() => compile(tiny([np({ ns: 'a', name: 'p', ingress: [{ ports: [{ port: 90, endPort: 80 }] }] })]))).code).toBe('POLICY_BAD_PORT');
    expect(thrown(() => compile(tiny([np({ ns: 'a', name: 'p', ingress: [{ ports: [{ port: 70000 }] }] })]))).code).toBe('POLICY_BAD_PORT');
    expect(thrown(() => compile(tiny([np({ ns: 'a', name: 'p', ingress: [{ from: [{ cidr: '10.0.0.0/16', except: ['10.1.0.0/24'] }] }] })]))).code).toBe('POLICY_BAD_CIDR');
    expect(thrown(() => compile(tiny([cnp({ ns: 'a', name: 'p', egress: [{ cidrs: [{ cidr: '10.0.0.0/40' }] }] })]))).code).toBe('POLICY_BAD_CIDR');
  });
  it('warns when an endpoint direction needs more entries than the policy map holds', () => {
    const pods = [pod('a', 'src', { app: 'src' }, ['10.1.0.1'])];
    for (let i = 0; i < 1030; i++) pods.push(pod('a', `p${i}`, { n: String(i) }, [`10.2.${i >> 8}.${i & 255}`]));
    const c = compile(inputs({ pods }, [np({ ns: 'a', name: 'wide', pods: sel({ app: 'src' }), types: ['Egress'], egress: [{ to: [{ pods: sel({}, [{ key: 'n', operator: 'Exists', values: [] }]) }], ports: [{ port: 1, endPort: 65535 }] }] })]));
    expect(c.warnings.map((w) => w.code)).toEqual(['POLICY_MAP_FULL']);
    expect(c.warnings[0]!.message).toContain('a/src');
  });
});

describe('determinism', () => {
  const policies = (): Policy[] => [
    np({ ns: 'a', name: 'p', pods: sel({ app: 'db' }), ingress: [{ from: [{ cidr: '10.0.0.0/24' }], ports: [{ port: 'http' }] }] }),
    cnp({ name: 'q', endpoints: csel({ app: 'web' }), egress: [{ cidrs: [{ cidr: '20.0.0.0/8', except: ['20.1.0.0/16'] }], ports: [{ port: 443 }] }] }),
  ];
  it('the same inputs give the same output, whatever the order of the cluster objects', () => {
    resetLines();
    const a = compile(tiny(policies()));
    resetLines();
    const b = compile(tiny(policies()));
    expect(JSON.stringify(b)).toBe(JSON.stringify(a));
    const shuffled = tiny(policies());
    shuffled.cluster.pods.reverse();
    shuffled.cluster.namespaces.reverse();
    const c = compile(shuffled);
    expect([c.identities, c.endpoints, c.ipcache, c.entries]).toEqual([a.identities, a.endpoints, a.ipcache, a.entries]);
  });
});

// compileServices: frontends of every service type, backends from EndpointSlices (conditions,
// named and numbered target ports), traffic policies, headless and ExternalName services,
// affinity, id stability across compiles, determinism, and the errors bad input gets.

import { describe, expect, it } from 'vitest';
import { compileServices } from '../../src/lb/compile.js';
import { lbMapEntries, LB_MAPS } from '../../src/lb/maps.js';
import { SVC_FLAGS, type LbModel } from '../../src/lb/model.js';
import type { Cluster } from '../../src/policy/ast.js';
import { cluster, ep, node, pod, service, slice } from './helpers.js';
import { thrown } from '../helpers/errors.js';

const T = 251; // a small prime keeps map-entry tests quick

const backendsOf = (m: LbModel, address: string, port: number) => {
  const fe = m.frontends.find((f) => f.address === address && f.port === port);
  if (!fe) throw new Error(`no frontend ${address}:${port}`);
  const svc = m.services.find((s) => s.id === fe.serviceId)!;
  return svc.backendIds.map((id) => {
    const b = m.backends.find((x) => x.id === id)!;
    return `${b.address}:${b.port}`;
  });
};

function basic(): Cluster {
  return cluster({
    nodes: [node('node-a', ['192.168.0.1', 'fd00:ff::1']), node('node-b', ['192.168.0.2'])],
    pods: [
      pod('a1', ['10.0.0.1'], 'node-a', [{ name: 'http', containerPort: 8080, protocol: 'TCP' }]),
      pod('b1', ['10.0.0.2'], 'node-b', [{ name: 'http', containerPort: 9090, protocol: 'TCP' }]),
      pod('a2', ['10.0.0.3'], 'node-a', []),
    ],
    services: [
      service('web', { type: 'NodePort', clusterIPs: ['10.96.0.10'], ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 'http', nodePort: 30080 }] }),
    ],
    endpointSlices: [
      slice('web-x', 'web', [
        ep('10.0.0.1', { targetRef: { kind: 'Pod', name: 'a1' }, nodeName: 'node-a' }),
        ep('10.0.0.2', { targetRef: { kind: 'Pod', name: 'b1' }, nodeName: 'node-b' }),
        ep('10.0.0.3', { targetRef: { kind: 'Pod', name: 'a2' }, nodeName: 'node-a' }),
      ], []),
    ],
  });
}

describe('frontends', () => {
  it('ClusterIP and NodePort on every node address of the family; named ports per pod', () => {
    const m = compileServices(basic(), { maglevTableSize: T });
    expect(m.frontends.map((f) => `${f.type} ${f.address}:${f.port}/${f.protocol} node=${f.node ?? '-'}`)).toEqual([
      'ClusterIP 10.96.0.10:80/TCP node=-',
      'NodePort 192.168.0.1:30080/TCP node=node-a',
      'NodePort 192.168.0.2:30080/TCP node=node-b',
    ]);
    // a2 has no container port named http: left out with a warning.
    expect(backendsOf(m, '10.96.0.10', 80)).toEqual(['10.0.0.1:8080', '10.0.0.2:9090']);
    expect(m.warnings.map((w) => w.code)).toEqual(['LB_UNRESOLVED_PORT']);
    expect(m.warnings[0]!.src?.path).toBe('slice/web-x');
    // One group serves all three frontends (same backends, cluster scope); rev-NAT per frontend.
    expect(new Set(m.frontends.map((f) => f.serviceId)).size).toBe(1);
    expect(m.frontends.map((f) => f.revNatIndex).sort()).toEqual([1, 2, 3]);
    expect(m.frontends[0]!.flags).toBe(SVC_FLAGS.CLUSTER_IP);
    expect(m.frontends[1]!.flags).toBe(SVC_FLAGS.NODE_PORT);
  });

  it('the EndpointSlice port, when present, gives the number', () => {
    const c = basic();
    c.endpointSlices[0]!.ports = [{ name: 'http', protocol: 'TCP', port: 7000 }];
    const m = compileServices(c, { maglevTableSize: T });
    expect(backendsOf(m, '10.96.0.10', 80)).toEqual(['10.0.0.1:7000', '10.0.0.2:7000', '10.0.0.3:7000']);
    expect(m.warnings).toEqual([]);
    // A slice whose ports are for another service port serves none of this one.
    c.endpointSlices[0]!.ports = [{ name: 'metrics', protocol: 'TCP', port: 7000 }];
    expect(backendsOf(compileServices(c, { maglevTableSize: T }), '10.96.0.10', 80)).toEqual([]);
  });

  it('externalTrafficPolicy Local: each node address offers only that node\'s backends', () => {
    const c = basic();
    c.services[0]!.externalTrafficPolicy = 'Local';
    c.services[0]!.externalIPs = ['203.0.113.7'];
    const m = compileServices(c, { maglevTableSize: T, node: 'node-b' });
    expect(backendsOf(m, '192.168.0.1', 30080)).toEqual(['10.0.0.1:8080']);
    expect(backendsOf(m, '192.168.0.2', 30080)).toEqual(['10.0.0.2:9090']);
    // externalIPs: the node the model is for; ClusterIP stays cluster-wide.
    expect(backendsOf(m, '203.0.113.7', 80)).toEqual(['10.0.0.2:9090']);
    expect(backendsOf(m, '10.96.0.10', 80)).toEqual(['10.0.0.1:8080', '10.0.0.2:9090']);
    const local = m.frontends.filter((f) => f.flags & SVC_FLAGS.LOCAL).map((f) => f.address);
    expect(local).toEqual(['192.168.0.1', '192.168.0.2', '203.0.113.7']);
    expect(m.services.find((s) => s.scope !== 'cluster' && s.scope.node === 'node-a')).toBeDefined();
  });

  it('internalTrafficPolicy Local: the ClusterIP offers the client node\'s backends; without a node, none', () => {
    const c = basic();
    c.services[0]!.internalTrafficPolicy = 'Local';
    c.services[0]!.type = 'ClusterIP';
    expect(backendsOf(compileServices(c, { maglevTableSize: T, node: 'node-a' }), '10.96.0.10', 80)).toEqual(['10.0.0.1:8080']);
    const none = compileServices(c, { maglevTableSize: T });
    expect(backendsOf(none, '10.96.0.10', 80)).toEqual([]);
    expect(none.warnings.map((w) => w.code)).toContain('LB_LOCAL_WITHOUT_NODE');
  });

  it('headless and ExternalName services have no frontends; LoadBalancer gets NodePorts', () => {
    const c = basic();
    c.services.push(service('headless', { clusterIPs: ['None'], ports: [{ protocol: 'TCP', port: 80, targetPort: 80 }] }));
    c.services.push(service('ext', { type: 'ExternalName', ports: [] }));
    c.services[0]!.type = 'LoadBalancer';
    const m = compileServices(c, { maglevTableSize: T });
    expect(m.frontends.map((f) => f.type)).toEqual(['ClusterIP', 'NodePort', 'NodePort']);
    expect(m.services.every((s) => s.name === 'web')).toBe(true);
  });

  it('dual stack: each family\'s frontends get that family\'s backends; NodePorts on both', () => {
    const c = cluster({
      nodes: [node('n', ['192.168.0.1', 'fd00:ff::1'])],
      services: [service('d', { type: 'NodePort', clusterIPs: ['10.96.0.5', 'FD00:96:0::5'], ports: [{ protocol: 'UDP', port: 53, targetPort: 53, nodePort: 30053 }] })],
      endpointSlices: [
        slice('d4', 'd', [ep('10.0.0.9')], [{ protocol: 'UDP', port: 53 }]),
        slice('d6', 'd', [ep('fd00:1::9')], [{ protocol: 'UDP', port: 53 }], 'IPv6'),
      ],
    });
    const m = compileServices(c, { maglevTableSize: T });
    expect(m.frontends.map((f) => f.address)).toEqual(['10.96.0.5', '192.168.0.1', 'fd00:96::5', 'fd00:ff::1']);
    expect(backendsOf(m, 'fd00:96::5', 53)).toEqual(['fd00:1::9:53']);
    expect(backendsOf(m, '192.168.0.1', 30053)).toEqual(['10.0.0.9:53']);
  });
});

describe('endpoint conditions', () => {
  const withConds = (conds: Array<[string, boolean, boolean, boolean]>) =>
    cluster({
      services: [service('s', { clusterIPs: ['10.96.0.1'], ports: [{ protocol: 'TCP', port: 80, targetPort: 8080 }] })],
      endpointSlices: [slice('s1', 's', conds.map(([a, ready, serving, terminating]) => ep(a, { ready, serving, terminating })), [])],
    });

  it('uses the ready endpoints only while any is ready', () => {
    const m = compileServices(withConds([
      ['10.0.0.1', true, true, false],
      ['10.0.0.2', false, true, true],
      ['10.0.0.3', false, false, false],
    ]), { maglevTableSize: T });
    expect(backendsOf(m, '10.96.0.1', 80)).toEqual(['10.0.0.1:8080']);
    expect(m.services[0]!.terminatingFallback).toBe(false);
    expect(m.backends.map((b) => b.address)).toEqual(['10.0.0.1']);
  });

  it('falls back to serving terminating endpoints when none is ready', () => {
    const m = compileServices(withConds([
      ['10.0.0.2', false, true, true],
      ['10.0.0.3', false, false, true],
      ['10.0.0.4', false, true, false],
    ]), { maglevTableSize: T });
    expect(backendsOf(m, '10.96.0.1', 80)).toEqual(['10.0.0.2:8080']);
    expect(m.services[0]!.terminatingFallback).toBe(true);
  });

  it('leaves a frontend with no backends when nothing serves (the datapath drops)', () => {
    const m = compileServices(withConds([['10.0.0.3', false, false, true]]), { maglevTableSize: T });
    expect(backendsOf(m, '10.96.0.1', 80)).toEqual([]);
    const e = lbMapEntries(m);
    expect(e[LB_MAPS.services4]!.length).toBe(1);
    expect(e[LB_MAPS.maglev]!.length).toBe(0);
  });

  it('keeps one backend for an address listed in two slices', () => {
    const c = withConds([['10.0.0.1', true, true, false]]);
    c.endpointSlices.push(slice('s2', 's', [ep('10.0.0.1'), ep('10.0.0.5')], []));
    expect(backendsOf(compileServices(c, { maglevTableSize: T }), '10.96.0.1', 80)).toEqual(['10.0.0.1:8080', '10.0.0.5:8080']);
  });
});

describe('affinity, SCTP, ids and determinism', () => {
  it('ClientIP affinity sets the flag and the timeout', () => {
    const c = basic();
    c.services[0]!.sessionAffinity = 'ClientIP';
    c.services[0]!.affinityTimeoutSeconds = 300;
    const m = compileServices(c, { maglevTableSize: T });
    expect(m.frontends.every((f) => f.flags & SVC_FLAGS.AFFINITY)).toBe(true);
    expect(m.services[0]!.affinityTimeoutSeconds).toBe(300);
    expect(lbMapEntries(m)[LB_MAPS.affinityMatch]!.length).toBe(2);
  });

  it('warns when an SCTP service would need a port rewrite', () => {
    const c = cluster({
      services: [service('s', { clusterIPs: ['10.96.0.1'], ports: [{ protocol: 'SCTP', port: 3868, targetPort: 3869 }] })],
      endpointSlices: [slice('s1', 's', [ep('10.0.0.1')], [{ protocol: 'SCTP', port: 3869 }])],
    });
    expect(compileServices(c, { maglevTableSize: T }).warnings.map((w) => w.code)).toEqual(['LB_SCTP_PORT_REWRITE']);
  });

  it('is deterministic and independent of input order, and JSON round-trips', () => {
    const a = compileServices(basic(), { maglevTableSize: T });
    const c = basic();
    c.endpointSlices[0]!.endpoints.reverse();
    c.nodes.reverse();
    const b = compileServices(c, { maglevTableSize: T });
    expect(b).toEqual(a);
    expect(JSON.parse(JSON.stringify(a))).toEqual(a);
  });

  it('keeps ids of what stays when a previous model is given', () => {
    const before = compileServices(basic(), { maglevTableSize: T });
    const c = basic();
    c.pods.push(pod('a0', ['10.0.0.0'], 'node-a', [{ name: 'http', containerPort: 8080, protocol: 'TCP' }]));
    c.endpointSlices[0]!.endpoints.unshift(ep('10.0.0.0', { targetRef: { kind: 'Pod', name: 'a0' } }));
    const fresh = compileServices(c, { maglevTableSize: T });
    const kept = compileServices(c, { maglevTableSize: T, previous: before });
    const id = (m: LbModel, a: string) => m.backends.find((b) => b.address === a)!.id;
    // Without the previous model the new lowest address takes id 1 and the rest shift...
    expect(id(fresh, '10.0.0.0')).toBe(1);
    expect(id(fresh, '10.0.0.1')).toBe(2);
    // ...with it, old backends keep theirs and the new one takes the next free id.
    expect(id(kept, '10.0.0.1')).toBe(id(before, '10.0.0.1'));
    expect(id(kept, '10.0.0.2')).toBe(id(before, '10.0.0.2'));
    expect(id(kept, '10.0.0.0')).toBe(3);
    expect(kept.frontends.map((f) => f.revNatIndex)).toEqual(before.frontends.map((f) => f.revNatIndex));
  });
});

describe('errors', () => {
  it('a bad ClusterIP is POLICY_BAD_VALUE at the service, with the YAML path', () => {
    const c = basic();
    c.services[0]!.clusterIPs = ['10.96.0.300'];
    const e = thrown(() => compileServices(c));
    expect(e.code).toBe('POLICY_BAD_VALUE');
    expect(e.location).toMatchObject({ file: 'cluster.yaml', line: 1, column: 1, path: 'service/web.spec.clusterIPs[0]' });
  });

  it('a bad endpoint address is POLICY_BAD_VALUE at the slice', () => {
    const c = basic();
    c.endpointSlices[0]!.endpoints[1]!.addresses = ['fd00::1'];
    const e = thrown(() => compileServices(c));
    expect(e.code).toBe('POLICY_BAD_VALUE');
    expect(e.location.path).toBe('slice/web-x.endpoints[1].addresses[0]');
  });

  it('two services on one frontend is LB_ERROR at the second', () => {
    const c = basic();
    c.services.push(service('zz', { clusterIPs: ['10.96.0.10'], ports: [{ protocol: 'TCP', port: 80, targetPort: 80 }] }));
    const e = thrown(() => compileServices(c));
    expect(e.code).toBe('LB_ERROR');
    expect(e.location.path).toBe('service/zz.spec.ports[0]');
    // The same nodePort in two services collides on every node address.
    const d = basic();
    d.services.push(service('zznp', { type: 'NodePort', clusterIPs: ['10.96.0.11'], ports: [{ protocol: 'TCP', port: 80, targetPort: 80, nodePort: 30080 }] }));
    expect(thrown(() => compileServices(d)).location.path).toBe('service/zznp.spec.ports[0].nodePort');
  });

  it('bad ports, affinity timeouts, table sizes and nodes', () => {
    const c = basic();
    c.services[0]!.ports[0]!.port = 70000;
    expect(thrown(() => compileServices(c)).code).toBe('POLICY_BAD_PORT');
    const d = basic();
    d.services[0]!.sessionAffinity = 'ClientIP';
    d.services[0]!.affinityTimeoutSeconds = 0;
    const e = thrown(() => compileServices(d));
    expect(e.code).toBe('POLICY_BAD_VALUE');
    expect(e.location.path).toBe('service/web.spec.sessionAffinityConfig.clientIP.timeoutSeconds');
    expect(thrown(() => compileServices(basic(), { maglevTableSize: 1000 })).code).toBe('LB_ERROR');
    expect(thrown(() => compileServices(basic(), { node: 'nope' })).code).toBe('LB_ERROR');
  });
});

// explain() of flows to services: `svc:` and `ip:CLUSTERIP` destinations translated by the
// client's cil_from_container, the frontend and the backend, the Maglev slot checked against a
// table built independently (src/lb/maglev.ts), policy evaluated against the backend, a service
// without backends (158) with its EndpointSlice conditions, a suggestion on the target port that
// holds when probed pod to pod, and the errors of the `svc:` syntax.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { explain, type FlowSpec } from '../../src/explain/index.js';
import { loadFiles, parseDocuments } from '../../src/policy/load.js';
import { compile } from '../../src/policy/compile.js';
import { runProbes } from '../../src/datapath/probe.js';
import { flowHash } from '../../src/lb/flowhash.js';
import { maglevTable } from '../../src/lb/maglev.js';
import { endpointKey } from '../../src/lb/addr.js';
import { TwinpathError } from '../../src/errors.js';
import type { Inputs } from '../../src/policy/ast.js';
import { CLUSTER, POLICIES } from './fixtures.js';

const SERVICES = join(import.meta.dirname, 'services.yaml');
const inputs = (): Inputs => loadFiles([CLUSTER, SERVICES, POLICIES]);
const to = (from: string, dest: string, port?: number, protocol?: 'TCP' | 'UDP'): FlowSpec => ({
  kind: 'connection', from, to: dest, ...(port === undefined ? {} : { port }), ...(protocol === undefined ? {} : { protocol }),
});

describe('explain: services', () => {
  it('svc:x/web from y/a: DNAT to x/a on the target port, policy against x/a, its rule', async () => {
    const x = await explain({ inputs: inputs(), spec: to('y/a', 'svc:x/web'), engine: 'vm' });
    expect(x.flow).toMatchObject({ given: 'y/a -> svc:x/web TCP/8080', src: '10.0.2.10', dst: '10.96.0.10', dstPort: 8080 });
    expect(x.decision).toMatchObject({ verdict: 'FORWARDED', where: 'ingress of x/a' });
    expect(x.destination).toMatchObject({ address: '10.0.1.10', pod: { namespace: 'x', name: 'a' } });
    const lb = x.loadBalancing;
    expect(lb.translated).toBe(true);
    expect(lb.frontend).toMatchObject({ service: 'x/web', portName: 'http', address: '10.96.0.10', port: 8080, protocol: 'TCP', type: 'ClusterIP', backends: 1, program: 'cil_from_container', node: 'node-2' });
    expect(lb.backend).toMatchObject({ address: '10.0.1.10', port: 80, pod: 'x/a', node: 'node-1' });
    expect(lb.selection?.how).toBe('maglev');
    expect(lb.policyTarget).toMatch(/against the backend x\/a \(10\.0\.1\.10:80, identity \d+\)/);
    // The server's ingress lookup used the target port.
    expect(x.programs[1]!.policy!.lookups[0]!.key.port).toBe(80);
    expect(x.rule?.id).toBe(1);
  });

  it('ip:CLUSTERIP with --port names the same frontend', async () => {
    const x = await explain({ inputs: inputs(), spec: to('y/a', 'ip:10.96.0.10', 8080, 'TCP'), engine: 'vm' });
    expect(x.loadBalancing.frontend?.service).toBe('x/web');
    expect(x.decision.verdict).toBe('FORWARDED');
  });

  it('Maglev: the slot is the flow hash modulo the table size, and an independently built table names the chosen backend', async () => {
    const x = await explain({ inputs: inputs(), spec: to('y/a', 'svc:x/pair'), engine: 'vm' });
    const s = x.loadBalancing.selection!;
    const f = x.flow;
    const hash = flowHash({ saddr: f.src, daddr: f.dst, sport: f.srcPort, dport: f.dstPort, proto: 6 });
    expect(s).toMatchObject({ how: 'maglev', hash, slot: hash % 16381, tableSize: 16381 });
    const keys = [endpointKey('10.0.1.10', 80, 'TCP'), endpointKey('10.0.1.11', 80, 'TCP')].sort();
    const owner = keys[maglevTable(keys, 16381)[s.slot!]!]!;
    expect(owner).toBe(endpointKey(x.loadBalancing.backend!.address, 80, 'TCP'));
    expect(s.tableBackendId).toBe(x.loadBalancing.backend!.id);
    expect(x.loadBalancing.frontend!.backends).toBe(2);
  });

  it('default deny behind a service: the suggested allow names the backend pods on the target port, and holds pod to pod', async () => {
    const x = await explain({ inputs: inputs(), spec: to('x/b', 'svc:x/web'), engine: 'vm' });
    expect(x.decision).toMatchObject({ verdict: 'DROPPED', dropReason: 133, where: 'ingress of x/a' });
    const s = x.suggestions[0]!;
    expect(s).toMatchObject({ action: 'add', verified: 'FORWARDED' });
    expect(s.summary).toMatch(/on TCP\/80$/);
    const docs = [CLUSTER, POLICIES].map((file) => ({ file, text: readFileSync(file, 'utf8') }));
    const probe = { from: 'x/b', to: 'x/a', port: 80, protocol: 'TCP' as const };
    const [before] = await runProbes({ compiled: compile(parseDocuments(docs)), probes: [probe], engine: 'vm' });
    const [after] = await runProbes({ compiled: compile(parseDocuments([...docs, { file: 'extra.yaml', text: s.yaml! }])), probes: [probe], engine: 'vm' });
    expect([before!.allowed, after!.allowed]).toEqual([false, true]);
  });

  it('a service without a backend: 158 before any policy, the EndpointSlice conditions that left it empty', async () => {
    const x = await explain({ inputs: inputs(), spec: to('y/a', 'svc:x/empty'), engine: 'vm' });
    expect(x.decision).toMatchObject({ verdict: 'DROPPED', dropReason: 158, program: 'cil_from_container', where: 'egress of y/a' });
    const lb = x.loadBalancing;
    expect(lb.translated).toBe(false);
    expect(lb.frontend).toMatchObject({ service: 'x/empty', backends: 0 });
    expect(lb.noBackend!.endpoints).toEqual([
      expect.objectContaining({ slice: 'empty-fghij', address: '10.0.1.11', pod: 'x/b', ready: false, serving: false, terminating: false, why: 'not ready', path: 'endpoints[0]', file: SERVICES }),
    ]);
    expect(x.suggestions).toEqual([]);
    expect(x.noSuggestion).toMatch(/reason 158/);
  });

  it('a terminating endpoint that no longer serves is said to be left out', async () => {
    const base = inputs();
    const cluster = { ...base.cluster, endpointSlices: base.cluster.endpointSlices.map((s) => (s.name === 'web-abcde' ? { ...s, endpoints: s.endpoints.slice(1) } : s)) };
    const x = await explain({ inputs: { ...base, cluster }, spec: to('y/a', 'svc:x/web'), engine: 'vm' });
    expect(x.decision.dropReason).toBe(158);
    expect(x.loadBalancing.noBackend!.endpoints.map((e) => e.why)).toEqual(['terminating and no longer serving']);
  });

  it('a ClusterIP address on a port it does not offer: not translated, and said so', async () => {
    const x = await explain({ inputs: inputs(), spec: to('y/a', 'ip:10.96.0.10', 9999, 'TCP'), engine: 'vm' });
    expect(x.loadBalancing.translated).toBe(false);
    expect(x.loadBalancing.note).toMatch(/10\.96\.0\.10 is a ClusterIP address of service x\/web, but not for TCP\/9999/);
  });

  const code = async (p: Promise<unknown>): Promise<[string, unknown]> => {
    try {
      await p;
    } catch (e) {
      if (e instanceof TwinpathError) return [e.code, e.location.path];
      throw e;
    }
    throw new Error('no error');
  };

  it('refuses an unknown service, an ambiguous port, a port it lacks, a client that is no pod', async () => {
    expect(await code(explain({ inputs: inputs(), spec: to('y/a', 'svc:x/nope'), engine: 'vm' }))).toEqual(['PROBE_UNKNOWN_ENDPOINT', '--to']);
    expect(await code(explain({ inputs: inputs(), spec: to('y/a', 'svc:x/multi'), engine: 'vm' }))).toEqual(['PROBE_UNKNOWN_ENDPOINT', '--to']);
    expect(await code(explain({ inputs: inputs(), spec: to('y/a', 'svc:x/multi:ftp'), engine: 'vm' }))).toEqual(['PROBE_UNKNOWN_ENDPOINT', '--to']);
    expect(await code(explain({ inputs: inputs(), spec: to('y/a', 'svc:x/web', 81), engine: 'vm' }))).toEqual(['USAGE', '--port']);
    expect(await code(explain({ inputs: inputs(), spec: to('host', 'svc:x/web'), engine: 'vm' }))).toEqual(['PROBE_UNKNOWN_ENDPOINT', '--from']);
    expect(await code(explain({ inputs: inputs(), spec: to('y/a', 'svc:web'), engine: 'vm' }))).toEqual(['PROBE_UNKNOWN_ENDPOINT', '--to']);
  });

  it('svc:x/multi:dns picks the UDP port by name', async () => {
    const x = await explain({ inputs: inputs(), spec: to('y/a', 'svc:x/multi:dns'), engine: 'vm' });
    expect(x.flow).toMatchObject({ protocol: 'UDP', dstPort: 53 });
    expect(x.loadBalancing.frontend).toMatchObject({ portName: 'dns', protocol: 'UDP' });
  });
});

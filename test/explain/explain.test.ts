// explain() on the probe fixtures: the decision and where, identities, conntrack, the policy
// lookups, the rule, the default-deny cause; captures (a reply, an established packet, a dropped
// packet before them); every suggestion checked independently of explain's own verification
// (an added policy through probe, a removal by deleting the printed lines from the file); errors.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { explain, type FlowSpec } from '../../src/explain/index.js';
import { readCaptureSync, toEthernet } from '../../src/pcap/index.js';
import { parseDocuments } from '../../src/policy/load.js';
import { compile } from '../../src/policy/compile.js';
import { runProbes, type ProbeSpec } from '../../src/datapath/probe.js';
import { TwinpathError } from '../../src/errors.js';
import { replayCapture } from '../../src/datapath/replay.js';
import { CLUSTER, POLICIES, handshakeCapture, inputs } from './fixtures.js';

const flow = (from: string, to: string, port: number, protocol: ProbeSpec['protocol'] = 'TCP'): FlowSpec => ({ kind: 'connection', from, to, port, protocol });

async function capture(index: number): Promise<FlowSpec> {
  const { file } = await handshakeCapture();
  const frames = readCaptureSync(readFileSync(file), { file }).map((r) => {
    const e = toEthernet(r);
    return 'frame' in e ? e.frame : null;
  });
  return { kind: 'capture', file, frames, index };
}

/** Whether a probe allows the connection under the fixtures plus `extra` YAML, minus `drop` lines of the policy file. */
async function probeWith(p: ProbeSpec, opts: { extra?: string; dropLines?: [number, number] }): Promise<boolean> {
  let text = readFileSync(POLICIES, 'utf8');
  if (opts.dropLines) {
    const lines = text.split('\n');
    lines.splice(opts.dropLines[0] - 1, opts.dropLines[1] - opts.dropLines[0] + 1);
    text = lines.join('\n');
  }
  const docs = [{ file: CLUSTER, text: readFileSync(CLUSTER, 'utf8') }, { file: POLICIES, text }];
  if (opts.extra) docs.push({ file: 'extra.yaml', text: opts.extra });
  const [r] = await runProbes({ compiled: compile(parseDocuments(docs)), probes: [p], engine: 'vm' });
  return r!.allowed;
}

describe('explain: connections', () => {
  it('an allowed flow: both programs, the exact entry of the server\'s ingress, its rule from the file', async () => {
    const x = await explain({ inputs: inputs(), spec: flow('y/a', 'x/a', 80), engine: 'vm' });
    expect(x.decision).toMatchObject({ verdict: 'FORWARDED', program: 'cil_to_container', where: 'ingress of x/a', node: 'node-1' });
    expect(x.source).toMatchObject({ address: '10.0.2.10', pod: { namespace: 'y', name: 'a' } });
    expect(x.source.labels).toContain('k8s:io.kubernetes.pod.namespace=y');
    expect(x.programs.map((p) => [p.program, p.direction, p.verdict, p.conntrack.state])).toEqual([
      ['cil_from_container', 'egress', 'FORWARDED', 'new'],
      ['cil_to_container', 'ingress', 'FORWARDED', 'new'],
    ]);
    const ingress = x.programs[1]!.policy!;
    expect(ingress.match).toBe('exact');
    expect(ingress.lookups[0]).toMatchObject({ kind: 'exact', key: { identity: x.source.identity, protocol: 6, port: 80 }, match: { deny: false, ruleId: 1, ports: 'TCP/80' } });
    expect(ingress.lookups[1]).toMatchObject({ kind: 'wildcard', key: { identity: 0 }, match: null });
    expect(x.programs[1]!.conntrack.created).toMatchObject({ state: 'syn', lifetimeLeftS: 60, lifetimeS: 60, ruleId: 1 });
    expect(x.rule).toMatchObject({ id: 1, file: POLICIES, line: 12, column: 7, path: 'spec.ingress[0]' });
    expect(x.rule!.lines.find((l) => l.marked)).toEqual({ line: 12, text: '    - from:', marked: true });
    expect(x.defaultDeny).toBeUndefined();
    expect(x.loadBalancing).toEqual({ translated: false, note: 'no service' });
    expect(x.replay).toBeUndefined();
  });

  it('a default-deny drop: no entry for either key, the isolating policy named', async () => {
    const x = await explain({ inputs: inputs(), spec: flow('x/b', 'x/a', 80), engine: 'vm' });
    expect(x.decision).toMatchObject({ verdict: 'DROPPED', where: 'ingress of x/a', dropReason: 133, dropReasonName: 'Policy denied' });
    expect(x.programs[1]!.policy!.lookups.map((l) => l.match)).toEqual([null, null]);
    expect(x.rule).toBeUndefined();
    expect(x.defaultDeny).toEqual({ endpoint: 'x/a', direction: 'ingress', isolatedBy: [{ policy: 'NetworkPolicy x/allow-y-to-a', file: POLICIES, line: 3, column: 1 }] });
  });

  it('a deny-rule drop at the client\'s egress: the deny entry beats the wildcard allow', async () => {
    const x = await explain({ inputs: inputs(), spec: flow('y/a', 'x/a', 81), engine: 'vm' });
    expect(x.decision).toMatchObject({ verdict: 'DROPPED', program: 'cil_from_container', where: 'egress of y/a', dropReason: 181 });
    expect(x.programs).toHaveLength(1);
    const [exact, wild] = x.programs[0]!.policy!.lookups;
    expect(exact!.match).toMatchObject({ deny: true, ruleId: 3, ports: 'TCP/81' });
    expect(wild!.match).toMatchObject({ deny: false, ruleId: 2, ports: 'any' });
    expect(x.rule).toMatchObject({ id: 3, deny: true, path: 'spec.egressDeny[0]' });
  });

  it('an address outside the cluster: no ipcache entry, world', async () => {
    const x = await explain({ inputs: inputs(), spec: flow('ip:8.8.8.8', 'x/a', 80), engine: 'vm' });
    expect(x.source).toMatchObject({ address: '8.8.8.8', identity: 2, labels: ['reserved:world'], ipcache: null });
    expect(x.programs.map((p) => p.program)).toEqual(['cil_to_container']);
  });

  it('a node address is in the ipcache as host on its own node', async () => {
    const x = await explain({ inputs: inputs(), spec: flow('host', 'x/a', 80), engine: 'vm' });
    expect(x.source).toMatchObject({ address: '192.168.0.1', identity: 1, ipcache: { prefix: '192.168.0.1/32', identity: 1 } });
    expect(x.decision.verdict).toBe('FORWARDED');
  });
});

describe('explain: services', () => {
  it('a ClusterIP whose service has no EndpointSlice: dropped (158) by the client\'s egress before translation', async () => {
    const svc = 'apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: x}\nspec:\n  clusterIP: 10.96.0.10\n  clusterIPs: [10.96.0.10]\n  selector: {app: a}\n  ports:\n    - {port: 80, protocol: TCP}\n';
    const base = inputs();
    const extra = parseDocuments([{ file: 'svc.yaml', text: svc }]);
    const x = await explain({ inputs: { ...base, cluster: { ...base.cluster, services: extra.cluster.services } }, spec: flow('y/a', 'ip:10.96.0.10', 80), engine: 'vm' });
    expect(x.decision).toMatchObject({ verdict: 'DROPPED', dropReason: 158, where: 'egress of y/a' });
    expect(x.loadBalancing).toMatchObject({ translated: false, frontend: { service: 'x/web', backends: 0 } });
    expect(x.loadBalancing.noBackend).toEqual({ reason: 'no EndpointSlice names service x/web (label kubernetes.io/service-name)', endpoints: [] });
  });
});

describe('explain: suggestions hold when applied by hand', () => {
  it('default deny: the added NetworkPolicy makes the probe pass', async () => {
    const x = await explain({ inputs: inputs(), spec: flow('x/b', 'x/a', 80), engine: 'vm' });
    expect(x.suggestions).toHaveLength(1);
    const s = x.suggestions[0]!;
    expect(s).toMatchObject({ action: 'add', verified: 'FORWARDED' });
    expect(s.yaml).toContain('kind: NetworkPolicy');
    expect(await probeWith({ from: 'x/b', to: 'x/a', port: 80, protocol: 'TCP' }, {})).toBe(false);
    expect(await probeWith({ from: 'x/b', to: 'x/a', port: 80, protocol: 'TCP' }, { extra: s.yaml })).toBe(true);
    // Exactly this port: the neighbour stays closed.
    expect(await probeWith({ from: 'x/b', to: 'x/a', port: 81, protocol: 'TCP' }, { extra: s.yaml })).toBe(false);
  });

  it('allowed: deleting the printed rule lines drops it; the suggested deny drops it', async () => {
    const p: ProbeSpec = { from: 'y/a', to: 'x/a', port: 80, protocol: 'TCP' };
    const x = await explain({ inputs: inputs(), spec: flow(p.from, p.to, p.port), engine: 'vm' });
    const [removal, deny] = x.suggestions;
    expect(removal).toMatchObject({ action: 'remove', verified: 'DROPPED' });
    const rule = removal!.remove![0]!;
    const lines = rule.lines.filter((l) => l.line >= rule.line);
    expect(await probeWith(p, { dropLines: [lines[0]!.line, lines.at(-1)!.line] })).toBe(false);
    expect(deny).toMatchObject({ action: 'add', verified: 'DROPPED' });
    expect(deny!.yaml).toContain('ingressDeny:');
    expect(await probeWith(p, { extra: deny!.yaml })).toBe(false);
    // The deny does not isolate x/a: host traffic still gets in.
    expect(await probeWith({ from: 'host', to: 'x/a', port: 80, protocol: 'TCP' }, { extra: deny!.yaml })).toBe(true);
  });

  it('deny rule: removing it leaves a default deny at the server, so the allow comes with it', async () => {
    const p: ProbeSpec = { from: 'y/a', to: 'x/a', port: 81, protocol: 'TCP' };
    const x = await explain({ inputs: inputs(), spec: flow(p.from, p.to, p.port), engine: 'vm' });
    expect(x.suggestions).toHaveLength(1);
    const s = x.suggestions[0]!;
    expect(s).toMatchObject({ action: 'replace', verified: 'FORWARDED' });
    const rule = s.remove![0]!;
    const lines = rule.lines.filter((l) => l.line >= rule.line);
    expect(await probeWith(p, { dropLines: [lines[0]!.line, lines.at(-1)!.line], extra: s.yaml })).toBe(true);
  });
});

describe('explain: a packet of a capture', () => {
  it('a reply meets the entry the SYN created: policy skipped, entry and its lifetime shown', async () => {
    const x = await explain({ inputs: inputs(), spec: await capture(2), engine: 'vm' });
    expect(x.flow).toMatchObject({ src: '10.0.1.10', dst: '10.0.2.10', srcPort: 80, dstPort: 40001, tcpFlags: 'SYN,ACK', replayedBefore: 2 });
    expect(x.decision).toMatchObject({ verdict: 'FORWARDED', where: 'ingress of y/a' });
    for (const p of x.programs) {
      expect(p.conntrack.state).toBe('reply');
      expect(p.conntrack.policySkipped).toBe(true);
      expect(p.policy).toBeUndefined();
    }
    expect(x.programs[0]!.conntrack.entry).toMatchObject({ tuple: '10.0.2.10:40001 -> 10.0.1.10:80 TCP', direction: 'ingress', state: 'syn', lifetimeLeftS: 60, ruleId: 1, packetsFwd: 1, packetsRev: 0 });
    // The rule behind the last program's verdict: the one that let y/a open the connection.
    expect(x.programs[1]!.conntrack.entry).toMatchObject({ direction: 'egress', ruleId: 2 });
    expect(x.rule?.id).toBe(2);
  });

  it('an established packet; and the dropped packet before it created nothing', async () => {
    const x = await explain({ inputs: inputs(), spec: await capture(3), engine: 'vm' });
    expect(x.programs.map((p) => p.conntrack.state)).toEqual(['established', 'established']);
    expect(x.programs[1]!.conntrack.entry).toMatchObject({ state: 'syn', packetsFwd: 1, packetsRev: 1 });
    const first = await explain({ inputs: inputs(), spec: await capture(0), engine: 'vm' });
    expect(first.decision).toMatchObject({ verdict: 'DROPPED', dropReason: 133 });
    expect(first.flow.replayedBefore).toBe(0);
  });

  it('a reply: removing the rule that let the SYN out makes the replay drop the SYN, and this answer with it', async () => {
    const x = await explain({ inputs: inputs(), spec: await capture(2), engine: 'vm' });
    expect(x.replay).toMatchObject({ packet: 3, outcome: 'forwarded', before: { forwarded: 1, dropped: 1 } });
    const [removal, deny] = x.suggestions;
    expect(removal).toMatchObject({ action: 'remove', verified: 'DROPPED' });
    expect(removal!.remove!.map((r) => r.id)).toEqual([2]);
    // The deny is of the opening (y/a's egress to x/a on TCP/80), as its conntrack entry records it.
    expect(deny).toMatchObject({ action: 'add', verified: 'DROPPED' });
    expect(deny!.yaml).toContain('egressDeny:');
    const { file } = await handshakeCapture();
    expect(await replayOutcome(file, 3, {})).toBe('forwarded');
    expect(await replayOutcome(file, 3, { extra: deny!.yaml })).toBe('consequence');
  });

  it('an established packet: the deny of its opening, checked by replaying the capture with it', async () => {
    const x = await explain({ inputs: inputs(), spec: await capture(3), engine: 'vm' });
    expect(x.rule?.id).toBe(1);
    const deny = x.suggestions.find((s) => s.action === 'add')!;
    expect(deny.yaml).toContain('ingressDeny:');
    const { file } = await handshakeCapture();
    expect(await replayOutcome(file, 4, {})).toBe('forwarded');
    expect(await replayOutcome(file, 4, { extra: deny.yaml })).toBe('dropped');
    const removal = x.suggestions.find((s) => s.action === 'remove')!;
    const rule = removal.remove![0]!;
    const lines = rule.lines.filter((l) => l.line >= rule.line);
    expect(await replayOutcome(file, 4, { dropLines: [lines[0]!.line, lines.at(-1)!.line] })).toBe('dropped');
  });
});

/** What `twinpath replay` makes of packet #n of a capture under the fixtures plus `extra`, minus lines of the policy file. */
async function replayOutcome(capture: string, n: number, opts: { extra?: string; dropLines?: [number, number] }): Promise<string> {
  let text = readFileSync(POLICIES, 'utf8');
  if (opts.dropLines) {
    const lines = text.split('\n');
    lines.splice(opts.dropLines[0] - 1, opts.dropLines[1] - opts.dropLines[0] + 1);
    text = lines.join('\n');
  }
  const docs = [{ file: CLUSTER, text: readFileSync(CLUSTER, 'utf8') }, { file: POLICIES, text }];
  if (opts.extra) docs.push({ file: 'extra.yaml', text: opts.extra });
  const parsed = parseDocuments(docs);
  for await (const r of replayCapture(capture, { compiled: compile(parsed), cluster: parsed.cluster, engine: 'vm' })) if (r.packet === n) return r.outcome;
  throw new Error(`no packet #${n}`);
}

describe('explain: errors', () => {
  const code = async (p: Promise<unknown>): Promise<[string, unknown]> => {
    try {
      await p;
    } catch (e) {
      if (e instanceof TwinpathError) return [e.code, e.location.path];
      throw e;
    }
    throw new Error('no error');
  };

  it('an unknown pod: PROBE_UNKNOWN_ENDPOINT at --to', async () => {
    expect(await code(explain({ inputs: inputs(), spec: flow('x/a', 'x/nope', 80), engine: 'vm' }))).toEqual(['PROBE_UNKNOWN_ENDPOINT', '--to']);
  });

  it('a packet index past the end: USAGE at --packet', async () => {
    expect(await code(explain({ inputs: inputs(), spec: await capture(4), engine: 'vm' }))).toEqual(['USAGE', '--packet']);
  });

  it('a packet between two addresses of no pod: explained as unhandled, as the replay counts it', async () => {
    const { tcp } = await import('../../src/pcap/build.js');
    const spec: FlowSpec = { kind: 'capture', file: 'x.pcap', frames: [tcp({ src: '8.8.8.8', dst: '1.1.1.1', sport: 1, dport: 2 })], index: 0 };
    const x = await explain({ inputs: inputs(), spec, engine: 'vm' });
    expect(x.decision.verdict).toBe('UNHANDLED');
    expect(x.replay).toMatchObject({ packet: 1, outcome: 'unhandled' });
    expect(x.programs).toEqual([]);
    expect(x.source).toMatchObject({ address: '8.8.8.8', identity: 2 });
    expect(x.suggestions).toEqual([]);
  });
});

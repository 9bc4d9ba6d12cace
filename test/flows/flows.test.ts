// Hubble-shaped flows from hand-made flow events: the JSON fields and their omissions, the
// compact line (arrows, reserved identities, policy verdict words, IPv6 ports), times, the
// table, ICMP names, filters and the summary's bounded counters.

import { describe, expect, it } from 'vitest';
import type { FlowEvent } from '../../src/datapath/flow.js';
import type { PacketResult } from '../../src/datapath/replay.js';
import { FlowBuilder, policyMatchType, type Decision } from '../../src/flows/build.js';
import { compileFilter } from '../../src/flows/filter.js';
import { flowJsonLine, formatTime, rfc3339, stampMilli, type ReplayFlow } from '../../src/flows/hubble.js';
import { icmpSummary } from '../../src/flows/icmp.js';
import { compactLine, TableWriter, TABLE_SIZING_ROWS } from '../../src/flows/render.js';
import { ReplaySummary } from '../../src/flows/summary.js';
import { tcp } from '../../src/pcap/build.js';
import { starwars, DS, XW, T0, OUT } from '../datapath/replay-fixture.js';

const builder = new FlowBuilder(starwars());

function event(over: Partial<FlowEvent>): FlowEvent {
  return {
    verdict: 'FORWARDED', dropReason: 0, direction: 'egress', observationPoint: 'from-endpoint', endpointId: 3, ifindex: 103,
    srcIdentity: 258, dstIdentity: 256, ruleId: 0, isReply: false, ctState: 'established', family: 4, src: XW, dst: DS,
    srcPort: 40010, dstPort: 80, protocol: 6, tcpFlags: 0x10, length: 54, proxyPort: 0, icmpType: 0, icmpCode: 0,
    policyMatch: 'none', matchPrefix: 0, noEndpoint: false, fragment: false, laterFragment: false, icmpError: false,
    ethertype: 0x0800, vlanId: 0, vlan: false, ...over,
  };
}

function decision(ev: FlowEvent, over: Partial<Decision> = {}): Decision {
  return { event: ev, node: 'kind-worker2', program: 'cil_from_container', frame: tcp({ src: ev.src, dst: ev.dst, sport: 1, dport: 2 }), timeNs: T0 + 123_456_789n, packet: 7, ...over };
}

describe('Hubble JSON', () => {
  it('a trace: Hubble field names in flow.proto order, zero values left out, extras outside flow', () => {
    const [f] = builder.flows(decision(event({})));
    const line = JSON.parse(flowJsonLine(f!));
    expect(Object.keys(line)).toEqual(['flow', 'node_name', 'time', 'twinpath']);
    expect(Object.keys(line.flow)).toEqual([
      'time', 'verdict', 'ethernet', 'IP', 'l4', 'source', 'destination', 'Type', 'node_name', 'event_type',
      'traffic_direction', 'trace_observation_point', 'is_reply', 'Summary',
    ]);
    expect(line.flow).toMatchObject({
      time: '2023-11-21T10:00:00.123456789Z', verdict: 'FORWARDED', Type: 'L3_L4', event_type: { type: 4, sub_type: 5 },
      trace_observation_point: 'FROM_ENDPOINT', is_reply: false, l4: { TCP: { source_port: 40010, destination_port: 80, flags: { ACK: true } } },
    });
    expect(line.flow.source).toEqual({
      ID: 3, identity: 258, namespace: 'default', pod_name: 'xwing',
      labels: ['k8s:class=xwing', 'k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name=default', 'k8s:io.kubernetes.pod.namespace=default', 'k8s:org=alliance'],
    });
    expect(line.twinpath).toEqual({ packet: 7, program: 'cil_from_container', ct_state: 'established' });
  });

  it('a policy verdict and a drop for a denied new connection, with Cilium’s match type', () => {
    const ev = event({ verdict: 'DROPPED', dropReason: 133, direction: 'ingress', observationPoint: 'to-endpoint', endpointId: 1, ctState: 'new', policyMatch: 'default-deny', tcpFlags: 2 });
    const [pv, drop] = builder.flows(decision(ev, { node: 'kind-worker', program: 'cil_to_container' }));
    expect(pv!.flow).toMatchObject({ verdict: 'DROPPED', drop_reason: 133, event_type: { type: 5 }, traffic_direction: 'INGRESS', drop_reason_desc: 'POLICY_DENIED', is_reply: false });
    expect(pv!.flow.policy_match_type).toBeUndefined(); // none (0) is left out
    expect(drop!.flow).toMatchObject({ event_type: { type: 1, sub_type: 133 }, drop_reason_desc: 'POLICY_DENIED', Summary: 'TCP Flags: SYN' });
    expect(drop!.flow.destination?.ID).toBe(1);
  });

  it('names the policy that allowed a connection, as Hubble lists it', () => {
    const ev = event({ direction: 'ingress', observationPoint: 'to-endpoint', ctState: 'new', policyMatch: 'exact', matchPrefix: 24, ruleId: 1, srcIdentity: 257, tcpFlags: 2 });
    const [pv] = builder.flows(decision(ev, { node: 'kind-worker' }));
    expect(pv!.flow.policy_match_type).toBe(2);
    expect(pv!.flow.ingress_allowed_by).toEqual([{
      name: 'rule1', namespace: 'default', kind: 'CiliumNetworkPolicy',
      labels: ['k8s:io.cilium.k8s.policy.derived-from=CiliumNetworkPolicy', 'k8s:io.cilium.k8s.policy.name=rule1', 'k8s:io.cilium.k8s.policy.namespace=default'],
    }]);
    expect(pv!.twinpath.rule_id).toBe(1);
    expect(pv!.twinpath.rule).toMatch(/^allow ingress/);
  });

  it('maps exact and wildcard matches of each width to Cilium’s match types', () => {
    const m = (policyMatch: FlowEvent['policyMatch'], matchPrefix: number) => policyMatchType({ policyMatch, matchPrefix });
    expect([m('exact', 0), m('exact', 8), m('exact', 24), m('wildcard', 0), m('wildcard', 8), m('wildcard', 20), m('default-deny', 0)]).toEqual([1, 5, 2, 4, 6, 3, 0]);
  });

  it('writes protobuf timestamps with 0, 3, 6 or 9 digits and Go’s StampMilli', () => {
    expect(rfc3339(T0)).toBe('2023-11-21T10:00:00Z');
    expect(rfc3339(T0 + 5_000_000n)).toBe('2023-11-21T10:00:00.005Z');
    expect(rfc3339(T0 + 5_000n)).toBe('2023-11-21T10:00:00.000005Z');
    expect(rfc3339(T0 + 5n)).toBe('2023-11-21T10:00:00.000000005Z');
    expect(stampMilli(T0 + 123_999_999n)).toBe('Nov 21 10:00:00.123');
    expect(stampMilli(1_704_067_200_000_000_000n)).toBe('Jan  1 00:00:00.000');
    expect(formatTime(T0, 'RFC3339Milli')).toBe('2023-11-21T10:00:00.000Z');
  });

  it('names ICMP messages as Hubble summaries do', () => {
    expect(icmpSummary(4, 8, 0)).toBe('EchoRequest');
    expect(icmpSummary(4, 3, 3)).toBe('DestinationUnreachable(Port)');
    expect(icmpSummary(6, 135, 0)).toBe('NeighborSolicitation');
    expect(icmpSummary(4, 42, 1)).toBe('42(1)');
  });
});

describe('compact line and table', () => {
  const fwd = builder.flows(decision(event({})))[0]!;
  it('prints Hubble’s compact shape', () => {
    expect(compactLine(fwd)).toBe('Nov 21 10:00:00.123: default/xwing:40010 (ID:258) -> default/deathstar:80 (ID:256) from-endpoint FORWARDED (TCP Flags: ACK)\n');
  });

  it('flips replies, names reserved identities, brackets IPv6 with a port', () => {
    const ev = event({ isReply: true, src: 'fd00::1', dst: 'fd00::2', family: 6, srcIdentity: 2, dstIdentity: 258, observationPoint: 'to-endpoint', direction: 'ingress' });
    const line = compactLine(builder.flows(decision(ev))[0]!, { timeFormat: 'RFC3339', nodeName: true });
    expect(line).toBe('2023-11-21T10:00:00Z [kind-worker2]: [fd00::2]:80 (ID:258) <- [fd00::1]:40010 (world) to-endpoint FORWARDED (TCP Flags: ACK)\n');
  });

  it('says ALLOWED and DENIED for policy verdicts and names the packet a consequence follows', () => {
    const ev = event({ ctState: 'new', policyMatch: 'wildcard', tcpFlags: 2 });
    expect(compactLine(builder.flows(decision(ev))[0]!)).toContain(' policy-verdict:all EGRESS ALLOWED (TCP Flags: SYN)');
    const drop = builder.flows(decision(event({ verdict: 'DROPPED', dropReason: 181, isReply: true }), { consequenceOf: 3 }))[0]!;
    expect(compactLine(drop)).toContain(': default/deathstar:80 (ID:256) <- default/xwing:40010 (ID:258) Policy denied by denylist DROPPED (TCP Flags: ACK; consequence of packet #3)');
  });

  it('aligns the table on its first rows, then streams', () => {
    let out = '';
    const t = new TableWriter((s) => (out += s));
    t.write(fwd);
    expect(out).toBe('');
    t.end();
    const lines = out.split('\n');
    expect(lines[0]).toMatch(/^TIMESTAMP {3,}SOURCE {3,}DESTINATION {3,}TYPE {3,}VERDICT {3,}SUMMARY$/);
    expect(lines[1]!.indexOf('default/xwing')).toBe(lines[0]!.indexOf('SOURCE'));
    let streamed = '';
    const t2 = new TableWriter((s) => (streamed += s));
    for (let i = 0; i <= TABLE_SIZING_ROWS; i++) t2.write(fwd);
    const before = streamed.length;
    t2.write(fwd);
    expect(streamed.length).toBeGreaterThan(before);
  });
});

describe('filters', () => {
  const drop = builder.flows(decision(event({ verdict: 'DROPPED', dropReason: 133, direction: 'ingress' })))[0]!;
  const fwd = builder.flows(decision(event({ src: OUT, srcIdentity: 2, protocol: 17, tcpFlags: 0 })))[0]!;

  it('match by verdict, pods, namespace, port, protocol and drop reason', () => {
    const keep = (spec: Parameters<typeof compileFilter>[0], f: ReplayFlow) => compileFilter(spec)(f);
    expect(keep({ verdict: ['dropped'] }, drop)).toBe(true);
    expect(keep({ verdict: ['FORWARDED'] }, drop)).toBe(false);
    expect(keep({ fromPod: ['xw'] }, drop)).toBe(true);
    expect(keep({ fromPod: ['kube-system/'] }, drop)).toBe(false);
    expect(keep({ fromPod: ['default/'] }, fwd)).toBe(false); // from outside
    expect(keep({ toPod: ['default/deathstar'] }, fwd)).toBe(true);
    expect(keep({ namespace: ['default'] }, fwd)).toBe(true);
    expect(keep({ port: ['80'] }, drop)).toBe(true);
    expect(keep({ port: [40010] }, drop)).toBe(true);
    expect(keep({ port: [443] }, drop)).toBe(false);
    expect(keep({ protocol: ['UDP'] }, fwd)).toBe(true);
    expect(keep({ protocol: ['tcp', 'icmp'] }, fwd)).toBe(false);
    expect(keep({ dropReason: ['POLICY_DENIED'] }, drop)).toBe(true);
    expect(keep({ dropReason: ['133'] }, drop)).toBe(true);
    expect(keep({ dropReason: ['policy denied by denylist'] }, drop)).toBe(false);
    expect(keep({ dropReason: ['Policy denied'] }, fwd)).toBe(false);
    expect(keep({ verdict: ['DROPPED'], toPod: ['deathstar'], port: [80] }, drop)).toBe(true);
    expect(keep({ verdict: ['DROPPED'], toPod: ['tiefighter'] }, drop)).toBe(false);
  });

  it('refuse values that can match nothing', () => {
    for (const spec of [{ verdict: ['ALLOWED'] }, { port: ['http'] }, { protocol: ['gre'] }, { dropReason: ['NOPE'] }, { dropReason: [999] }, { fromPod: ['/x'] }]) {
      expect(() => compileFilter(spec)).toThrow(expect.objectContaining({ code: 'USAGE' }));
    }
  });
});

describe('summary', () => {
  const result = (over: Partial<PacketResult>): PacketResult => ({ packet: 1, timeNs: T0, outcome: 'forwarded', flows: [], ...over });

  it('counts packets by outcome, drops by reason, and denied pairs', () => {
    const s = new ReplaySummary();
    const dropFlows = builder.flows(decision(event({ verdict: 'DROPPED', dropReason: 133, direction: 'ingress' })));
    s.addPacket(result({ outcome: 'dropped', dropReason: 133, flows: dropFlows }));
    s.addPacket(result({ outcome: 'dropped', dropReason: 133, flows: dropFlows }));
    s.addPacket(result({ outcome: 'consequence', dropReason: 133 }));
    s.addPacket(result({ outcome: 'duplicate' }));
    for (const f of dropFlows) s.addFlow(f);
    const j = s.toJson();
    expect(j.packets).toMatchObject({ total: 4, dropped: 2, consequence: 1, duplicate: 1, forwarded: 0 });
    expect(j.flows).toEqual({ total: 1, FORWARDED: 0, DROPPED: 1 });
    expect(j.drop_reasons).toEqual([{ drop_reason: 133, drop_reason_desc: 'POLICY_DENIED', description: 'Policy denied', packets: 3, flows: 1 }]);
    expect(j.top_denied_pairs).toEqual([{ source: 'default/xwing', destination: 'default/deathstar', port: 'TCP/80', packets: 2 }]);
    expect(s.format()).toContain('default/xwing -> default/deathstar TCP/80  2 packets');
  });

  it('keeps a bounded table of pairs that still finds the heavy hitter', () => {
    const s = new ReplaySummary(4);
    const pairFlows = (port: number) => builder.flows(decision(event({ verdict: 'DROPPED', dropReason: 133, dstPort: port })));
    for (let i = 0; i < 50; i++) {
      s.addPacket(result({ outcome: 'dropped', flows: pairFlows(80) }));
      s.addPacket(result({ outcome: 'dropped', flows: pairFlows(1000 + i) }));
    }
    const j = s.toJson(1);
    expect(j.top_denied_pairs[0]).toMatchObject({ port: 'TCP/80', packets: 50 });
    expect(j.pairs_approximate).toBe(true);
  });
});

// The endpoint datapath's policy decisions, table-driven, in both engines: allow by exact and by
// wildcard identity, port blocks, any protocol, deny over allow across the two lookups, default
// deny, endpoints that are not isolated, world for unknown addresses, ICMP types as ports, and
// interfaces that are no endpoint.

import { describe, expect, it } from 'vitest';
import type { EngineKind, RunContext } from '../../src/engine/engine.js';
import { endpointContext, PROG_TO_ENDPOINT } from '../../src/datapath/maps.js';
import { flowEvents } from '../../src/datapath/flow.js';
import { describeKernel } from '../helpers/kernel.js';
import { icmpEcho, sctpInit, tcp, udp } from '../../src/pcap/build.js';
import { A, B, C, CIDR_IDENTITY, defineScenarios, openDatapath, rule, type Scenario } from './bpf-harness.js';

const syn = (src: string, dst: string, dport: number, sport = 40000) => tcp({ src, dst, sport, dport, flags: 'S' });

const SCENARIOS: Scenario[] = [
  {
    name: 'allow by exact identity, ingress',
    setup: (m) => m.setPolicy(rule({ endpointId: B.ep.id, direction: 'ingress', identity: A.identity, port: 80, ruleId: 7 })),
    steps: [
      {
        prog: 'to', ifindex: B.ifindex, packet: syn(A.v4, B.v4, 80), reason: 0,
        event: {
          endpointId: B.ep.id, srcIdentity: A.identity, dstIdentity: B.identity, ruleId: 7, ctState: 'new', isReply: false,
          policyMatch: 'exact', matchPrefix: 24, family: 4, src: A.v4, dst: B.v4, srcPort: 40000, dstPort: 80, protocol: 6, tcpFlags: 0x02,
        },
        after: (m) => expect(m.conntrack()).toMatchObject([{ src: A.v4, dst: B.v4, srcPort: 40000, dstPort: 80, direction: 'ingress', ruleId: 7, state: 'syn', packetsFwd: 1n }]),
      },
      // Another port of the same peer: nothing matches, the endpoint is isolated.
      { prog: 'to', ifindex: B.ifindex, packet: syn(A.v4, B.v4, 81), reason: 133, event: { ruleId: 0, policyMatch: 'default-deny', ctState: 'new', dropReasonName: 'Policy denied' } },
      // Another peer on the allowed port.
      { prog: 'to', ifindex: B.ifindex, packet: syn(C.v4, B.v4, 80), reason: 133, event: { srcIdentity: C.identity } },
    ],
    counters: [
      { reason: 0, direction: 'ingress', packets: 1n, bytes: 54n },
      { reason: 133, direction: 'ingress', packets: 2n, bytes: 108n },
    ],
  },
  {
    name: 'allow by wildcard identity, egress, IPv6',
    setup: (m) => m.setPolicy(rule({ endpointId: A.ep.id, direction: 'egress', identity: 0, port: 443, ruleId: 3 })),
    steps: [
      { prog: 'from', ifindex: A.ifindex, packet: syn(A.v6, B.v6, 443), reason: 0, event: { ruleId: 3, policyMatch: 'wildcard', family: 6, src: A.v6, dst: B.v6, srcIdentity: A.identity, dstIdentity: B.identity } },
      { prog: 'from', ifindex: A.ifindex, packet: syn(A.v6, '2001:db8::1', 443), reason: 0, event: { ruleId: 3, dstIdentity: 2 } },
      { prog: 'from', ifindex: A.ifindex, packet: udp({ src: A.v6, dst: B.v6, sport: 5000, dport: 443 }), reason: 133 },
    ],
  },
  {
    name: 'port block 8080/13 covers 8080-8087',
    setup: (m) => m.setPolicy(rule({ endpointId: B.ep.id, direction: 'ingress', identity: A.identity, port: 8080, portPrefixLen: 13, ruleId: 4 })),
    steps: [
      { prog: 'to', ifindex: B.ifindex, packet: syn(A.v4, B.v4, 8080), reason: 0, event: { ruleId: 4, matchPrefix: 21 } },
      { prog: 'to', ifindex: B.ifindex, packet: syn(A.v4, B.v4, 8087), reason: 0, event: { ruleId: 4 } },
      { prog: 'to', ifindex: B.ifindex, packet: syn(A.v4, B.v4, 8079), reason: 133 },
      { prog: 'to', ifindex: B.ifindex, packet: syn(A.v4, B.v4, 8088), reason: 133 },
    ],
  },
  {
    name: 'any protocol: TCP, UDP, SCTP and ICMP from one peer',
    setup: (m) => m.setPolicy(rule({ endpointId: B.ep.id, direction: 'ingress', identity: A.identity, protocol: 0, portPrefixLen: 0, ruleId: 5 })),
    steps: [
      { prog: 'to', ifindex: B.ifindex, packet: syn(A.v4, B.v4, 22), reason: 0, event: { ruleId: 5, matchPrefix: 0 } },
      { prog: 'to', ifindex: B.ifindex, packet: udp({ src: A.v4, dst: B.v4, sport: 53000, dport: 53 }), reason: 0, event: { protocol: 17, dstPort: 53 } },
      { prog: 'to', ifindex: B.ifindex, packet: sctpInit({ src: A.v4, dst: B.v4, sport: 3868, dport: 3868 }), reason: 0, event: { protocol: 132, srcPort: 3868, dstPort: 3868 } },
      { prog: 'to', ifindex: B.ifindex, packet: icmpEcho({ src: A.v4, dst: B.v4, identifier: 9 }), reason: 0, event: { protocol: 1, icmpType: 8, srcPort: 9, dstPort: 0 } },
      { prog: 'to', ifindex: B.ifindex, packet: syn(C.v4, B.v4, 22), reason: 133 },
    ],
  },
  {
    name: 'SCTP by protocol and port',
    setup: (m) => m.setPolicy(rule({ endpointId: B.ep.id, direction: 'ingress', identity: 0, protocol: 132, port: 9899, ruleId: 6 })),
    steps: [
      { prog: 'to', ifindex: B.ifindex, packet: sctpInit({ src: A.v4, dst: B.v4, sport: 1000, dport: 9899 }), reason: 0, event: { ruleId: 6 } },
      { prog: 'to', ifindex: B.ifindex, packet: tcp({ src: A.v4, dst: B.v4, sport: 1000, dport: 9899 }), reason: 133 },
    ],
  },
  {
    name: 'deny for any identity beats an allow for the exact identity',
    setup: (m) => {
      m.setPolicy(rule({ endpointId: B.ep.id, direction: 'ingress', identity: A.identity, port: 80, ruleId: 1 }));
      m.setPolicy(rule({ endpointId: B.ep.id, direction: 'ingress', identity: 0, port: 80, deny: true, ruleId: 2 }));
    },
    steps: [
      { prog: 'to', ifindex: B.ifindex, packet: syn(A.v4, B.v4, 80), reason: 181, event: { ruleId: 2, policyMatch: 'wildcard', dropReasonName: 'Policy denied by denylist' } },
    ],
    counters: [{ reason: 181, direction: 'ingress', packets: 1n, bytes: 54n }],
  },
  {
    name: 'deny for the exact identity beats an allow for any identity',
    setup: (m) => {
      m.setPolicy(rule({ endpointId: A.ep.id, direction: 'egress', identity: 0, protocol: 0, portPrefixLen: 0, ruleId: 1 }));
      m.setPolicy(rule({ endpointId: A.ep.id, direction: 'egress', identity: CIDR_IDENTITY, protocol: 17, port: 53, deny: true, ruleId: 9 }));
    },
    steps: [
      { prog: 'from', ifindex: A.ifindex, packet: udp({ src: A.v4, dst: '10.0.2.53', sport: 5353, dport: 53 }), reason: 181, event: { ruleId: 9, policyMatch: 'exact', dstIdentity: CIDR_IDENTITY } },
      { prog: 'from', ifindex: A.ifindex, packet: udp({ src: A.v4, dst: '10.0.2.53', sport: 5353, dport: 54 }), reason: 0, event: { ruleId: 1, policyMatch: 'wildcard' } },
      { prog: 'from', ifindex: A.ifindex, packet: udp({ src: A.v4, dst: '10.0.3.53', sport: 5353, dport: 53 }), reason: 0, event: { ruleId: 1, dstIdentity: 2 } },
    ],
  },
  {
    name: 'a broad deny (any protocol) beats a narrow allow of the exact identity',
    setup: (m) => {
      m.setPolicy(rule({ endpointId: B.ep.id, direction: 'ingress', identity: A.identity, port: 80, ruleId: 1 }));
      m.setPolicy(rule({ endpointId: B.ep.id, direction: 'ingress', identity: 0, protocol: 0, portPrefixLen: 0, deny: true, ruleId: 2 }));
    },
    steps: [{ prog: 'to', ifindex: B.ifindex, packet: syn(A.v4, B.v4, 80), reason: 181, event: { ruleId: 2, matchPrefix: 0 } }],
  },
  {
    name: 'policy is per endpoint and direction',
    setup: (m) => m.setPolicy(rule({ endpointId: B.ep.id, direction: 'ingress', identity: A.identity, port: 80 })),
    steps: [
      // The same key for A's egress, or B's egress, is not there.
      { prog: 'from', ifindex: A.ifindex, packet: syn(A.v4, B.v4, 80), reason: 133, event: { endpointId: A.ep.id } },
      { prog: 'from', ifindex: B.ifindex, packet: syn(B.v4, A.v4, 80), reason: 133, event: { endpointId: B.ep.id } },
      { prog: 'to', ifindex: B.ifindex, packet: syn(A.v4, B.v4, 80), reason: 0 },
    ],
  },
  {
    name: 'an endpoint that is not isolated allows what no entry denies',
    setup: (m) => m.setPolicy(rule({ endpointId: C.ep.id, direction: 'ingress', identity: A.identity, port: 25, deny: true, ruleId: 8 })),
    steps: [
      { prog: 'to', ifindex: C.ifindex, packet: syn(B.v4, C.v4, 25), reason: 0, event: { policyMatch: 'unenforced', ruleId: 0 } },
      { prog: 'from', ifindex: C.ifindex, packet: syn(C.v4, '192.0.2.1', 443), reason: 0, event: { policyMatch: 'unenforced', dstIdentity: 2 } },
      { prog: 'to', ifindex: C.ifindex, packet: syn(A.v4, C.v4, 25), reason: 181, event: { ruleId: 8 } },
    ],
  },
  {
    name: 'unknown addresses are world (2)',
    setup: (m) => m.setPolicy(rule({ endpointId: B.ep.id, direction: 'ingress', identity: 2, port: 443, ruleId: 12 })),
    steps: [
      { prog: 'to', ifindex: B.ifindex, packet: syn('8.8.8.8', B.v4, 443), reason: 0, event: { srcIdentity: 2, ruleId: 12 } },
      { prog: 'to', ifindex: B.ifindex, packet: syn('2001:4860::8888', B.v6, 443), reason: 0, event: { srcIdentity: 2, family: 6 } },
      // An address in a known CIDR is not world.
      { prog: 'to', ifindex: B.ifindex, packet: syn('10.0.2.9', B.v4, 443), reason: 133, event: { srcIdentity: CIDR_IDENTITY } },
    ],
  },
  {
    name: 'ICMP type is the port: echo request allowed, timestamp not',
    setup: (m) => {
      m.setPolicy(rule({ endpointId: B.ep.id, direction: 'ingress', identity: A.identity, protocol: 1, port: 8, ruleId: 21 }));
      m.setPolicy(rule({ endpointId: B.ep.id, direction: 'ingress', identity: A.identity, protocol: 58, port: 128, ruleId: 22 }));
    },
    steps: [
      { prog: 'to', ifindex: B.ifindex, packet: icmpEcho({ src: A.v4, dst: B.v4, identifier: 77 }), reason: 0, event: { ruleId: 21, icmpType: 8, srcPort: 77 } },
      { prog: 'to', ifindex: B.ifindex, packet: icmpType(icmpEcho({ src: A.v4, dst: B.v4, identifier: 78 }), 13), reason: 133, event: { icmpType: 13 } },
      { prog: 'to', ifindex: B.ifindex, packet: icmpEcho({ src: A.v6, dst: B.v6, identifier: 79 }), reason: 0, event: { ruleId: 22, icmpType: 128, srcPort: 79, protocol: 58 } },
    ],
  },
  {
    name: 'an interface that is no endpoint passes everything, saying so',
    setup: (m) => m.setPolicy(rule({ endpointId: B.ep.id, direction: 'ingress', identity: 0, protocol: 0, portPrefixLen: 0, deny: true })),
    steps: [
      { prog: 'to', ifindex: 99, packet: syn(A.v4, B.v4, 80), reason: 0, event: { noEndpoint: true, endpointId: 0, srcIdentity: A.identity, dstIdentity: B.identity, policyMatch: 'none', ctState: 'none' } },
      { prog: 'from', ifindex: 99, packet: syn('8.8.8.8', B.v4, 80), reason: 0, event: { noEndpoint: true, srcIdentity: 2 } },
      { prog: 'from', ifindex: 99, packet: ipGarbage(), reason: 0, event: { noEndpoint: true } },
      // Removing an endpoint makes its interface one of those.
      { prog: 'to', ifindex: B.ifindex, packet: syn(A.v4, B.v4, 80), reason: 0, before: (m) => m.deleteEndpoint(B.ifindex), event: { noEndpoint: true } },
    ],
    counters: [
      { reason: 0, direction: 'ingress', packets: 2n, bytes: 108n },
      { reason: 0, direction: 'egress', packets: 2n, bytes: 54n + 34n },
    ],
  },
];

/** The same ICMP message with another type (the checksum is not checked by anyone here). */
function icmpType(frame: Uint8Array, type: number): Uint8Array {
  const out = new Uint8Array(frame);
  out[14 + 20] = type;
  return out;
}

/** An IPv4 header that says TCP and nothing after it. */
function ipGarbage(): Uint8Array {
  const f = tcp({ src: A.v4, dst: B.v4, sport: 1, dport: 2 });
  return f.subarray(0, 34);
}

defineScenarios('endpoint datapath: policy', SCENARIOS);

/** Without the marker the programs use skb->ifindex, as on a real interface. A test run's device
 * is the loopback (ifindex 1) in both engines. */
function ifindexTests(kind: EngineKind): void {
  it('real traffic: skb->ifindex names the endpoint; cb[0] without the marker is ignored', async () => {
    const { obj, maps } = await openDatapath(kind);
    try {
      maps.setEndpoint(1, B.ep);
      maps.setPolicy(rule({ endpointId: B.ep.id, direction: 'ingress', identity: 0, port: 80, ruleId: 61 }));
      const run = (packet: Uint8Array, ctx: RunContext) => flowEvents(obj.run(PROG_TO_ENDPOINT, { packet, ctx }))[0]!;
      expect(run(syn(A.v4, B.v4, 80), {})).toMatchObject({ ifindex: 1, endpointId: B.ep.id, ruleId: 61 });
      expect(run(syn(A.v4, B.v4, 81), { cb: [A.ifindex] })).toMatchObject({ ifindex: 1, endpointId: B.ep.id, dropReason: 133 });
      expect(run(syn(A.v4, B.v4, 81), { cb: [A.ifindex, 0x12345678] })).toMatchObject({ ifindex: 1, endpointId: B.ep.id });
      // With the marker, cb[0] wins (here: an interface that is no endpoint).
      expect(run(syn(A.v4, B.v4, 81), endpointContext(77))).toMatchObject({ ifindex: 77, noEndpoint: true, verdict: 'FORWARDED' });
    } finally {
      obj.close();
    }
  });
}

describe('which endpoint (VM)', () => ifindexTests('vm'));
describeKernel('which endpoint (kernel)', () => ifindexTests('kernel'));

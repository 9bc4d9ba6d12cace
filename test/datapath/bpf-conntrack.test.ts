// Connection tracking in the endpoint datapath, both engines: replies and established flows
// skip policy (so they survive its removal), TCP state from flags (SYN, FIN, RST), ICMP echo
// pseudo-state, ICMP errors related to tracked flows, and (VM only, which sets the clock) the
// timeouts.

import { expect } from 'vitest';
import { icmpEcho, tcp, udp } from '../../src/pcap/build.js';
import type { DatapathMaps } from '../../src/datapath/maps.js';
import { A, B, CIDR_IDENTITY, DEFAULT_TIME, defineScenarios, icmpError, rawTcp, rawUdp, rule, type Scenario } from './bpf-harness.js';

const S = 1_000_000_000n;

const aToB80 = (flags: string, sport = 40000) => tcp({ src: A.v4, dst: B.v4, sport, dport: 80, flags });
const bToA80 = (flags: string, sport = 40000) => tcp({ src: B.v4, dst: A.v4, sport: 80, dport: sport, flags });

const aEgressWeb = rule({ endpointId: A.ep.id, direction: 'egress', identity: B.identity, port: 80, ruleId: 31 });
const bIngressWeb = rule({ endpointId: B.ep.id, direction: 'ingress', identity: A.identity, port: 80, ruleId: 32 });
const aEgressDns = rule({ endpointId: A.ep.id, direction: 'egress', identity: CIDR_IDENTITY, protocol: 17, port: 53, ruleId: 33 });

function webPolicy(m: DatapathMaps): void {
  m.setPolicy(aEgressWeb);
  m.setPolicy(bIngressWeb);
}

const SCENARIOS: Scenario[] = [
  {
    name: 'a TCP handshake across two endpoints: replies skip policy in both programs',
    setup: webPolicy,
    steps: [
      { prog: 'from', ifindex: A.ifindex, packet: aToB80('S'), reason: 0, event: { ctState: 'new', ruleId: 31, isReply: false } },
      { prog: 'to', ifindex: B.ifindex, packet: aToB80('S'), reason: 0, event: { ctState: 'new', ruleId: 32 } },
      // B's egress and A's ingress have no entries at all: only conntrack lets these through.
      { prog: 'from', ifindex: B.ifindex, packet: bToA80('SA'), reason: 0, event: { ctState: 'reply', isReply: true, ruleId: 32, policyMatch: 'none', srcPort: 80, dstPort: 40000 } },
      { prog: 'to', ifindex: A.ifindex, packet: bToA80('SA'), reason: 0, event: { ctState: 'reply', isReply: true, ruleId: 31 } },
      { prog: 'from', ifindex: A.ifindex, packet: aToB80('A'), reason: 0, event: { ctState: 'established', isReply: false, ruleId: 31 } },
      { prog: 'to', ifindex: B.ifindex, packet: aToB80('A'), reason: 0, event: { ctState: 'established', ruleId: 32 } },
      // Not a reply: B opening its own connection to A is new, and denied.
      { prog: 'from', ifindex: B.ifindex, packet: tcp({ src: B.v4, dst: A.v4, sport: 80, dport: 40001, flags: 'S' }), reason: 133, event: { ctState: 'new' } },
    ],
    counters: [
      { reason: 0, direction: 'ingress', packets: 3n, bytes: 162n },
      { reason: 0, direction: 'egress', packets: 3n, bytes: 162n },
      { reason: 133, direction: 'egress', packets: 1n, bytes: 54n },
    ],
  },
  {
    name: 'conntrack entries: one per program, counted both ways, TCP state',
    setup: webPolicy,
    steps: [
      { prog: 'from', ifindex: A.ifindex, packet: aToB80('S'), reason: 0 },
      { prog: 'to', ifindex: A.ifindex, packet: bToA80('SA'), reason: 0 },
      {
        prog: 'from', ifindex: A.ifindex, packet: aToB80('A'), reason: 0,
        after: (m) => expect(m.conntrack()).toMatchObject([{
          family: 4, src: A.v4, dst: B.v4, srcPort: 40000, dstPort: 80, protocol: 6, direction: 'egress',
          packetsFwd: 2n, bytesFwd: 108n, packetsRev: 1n, bytesRev: 54n, ruleId: 31, tcpFlagsFwd: 0x12, tcpFlagsRev: 0x12, state: 'established',
        }]),
      },
      { prog: 'to', ifindex: B.ifindex, packet: aToB80('S'), reason: 0, after: (m) => expect(m.conntrack().map((e) => e.direction).sort()).toEqual(['egress', 'ingress']) },
    ],
  },
  {
    name: 'an established flow passes after its policy is removed; a new one does not',
    setup: (m) => m.setPolicy(aEgressDns),
    steps: [
      { prog: 'from', ifindex: A.ifindex, packet: udp({ src: A.v4, dst: '10.0.2.53', sport: 5300, dport: 53 }), reason: 0, event: { ctState: 'new', ruleId: 33 } },
      {
        prog: 'from', ifindex: A.ifindex, packet: udp({ src: A.v4, dst: '10.0.2.53', sport: 5300, dport: 53 }), reason: 0,
        before: (m) => m.deletePolicy(aEgressDns), event: { ctState: 'established', ruleId: 33, policyMatch: 'none' },
        after: (m) => expect(m.policyEntries()).toEqual([]),
      },
      { prog: 'to', ifindex: A.ifindex, packet: udp({ src: '10.0.2.53', dst: A.v4, sport: 53, dport: 5300 }), reason: 0, event: { ctState: 'reply', isReply: true } },
      { prog: 'from', ifindex: A.ifindex, packet: udp({ src: A.v4, dst: '10.0.2.53', sport: 5301, dport: 53 }), reason: 133, event: { ctState: 'new' } },
      // Clearing conntrack forgets the flow: it is new again, and denied.
      { prog: 'from', ifindex: A.ifindex, packet: udp({ src: A.v4, dst: '10.0.2.53', sport: 5300, dport: 53 }), reason: 133, before: (m) => m.clearConntrack() },
    ],
  },
  {
    name: 'RST closes; a fresh SYN on the closed connection is decided by policy again',
    setup: webPolicy,
    steps: [
      { prog: 'from', ifindex: A.ifindex, packet: aToB80('S'), reason: 0 },
      { prog: 'to', ifindex: A.ifindex, packet: bToA80('SA'), reason: 0 },
      { prog: 'from', ifindex: A.ifindex, packet: aToB80('R'), reason: 0, event: { ctState: 'established', tcpFlags: 0x04 }, after: (m) => expect(m.conntrack()).toMatchObject([{ state: 'closing', tcpFlagsFwd: 0x06 }]) },
      // Still within the close timeout: the rest of the teardown passes.
      { prog: 'to', ifindex: A.ifindex, packet: bToA80('RA'), reason: 0, event: { ctState: 'reply' } },
      { prog: 'from', ifindex: A.ifindex, packet: aToB80('S'), reason: 133, before: (m) => m.deletePolicy(aEgressWeb), event: { ctState: 'new' }, after: (m) => expect(m.conntrack()).toEqual([]) },
    ],
  },
  {
    name: 'FIN from both sides closes',
    setup: webPolicy,
    steps: [
      { prog: 'to', ifindex: B.ifindex, packet: aToB80('S'), reason: 0 },
      { prog: 'from', ifindex: B.ifindex, packet: bToA80('SA'), reason: 0 },
      { prog: 'to', ifindex: B.ifindex, packet: aToB80('FA'), reason: 0, after: (m) => expect(m.conntrack()).toMatchObject([{ direction: 'ingress', state: 'established' }]) },
      { prog: 'from', ifindex: B.ifindex, packet: bToA80('FA'), reason: 0, event: { isReply: true }, after: (m) => expect(m.conntrack()).toMatchObject([{ state: 'closing', tcpFlagsFwd: 0x13, tcpFlagsRev: 0x13 }]) },
    ],
  },
  {
    name: 'ICMP echo: the identifier is the port; the reply is a reply (IPv4 and IPv6)',
    setup: (m) => {
      m.setPolicy(rule({ endpointId: A.ep.id, direction: 'egress', identity: B.identity, protocol: 1, port: 8, ruleId: 41 }));
      m.setPolicy(rule({ endpointId: A.ep.id, direction: 'egress', identity: B.identity, protocol: 58, port: 128, ruleId: 42 }));
    },
    steps: [
      { prog: 'from', ifindex: A.ifindex, packet: icmpEcho({ src: A.v4, dst: B.v4, identifier: 0x1234, sequence: 1 }), reason: 0, event: { ctState: 'new', ruleId: 41, srcPort: 0x1234, dstPort: 0 } },
      { prog: 'to', ifindex: A.ifindex, packet: icmpEcho({ src: B.v4, dst: A.v4, identifier: 0x1234, sequence: 1, reply: true }), reason: 0, event: { ctState: 'reply', icmpType: 0, srcPort: 0, dstPort: 0x1234 } },
      // Another identifier is another flow; its reply alone is new (and A's ingress denies it).
      { prog: 'to', ifindex: A.ifindex, packet: icmpEcho({ src: B.v4, dst: A.v4, identifier: 0x1235, reply: true }), reason: 133, event: { ctState: 'new' } },
      { prog: 'from', ifindex: A.ifindex, packet: icmpEcho({ src: A.v6, dst: B.v6, identifier: 7 }), reason: 0, event: { ruleId: 42, protocol: 58 } },
      {
        prog: 'to', ifindex: A.ifindex, packet: icmpEcho({ src: B.v6, dst: A.v6, identifier: 7, reply: true }), reason: 0, event: { ctState: 'reply', icmpType: 129 },
        after: (m) => expect(m.conntrack().map((e) => [e.family, e.protocol, e.srcPort, e.dstPort, e.packetsRev])).toEqual([[4, 1, 0x1234, 0, 1n], [6, 58, 7, 0, 1n]]),
      },
    ],
  },
  {
    name: 'ICMP errors quoting a tracked flow pass as related; others are new',
    setup: (m) => {
      m.setPolicy(aEgressDns);
      m.setPolicy(bIngressWeb);
      m.setPolicy(rule({ endpointId: A.ep.id, direction: 'egress', identity: CIDR_IDENTITY, port: 443, ruleId: 34 }));
    },
    steps: [
      { prog: 'from', ifindex: A.ifindex, packet: udp({ src: A.v4, dst: '10.0.2.5', sport: 5300, dport: 53 }), reason: 0 },
      // Port unreachable from the server, and from a router on the way.
      { prog: 'to', ifindex: A.ifindex, packet: icmpError('10.0.2.5', A.v4, 3, 3, rawUdp(A.v4, '10.0.2.5', 5300, 53)), reason: 0, event: { ctState: 'related', icmpError: true, icmpType: 3, icmpCode: 3, policyMatch: 'none' } },
      { prog: 'to', ifindex: A.ifindex, packet: icmpError('192.0.2.1', A.v4, 11, 0, rawUdp(A.v4, '10.0.2.5', 5300, 53)), reason: 0, event: { ctState: 'related', srcIdentity: 2 } },
      // Quoting a flow nobody opened: new, and A's ingress allows nothing.
      { prog: 'to', ifindex: A.ifindex, packet: icmpError('10.0.2.5', A.v4, 3, 3, rawUdp(A.v4, '10.0.2.5', 5301, 53)), reason: 133, event: { ctState: 'new', icmpType: 3 } },
      // About B's reply to A: B accepted the connection (an ingress entry), and a router
      // returns B's SYN-ACK.
      { prog: 'to', ifindex: B.ifindex, packet: aToB80('S'), reason: 0 },
      { prog: 'to', ifindex: B.ifindex, packet: icmpError('10.0.2.1', B.v4, 3, 1, rawTcp(B.v4, A.v4, { sport: 80, dport: 40000, flags: 'SA' })), reason: 0, event: { ctState: 'related' } },
      // IPv6: packet too big for a TCP connection A opened.
      { prog: 'from', ifindex: A.ifindex, packet: tcp({ src: A.v6, dst: 'fd00:2::10', sport: 40400, dport: 443, flags: 'S' }), reason: 0, event: { ruleId: 34 } },
      { prog: 'to', ifindex: A.ifindex, packet: icmpError('fd00:2::1', A.v6, 2, 0, rawTcp(A.v6, 'fd00:2::10', { sport: 40400, dport: 443, flags: 'A' })), reason: 0, event: { ctState: 'related', family: 6, icmpType: 2 } },
      { prog: 'to', ifindex: A.ifindex, packet: icmpError('fd00:2::1', A.v6, 1, 4, rawTcp(A.v6, 'fd00:2::10', { sport: 40401, dport: 443, flags: 'A' })), reason: 133 },
    ],
  },
  {
    name: 'timeouts on the program clock: non-TCP 60 s',
    vmOnly: true,
    setup: (m) => m.setPolicy(aEgressDns),
    steps: [
      { prog: 'from', ifindex: A.ifindex, packet: udp({ src: A.v4, dst: '10.0.2.53', sport: 5300, dport: 53 }), reason: 0, after: (m) => expect(m.conntrack()[0]!.expiresNs).toBe(DEFAULT_TIME + 60n * S) },
      { prog: 'from', ifindex: A.ifindex, packet: udp({ src: A.v4, dst: '10.0.2.53', sport: 5300, dport: 53 }), timeNs: 61n * S, reason: 0, before: (m) => m.deletePolicy(aEgressDns), event: { ctState: 'established' }, after: (m) => expect(m.conntrack()[0]!.expiresNs).toBe(121n * S) },
      { prog: 'to', ifindex: A.ifindex, packet: udp({ src: '10.0.2.53', dst: A.v4, sport: 53, dport: 5300 }), timeNs: 121n * S, reason: 0, event: { ctState: 'reply' } },
      // One nanosecond past the deadline the entry is gone and the flow is new.
      { prog: 'from', ifindex: A.ifindex, packet: udp({ src: A.v4, dst: '10.0.2.53', sport: 5300, dport: 53 }), timeNs: 181n * S + 1n, reason: 133, event: { ctState: 'new' }, after: (m) => expect(m.conntrack()).toEqual([]) },
    ],
  },
  {
    name: 'timeouts on the program clock: TCP SYN 60 s, established 6 h, closing 10 s',
    vmOnly: true,
    setup: webPolicy,
    steps: [
      { prog: 'from', ifindex: A.ifindex, packet: aToB80('S'), reason: 0, after: (m) => expect(m.conntrack()[0]).toMatchObject({ state: 'syn', expiresNs: DEFAULT_TIME + 60n * S }) },
      { prog: 'to', ifindex: A.ifindex, packet: bToA80('SA'), timeNs: 2n * S, reason: 0, after: (m) => expect(m.conntrack()[0]).toMatchObject({ state: 'syn', expiresNs: 62n * S }) },
      { prog: 'from', ifindex: A.ifindex, packet: aToB80('A'), timeNs: 3n * S, reason: 0, after: (m) => expect(m.conntrack()[0]).toMatchObject({ state: 'established', expiresNs: 3n * S + 21600n * S }) },
      { prog: 'from', ifindex: A.ifindex, packet: aToB80('A'), timeNs: 20000n * S, reason: 0, before: (m) => m.deletePolicy(aEgressWeb), event: { ctState: 'established' } },
      { prog: 'from', ifindex: A.ifindex, packet: aToB80('R'), timeNs: 20001n * S, reason: 0, after: (m) => expect(m.conntrack()[0]).toMatchObject({ state: 'closing', expiresNs: 20011n * S }) },
      { prog: 'to', ifindex: A.ifindex, packet: bToA80('A'), timeNs: 20011n * S, reason: 0, event: { ctState: 'reply' } },
      { prog: 'to', ifindex: A.ifindex, packet: bToA80('A'), timeNs: 20021n * S + 1n, reason: 133, event: { ctState: 'new' } },
    ],
  },
  {
    name: 'timeouts on the program clock: a SYN never answered expires after 60 s',
    vmOnly: true,
    setup: webPolicy,
    steps: [
      { prog: 'from', ifindex: A.ifindex, packet: aToB80('S'), reason: 0 },
      { prog: 'to', ifindex: A.ifindex, packet: bToA80('SA'), timeNs: DEFAULT_TIME + 60n * S + 1n, reason: 133, event: { ctState: 'new' } },
    ],
  },
];

defineScenarios('endpoint datapath: conntrack', SCENARIOS);

// Parsing in the endpoint datapath, both engines: IPv6 extension header chains (and malformed
// ones, 156), VLAN tags, IPv4 and IPv6 fragments (175 for a later fragment without its first),
// ARP, unsupported EtherTypes (139), unknown L4 protocols (137) and truncated headers (134).

import { ethernet, ipv4, tcp, udp } from '../../src/pcap/build.js';
import {
  A, B, defineScenarios, ext6, frag6, ipv4Fragment, ipv6Chain, rule, tcp6Segment, udpPayload, arpRequest, type Scenario,
} from './bpf-harness.js';

const HOP = 0;
const ROUTING = 43;
const FRAGMENT = 44;
const AUTH = 51;
const NONE = 59;
const DEST = 60;

const bWeb = rule({ endpointId: B.ep.id, direction: 'ingress', identity: A.identity, port: 80, ruleId: 51 });
const bDns = rule({ endpointId: B.ep.id, direction: 'ingress', identity: A.identity, protocol: 17, port: 53, ruleId: 52 });

const seg = (dport: number) => tcp6Segment(A.v6, B.v6, { sport: 41000, dport, flags: 'S' });

/** An AH header: length in 4-byte words less 2 (so 1 means 12 bytes). */
function ah(next: number): Uint8Array {
  const h = new Uint8Array(12);
  h[0] = next;
  h[1] = 1;
  return h;
}

/** A UDP datagram (header and payload) split into 8-byte-aligned fragments. */
function udpBytes(src: string, dst: string, dport: number): Uint8Array {
  return udpPayload(src, dst, 42000, dport, 'x'.repeat(40));
}

const SCENARIOS: Scenario[] = [
  {
    name: 'IPv6 extension headers: hop-by-hop, destination options, routing, AH, then TCP',
    setup: (m) => m.setPolicy(bWeb),
    steps: [
      { prog: 'to', ifindex: B.ifindex, packet: ipv6Chain(A.v6, B.v6, HOP, ext6(DEST), ext6(ROUTING, 1), ext6(AUTH), ah(6), seg(80)), reason: 0, event: { family: 6, protocol: 6, dstPort: 80, ruleId: 51 } },
      { prog: 'to', ifindex: B.ifindex, packet: ipv6Chain(A.v6, B.v6, DEST, ext6(6, 2), seg(81)), reason: 133, event: { protocol: 6, dstPort: 81 } },
    ],
  },
  {
    name: 'malformed IPv6 extension header chains are dropped (156)',
    setup: (m) => m.setPolicy(bWeb),
    steps: [
      // A header claiming more bytes than the packet has.
      { prog: 'to', ifindex: B.ifindex, packet: ipv6Chain(A.v6, B.v6, HOP, Uint8Array.of(6, 30, 1, 4, 0, 0, 0, 0)), reason: 156, event: { dropReasonName: 'Invalid IPv6 extension header' } },
      // "No next header".
      { prog: 'to', ifindex: B.ifindex, packet: ipv6Chain(A.v6, B.v6, HOP, ext6(NONE), new Uint8Array(8)), reason: 156 },
      // Longer than the datapath walks (8 headers).
      { prog: 'to', ifindex: B.ifindex, packet: ipv6Chain(A.v6, B.v6, DEST, ...Array.from({ length: 8 }, () => ext6(DEST)), ext6(6), seg(80)), reason: 156 },
      // Exactly 8 is fine.
      { prog: 'to', ifindex: B.ifindex, packet: ipv6Chain(A.v6, B.v6, DEST, ...Array.from({ length: 7 }, () => ext6(DEST)), ext6(6), seg(80)), reason: 0 },
    ],
  },
  {
    name: 'VLAN: one 802.1Q tag, and 802.1ad outside 802.1Q',
    setup: (m) => m.setPolicy(bWeb),
    steps: [
      { prog: 'to', ifindex: B.ifindex, packet: tcp({ src: A.v4, dst: B.v4, sport: 1, dport: 80, vlan: 100 }), reason: 0, event: { vlan: true, vlanId: 100, ethertype: 0x0800, ruleId: 51 } },
      { prog: 'to', ifindex: B.ifindex, packet: tcp({ src: A.v6, dst: B.v6, sport: 1, dport: 80, vlan: [{ id: 7, tpid: 0x88a8 }, { id: 200 }] }), reason: 0, event: { vlanId: 7, family: 6 } },
      { prog: 'to', ifindex: B.ifindex, packet: tcp({ src: A.v4, dst: B.v4, sport: 1, dport: 81, vlan: 100 }), reason: 133, event: { vlan: true } },
      // A third tag is past what is parsed: its EtherType is no IP.
      { prog: 'to', ifindex: B.ifindex, packet: tcp({ src: A.v4, dst: B.v4, sport: 1, dport: 80, vlan: [1, 2, 3] }), reason: 139, event: { ethertype: 0x8100 } },
    ],
  },
  {
    name: 'IPv4 fragments: the first records the ports, later ones use them',
    setup: (m) => m.setPolicy(bDns),
    steps: (() => {
      const allowed = udpBytes(A.v4, B.v4, 53);
      const denied = udpBytes(A.v4, B.v4, 54);
      return [
        { prog: 'to' as const, ifindex: B.ifindex, packet: ipv4Fragment({ src: A.v4, dst: B.v4, protocol: 17, id: 0x1111, offset8: 0, more: true, payload: allowed.subarray(0, 24) }), reason: 0, event: { fragment: true, laterFragment: false, dstPort: 53, ctState: 'new' as const } },
        { prog: 'to' as const, ifindex: B.ifindex, packet: ipv4Fragment({ src: A.v4, dst: B.v4, protocol: 17, id: 0x1111, offset8: 3, more: false, payload: allowed.subarray(24) }), reason: 0, event: { fragment: true, laterFragment: true, srcPort: 42000, dstPort: 53, ctState: 'established' as const } },
        // The first fragment to a port that is not allowed, then its later fragment: both denied.
        { prog: 'to' as const, ifindex: B.ifindex, packet: ipv4Fragment({ src: A.v4, dst: B.v4, protocol: 17, id: 0x2222, offset8: 0, more: true, payload: denied.subarray(0, 24) }), reason: 133 },
        { prog: 'to' as const, ifindex: B.ifindex, packet: ipv4Fragment({ src: A.v4, dst: B.v4, protocol: 17, id: 0x2222, offset8: 3, more: false, payload: denied.subarray(24) }), reason: 133, event: { dstPort: 54 } },
        // A later fragment whose first was never seen.
        { prog: 'to' as const, ifindex: B.ifindex, packet: ipv4Fragment({ src: A.v4, dst: B.v4, protocol: 17, id: 0x3333, offset8: 3, more: false, payload: allowed.subarray(24) }), reason: 175, event: { dropReasonName: 'First logical datagram fragment not found', laterFragment: true } },
      ];
    })(),
    counters: [
      // Every fragment here is 14 + 20 + 24 bytes.
      { reason: 0, direction: 'ingress', packets: 2n, bytes: 2n * 58n },
      { reason: 133, direction: 'ingress', packets: 2n, bytes: 2n * 58n },
      { reason: 175, direction: 'ingress', packets: 1n, bytes: 58n },
    ],
  },
  {
    name: 'IPv6 fragments: the same through the fragment header',
    setup: (m) => m.setPolicy(bDns),
    steps: (() => {
      const d = udpBytes(A.v6, B.v6, 53);
      return [
        { prog: 'to' as const, ifindex: B.ifindex, packet: ipv6Chain(A.v6, B.v6, FRAGMENT, frag6(17, 0, true, 0xabcdef01), d.subarray(0, 24)), reason: 0, event: { fragment: true, dstPort: 53, family: 6 as const } },
        { prog: 'to' as const, ifindex: B.ifindex, packet: ipv6Chain(A.v6, B.v6, FRAGMENT, frag6(17, 3, false, 0xabcdef01), d.subarray(24)), reason: 0, event: { laterFragment: true, dstPort: 53, ctState: 'established' as const } },
        // After a hop-by-hop header, too.
        { prog: 'to' as const, ifindex: B.ifindex, packet: ipv6Chain(A.v6, B.v6, HOP, ext6(FRAGMENT), frag6(17, 3, false, 0xabcdef01), d.subarray(24)), reason: 0, event: { laterFragment: true } },
        { prog: 'to' as const, ifindex: B.ifindex, packet: ipv6Chain(A.v6, B.v6, FRAGMENT, frag6(17, 3, false, 0x0badf00d), d.subarray(24)), reason: 175 },
      ];
    })(),
  },
  {
    name: 'ARP passes without policy; other EtherTypes are unsupported (139)',
    steps: [
      { prog: 'from', ifindex: A.ifindex, packet: arpRequest(A.v4, B.v4), reason: 0, event: { family: 0, ethertype: 0x0806, policyMatch: 'none', ctState: 'none' } },
      { prog: 'to', ifindex: A.ifindex, packet: ethernet({ ethertype: 0x88cc, payload: new Uint8Array(46) }), reason: 139, event: { ethertype: 0x88cc, dropReasonName: 'Unsupported L3 protocol' } },
    ],
  },
  {
    name: 'IPv6 neighbour discovery passes without policy',
    steps: [
      { prog: 'from', ifindex: A.ifindex, packet: ipv6Chain(A.v6, 'ff02::1:ff01:2', 58, Uint8Array.of(135, 0, 0, 0, 0, 0, 0, 0), new Uint8Array(16)), reason: 0, event: { icmpType: 135, policyMatch: 'none' } },
    ],
  },
  {
    name: 'unknown L4 protocols (137) and truncated headers (134)',
    setup: (m) => m.setPolicy(rule({ endpointId: B.ep.id, direction: 'ingress', identity: A.identity, protocol: 0, portPrefixLen: 0 })),
    steps: [
      { prog: 'to', ifindex: B.ifindex, packet: ethernet({ ethertype: 0x0800, payload: ipv4({ src: A.v4, dst: B.v4, protocol: 47, payload: new Uint8Array(24) }) }), reason: 137, event: { protocol: 47, dropReasonName: 'CT: Unknown L4 protocol' } },
      { prog: 'to', ifindex: B.ifindex, packet: tcp({ src: A.v4, dst: B.v4, sport: 1, dport: 80 }).subarray(0, 14 + 20 + 12), reason: 134, event: { dropReasonName: 'Invalid packet' } },
      { prog: 'to', ifindex: B.ifindex, packet: udp({ src: A.v6, dst: B.v6, sport: 1, dport: 53 }).subarray(0, 14 + 40 + 4), reason: 134 },
      // IHL below 5.
      { prog: 'to', ifindex: B.ifindex, packet: badIhl(), reason: 134 },
    ],
  },
];

function badIhl(): Uint8Array {
  const f = tcp({ src: A.v4, dst: B.v4, sport: 1, dport: 80 });
  const out = new Uint8Array(f);
  out[14] = 0x44;
  return out;
}

defineScenarios('endpoint datapath: parsing', SCENARIOS);

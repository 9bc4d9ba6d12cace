// What a replay needs to know about a captured frame before any program sees it: where the IP
// header starts (duplicate detection compares from there on), the two addresses (which endpoint
// the packet leaves or enters), and the connection it belongs to (protocol, ports or ICMP echo
// identifier, TCP flags) so that answers to a dropped connection can be told apart from new
// traffic. The datapath programs parse the packet again themselves; this parse never decides
// a verdict.

import { formatIp, ipv4Text } from './flow.js';

const ETH_HLEN = 14;
const ETH_P_IP = 0x0800;
const ETH_P_IPV6 = 0x86dd;
const VLAN_TYPES = new Set([0x8100, 0x88a8]);
const MAX_VLAN_TAGS = 2;
const MAX_IPV6_EXT = 8;

const IPPROTO_ICMP = 1;
const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;
const IPPROTO_ICMPV6 = 58;
const IPPROTO_SCTP = 132;

// IPv6 extension headers the datapath walks (bpf/lib/parse.h does the same set).
const IPV6_EXT = new Set([0 /* hop-by-hop */, 43 /* routing */, 44 /* fragment */, 60 /* destination options */, 51 /* AH */]);

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_ACK = 0x10;

export interface PacketFacts {
  /** Offset of the IP header in the frame. */
  l3: number;
  family: 4 | 6;
  src: string;
  dst: string;
  protocol: number;
  /** TCP/UDP/SCTP ports; for ICMP echo the identifier sits in srcPort of a request and in
   * dstPort of a reply, as the datapath's conntrack keys it, so a reply's tuple is the reverse
   * of its request's. 0 when unknown (later fragments, other ICMP messages). */
  srcPort: number;
  dstPort: number;
  tcpFlags: number;
  /** ICMP/ICMPv6 type and code, or -1. */
  icmpType: number;
  icmpCode: number;
  /** True for a fragment other than the first: it carries no transport header. */
  laterFragment: boolean;
}

/** The facts of an Ethernet frame, or null when it carries no IPv4/IPv6 header. */
export function packetFacts(frame: Uint8Array): PacketFacts | null {
  if (frame.length < ETH_HLEN) return null;
  const dv = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  let at = 12;
  let ethertype = dv.getUint16(at);
  for (let tags = 0; VLAN_TYPES.has(ethertype) && tags < MAX_VLAN_TAGS; tags++) {
    if (frame.length < at + 6) return null;
    at += 4;
    ethertype = dv.getUint16(at);
  }
  const l3 = at + 2;
  if (ethertype === ETH_P_IP) return ipv4(frame, dv, l3);
  if (ethertype === ETH_P_IPV6) return ipv6(frame, dv, l3);
  return null;
}

function ipv4(frame: Uint8Array, dv: DataView, l3: number): PacketFacts | null {
  if (frame.length < l3 + 20 || frame[l3]! >> 4 !== 4) return null;
  const ihl = (frame[l3]! & 0x0f) * 4;
  if (ihl < 20 || frame.length < l3 + ihl) return null;
  const fragOffset = dv.getUint16(l3 + 6) & 0x1fff;
  const facts = base(l3, 4, ipv4Text(frame, l3 + 12), ipv4Text(frame, l3 + 16), frame[l3 + 9]!);
  facts.laterFragment = fragOffset !== 0;
  if (!facts.laterFragment) transport(facts, frame, dv, l3 + ihl);
  return facts;
}

function ipv6(frame: Uint8Array, dv: DataView, l3: number): PacketFacts | null {
  if (frame.length < l3 + 40 || frame[l3]! >> 4 !== 6) return null;
  let next = frame[l3 + 6]!;
  let at = l3 + 40;
  let laterFragment = false;
  for (let n = 0; IPV6_EXT.has(next) && n < MAX_IPV6_EXT; n++) {
    if (frame.length < at + 8) return base(l3, 6, ipv6Text(frame, l3 + 8), ipv6Text(frame, l3 + 24), next);
    const hdrNext = frame[at]!;
    if (next === 44) {
      if ((dv.getUint16(at + 2) & 0xfff8) !== 0) laterFragment = true;
      at += 8;
    } else if (next === 51) {
      at += (frame[at + 1]! + 2) * 4;
    } else {
      at += (frame[at + 1]! + 1) * 8;
    }
    next = hdrNext;
  }
  const facts = base(l3, 6, ipv6Text(frame, l3 + 8), ipv6Text(frame, l3 + 24), next);
  facts.laterFragment = laterFragment;
  if (!laterFragment) transport(facts, frame, dv, at);
  return facts;
}

function ipv6Text(frame: Uint8Array, at: number): string {
  return formatIp(frame.subarray(at, at + 16));
}

function base(l3: number, family: 4 | 6, src: string, dst: string, protocol: number): PacketFacts {
  return { l3, family, src, dst, protocol, srcPort: 0, dstPort: 0, tcpFlags: 0, icmpType: -1, icmpCode: -1, laterFragment: false };
}

const ECHO_REQUEST = new Map([[IPPROTO_ICMP, 8], [IPPROTO_ICMPV6, 128]]);
const ECHO_REPLY = new Map([[IPPROTO_ICMP, 0], [IPPROTO_ICMPV6, 129]]);

function transport(f: PacketFacts, frame: Uint8Array, dv: DataView, l4: number): void {
  switch (f.protocol) {
    case IPPROTO_TCP:
    case IPPROTO_UDP:
    case IPPROTO_SCTP:
      if (frame.length < l4 + 4) return;
      f.srcPort = dv.getUint16(l4);
      f.dstPort = dv.getUint16(l4 + 2);
      if (f.protocol === IPPROTO_TCP && frame.length >= l4 + 14) f.tcpFlags = frame[l4 + 13]!;
      return;
    case IPPROTO_ICMP:
    case IPPROTO_ICMPV6: {
      if (frame.length < l4 + 1) return;
      f.icmpType = frame[l4]!;
      if (frame.length < l4 + 2) return;
      f.icmpCode = frame[l4 + 1]!;
      if (frame.length < l4 + 6) return;
      const id = dv.getUint16(l4 + 4);
      if (f.icmpType === ECHO_REQUEST.get(f.protocol)) f.srcPort = id;
      else if (f.icmpType === ECHO_REPLY.get(f.protocol)) f.dstPort = id;
      return;
    }
  }
}

/** The connection key of a packet, in its own direction. */
export function tupleKey(f: PacketFacts): string {
  return `${f.protocol} ${f.src} ${f.srcPort} ${f.dst} ${f.dstPort}`;
}

/** The key of the packets that travel the other way in the same connection. */
export function reverseTupleKey(f: PacketFacts): string {
  return `${f.protocol} ${f.dst} ${f.dstPort} ${f.src} ${f.srcPort}`;
}

/** Whether the packet opens a connection by its own shape: a TCP SYN without ACK. For UDP, SCTP
 * and ICMP the shape says nothing; the datapath's conntrack state decides (a new flow). */
export function isTcpOpening(f: PacketFacts): boolean {
  return f.protocol === IPPROTO_TCP && (f.tcpFlags & (TCP_SYN | TCP_ACK)) === TCP_SYN;
}

/** Whether a packet of this protocol can open a connection whose answers come back: everything
 * conntrack tracks (TCP, UDP, SCTP, ICMP echo). Other ICMP messages are answers themselves. */
export function canOpen(f: PacketFacts): boolean {
  if (f.laterFragment) return false;
  if (f.protocol === IPPROTO_TCP) return isTcpOpening(f);
  if (f.protocol === IPPROTO_UDP || f.protocol === IPPROTO_SCTP) return true;
  return f.icmpType === ECHO_REQUEST.get(f.protocol);
}

// The TCP segment inside an Ethernet frame, as the L7 stage needs it: addresses, ports, sequence
// and acknowledgement numbers, flags and the payload. The payload ends where the IP header says
// the datagram ends, not where the frame ends: Ethernet pads short frames to 60 bytes, and that
// padding must never reach the byte stream. Fragments, truncated headers and non-TCP packets
// give null; the datapath has already judged them, and the stream cannot use them.

import { formatIp } from '../datapath/flow.js';

const ETH_HLEN = 14;
const ETH_P_IP = 0x0800;
const ETH_P_IPV6 = 0x86dd;
const VLAN_TPIDS = new Set([0x8100, 0x88a8]);
const MAX_VLAN_TAGS = 2;
const IPPROTO_TCP = 6;
// IPv6 extension headers walked before the transport header (the datapath walks the same set).
const IPV6_HOP = 0;
const IPV6_ROUTING = 43;
const IPV6_FRAGMENT = 44;
const IPV6_AH = 51;
const IPV6_DSTOPTS = 60;
const MAX_IPV6_EXT = 8;

export const TH_FIN = 0x01;
export const TH_SYN = 0x02;
export const TH_RST = 0x04;
export const TH_PSH = 0x08;
export const TH_ACK = 0x10;

export interface TcpSegment {
  family: 4 | 6;
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  /** Unsigned 32-bit. */
  seq: number;
  ack: number;
  flags: number;
  payload: Uint8Array;
}

/** The TCP segment of an Ethernet frame (VLAN tags allowed), or null when there is none to use. */
export function tcpSegmentOf(frame: Uint8Array): TcpSegment | null {
  if (frame.length < ETH_HLEN) return null;
  const dv = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  let at = 12;
  let ethertype = dv.getUint16(at);
  for (let tags = 0; VLAN_TPIDS.has(ethertype) && tags < MAX_VLAN_TAGS; tags++) {
    if (frame.length < at + 6) return null;
    at += 4;
    ethertype = dv.getUint16(at);
  }
  const l3 = at + 2;
  if (ethertype === ETH_P_IP) return fromIpv4(frame, dv, l3);
  if (ethertype === ETH_P_IPV6) return fromIpv6(frame, dv, l3);
  return null;
}

function fromIpv4(frame: Uint8Array, dv: DataView, l3: number): TcpSegment | null {
  if (frame.length < l3 + 20 || frame[l3]! >> 4 !== 4) return null;
  const ihl = (frame[l3]! & 0x0f) * 4;
  const total = dv.getUint16(l3 + 2);
  // More-fragments set or a non-zero offset: a piece of a datagram, not a whole segment.
  if ((dv.getUint16(l3 + 6) & 0x3fff) !== 0) return null;
  if (frame[l3 + 9] !== IPPROTO_TCP || ihl < 20 || total < ihl) return null;
  const end = Math.min(frame.length, l3 + total);
  return tcp(frame, dv, l3 + ihl, end, 4, frame.subarray(l3 + 12, l3 + 16), frame.subarray(l3 + 16, l3 + 20));
}

function fromIpv6(frame: Uint8Array, dv: DataView, l3: number): TcpSegment | null {
  if (frame.length < l3 + 40 || frame[l3]! >> 4 !== 6) return null;
  const end = Math.min(frame.length, l3 + 40 + dv.getUint16(l3 + 4));
  let next = frame[l3 + 6]!;
  let at = l3 + 40;
  for (let n = 0; n < MAX_IPV6_EXT; n++) {
    if (next === IPPROTO_TCP) break;
    if (at + 8 > end) return null;
    const following = frame[at]!;
    if (next === IPV6_FRAGMENT) return null;
    if (next === IPV6_AH) at += (frame[at + 1]! + 2) * 4;
    else if (next === IPV6_HOP || next === IPV6_ROUTING || next === IPV6_DSTOPTS) at += (frame[at + 1]! + 1) * 8;
    else return null;
    next = following;
  }
  if (next !== IPPROTO_TCP) return null;
  return tcp(frame, dv, at, end, 6, frame.subarray(l3 + 8, l3 + 24), frame.subarray(l3 + 24, l3 + 40));
}

function tcp(frame: Uint8Array, dv: DataView, l4: number, end: number, family: 4 | 6, src: Uint8Array, dst: Uint8Array): TcpSegment | null {
  if (end < l4 + 20) return null;
  const doff = (frame[l4 + 12]! >> 4) * 4;
  if (doff < 20 || l4 + doff > end) return null;
  return {
    family,
    src: formatIp(src),
    dst: formatIp(dst),
    srcPort: dv.getUint16(l4),
    dstPort: dv.getUint16(l4 + 2),
    seq: dv.getUint32(l4 + 4),
    ack: dv.getUint32(l4 + 8),
    flags: frame[l4 + 13]!,
    payload: frame.subarray(l4 + doff, end),
  };
}

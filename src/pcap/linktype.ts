// Link-layer header types (LINKTYPE_* as the tcpdump.org registry numbers them) and the
// conversion of a captured packet to the Ethernet frame the datapath programs parse.
// Programs attached at tc and XDP always see Ethernet, so other link layers are rewritten
// (cooked captures, raw IP, loopback) or skipped with a reason a command can count and print.

import type { CaptureRecord } from './types.js';

export const LINKTYPE_NULL = 0;
export const LINKTYPE_ETHERNET = 1;
/** libpcap writes DLT_RAW as 101, but older files carry the platform DLT values 12 and 14. */
export const LINKTYPE_RAW = 101;
export const DLT_RAW_12 = 12;
export const DLT_RAW_14 = 14;
export const LINKTYPE_LOOP = 108;
export const LINKTYPE_LINUX_SLL = 113;
export const LINKTYPE_IPV4 = 228;
export const LINKTYPE_IPV6 = 229;
export const LINKTYPE_LINUX_SLL2 = 276;

const NAMES: Record<number, string> = {
  0: 'NULL',
  1: 'EN10MB',
  6: 'IEEE802',
  8: 'SLIP',
  9: 'PPP',
  10: 'FDDI',
  12: 'RAW',
  14: 'RAW',
  50: 'PPP_HDLC',
  51: 'PPP_ETHER',
  101: 'RAW',
  104: 'C_HDLC',
  105: 'IEEE802_11',
  107: 'FRELAY',
  108: 'LOOP',
  113: 'LINUX_SLL',
  119: 'PRISM_HEADER',
  127: 'IEEE802_11_RADIOTAP',
  143: 'DOCSIS',
  192: 'PPI',
  195: 'IEEE802_15_4_WITHFCS',
  220: 'USB_LINUX_MMAPPED',
  228: 'IPV4',
  229: 'IPV6',
  230: 'IEEE802_15_4_NOFCS',
  231: 'DBUS',
  249: 'USBPCAP',
  276: 'LINUX_SLL2',
};

/** The short name tcpdump prints for a link type ("EN10MB", "LINUX_SLL2"), or "LINKTYPE_<n>". */
export function linkTypeName(linkType: number): string {
  return NAMES[linkType] ?? `LINKTYPE_${linkType}`;
}

export const ETH_P_IP = 0x0800;
export const ETH_P_IPV6 = 0x86dd;
export const ETH_P_8021Q = 0x8100;
const ETH_HLEN = 14;
/** ARPHRD_ETHER: the only hardware type whose SLL address is a MAC address. */
const ARPHRD_ETHER = 1;
const ARPHRD_LOOPBACK = 772;
const PACKET_BROADCAST = 1;

/** BSD address-family values for IPv6 differ by system; IPv4 is 2 everywhere. */
const AF_INET = 2;
const AF_INET6 = new Set([10, 24, 28, 30]);

export type EthernetResult = { frame: Uint8Array } | { skipped: string };

/**
 * The record as an Ethernet frame: as captured for Ethernet, with a synthesized 14-byte header
 * otherwise. Synthesized MACs are zero unless a cooked (SLL) header names the sender.
 */
export function toEthernet(record: Pick<CaptureRecord, 'linkType' | 'data'>): EthernetResult {
  const d = record.data;
  switch (record.linkType) {
    case LINKTYPE_ETHERNET:
      return { frame: d };
    case LINKTYPE_RAW:
    case DLT_RAW_12:
    case DLT_RAW_14:
    case LINKTYPE_IPV4:
    case LINKTYPE_IPV6:
      return fromIp(d, 0);
    case LINKTYPE_NULL:
    case LINKTYPE_LOOP: {
      if (d.length < 4) return { skipped: 'loopback header cut short' };
      const dv = view(d);
      // NULL stores the family in the capturing host's byte order; the value is small, so the
      // order is recognisable (libpcap and tcpdump decide the same way). LOOP is big-endian.
      let af = dv.getUint32(0, false);
      if (record.linkType === LINKTYPE_NULL && (af & 0xffff0000) !== 0) af = dv.getUint32(0, true);
      if (af === AF_INET) return withHeader(d.subarray(4), ETH_P_IP);
      if (AF_INET6.has(af)) return withHeader(d.subarray(4), ETH_P_IPV6);
      return { skipped: `loopback address family ${af} is neither IPv4 nor IPv6` };
    }
    case LINKTYPE_LINUX_SLL: {
      if (d.length < 16) return { skipped: 'Linux cooked header cut short' };
      const dv = view(d);
      return fromCooked(d.subarray(16), {
        packetType: dv.getUint16(0, false),
        hatype: dv.getUint16(2, false),
        addrLen: dv.getUint16(4, false),
        addr: d.subarray(6, 14),
        protocol: dv.getUint16(14, false),
      });
    }
    case LINKTYPE_LINUX_SLL2: {
      if (d.length < 20) return { skipped: 'Linux cooked v2 header cut short' };
      const dv = view(d);
      return fromCooked(d.subarray(20), {
        protocol: dv.getUint16(0, false),
        hatype: dv.getUint16(8, false),
        packetType: d[10]!,
        addrLen: d[11]!,
        addr: d.subarray(12, 20),
      });
    }
    default:
      return { skipped: `link type ${record.linkType} (${linkTypeName(record.linkType)}) is not supported` };
  }
}

interface Cooked {
  packetType: number;
  hatype: number;
  addrLen: number;
  addr: Uint8Array;
  protocol: number;
}

function fromCooked(payload: Uint8Array, c: Cooked): EthernetResult {
  // Values below 0x0600 are not ethertypes but Linux ETH_P_* pseudo-protocols (802.2, CAN, ...).
  // Loopback devices sometimes record 0 with an IP payload; the version nibble settles that.
  if (c.protocol < 0x0600) {
    if (c.hatype === ARPHRD_LOOPBACK || c.protocol === 0) return fromIp(payload, 0);
    return { skipped: `cooked protocol 0x${c.protocol.toString(16).padStart(4, '0')} is not an ethertype` };
  }
  const src = c.hatype === ARPHRD_ETHER && c.addrLen === 6 ? c.addr.subarray(0, 6) : undefined;
  const dst = c.packetType === PACKET_BROADCAST ? new Uint8Array(6).fill(0xff) : undefined;
  // When the kernel reinserted a VLAN tag, protocol is 0x8100 and the payload starts with the
  // tag, so copying both through keeps the VLAN id and priority.
  return withHeader(payload, c.protocol, src, dst);
}

function fromIp(packet: Uint8Array, at: number): EthernetResult {
  if (packet.length <= at) return { skipped: 'empty IP packet' };
  const version = packet[at]! >> 4;
  if (version === 4) return withHeader(packet.subarray(at), ETH_P_IP);
  if (version === 6) return withHeader(packet.subarray(at), ETH_P_IPV6);
  return { skipped: `raw packet has IP version ${version}` };
}

function withHeader(payload: Uint8Array, ethertype: number, src?: Uint8Array, dst?: Uint8Array): EthernetResult {
  const frame = new Uint8Array(ETH_HLEN + payload.length);
  if (dst !== undefined) frame.set(dst, 0);
  if (src !== undefined) frame.set(src, 6);
  frame[12] = ethertype >> 8;
  frame[13] = ethertype & 0xff;
  frame.set(payload, ETH_HLEN);
  return { frame };
}

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** Counts packets toEthernet skipped, per link type, for a summary after a replay. */
export class SkippedPackets {
  private readonly counts = new Map<number, { count: number; reasons: Map<string, number> }>();

  add(linkType: number, reason: string): void {
    let entry = this.counts.get(linkType);
    if (entry === undefined) this.counts.set(linkType, (entry = { count: 0, reasons: new Map() }));
    entry.count++;
    entry.reasons.set(reason, (entry.reasons.get(reason) ?? 0) + 1);
  }

  get total(): number {
    let n = 0;
    for (const e of this.counts.values()) n += e.count;
    return n;
  }

  /** Per link type, in increasing link-type order. */
  entries(): { linkType: number; name: string; count: number; reasons: Map<string, number> }[] {
    return [...this.counts.entries()]
      .sort(([a], [b]) => a - b)
      .map(([linkType, e]) => ({ linkType, name: linkTypeName(linkType), count: e.count, reasons: e.reasons }));
  }

  /** One line per link type: "skipped 3 packets of link type 105 (IEEE802_11)". */
  summary(): string[] {
    return this.entries().map((e) => `skipped ${e.count} packet${e.count === 1 ? '' : 's'} of link type ${e.linkType} (${e.name})`);
  }
}

/** toEthernet that records skips in a counter and returns null for a skipped packet. */
export function toEthernetCounting(record: Pick<CaptureRecord, 'linkType' | 'data'>, skipped: SkippedPackets): Uint8Array | null {
  const r = toEthernet(record);
  if ('skipped' in r) {
    skipped.add(record.linkType, r.skipped);
    return null;
  }
  return r.frame;
}

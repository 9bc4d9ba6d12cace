// A small deterministic packet builder for tests and bundled scenarios: Ethernet (with VLAN
// tags), IPv4, IPv6, TCP, UDP, ICMP and ICMPv6 echo, and SCTP INIT, with every checksum filled
// in. Plain functions returning bytes; the same arguments always give the same packet.

import { crc32c, internetChecksum, pseudoHeader } from './checksum.js';
import { ETH_P_8021Q, ETH_P_IP, ETH_P_IPV6 } from './linktype.js';
import { parseIPBytes, parseIPv4 } from '../util/ip.js';

export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_ICMPV6 = 58;
export const IPPROTO_SCTP = 132;

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;
export const TCP_URG = 0x20;
export const TCP_ECE = 0x40;
export const TCP_CWR = 0x80;

export type Mac = string | Uint8Array;
export type Payload = Uint8Array | string;

export interface Vlan {
  id: number;
  pcp?: number;
  dei?: boolean;
  /** 0x8100 (802.1Q, the default) or 0x88a8 (802.1ad outer tag). */
  tpid?: number;
}

export interface FrameOptions {
  srcMac?: Mac;
  dstMac?: Mac;
  /** One tag or several, outermost first. */
  vlan?: number | Vlan | (number | Vlan)[];
}

export interface IpOptions {
  /** Dotted IPv4 or IPv6 text; both addresses must be of the same family. */
  src: string;
  dst: string;
  /** TTL (IPv4) or hop limit (IPv6); 64 by default. */
  ttl?: number;
  /** IPv4 identification; 0 by default so packets are reproducible. */
  id?: number;
  /** IPv4 TOS or IPv6 traffic class. */
  tos?: number;
  dontFragment?: boolean;
  flowLabel?: number;
}

export const DEFAULT_SRC_MAC = '02:00:00:00:00:01';
export const DEFAULT_DST_MAC = '02:00:00:00:00:02';

const text = new TextEncoder();

function bytes(p: Payload | undefined): Uint8Array {
  return p === undefined ? new Uint8Array(0) : typeof p === 'string' ? text.encode(p) : p;
}

export function parseMac(mac: Mac): Uint8Array {
  if (typeof mac !== 'string') return mac;
  const parts = mac.split(/[:-]/);
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{1,2}$/.test(p))) throw new Error(`bad MAC address "${mac}"`);
  return Uint8Array.from(parts, (p) => parseInt(p, 16));
}

/** Parses IPv4 dotted-quad or IPv6 text (with "::" and an embedded IPv4 tail) to 4 or 16 bytes. */
export function parseIp(addr: string): Uint8Array {
  const b = parseIPBytes(addr);
  if (b === undefined) throw new Error(`bad IPv${addr.includes(':') ? 6 : 4} address "${addr}"`);
  return b;
}

function parseIpv4(addr: string): Uint8Array {
  const b = parseIPv4(addr);
  if (b === undefined) throw new Error(`bad IPv4 address "${addr}"`);
  return b;
}

/** An Ethernet frame, VLAN tags included; no FCS (captures normally have none). */
export function ethernet(opts: FrameOptions & { ethertype: number; payload: Payload }): Uint8Array {
  const tags = opts.vlan === undefined ? [] : Array.isArray(opts.vlan) ? opts.vlan : [opts.vlan];
  const payload = bytes(opts.payload);
  const out = new Uint8Array(14 + 4 * tags.length + payload.length);
  const dv = new DataView(out.buffer);
  out.set(parseMac(opts.dstMac ?? DEFAULT_DST_MAC), 0);
  out.set(parseMac(opts.srcMac ?? DEFAULT_SRC_MAC), 6);
  let at = 12;
  for (const t of tags) {
    const tag: Vlan = typeof t === 'number' ? { id: t } : t;
    dv.setUint16(at, tag.tpid ?? ETH_P_8021Q);
    dv.setUint16(at + 2, ((tag.pcp ?? 0) << 13) | (tag.dei ? 0x1000 : 0) | (tag.id & 0xfff));
    at += 4;
  }
  dv.setUint16(at, opts.ethertype);
  out.set(payload, at + 2);
  return out;
}

export function ipv4(opts: IpOptions & { protocol: number; payload: Payload }): Uint8Array {
  const payload = bytes(opts.payload);
  const out = new Uint8Array(20 + payload.length);
  const dv = new DataView(out.buffer);
  out[0] = 0x45;
  out[1] = opts.tos ?? 0;
  dv.setUint16(2, out.length);
  dv.setUint16(4, opts.id ?? 0);
  dv.setUint16(6, opts.dontFragment ? 0x4000 : 0);
  out[8] = opts.ttl ?? 64;
  out[9] = opts.protocol;
  out.set(parseIpv4(opts.src), 12);
  out.set(parseIpv4(opts.dst), 16);
  dv.setUint16(10, internetChecksum(out.subarray(0, 20)));
  out.set(payload, 20);
  return out;
}

export function ipv6(opts: IpOptions & { nextHeader: number; payload: Payload }): Uint8Array {
  const payload = bytes(opts.payload);
  const out = new Uint8Array(40 + payload.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, ((6 << 28) | ((opts.tos ?? 0) << 20) | ((opts.flowLabel ?? 0) & 0xfffff)) >>> 0);
  dv.setUint16(4, payload.length);
  out[6] = opts.nextHeader;
  out[7] = opts.ttl ?? 64;
  out.set(parseIp(opts.src), 8);
  out.set(parseIp(opts.dst), 24);
  out.set(payload, 40);
  return out;
}

function isV6(opts: IpOptions): boolean {
  const v6 = opts.src.includes(':');
  if (v6 !== opts.dst.includes(':')) throw new Error(`addresses ${opts.src} and ${opts.dst} are of different families`);
  return v6;
}

/** An Ethernet frame around an IPv4 or IPv6 packet, the family taken from the addresses. */
function framed(opts: FrameOptions & IpOptions, protocol: number, l4: Uint8Array): Uint8Array {
  const v6 = isV6(opts);
  const ip = v6 ? ipv6({ ...opts, nextHeader: protocol, payload: l4 }) : ipv4({ ...opts, protocol, payload: l4 });
  return ethernet({ ...opts, ethertype: v6 ? ETH_P_IPV6 : ETH_P_IP, payload: ip });
}

export interface TcpOptions {
  sport: number;
  dport: number;
  /** A number, or tcpdump-style letters: S (SYN), A or . (ACK), F, R, P, U, E, W (CWR). Default "S". */
  flags?: number | string;
  seq?: number;
  ack?: number;
  window?: number;
  urgent?: number;
  /** Raw TCP options, padded here to a multiple of 4 bytes. */
  options?: Uint8Array;
  payload?: Payload;
}

export function tcpFlags(flags: number | string): number {
  if (typeof flags === 'number') return flags;
  const bits: Record<string, number> = { F: TCP_FIN, S: TCP_SYN, R: TCP_RST, P: TCP_PSH, A: TCP_ACK, '.': TCP_ACK, U: TCP_URG, E: TCP_ECE, W: TCP_CWR };
  let v = 0;
  for (const c of flags.toUpperCase()) {
    const b = bits[c];
    if (b === undefined) throw new Error(`unknown TCP flag "${c}" in "${flags}"`);
    v |= b;
  }
  return v;
}

/** A TCP segment with its checksum over the pseudo-header of src and dst (4 or 16 bytes each). */
export function tcpSegment(src: Uint8Array, dst: Uint8Array, opts: TcpOptions): Uint8Array {
  const payload = bytes(opts.payload);
  const optLen = opts.options === undefined ? 0 : (opts.options.length + 3) & ~3;
  const hlen = 20 + optLen;
  const out = new Uint8Array(hlen + payload.length);
  const dv = new DataView(out.buffer);
  dv.setUint16(0, opts.sport);
  dv.setUint16(2, opts.dport);
  dv.setUint32(4, (opts.seq ?? 0) >>> 0);
  dv.setUint32(8, (opts.ack ?? 0) >>> 0);
  out[12] = (hlen / 4) << 4;
  out[13] = tcpFlags(opts.flags ?? 'S');
  dv.setUint16(14, opts.window ?? 65535);
  dv.setUint16(18, opts.urgent ?? 0);
  if (opts.options !== undefined) out.set(opts.options, 20);
  out.set(payload, hlen);
  dv.setUint16(16, internetChecksum(pseudoHeader(src, dst, IPPROTO_TCP, out.length), out));
  return out;
}

export interface UdpOptions {
  sport: number;
  dport: number;
  payload?: Payload;
}

export function udpDatagram(src: Uint8Array, dst: Uint8Array, opts: UdpOptions): Uint8Array {
  const payload = bytes(opts.payload);
  const out = new Uint8Array(8 + payload.length);
  const dv = new DataView(out.buffer);
  dv.setUint16(0, opts.sport);
  dv.setUint16(2, opts.dport);
  dv.setUint16(4, out.length);
  out.set(payload, 8);
  // A computed zero is sent as all ones: zero means "no checksum" (and is illegal over IPv6).
  dv.setUint16(6, internetChecksum(pseudoHeader(src, dst, IPPROTO_UDP, out.length), out) || 0xffff);
  return out;
}

export interface EchoOptions {
  reply?: boolean;
  identifier?: number;
  sequence?: number;
  payload?: Payload;
}

/** ICMP echo (IPv4 addresses) or ICMPv6 echo (IPv6 addresses, checksum over the pseudo-header). */
export function echoMessage(src: Uint8Array, dst: Uint8Array, opts: EchoOptions): Uint8Array {
  const v6 = src.length === 16;
  const payload = bytes(opts.payload);
  const out = new Uint8Array(8 + payload.length);
  const dv = new DataView(out.buffer);
  out[0] = v6 ? (opts.reply ? 129 : 128) : opts.reply ? 0 : 8;
  dv.setUint16(4, opts.identifier ?? 0);
  dv.setUint16(6, opts.sequence ?? 0);
  out.set(payload, 8);
  const sum = v6 ? internetChecksum(pseudoHeader(src, dst, IPPROTO_ICMPV6, out.length), out) : internetChecksum(out);
  dv.setUint16(2, sum);
  return out;
}

export interface SctpInitOptions {
  sport: number;
  dport: number;
  initiateTag?: number;
  advertisedWindow?: number;
  outboundStreams?: number;
  inboundStreams?: number;
  initialTsn?: number;
  /** Optional parameters after the fixed INIT fields, padded here to a multiple of 4. */
  parameters?: Uint8Array;
}

/** An SCTP packet holding one INIT chunk, with its CRC32c checksum. */
export function sctpInitPacket(opts: SctpInitOptions): Uint8Array {
  const params = opts.parameters ?? new Uint8Array(0);
  const chunkLen = 20 + params.length;
  const out = new Uint8Array(12 + ((chunkLen + 3) & ~3));
  const dv = new DataView(out.buffer);
  dv.setUint16(0, opts.sport);
  dv.setUint16(2, opts.dport);
  // Verification tag stays 0: an INIT is the one chunk sent before the peer's tag is known.
  out[12] = 1; // chunk type INIT
  dv.setUint16(14, chunkLen);
  dv.setUint32(16, (opts.initiateTag ?? 1) >>> 0);
  dv.setUint32(20, (opts.advertisedWindow ?? 65536) >>> 0);
  dv.setUint16(24, opts.outboundStreams ?? 10);
  dv.setUint16(26, opts.inboundStreams ?? 10);
  dv.setUint32(28, (opts.initialTsn ?? 0) >>> 0);
  out.set(params, 32);
  // The CRC is computed with the field zeroed and stored least significant byte first.
  dv.setUint32(8, crc32c(out), true);
  return out;
}

/** Ethernet + IP + TCP. */
export function tcp(opts: FrameOptions & IpOptions & TcpOptions): Uint8Array {
  return framed(opts, IPPROTO_TCP, tcpSegment(parseIp(opts.src), parseIp(opts.dst), opts));
}

/** Ethernet + IP + UDP. */
export function udp(opts: FrameOptions & IpOptions & UdpOptions): Uint8Array {
  return framed(opts, IPPROTO_UDP, udpDatagram(parseIp(opts.src), parseIp(opts.dst), opts));
}

/** Ethernet + IPv4 + ICMP echo, or Ethernet + IPv6 + ICMPv6 echo, by the address family. */
export function icmpEcho(opts: FrameOptions & IpOptions & EchoOptions): Uint8Array {
  const protocol = isV6(opts) ? IPPROTO_ICMPV6 : IPPROTO_ICMP;
  return framed(opts, protocol, echoMessage(parseIp(opts.src), parseIp(opts.dst), opts));
}

/** Ethernet + IP + SCTP INIT. */
export function sctpInit(opts: FrameOptions & IpOptions & SctpInitOptions): Uint8Array {
  return framed(opts, IPPROTO_SCTP, sctpInitPacket(opts));
}

// The SCTP packets a live probe exchanges when the kernel has no SCTP sockets: an INIT from the
// client, an INIT-ACK from the server (RFC 9260 sections 3.3.2 and 3.3.3), sent and received
// through raw IPPROTO_SCTP sockets. A kernel without SCTP hands such packets to raw sockets and
// answers nothing itself, so an INIT-ACK coming back means the association could have begun:
// both directions of the path carried SCTP.
//
// Also the IPv4 header for raw sends that must carry a chosen source address (IP_HDRINCL).

import { isIPv4 } from 'node:net';
import { crc32c } from '../pcap/checksum.js';
import { sctpInitPacket } from '../pcap/build.js';

export const SCTP_INIT = 1;
export const SCTP_INIT_ACK = 2;
export const IPPROTO_SCTP = 132;
const PARAM_STATE_COOKIE = 7;

export function sctpInit(sport: number, dport: number, initiateTag: number): Buffer {
  return Buffer.from(sctpInitPacket({ sport, dport, initiateTag, initialTsn: initiateTag }));
}

/** An INIT-ACK answering an INIT: tagged with the INIT's initiate tag, with a state cookie. */
export function sctpInitAck(init: SctpPacket, initiateTag: number): Buffer {
  const cookie = Buffer.alloc(8);
  cookie.writeUInt32BE(init.initiateTag ?? 0, 0);
  cookie.writeUInt32BE(initiateTag, 4);
  const paramLen = 4 + cookie.length;
  const chunkLen = 20 + paramLen;
  const out = Buffer.alloc(12 + chunkLen);
  out.writeUInt16BE(init.dport, 0);
  out.writeUInt16BE(init.sport, 2);
  out.writeUInt32BE(init.initiateTag ?? 0, 4);
  out[12] = SCTP_INIT_ACK;
  out.writeUInt16BE(chunkLen, 14);
  out.writeUInt32BE(initiateTag >>> 0, 16);
  out.writeUInt32BE(65536, 20); // a_rwnd
  out.writeUInt16BE(10, 24); // outbound streams
  out.writeUInt16BE(10, 26); // inbound streams
  out.writeUInt32BE(initiateTag >>> 0, 28); // initial TSN
  out.writeUInt16BE(PARAM_STATE_COOKIE, 32);
  out.writeUInt16BE(paramLen, 34);
  cookie.copy(out, 36);
  out.writeUInt32LE(crc32c(out), 8);
  return out;
}

export interface SctpPacket {
  sport: number;
  dport: number;
  vtag: number;
  /** Type of the first chunk. */
  chunk: number;
  /** The initiate tag of an INIT or INIT-ACK. */
  initiateTag?: number;
}

/** Parses an SCTP packet (no IP header); undefined when it is short or its CRC32c is wrong. */
export function parseSctp(b: Buffer): SctpPacket | undefined {
  if (b.length < 16) return undefined;
  const want = b.readUInt32LE(8);
  const copy = Buffer.from(b);
  copy.writeUInt32LE(0, 8);
  if (crc32c(copy) !== want) return undefined;
  const p: SctpPacket = { sport: b.readUInt16BE(0), dport: b.readUInt16BE(2), vtag: b.readUInt32BE(4), chunk: b[12]! };
  if ((p.chunk === SCTP_INIT || p.chunk === SCTP_INIT_ACK) && b.length >= 20) p.initiateTag = b.readUInt32BE(16);
  return p;
}

/** An IPv4 raw socket delivers the IP header too; returns the addresses and the payload. */
export function splitIpv4(b: Buffer): { src: string; dst: string; payload: Buffer } | undefined {
  if (b.length < 20 || b[0]! >> 4 !== 4) return undefined;
  const ihl = (b[0]! & 0x0f) * 4;
  if (ihl < 20 || b.length < ihl) return undefined;
  return { src: [...b.subarray(12, 16)].join('.'), dst: [...b.subarray(16, 20)].join('.'), payload: b.subarray(ihl) };
}

/** IPv4 header + payload for an IP_HDRINCL socket (the kernel fills the checksum and the id). */
export function ipv4Packet(src: string, dst: string, protocol: number, payload: Buffer): Buffer {
  if (!isIPv4(src) || !isIPv4(dst)) throw new RangeError(`not IPv4 addresses: ${src} -> ${dst}`);
  const h = Buffer.alloc(20);
  h[0] = 0x45;
  h.writeUInt16BE(20 + payload.length, 2);
  h.writeUInt16BE(0x4000, 6); // don't fragment
  h[8] = 64;
  h[9] = protocol;
  Buffer.from(src.split('.').map(Number)).copy(h, 12);
  Buffer.from(dst.split('.').map(Number)).copy(h, 16);
  return Buffer.concat([h, payload]);
}

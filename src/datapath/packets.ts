// Synthetic connections for probes: the first packet a client sends and the reply a server
// sends back, as whole Ethernet frames with every checksum right, for IPv4 and IPv6. TCP opens
// with SYN / SYN-ACK, UDP with a datagram and its response, SCTP with INIT / INIT-ACK, ICMP with
// echo request / reply. Built on src/pcap/build.ts; the one thing it lacks (an SCTP INIT-ACK) is
// written here.
//
// Everything is a pure function of its arguments, and source ports come from a counter, so a
// probe file gives byte-identical packets on every run and in both engines.

import { crc32c } from '../pcap/checksum.js';
import { ETH_P_IP, ETH_P_IPV6 } from '../pcap/linktype.js';
import { ethernet, icmpEcho, IPPROTO_SCTP, ipv4, ipv6, sctpInit, tcp, udp, type FrameOptions, type Mac } from '../pcap/build.js';

export type ConnectionProtocol = 'TCP' | 'UDP' | 'SCTP' | 'ICMP';

/** The client's and the server's MAC. The datapath never looks at them; they only need to be
 * fixed (reproducible bytes) and locally administered (never a real vendor's address). */
export const CLIENT_MAC = '02:74:70:00:00:01';
export const SERVER_MAC = '02:74:70:00:00:02';

/** Linux's default ephemeral port range (net.ipv4.ip_local_port_range). */
export const EPHEMERAL_FIRST = 32768;
export const EPHEMERAL_LAST = 60999;

/** Source ports handed out in order from the start of the ephemeral range, wrapping at its end:
 * the same sequence of probes always uses the same ports. */
export class SourcePorts {
  private nextPort = EPHEMERAL_FIRST;

  next(): number {
    const p = this.nextPort;
    this.nextPort = p === EPHEMERAL_LAST ? EPHEMERAL_FIRST : p + 1;
    return p;
  }
}

export interface ConnectionSpec {
  protocol: ConnectionProtocol;
  /** Client and server addresses, both IPv4 or both IPv6. */
  client: string;
  server: string;
  /** The client's source port (for ICMP: the echo identifier). */
  clientPort: number;
  /** The server's port (ignored for ICMP). */
  serverPort: number;
}

export interface Connection {
  /** Client -> server: SYN, the datagram, INIT, or the echo request. */
  request: Uint8Array;
  /** Server -> client: SYN-ACK, the response, INIT-ACK, or the echo reply. */
  reply: Uint8Array;
}

// Fixed initial sequence numbers and SCTP tags: arbitrary, non-zero, distinct per side so that a
// reader of a dump can tell the two directions apart.
const CLIENT_ISN = 0x1000_0000;
const SERVER_ISN = 0x2000_0000;
const CLIENT_SCTP_TAG = 0x0c11_e000;
const SERVER_SCTP_TAG = 0x05e7_7e00;
const UDP_REQUEST = 'twinpath probe';
const UDP_RESPONSE = 'twinpath reply';

/** The first packet of a connection and the server's reply to it. */
export function connectionPackets(c: ConnectionSpec): Connection {
  checkPort(c.clientPort, 'client port');
  if (c.protocol !== 'ICMP') checkPort(c.serverPort, 'server port');
  if (c.client.includes(':') !== c.server.includes(':')) throw new RangeError(`addresses ${c.client} and ${c.server} are of different families`);
  const there: FrameOptions & { src: string; dst: string } = { srcMac: CLIENT_MAC, dstMac: SERVER_MAC, src: c.client, dst: c.server };
  const back: FrameOptions & { src: string; dst: string } = { srcMac: SERVER_MAC, dstMac: CLIENT_MAC, src: c.server, dst: c.client };
  switch (c.protocol) {
    case 'TCP':
      return {
        request: tcp({ ...there, sport: c.clientPort, dport: c.serverPort, flags: 'S', seq: CLIENT_ISN }),
        reply: tcp({ ...back, sport: c.serverPort, dport: c.clientPort, flags: 'SA', seq: SERVER_ISN, ack: CLIENT_ISN + 1 }),
      };
    case 'UDP':
      return {
        request: udp({ ...there, sport: c.clientPort, dport: c.serverPort, payload: UDP_REQUEST }),
        reply: udp({ ...back, sport: c.serverPort, dport: c.clientPort, payload: UDP_RESPONSE }),
      };
    case 'SCTP':
      return {
        request: sctpInit({ ...there, sport: c.clientPort, dport: c.serverPort, initiateTag: CLIENT_SCTP_TAG, initialTsn: CLIENT_ISN }),
        reply: sctpInitAck({ ...back, sport: c.serverPort, dport: c.clientPort, peerTag: CLIENT_SCTP_TAG, initiateTag: SERVER_SCTP_TAG, initialTsn: SERVER_ISN }),
      };
    case 'ICMP':
      return {
        request: icmpEcho({ ...there, identifier: c.clientPort, sequence: 1 }),
        reply: icmpEcho({ ...back, reply: true, identifier: c.clientPort, sequence: 1 }),
      };
  }
}

function checkPort(p: number, what: string): void {
  if (!Number.isInteger(p) || p < 1 || p > 65535) throw new RangeError(`${what} ${p} is not in 1..65535`);
}

export interface SctpInitAckOptions {
  src: string;
  dst: string;
  srcMac?: Mac;
  dstMac?: Mac;
  sport: number;
  dport: number;
  /** The INIT's initiate tag: an INIT-ACK carries it as its verification tag (RFC 9260 8.5.1). */
  peerTag: number;
  /** This side's own tag, which the peer will use from now on. */
  initiateTag: number;
  initialTsn?: number;
  /** The opaque state cookie, mandatory in an INIT-ACK; 8 fixed bytes by default. */
  cookie?: Uint8Array;
}

const CHUNK_INIT_ACK = 2;
const PARAM_STATE_COOKIE = 7;

/** Ethernet + IP + SCTP INIT-ACK with a State Cookie parameter and its CRC32c checksum. */
export function sctpInitAck(o: SctpInitAckOptions): Uint8Array {
  const cookie = o.cookie ?? Uint8Array.of(0x74, 0x77, 0x69, 0x6e, 0x70, 0x61, 0x74, 0x68);
  const paramLen = 4 + cookie.length;
  const chunkLen = 20 + paramLen;
  const sctp = new Uint8Array(12 + ((chunkLen + 3) & ~3));
  const dv = new DataView(sctp.buffer);
  dv.setUint16(0, o.sport);
  dv.setUint16(2, o.dport);
  dv.setUint32(4, o.peerTag >>> 0);
  sctp[12] = CHUNK_INIT_ACK;
  dv.setUint16(14, chunkLen);
  dv.setUint32(16, o.initiateTag >>> 0);
  dv.setUint32(20, 65536); // advertised receiver window
  dv.setUint16(24, 10); // outbound streams
  dv.setUint16(26, 10); // inbound streams
  dv.setUint32(28, (o.initialTsn ?? 0) >>> 0);
  dv.setUint16(32, PARAM_STATE_COOKIE);
  dv.setUint16(34, paramLen);
  sctp.set(cookie, 36);
  // Computed over the whole packet with the checksum field zero; stored least significant byte first.
  dv.setUint32(8, crc32c(sctp), true);
  const v6 = o.src.includes(':');
  const ip = v6
    ? ipv6({ src: o.src, dst: o.dst, nextHeader: IPPROTO_SCTP, payload: sctp })
    : ipv4({ src: o.src, dst: o.dst, protocol: IPPROTO_SCTP, payload: sctp });
  return ethernet({ srcMac: o.srcMac ?? SERVER_MAC, dstMac: o.dstMac ?? CLIENT_MAC, ethertype: v6 ? ETH_P_IPV6 : ETH_P_IP, payload: ip });
}

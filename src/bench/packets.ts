// The scaling benchmark's traffic: first packets of connections (TCP SYNs, UDP datagrams) from
// clients in the benchmarking range 198.18.0.0/15 (RFC 2544) to service frontends, built with
// the project's packet builder so every checksum is right and the service path's DNAT has
// correct checksums to update. Each packet of a measurement opens a new connection: only a
// connection's first packet walks kube-proxy's KUBE-SERVICES chain (conntrack handles the rest),
// so first packets are what the two designs differ on.

import { tcp, udp } from '../pcap/build.js';
import type { LinearRule } from './linear.js';

/** Flows numbered from 0; every number is a distinct (client, source port). */
const PORTS_PER_CLIENT = 40_000;
const FIRST_SPORT = 20_000;

export function clientOf(flow: number): { address: string; sport: number } {
  const c = Math.floor(flow / PORTS_PER_CLIENT);
  return { address: `198.${18 + ((c >> 16) & 1)}.${(c >> 8) & 0xff}.${c & 0xff}`, sport: FIRST_SPORT + (flow % PORTS_PER_CLIENT) };
}

/** The first packet of flow number `flow` to a frontend (address, port, IANA protocol). */
export function firstPacket(flow: number, to: LinearRule): Uint8Array {
  const { address, sport } = clientOf(flow);
  return to.proto === 17
    ? udp({ src: address, dst: to.address, sport, dport: to.port, payload: 'q' })
    : tcp({ src: address, dst: to.address, sport, dport: to.port, flags: 'S', seq: 1 });
}

/** Where the destination of an Ethernet/IPv4 packet with TCP or UDP is: address and port. */
export function destinationOf(p: Uint8Array): { address: string; port: number } {
  const ihl = (p[14]! & 0xf) * 4;
  return { address: `${p[30]}.${p[31]}.${p[32]}.${p[33]}`, port: (p[14 + ihl + 2]! << 8) | p[14 + ihl + 3]! };
}

// Test helpers for src/lb: small builders for cluster objects (as the loader would produce them)
// and a checker that recomputes every checksum of a packet from scratch.

import type { Cluster, EndpointSlice, EndpointSliceEndpoint, Node, Pod, Service, ServicePort, Source } from '../../src/policy/ast.js';
import { crc32c, internetChecksumValid, pseudoHeader } from '../../src/pcap/checksum.js';
import { formatAddr } from '../../src/lb/addr.js';

export const src = (path = ''): Source => ({ file: 'cluster.yaml', line: 1, column: 1, path });

export function node(name: string, addresses: string[]): Node {
  return { name, labels: {}, addresses, podCIDRs: [], src: src(`node/${name}`) };
}

export function pod(name: string, ips: string[], nodeName: string, ports: Pod['ports'] = [], namespace = 'default'): Pod {
  return { namespace, name, labels: {}, ips, nodeName, ports, hostNetwork: false, src: src(`pod/${name}`) };
}

export function service(name: string, over: Partial<Service> & { ports: ServicePort[] }): Service {
  return {
    namespace: 'default',
    name,
    type: 'ClusterIP',
    clusterIPs: [],
    externalIPs: [],
    sessionAffinity: 'None',
    affinityTimeoutSeconds: 10800,
    internalTrafficPolicy: 'Cluster',
    externalTrafficPolicy: 'Cluster',
    src: src(`service/${name}`),
    ...over,
  };
}

export function ep(address: string, over: Partial<EndpointSliceEndpoint> = {}): EndpointSliceEndpoint {
  return { addresses: [address], ready: true, serving: true, terminating: false, ...over };
}

export function slice(name: string, serviceName: string, endpoints: EndpointSliceEndpoint[], ports: EndpointSlice['ports'], addressType: EndpointSlice['addressType'] = 'IPv4'): EndpointSlice {
  return { namespace: 'default', name, serviceName, addressType, endpoints, ports, src: src(`slice/${name}`) };
}

export function cluster(parts: Partial<Cluster>): Cluster {
  return { namespaces: [], pods: [], nodes: [], services: [], endpointSlices: [], ...parts };
}

export interface Decoded {
  family: 4 | 6;
  src: string;
  dst: string;
  proto: number;
  sport: number;
  dport: number;
  /** The L4 checksum field as it is in the packet (SCTP: the CRC read little-endian). */
  l4sum: number;
}

/** Decodes Ethernet + IPv4/IPv6 + TCP/UDP/SCTP and throws unless every checksum is right when
 * recomputed from scratch (a UDP checksum of 0, "none", is accepted as such). */
export function checkPacket(p: Uint8Array): Decoded {
  const dv = new DataView(p.buffer, p.byteOffset, p.length);
  const ethertype = dv.getUint16(12);
  let l3 = 14;
  let l4: number;
  let srcB: Uint8Array;
  let dstB: Uint8Array;
  let proto: number;
  let l4len: number;
  let family: 4 | 6;
  if (ethertype === 0x0800) {
    family = 4;
    const ihl = (p[l3]! & 0xf) * 4;
    if (!internetChecksumValid(p.subarray(l3, l3 + ihl))) throw new Error('bad IPv4 header checksum');
    proto = p[l3 + 9]!;
    srcB = p.slice(l3 + 12, l3 + 16);
    dstB = p.slice(l3 + 16, l3 + 20);
    l4 = l3 + ihl;
    l4len = dv.getUint16(l3 + 2) - ihl;
  } else if (ethertype === 0x86dd) {
    family = 6;
    proto = p[l3 + 6]!;
    srcB = p.slice(l3 + 8, l3 + 24);
    dstB = p.slice(l3 + 24, l3 + 40);
    l4 = l3 + 40;
    l4len = dv.getUint16(l3 + 4);
  } else {
    throw new Error(`not IP: ethertype 0x${ethertype.toString(16)}`);
  }
  const seg = p.subarray(l4, l4 + l4len);
  let l4sum: number;
  if (proto === 6 || proto === 17) {
    l4sum = dv.getUint16(l4 + (proto === 6 ? 16 : 6));
    const none = proto === 17 && l4sum === 0;
    if (!none && !internetChecksumValid(pseudoHeader(srcB, dstB, proto, l4len), seg)) throw new Error(`bad ${proto === 6 ? 'TCP' : 'UDP'} checksum`);
  } else if (proto === 132) {
    l4sum = dv.getUint32(l4 + 8, true);
    const copy = seg.slice();
    copy.fill(0, 8, 12);
    if (crc32c(copy) !== l4sum) throw new Error('bad SCTP CRC32c');
  } else {
    throw new Error(`unexpected protocol ${proto}`);
  }
  return { family, src: formatAddr(srcB), dst: formatAddr(dstB), proto, sport: dv.getUint16(l4), dport: dv.getUint16(l4 + 2), l4sum };
}

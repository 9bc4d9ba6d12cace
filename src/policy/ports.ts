// Destination-port selections of policy rules and their encoding as policy-map keys: a port
// range becomes the minimal set of aligned power-of-two blocks (port/prefix over 16 bits), so
// that the datapath's longest-prefix lookup costs one entry per block instead of one per port.

import { PROTO } from './model.js';

/** What one port clause of a rule selects, before named ports are resolved. */
export type PortSel =
  /** Every protocol, every port (a rule without ports). */
  | { kind: 'any' }
  /** Ports lo..hi of one protocol (0..65535 = every port of that protocol). */
  | { kind: 'range'; proto: number; lo: number; hi: number }
  /** A container port name, resolved on the destination pod for one protocol. */
  | { kind: 'named'; proto: number; name: string };

export interface PortBlock {
  port: number;
  prefixLen: number;
}

/** The minimal list of aligned blocks covering exactly [lo, hi] (0 <= lo <= hi <= 65535), ascending. */
export function rangeToBlocks(lo: number, hi: number): PortBlock[] {
  const out: PortBlock[] = [];
  let p = lo;
  while (p <= hi) {
    // The largest block starting at p that is aligned on its size and stays within hi.
    let size = p === 0 ? 1 << 16 : p & -p;
    while (p + size - 1 > hi) size >>= 1;
    out.push({ port: p, prefixLen: 16 - Math.log2(size) });
    p += size;
  }
  return out;
}

/** The inclusive port range a block covers. */
export function blockRange(b: PortBlock): [number, number] {
  const size = 1 << (16 - b.prefixLen);
  return [b.port, b.port + size - 1];
}

export const PROTO_NAMES: Record<number, string> = {
  [PROTO.ANY]: 'ANY',
  [PROTO.ICMP]: 'ICMP',
  [PROTO.TCP]: 'TCP',
  [PROTO.UDP]: 'UDP',
  [PROTO.ICMPV6]: 'ICMPv6',
  [PROTO.SCTP]: 'SCTP',
};

export function protoNumber(name: 'TCP' | 'UDP' | 'SCTP' | 'ICMP' | 'ICMPv6'): number {
  switch (name) {
    case 'TCP':
      return PROTO.TCP;
    case 'UDP':
      return PROTO.UDP;
    case 'SCTP':
      return PROTO.SCTP;
    case 'ICMP':
      return PROTO.ICMP;
    case 'ICMPv6':
      return PROTO.ICMPV6;
  }
}

export function describePortSel(p: PortSel): string {
  switch (p.kind) {
    case 'any':
      return 'any port';
    case 'named':
      return `${PROTO_NAMES[p.proto]}/${p.name}`;
    case 'range': {
      const proto = PROTO_NAMES[p.proto] ?? String(p.proto);
      if (p.lo === 0 && p.hi === 65535) return proto;
      const what = p.proto === PROTO.ICMP || p.proto === PROTO.ICMPV6 ? ' type ' : '/';
      return p.lo === p.hi ? `${proto}${what}${p.lo}` : `${proto}${what}${p.lo}-${p.hi}`;
    }
  }
}

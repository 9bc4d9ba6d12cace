// IP addresses and CIDR prefixes as the policy inputs write them. Parsing is as strict as Go's
// net/netip (no leading zeros in IPv4 octets, no zones), which is what Cilium uses; a prefix
// with host bits set (`10.0.0.1/24`) is accepted and masked, as both the Kubernetes API and
// Cilium accept it. The loader hands the compiler canonical text (RFC 5952 for IPv6), so equal
// addresses are equal strings.

import { formatIPBytes, parseIPBytes } from '../util/ip.js';

export interface IPAddr {
  family: 4 | 6;
  bytes: Uint8Array;
}

export interface Prefix extends IPAddr {
  bits: number;
}

export function parseIP(s: string): IPAddr | undefined {
  const b = parseIPBytes(s);
  return b && { family: b.length === 4 ? 4 : 6, bytes: b };
}

export function formatIP(a: IPAddr): string {
  const b = a.bytes;
  // IPv4-mapped addresses keep the dotted tail, as Go and RFC 5952 write them.
  if (a.family === 6 && b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) {
    return `::ffff:${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  }
  return formatIPBytes(b);
}

/** `addr/bits`, masked to the prefix. */
export function parsePrefix(s: string): Prefix | undefined {
  const slash = s.indexOf('/');
  if (slash < 0) return undefined;
  const addr = parseIP(s.slice(0, slash));
  const bitsText = s.slice(slash + 1);
  if (addr === undefined || !/^(0|[1-9][0-9]{0,2})$/.test(bitsText)) return undefined;
  const bits = Number(bitsText);
  if (bits > (addr.family === 4 ? 32 : 128)) return undefined;
  const bytes = addr.bytes.slice();
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, bits - 8 * i));
    bytes[i] &= keep === 0 ? 0 : (0xff << (8 - keep)) & 0xff;
  }
  return { family: addr.family, bytes, bits };
}

export function formatPrefix(p: Prefix): string {
  return `${formatIP(p)}/${p.bits}`;
}

/** Whether `inner`'s first address lies inside `outer` (same family). */
export function prefixContains(outer: Prefix, inner: IPAddr): boolean {
  if (outer.family !== inner.family) return false;
  for (let bit = 0; bit < outer.bits; bit++) {
    const mask = 0x80 >> (bit % 8);
    const byte = bit >> 3;
    if ((outer.bytes[byte] & mask) !== (inner.bytes[byte] & mask)) return false;
  }
  return true;
}

/** A host address written without a length, as a prefix of the full length. */
export function hostPrefix(a: IPAddr): Prefix {
  return { ...a, bits: a.family === 4 ? 32 : 128 };
}

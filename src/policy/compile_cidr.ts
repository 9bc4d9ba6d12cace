// IP addresses and prefixes for the policy compiler: parsing (both families, IPv4-embedded IPv6),
// normalisation (host bits cleared), containment and a canonical text form. Addresses are
// bigints so that both families share one set of operations.

import type { Source } from './ast.js';
import { TwinpathError } from '../errors.js';
import { formatIPBytes, parseIPBytes } from '../util/ip.js';

export type Family = 4 | 6;

export interface Addr {
  family: Family;
  value: bigint;
}

export interface Prefix {
  family: Family;
  /** The network address, host bits cleared. */
  addr: bigint;
  len: number;
}

const BITS: Record<Family, number> = { 4: 32, 6: 128 };

export function parseAddr(text: string): Addr | undefined {
  const b = parseIPBytes(text);
  if (b === undefined) return undefined;
  let value = 0n;
  for (const x of b) value = (value << 8n) | BigInt(x);
  return { family: b.length === 4 ? 4 : 6, value };
}

function mask(family: Family, len: number): bigint {
  const bits = BigInt(BITS[family]);
  const all = (1n << bits) - 1n;
  return len === 0 ? 0n : (all >> BigInt(BITS[family] - len)) << BigInt(BITS[family] - len);
}

/** A CIDR (`10.0.0.0/8`) or a bare address (a full-length prefix); host bits are cleared. */
export function parsePrefix(text: string, src: Source): Prefix {
  const slash = text.indexOf('/');
  const addrText = slash < 0 ? text : text.slice(0, slash);
  const addr = parseAddr(addrText.trim());
  const lenText = slash < 0 ? undefined : text.slice(slash + 1);
  if (addr === undefined || (lenText !== undefined && !/^\d{1,3}$/.test(lenText))) {
    throw new TwinpathError('POLICY_BAD_CIDR', `"${text}" is not a CIDR`, loc(src));
  }
  const len = lenText === undefined ? BITS[addr.family] : Number(lenText);
  if (len > BITS[addr.family]) {
    throw new TwinpathError('POLICY_BAD_CIDR', `"${text}": prefix length ${len} exceeds ${BITS[addr.family]}`, loc(src));
  }
  return { family: addr.family, addr: addr.value & mask(addr.family, len), len };
}

export function hostPrefix(a: Addr): Prefix {
  return { family: a.family, addr: a.value, len: BITS[a.family] };
}

/** Whether `outer` contains every address of `inner`. */
export function prefixContains(outer: Prefix, inner: Prefix): boolean {
  return (
    outer.family === inner.family && outer.len <= inner.len && (inner.addr & mask(outer.family, outer.len)) === outer.addr
  );
}

export function prefixHas(p: Prefix, a: Addr): boolean {
  return p.family === a.family && (a.value & mask(p.family, p.len)) === p.addr;
}

export function formatAddr(a: Addr): string {
  const b = new Uint8Array(a.family === 4 ? 4 : 16);
  for (let i = b.length - 1, v = a.value; i >= 0; i--, v >>= 8n) b[i] = Number(v & 0xffn);
  return formatIPBytes(b);
}

export function formatPrefix(p: Prefix): string {
  return `${formatAddr({ family: p.family, value: p.addr })}/${p.len}`;
}

/** Canonical order: IPv4 first, then by address, then shorter prefixes first. */
export function comparePrefix(a: Prefix, b: Prefix): number {
  if (a.family !== b.family) return a.family - b.family;
  if (a.addr !== b.addr) return a.addr < b.addr ? -1 : 1;
  return a.len - b.len;
}

export function isAllPrefix(p: Prefix): boolean {
  return p.len === 0;
}

export function loc(src: Source): { file: string; line: number; column: number; path: string } {
  return { file: src.file, line: src.line, column: src.column, path: src.path };
}

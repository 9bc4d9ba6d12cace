// IP addresses and prefixes for the policy compiler: parsing (both families, IPv4-embedded IPv6),
// normalisation (host bits cleared), containment and a canonical text form. Addresses are
// bigints so that both families share one set of operations.

import { isIPv4, isIPv6 } from 'node:net';
import type { Source } from './ast.js';
import { TwinpathError } from '../errors.js';

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
  if (isIPv4(text)) {
    let v = 0n;
    for (const part of text.split('.')) v = (v << 8n) | BigInt(Number(part));
    return { family: 4, value: v };
  }
  if (!isIPv6(text)) return undefined;
  let s = text.split('%')[0]!;
  // A trailing dotted quad stands for the last two groups.
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (dotted) {
    const v4 = parseAddr(dotted[1]!)!.value;
    s = s.slice(0, dotted.index) + `${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [head, tail] = s.includes('::') ? s.split('::') : [s, undefined];
  const groups = (t: string | undefined): string[] => (t === undefined || t === '' ? [] : t.split(':'));
  const h = groups(head);
  const t = groups(tail);
  const fill = tail === undefined ? [] : new Array<string>(8 - h.length - t.length).fill('0');
  let v = 0n;
  for (const g of [...h, ...fill, ...t]) v = (v << 16n) | BigInt(parseInt(g, 16));
  return { family: 6, value: v };
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
  if (a.family === 4) {
    const v = a.value;
    return [24n, 16n, 8n, 0n].map((s) => Number((v >> s) & 0xffn)).join('.');
  }
  const g: number[] = [];
  for (let i = 7; i >= 0; i--) g.push(Number((a.value >> BigInt(i * 16)) & 0xffffn));
  // RFC 5952: the longest run (of two or more) of zero groups becomes `::`.
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  const hex = (xs: number[]): string => xs.map((x) => x.toString(16)).join(':');
  if (best < 0) return hex(g);
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
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

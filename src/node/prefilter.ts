// The XDP prefilter (bpf/datapath/prefilter.bpf.c, bpf/lib/prefilter.h) as data: the deny list
// of source CIDRs, checked and put in canonical form; the bytes of its two LPM tries; reading the
// list and the per-verdict counters back; and changing a live list in the order that never
// lets through a source that either the old or the new list denies.
//
// The functions take the maps through the small RawMap interface, so they work on an engine's
// maps (the VM in tests) and on the pinned kernel maps of a node attachment alike.

import { fileURLToPath } from 'node:url';
import { TwinpathError, isTwinpathError } from '../errors.js';
import { formatIp } from '../datapath/flow.js';
import { parsePrefix } from '../datapath/maps.js';
import { hex, type RawMap, type Table } from './tables.js';

export const PREFILTER_OBJECT: string = fileURLToPath(new URL('../../bpf/datapath/prefilter.bpf.o', import.meta.url));
export const PROG_XDP_PREFILTER = 'cil_xdp_prefilter';

/** Map names, as lib/prefilter.h defines them. */
export const PREFILTER_MAPS = {
  v4: 'cilium_prefilter_v4',
  v6: 'cilium_prefilter_v6',
  metrics: 'cilium_prefilter_metrics',
} as const;

/** lib/prefilter.h PREFILTER_MAX_ENTRIES: entries per family. */
export const PREFILTER_MAX_ENTRIES = 16384;

/** Counter slots are indexed by the XDP action returned (enum xdp_action). */
export const XDP_DROP = 1;
export const XDP_PASS = 2;

/** What the prefilter did, summed over every CPU. */
export interface PrefilterCounters {
  passed: { packets: bigint; bytes: bigint };
  dropped: { packets: bigint; bytes: bigint };
}

/**
 * The deny list in canonical form: each prefix checked (an address alone means the one host),
 * written as the map will give it back (RFC 5952 for IPv6), duplicates folded, IPv4 first, then
 * by address and length. Bad input names its place (`what[i]`) and nothing is returned.
 */
export function parsePrefilterCidrs(list: readonly string[], what = '--prefilter'): string[] {
  const seen = new Map<string, { family: 4 | 6; addr: Uint8Array; len: number }>();
  const counts = { 4: 0, 6: 0 };
  list.forEach((text, i) => {
    let p;
    try {
      p = parsePrefix(text.trim());
    } catch (e) {
      if (!isTwinpathError(e)) throw e;
      throw new TwinpathError('NODE_ERROR', `"${text}" is not a CIDR: ${e.detail.replace(/^prefix "[^"]*": /, '')}`, { path: `${what}[${i}]` });
    }
    const key = `${formatIp(p.addr.subarray(0, p.family === 4 ? 4 : 16))}/${p.len}`;
    if (!seen.has(key)) {
      seen.set(key, p);
      counts[p.family] += 1;
    }
  });
  for (const f of [4, 6] as const) {
    if (counts[f] > PREFILTER_MAX_ENTRIES) {
      throw new TwinpathError('NODE_ERROR', `${counts[f]} IPv${f} prefixes exceed the prefilter's ${PREFILTER_MAX_ENTRIES}`, { path: what });
    }
  }
  return [...seen].sort((a, b) => compareParsed(a[1], b[1])).map(([k]) => k);
}

function compareParsed(a: { family: number; addr: Uint8Array; len: number }, b: { family: number; addr: Uint8Array; len: number }): number {
  if (a.family !== b.family) return a.family - b.family;
  for (let i = 0; i < 16; i++) if (a.addr[i] !== b.addr[i]) return a.addr[i]! - b.addr[i]!;
  return a.len - b.len;
}

/** struct prefilter_v4_key / prefilter_v6_key of a canonical prefix. */
export function encodePrefilterKey(cidr: string): { family: 4 | 6; key: Uint8Array } {
  const p = parsePrefix(cidr);
  const n = p.family === 4 ? 4 : 16;
  const key = new Uint8Array(4 + n);
  new DataView(key.buffer).setUint32(0, p.len, true);
  key.set(p.addr.subarray(0, n), 4);
  return { family: p.family, key };
}

function decodePrefilterKey(key: Uint8Array): string {
  const len = new DataView(key.buffer, key.byteOffset, key.byteLength).getUint32(0, true);
  return `${formatIp(key.subarray(4))}/${len}`;
}

/** The two tries' contents for a deny list (canonical prefixes, as parsePrefilterCidrs gives). */
export function prefilterTables(cidrs: readonly string[]): { v4: Table; v6: Table } {
  const out = { v4: new Map() as Table, v6: new Map() as Table };
  for (const c of cidrs) {
    const { family, key } = encodePrefilterKey(c);
    (family === 4 ? out.v4 : out.v6).set(hex(key), new Uint8Array([1]));
  }
  return out;
}

export interface PrefilterMaps {
  v4: RawMap;
  v6: RawMap;
}

/** The deny list the maps hold now, in canonical order. */
export function readPrefilter(maps: PrefilterMaps): string[] {
  const all: string[] = [];
  for (const m of [maps.v4, maps.v6]) for (const [k] of m.entries()) all.push(decodePrefilterKey(new Uint8Array(k)));
  return parsePrefilterCidrs(all, 'prefilter map');
}

/**
 * Makes the maps hold `cidrs`: the new prefixes are added first, then the old ones removed, so
 * while it runs the list is the union of the two and a source either list denies stays denied.
 */
export function applyPrefilter(maps: PrefilterMaps, cidrs: readonly string[]): { added: string[]; removed: string[] } {
  const want = new Set(parsePrefilterCidrs(cidrs));
  const have = new Set(readPrefilter(maps));
  const added = [...want].filter((c) => !have.has(c));
  const removed = [...have].filter((c) => !want.has(c));
  const mapOf = (family: 4 | 6): RawMap => (family === 4 ? maps.v4 : maps.v6);
  for (const c of added) {
    const { family, key } = encodePrefilterKey(c);
    mapOf(family).update(key, new Uint8Array([1]));
  }
  for (const c of removed) {
    const { family, key } = encodePrefilterKey(c);
    try {
      mapOf(family).delete(key);
    } catch (e) {
      if ((e as { errnoName?: string }).errnoName !== 'ENOENT') throw e;
    }
  }
  return { added, removed };
}

/** A map of per-verdict counters: an engine's (one summed value) or a pinned kernel map (one
 * value per possible CPU). */
export interface CounterMap {
  lookup(key: Uint8Array): Uint8Array | Uint8Array[] | undefined;
}

/** Packets and bytes passed and dropped, summed over every CPU. */
export function readPrefilterCounters(m: CounterMap): PrefilterCounters {
  const slot = (idx: number): { packets: bigint; bytes: bigint } => {
    const key = new Uint8Array(4);
    new DataView(key.buffer).setUint32(0, idx, true);
    const v = m.lookup(key);
    let packets = 0n;
    let bytes = 0n;
    for (const b of v === undefined ? [] : Array.isArray(v) ? v : [v]) {
      const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
      packets += dv.getBigUint64(0, true);
      bytes += dv.getBigUint64(8, true);
    }
    return { packets, bytes };
  };
  return { passed: slot(XDP_PASS), dropped: slot(XDP_DROP) };
}

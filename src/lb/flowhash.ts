// The flow hash that picks a Maglev slot, written identically here and in bpf/lib/lb.h
// (lb_flow_hash), so that tests and tools can predict which backend the datapath chooses.
//
// Input words (32-bit, host values): the source address, the destination address (each as its
// network-order bytes read big-endian: 1 word for IPv4, 4 for IPv6), then
// (source port << 16 | destination port), then the IP protocol number. Each word goes through
// MurmurHash3's x86_32 block step (seed 0x5eed1b0b); the length in bytes is mixed in and the
// result finished with MurmurHash3's fmix32. The slot is hash mod table size.

import { parseAddr } from './addr.js';

export const FLOW_HASH_SEED = 0x5eed1b0b;

export interface FlowTuple {
  saddr: string;
  daddr: string;
  sport: number;
  dport: number;
  /** IP protocol number (6, 17, 132). */
  proto: number;
}

const rotl = (x: number, r: number) => ((x << r) | (x >>> (32 - r))) >>> 0;

function step(h: number, w: number): number {
  let k = Math.imul(w >>> 0, 0xcc9e2d51);
  k = rotl(k >>> 0, 15);
  k = Math.imul(k, 0x1b873593) >>> 0;
  h = (h ^ k) >>> 0;
  h = rotl(h, 13);
  return (Math.imul(h, 5) + 0xe6546b64) >>> 0;
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The 32-bit flow hash over a tuple's words, as lb_flow_hash computes it. */
export function flowHashWords(words: readonly number[]): number {
  let h = FLOW_HASH_SEED;
  for (const w of words) h = step(h, w);
  return fmix32((h ^ (words.length * 4)) >>> 0);
}

function addrWords(text: string): number[] {
  const b = parseAddr(text);
  if (!b) throw new Error(`not an IP address: "${text}"`);
  const dv = new DataView(b.buffer, b.byteOffset, b.length);
  const out: number[] = [];
  for (let i = 0; i < b.length; i += 4) out.push(dv.getUint32(i));
  return out;
}

export function flowHash(t: FlowTuple): number {
  return flowHashWords([...addrWords(t.saddr), ...addrWords(t.daddr), ((t.sport << 16) | t.dport) >>> 0, t.proto]);
}

/** The Maglev slot lb.h looks at for this flow. */
export function maglevSlot(t: FlowTuple, tableSize: number): number {
  return flowHash(t) % tableSize;
}

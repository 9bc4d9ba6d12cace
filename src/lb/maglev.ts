// Maglev consistent hashing (Eisenbud et al., "Maglev: A Fast and Reliable Software Network Load
// Balancer", NSDI 2016, section 3.4): a lookup table of prime size M in which every backend owns
// about M/N slots, built so that removing one backend moves few slots that belonged to others.
//
// Each backend's permutation of the slots comes from two hashes of its stable key:
//   h      = FNV-1a 64 over the key's UTF-8 bytes (offset basis 0xcbf29ce484222325,
//            prime 0x100000001b3)
//   offset = mix64(h ^ 0x9e3779b97f4a7c15) mod M
//   skip   = mix64(h ^ 0xc2b2ae3d27d4eb4f) mod (M - 1) + 1
// where mix64 is the SplitMix64 finaliser (x ^= x>>30; x *= 0xbf58476d1ce4e5b9; x ^= x>>27;
// x *= 0x94d049bb133111eb; x ^= x>>31), which spreads FNV's weak low bits over the whole word.
// Backend i prefers slots offset, offset+skip, offset+2*skip, ... (mod M); since M is prime and
// 0 < skip < M, that sequence visits every slot once. The table is filled in rounds: in each round
// every backend takes its next preferred slot still free (a weighted backend takes `weight` of
// them), until all M slots are taken. Everything depends only on the keys, their order and M, so
// TypeScript computes the table once and both engines read the same bytes.

import { TwinpathError } from '../errors.js';

const MASK64 = (1n << 64n) - 1n;
const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;
const SEED_OFFSET = 0x9e3779b97f4a7c15n;
const SEED_SKIP = 0xc2b2ae3d27d4eb4fn;
/** The largest table accepted: beyond it the flat per-service array would not fit a map. */
export const MAX_MAGLEV_TABLE_SIZE = 1 << 24;

const utf8 = new TextEncoder();

/** FNV-1a, 64-bit, over the UTF-8 bytes of `key`. */
export function fnv1a64(key: string): bigint {
  let h = FNV_OFFSET;
  for (const b of utf8.encode(key)) h = ((h ^ BigInt(b)) * FNV_PRIME) & MASK64;
  return h;
}

/** The SplitMix64 finaliser. */
export function mix64(x: bigint): bigint {
  x &= MASK64;
  x = ((x ^ (x >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  x = ((x ^ (x >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return x ^ (x >> 31n);
}

export function isPrime(n: number): boolean {
  if (!Number.isInteger(n) || n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}

/** Throws LB_ERROR unless `size` is a prime Maglev can use (3 .. 2^24). */
export function checkTableSize(size: number): void {
  if (!isPrime(size) || size < 3 || size > MAX_MAGLEV_TABLE_SIZE) {
    throw new TwinpathError('LB_ERROR', `Maglev table size ${size} is not a prime between 3 and ${MAX_MAGLEV_TABLE_SIZE}`);
  }
}

/** A backend's place to start and stride through the table. */
export function permutation(key: string, size: number): { offset: number; skip: number } {
  const h = fnv1a64(key);
  const m = BigInt(size);
  return {
    offset: Number(mix64(h ^ SEED_OFFSET) % m),
    skip: Number(mix64(h ^ SEED_SKIP) % (m - 1n)) + 1,
  };
}

/**
 * The Maglev table for `backends` (stable keys, distinct): entry j is the index into `backends`
 * of the backend owning slot j. `weights` (positive integers, one per backend, default 1) let a
 * backend claim that many slots per round, so it owns about weight/sum(weights) of the table.
 */
export function maglevTable(backends: readonly string[], size = 16381, weights?: readonly number[]): Uint32Array {
  checkTableSize(size);
  const n = backends.length;
  if (n === 0) throw new TwinpathError('LB_ERROR', 'a Maglev table needs at least one backend');
  if (n > size) throw new TwinpathError('LB_ERROR', `${n} backends do not fit a Maglev table of ${size} slots`);
  if (new Set(backends).size !== n) throw new TwinpathError('LB_ERROR', 'Maglev backend keys must be distinct');
  if (weights !== undefined) {
    if (weights.length !== n || weights.some((w) => !Number.isInteger(w) || w < 1)) {
      throw new TwinpathError('LB_ERROR', 'Maglev weights must be positive integers, one per backend');
    }
  }
  const offset = new Uint32Array(n);
  const skip = new Uint32Array(n);
  backends.forEach((k, i) => {
    const p = permutation(k, size);
    offset[i] = p.offset;
    skip[i] = p.skip;
  });
  const next = new Float64Array(n); // how far each backend has walked its preference list
  const table = new Uint32Array(size).fill(0xffffffff);
  let filled = 0;
  while (filled < size) {
    for (let i = 0; i < n && filled < size; i++) {
      const turns = weights ? weights[i]! : 1;
      for (let t = 0; t < turns && filled < size; t++) {
        let slot: number;
        do {
          // offset + next*skip < 2^24 * 2^24: exact in a double before the modulo.
          slot = (offset[i]! + next[i]! * skip[i]!) % size;
          next[i]! += 1;
        } while (table[slot] !== 0xffffffff);
        table[slot] = i;
        filled++;
      }
    }
  }
  return table;
}

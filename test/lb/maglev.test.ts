// Maglev tables and the flow hash: sizes must be prime, tables are deterministic and balanced,
// weights shift shares, and removing one of N backends moves close to 1/N of the table and of
// the flows (measured for N = 2..20; the figures are printed).

import { describe, expect, it } from 'vitest';
import { checkTableSize, fnv1a64, isPrime, maglevTable, permutation } from '../../src/lb/maglev.js';
import { flowHash, flowHashWords, maglevSlot } from '../../src/lb/flowhash.js';
import { TwinpathError } from '../../src/errors.js';

const M = 16381;
const keysOf = (n: number) => Array.from({ length: n }, (_, i) => `10.0.${i >> 8}.${(i & 0xff) + 1}:8080/TCP`);

/** A deterministic stream of flows (xorshift32), so the measurement is the same every run. */
function flows(count: number): Array<{ saddr: string; daddr: string; sport: number; dport: number; proto: number }> {
  let x = 0x12345678;
  const next = () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>>= 0);
  };
  return Array.from({ length: count }, () => {
    const a = next();
    return { saddr: `10.${(a >>> 16) & 0xff}.${(a >>> 8) & 0xff}.${a & 0xff}`, daddr: '10.96.0.10', sport: 1024 + (next() % 60000), dport: 80, proto: 6 };
  });
}

describe('table size', () => {
  it('accepts primes and refuses everything else with LB_ERROR', () => {
    expect(isPrime(16381)).toBe(true);
    expect(isPrime(65537)).toBe(true);
    expect(isPrime(16383)).toBe(false);
    expect(isPrime(1)).toBe(false);
    for (const bad of [16383, 1, 2, 0, -7, 251.5, 16777259]) {
      expect(() => checkTableSize(bad)).toThrowError(TwinpathError);
      try {
        maglevTable(['a'], bad);
      } catch (e) {
        expect((e as TwinpathError).code).toBe('LB_ERROR');
      }
    }
    expect(() => maglevTable(['a', 'b'], 251)).not.toThrow();
  });

  it('refuses empty, duplicate and too many backends, and bad weights', () => {
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return (e as TwinpathError).code;
      }
      return 'none';
    };
    expect(code(() => maglevTable([], 251))).toBe('LB_ERROR');
    expect(code(() => maglevTable(['a', 'a'], 251))).toBe('LB_ERROR');
    expect(code(() => maglevTable(keysOf(7), 5))).toBe('LB_ERROR');
    expect(code(() => maglevTable(['a', 'b'], 251, [1]))).toBe('LB_ERROR');
    expect(code(() => maglevTable(['a', 'b'], 251, [1, 0]))).toBe('LB_ERROR');
  });
});

describe('maglevTable', () => {
  it('is a pure function of the keys, their order and the size', () => {
    const a = maglevTable(keysOf(7), M);
    const b = maglevTable(keysOf(7), M);
    expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);
    // FNV-1a 64 published test vectors.
    expect(fnv1a64('')).toBe(0xcbf29ce484222325n);
    expect(fnv1a64('a')).toBe(0xaf63dc4c8601ec8cn);
    // Pinned values: a change of hash or fill order shows here (and would move live flows).
    expect(permutation('10.0.0.1:8080/TCP', M)).toEqual({ offset: 4592, skip: 414 });
    expect(Array.from(maglevTable(['a', 'b', 'c'], 7))).toEqual([0, 0, 1, 2, 1, 2, 0]);
    expect(flowHash({ saddr: '10.0.0.1', daddr: '10.96.0.10', sport: 40000, dport: 80, proto: 6 })).toBe(0xea6a94a8);
  });

  it("walks each backend's preference list through every slot once (prime size)", () => {
    for (const key of keysOf(5)) {
      const { offset, skip } = permutation(key, 251);
      const seen = new Set<number>();
      for (let j = 0; j < 251; j++) seen.add((offset + j * skip) % 251);
      expect(seen.size).toBe(251);
    }
  });

  it('fills every slot and gives each backend floor or ceil of M/N slots', () => {
    for (const n of [1, 2, 3, 5, 10, 20, 100]) {
      const t = maglevTable(keysOf(n), M);
      const counts = new Array<number>(n).fill(0);
      for (const i of t) counts[i]! += 1;
      expect(counts.reduce((s, c) => s + c, 0)).toBe(M);
      expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
    }
  });

  it('spreads flows within a few percent of even', () => {
    const n = 10;
    const keys = keysOf(n);
    const t = maglevTable(keys, M);
    const counts = new Array<number>(n).fill(0);
    const fs = flows(50000);
    for (const f of fs) counts[t[maglevSlot(f, M)]!]! += 1;
    const even = fs.length / n;
    for (const c of counts) expect(Math.abs(c - even) / even).toBeLessThan(0.05);
  });

  it('weights shares by the given integers', () => {
    const t = maglevTable(['a', 'b', 'c'], M, [1, 2, 5]);
    const counts = [0, 0, 0];
    for (const i of t) counts[i]! += 1;
    expect(counts[0]! / M).toBeCloseTo(1 / 8, 2);
    expect(counts[1]! / M).toBeCloseTo(2 / 8, 2);
    expect(counts[2]! / M).toBeCloseTo(5 / 8, 2);
  });

  it('removing one of N backends (N = 2..20) moves close to 1/N of slots and of flows', () => {
    const fs = flows(20000);
    const slots = fs.map((f) => maglevSlot(f, M));
    const rows: string[] = [];
    let worstSlots = 0;
    let worstFlows = 0;
    for (let n = 2; n <= 20; n++) {
      const keys = keysOf(n);
      const before = maglevTable(keys, M);
      // Remove each backend in turn; report the mean and the worst.
      let sumS = 0;
      let sumF = 0;
      let maxS = 0;
      let maxF = 0;
      for (let r = 0; r < n; r++) {
        const rest = keys.filter((_, i) => i !== r);
        const after = maglevTable(rest, M);
        let s = 0;
        for (let j = 0; j < M; j++) if (keys[before[j]!] !== rest[after[j]!]) s++;
        let f = 0;
        let lost = 0;
        for (const slot of slots) {
          if (keys[before[slot]!] !== rest[after[slot]!]) f++;
          if (before[slot] === r) lost++;
        }
        // Every flow of the removed backend must move; the rest should mostly stay.
        expect(f).toBeGreaterThanOrEqual(lost);
        const rs = (s / M) * n;
        const rf = (f / fs.length) * n;
        sumS += rs;
        sumF += rf;
        maxS = Math.max(maxS, rs);
        maxF = Math.max(maxF, rf);
      }
      rows.push(`N=${n}: slots moved ${(sumS / n).toFixed(3)}/N (worst ${maxS.toFixed(3)}), flows moved ${(sumF / n).toFixed(3)}/N (worst ${maxF.toFixed(3)})`);
      worstSlots = Math.max(worstSlots, maxS);
      worstFlows = Math.max(worstFlows, maxF);
    }
    console.log(`Maglev disruption, M=${M}, removing one backend:\n  ${rows.join('\n  ')}`);
    // Ideal is exactly 1/N; Maglev trades a little extra movement for perfect balance.
    expect(worstSlots).toBeLessThan(1.25);
    expect(worstFlows).toBeLessThan(1.3);
  });
});

describe('flowHash', () => {
  it('hashes the words lb.h hashes, deterministically and spread over the table', () => {
    const t = { saddr: '10.0.0.1', daddr: '10.96.0.10', sport: 40000, dport: 80, proto: 6 };
    expect(flowHash(t)).toBe(flowHashWords([0x0a000001, 0x0a60000a, (40000 << 16 | 80) >>> 0, 6]));
    expect(flowHash(t)).toBe(flowHash({ ...t }));
    expect(flowHash(t)).not.toBe(flowHash({ ...t, sport: 40001 }));
    const v6 = { saddr: 'fd00::1', daddr: 'fd00:96::a', sport: 1, dport: 2, proto: 17 };
    expect(flowHash(v6)).toBe(flowHashWords([0xfd000000, 0, 0, 1, 0xfd000096, 0, 0, 0xa, (1 << 16) | 2, 17]));
    // Bucket spread over 16 buckets within 5%.
    const b = new Array<number>(16).fill(0);
    const fs = flows(32000);
    for (const f of fs) b[flowHash(f) & 15]! += 1;
    for (const c of b) expect(Math.abs(c - 2000) / 2000).toBeLessThan(0.05);
  });
});

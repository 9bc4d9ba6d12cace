// HASH, PERCPU_HASH, LRU_HASH, HASH_OF_MAPS in the VM: flags and errnos, E2BIG when full,
// replacing in a full map, iteration visiting each key once, LRU eviction instead of E2BIG.

import { describe, expect, it } from 'vitest';
import { Vm } from '../../../src/vm/vm.js';
import { createVmMap } from '../../../src/vm/maps.js';
import { errnoOf, readU32, readU64, u32, u64 } from './util.js';

describe('VM hash maps', () => {
  const vm = new Vm();

  for (const type of ['hash', 'percpu_hash'] as const) {
    it(`${type}: NOEXIST, EXIST, E2BIG when full, replace when full, delete`, () => {
      const m = createVmMap(vm, { type, keySize: 4, valueSize: 8, maxEntries: 4 });
      expect(m.lookup(u32(1))).toBeUndefined();
      m.update(u32(1), u64(10n), 'noexist');
      expect(errnoOf(() => m.update(u32(1), u64(11n), 'noexist'))).toBe('EEXIST');
      expect(errnoOf(() => m.update(u32(2), u64(11n), 'exist'))).toBe('ENOENT');
      m.update(u32(1), u64(12n), 'exist');
      expect(readU64(m.lookup(u32(1)))).toBe(12n);
      for (const k of [2, 3, 4]) m.update(u32(k), u64(k));
      expect(errnoOf(() => m.update(u32(5), u64(5n)))).toBe('E2BIG');
      expect(errnoOf(() => m.update(u32(1), u64(5n), 'noexist'))).toBe('EEXIST'); // flags first
      m.update(u32(4), u64(40n));
      expect(new Map(m.entries().map(([k, v]) => [readU32(k), readU64(v)]))).toEqual(
        new Map([[1, 12n], [2, 2n], [3, 3n], [4, 40n]]),
      );
      m.delete(u32(2));
      expect(errnoOf(() => m.delete(u32(2)))).toBe('ENOENT');
      m.update(u32(5), u64(5n));
      expect(errnoOf(() => m.update(u32(6), u64(5n), 3))).toBe('EINVAL');
      m.destroy();
    });
  }

  it('walks every key once, and starts over after a key that is not there', () => {
    const m = createVmMap(vm, { type: 'hash', keySize: 8, valueSize: 4, maxEntries: 1000 });
    for (let i = 0; i < 1000; i++) m.update(u64(BigInt(i) * 0x1234567n), u32(i));
    const keys = [...m.keys()].map((k) => readU64(k));
    expect(keys.length).toBe(1000);
    expect(new Set(keys).size).toBe(1000);
    expect(m.nextKey(u64(3n))).toEqual(m.nextKey());
    for (const k of keys.slice(0, 500)) m.delete(u64(k!));
    expect([...m.keys()].length).toBe(500);
    m.destroy();
  });

  it('checks parameters as the kernel does', () => {
    const bad = (s: Partial<Parameters<typeof createVmMap>[1]>) =>
      errnoOf(() => createVmMap(vm, { type: 'hash', keySize: 4, valueSize: 4, maxEntries: 1, ...s }));
    expect(bad({ keySize: 0 })).toBe('EINVAL');
    expect(bad({ valueSize: 0 })).toBe('EINVAL');
    expect(bad({ maxEntries: 0 })).toBe('EINVAL');
    expect(bad({ keySize: 513 })).toBe('E2BIG');
    expect(bad({ flags: 2 })).toBe('EINVAL'); // NO_COMMON_LRU on a plain hash
    expect(bad({ type: 'lru_hash', flags: 1 })).toBe('ENOTSUPP'); // an LRU must preallocate
    expect(bad({ type: 'hash_of_maps', valueSize: 8 })).toBe('EINVAL');
  });

  it('LRU_HASH evicts the least recently used entries, in the kernel\'s batches, instead of failing', () => {
    const m = createVmMap(vm, { type: 'lru_hash', keySize: 4, valueSize: 4, maxEntries: 4 });
    for (let k = 0; k < 4; k++) m.update(u32(k), u32(k));
    m.update(u32(10), u32(10));
    // The kernel frees max_entries / CPUs / 2 elements at a time: here the two oldest go.
    expect([...m.keys()].map(readU32).sort((a, b) => a! - b!)).toEqual([2, 3, 10]);
    m.destroy();
  });

  it('a per-CPU LRU gets a share of max_entries per possible CPU', () => {
    const m = createVmMap(vm, { type: 'lru_hash', keySize: 4, valueSize: 4, maxEntries: 7, flags: 2, possibleCpus: 2 });
    expect(m.maxEntries).toBe(8); // rounded up to a multiple of the CPUs
    for (let k = 0; k < 8; k++) m.update(u32(k), u32(k));
    expect([...m.keys()].length).toBe(4); // CPU 0's half
    m.destroy();
  });

  it('HASH_OF_MAPS holds inner maps by id, compatible with the template only', () => {
    const tmpl = createVmMap(vm, { type: 'array', keySize: 4, valueSize: 4, maxEntries: 2 });
    const inner = createVmMap(vm, { type: 'array', keySize: 4, valueSize: 4, maxEntries: 2 });
    const other = createVmMap(vm, { type: 'array', keySize: 4, valueSize: 8, maxEntries: 2 });
    const outer = createVmMap(vm, { type: 'hash_of_maps', keySize: 4, valueSize: 4, maxEntries: 4, inner: tmpl });
    outer.update(u32(7), u32(inner.id));
    expect(readU32(outer.lookup(u32(7)))).toBe(inner.id);
    expect(errnoOf(() => outer.update(u32(8), u32(other.id)))).toBe('EINVAL');
    expect(errnoOf(() => outer.update(u32(8), u32(4000)))).toBe('EBADF');
    inner.destroy(); // an outer map drops a destroyed inner map
    expect(outer.lookup(u32(7))).toBeUndefined();
    for (const m of [outer, other, tmpl]) m.destroy();
  });
});

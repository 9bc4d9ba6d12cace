// ARRAY, PERCPU_ARRAY and the fd arrays (PROG_ARRAY, PERF_EVENT_ARRAY storage): every index
// exists, NOEXIST is EEXIST, delete is EINVAL, get_next_key counts up; parameter checks.

import { describe, expect, it } from 'vitest';
import { Vm } from '../../../src/vm/vm.js';
import { createVmMap, BPF_F_RDONLY } from '../../../src/vm/maps.js';
import { errnoOf, readU32, readU64, u32, u64 } from './util.js';

describe('VM array maps', () => {
  const vm = new Vm();

  it('has every index, zeroed, and refuses NOEXIST, delete and out-of-range keys', () => {
    const m = createVmMap(vm, { type: 'array', keySize: 4, valueSize: 8, maxEntries: 3 });
    expect(readU64(m.lookup(u32(2)))).toBe(0n);
    expect(m.lookup(u32(3))).toBeUndefined();
    m.update(u32(1), u64(7n));
    m.update(u32(1), u64(8n), 'exist');
    expect(readU64(m.lookup(u32(1)))).toBe(8n);
    expect(errnoOf(() => m.update(u32(0), u64(1n), 'noexist'))).toBe('EEXIST');
    expect(errnoOf(() => m.update(u32(3), u64(1n)))).toBe('E2BIG');
    expect(errnoOf(() => m.update(u32(0), u64(1n), 3))).toBe('EINVAL');
    expect(errnoOf(() => m.update(u32(0), u64(1n), 4))).toBe('EINVAL'); // BPF_F_LOCK, no spin lock
    expect(errnoOf(() => m.delete(u32(0)))).toBe('EINVAL');
    expect([...m.keys()].map(readU32)).toEqual([0, 1, 2]);
    expect(readU32(m.nextKey(u32(99)))).toBe(0);
    expect(m.nextKey(u32(2))).toBeUndefined();
    expect(m.entries().map(([k, v]) => [readU32(k), readU64(v)])).toEqual([[0, 0n], [1, 8n], [2, 0n]]);
    m.destroy();
  });

  it('checks parameters as the kernel does', () => {
    const bad = (s: Partial<Parameters<typeof createVmMap>[1]>) =>
      errnoOf(() => createVmMap(vm, { type: 'array', keySize: 4, valueSize: 4, maxEntries: 1, ...s }));
    expect(bad({ keySize: 8 })).toBe('EINVAL');
    expect(bad({ valueSize: 0 })).toBe('EINVAL');
    expect(bad({ maxEntries: 0 })).toBe('EINVAL');
    expect(bad({ flags: 1 })).toBe('EINVAL'); // BPF_F_NO_PREALLOC
    expect(bad({ flags: 128 | 256 })).toBe('EINVAL');
    expect(bad({ type: 'percpu_array', valueSize: 32769 })).toBe('E2BIG');
    expect(bad({ type: 'prog_array', valueSize: 8 })).toBe('EINVAL');
    expect(bad({ type: 'prog_array', flags: 128 })).toBe('EINVAL');
    expect(bad({ type: 12 })).toBe('EBADF'); // array of maps without a template
    expect(bad({ type: 99 })).toBe('EINVAL');
  });

  it('keeps one CPU for PERCPU_ARRAY', () => {
    const m = createVmMap(vm, { type: 'percpu_array', keySize: 4, valueSize: 4, maxEntries: 2 });
    m.update(u32(1), u32(5));
    expect(readU32(m.lookup(u32(1)))).toBe(5);
    expect(errnoOf(() => m.update(u32(1), u32(5), 'noexist'))).toBe('EEXIST');
    m.destroy();
  });

  it('stores program handles in a PROG_ARRAY as an fd array: BPF_ANY only, delete empties', () => {
    const m = createVmMap(vm, { type: 'prog_array', keySize: 4, valueSize: 4, maxEntries: 4 });
    expect(m.lookup(u32(0))).toBeUndefined();
    m.update(u32(0), u32(17));
    expect(readU32(m.lookup(u32(0)))).toBe(17);
    expect(errnoOf(() => m.update(u32(1), u32(3), 'noexist'))).toBe('EINVAL');
    expect(errnoOf(() => m.update(u32(1), u32(3), 'exist'))).toBe('EINVAL');
    expect(errnoOf(() => m.update(u32(4), u32(3)))).toBe('E2BIG');
    expect(errnoOf(() => m.update(u32(1), u32(0)))).toBe('EBADF');
    expect(errnoOf(() => m.delete(u32(1)))).toBe('ENOENT');
    expect(errnoOf(() => m.delete(u32(9)))).toBe('E2BIG');
    m.delete(u32(0));
    expect(m.lookup(u32(0))).toBeUndefined();
    expect([...m.keys()].map(readU32)).toEqual([0, 1, 2, 3]); // the kernel walks indexes, set or not
    m.destroy();
  });

  it('holds inner maps in an ARRAY_OF_MAPS by id, compatible with the template only', () => {
    const tmpl = createVmMap(vm, { type: 'hash', keySize: 4, valueSize: 4, maxEntries: 8 });
    const inner = createVmMap(vm, { type: 'hash', keySize: 4, valueSize: 4, maxEntries: 8 });
    const bigger = createVmMap(vm, { type: 'hash', keySize: 4, valueSize: 4, maxEntries: 9 });
    const outer = createVmMap(vm, { type: 'array_of_maps', keySize: 4, valueSize: 4, maxEntries: 2, inner: tmpl });
    expect(outer.lookup(u32(1))).toBeUndefined();
    outer.update(u32(1), u32(inner.id));
    expect(readU32(outer.lookup(u32(1)))).toBe(inner.id);
    expect(errnoOf(() => outer.update(u32(0), u32(bigger.id)))).toBe('EINVAL');
    expect(errnoOf(() => outer.update(u32(0), u32(inner.id), 'noexist'))).toBe('EINVAL');
    outer.delete(u32(1));
    expect(errnoOf(() => outer.delete(u32(1)))).toBe('ENOENT');
    expect(errnoOf(() => createVmMap(vm, { type: 'array_of_maps', keySize: 4, valueSize: 4, maxEntries: 1, inner: outer }))).toBe('EINVAL');
    for (const m of [outer, bigger, inner, tmpl]) m.destroy();
  });

  it('refuses writes from TypeScript to a BPF_F_RDONLY map and uses of a destroyed map', () => {
    const m = createVmMap(vm, { type: 'array', keySize: 4, valueSize: 4, maxEntries: 1, flags: BPF_F_RDONLY });
    expect(errnoOf(() => m.update(u32(0), u32(1)))).toBe('EPERM');
    expect(readU32(m.lookup(u32(0)))).toBe(0);
    m.destroy();
    expect(errnoOf(() => m.lookup(u32(0)))).toBe('EBADF');
  });

  it('says EINVAL for keys and values of the wrong size', () => {
    const m = createVmMap(vm, { type: 'array', keySize: 4, valueSize: 4, maxEntries: 1 });
    expect(errnoOf(() => m.lookup(new Uint8Array(3)))).toBe('EINVAL');
    expect(errnoOf(() => m.update(u32(0), new Uint8Array(5)))).toBe('EINVAL');
    m.destroy();
  });
});

// Kernel engine: map operations by fd with the kernel's errno names, per-CPU values, queues,
// iteration, argument checking, and pinning (in a private bpffs mount).

import { afterAll, beforeAll, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { KernelMap, KernelObject, numPossibleCpus, unpin } from '../../src/kernel/index.js';
import { rawAddon } from '../../src/kernel/addon.js';
import { describeKernel, kernelFixture, mountBpfFs, type BpfFs } from '../helpers/kernel.js';

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};
const u64 = (n: bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(n);
  return b;
};

function errnoOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    // The typed layer throws KernelError; the raw addon plain Errors with the same fields.
    expect((e as { code?: string }).code, String(e)).toBe('KERNEL_ERROR');
    return (e as { errnoName: string }).errnoName;
  }
  return 'no error';
}

describeKernel('kernel maps', () => {
  let obj: KernelObject;
  beforeAll(() => {
    obj = KernelObject.open(kernelFixture('tc_mark'), 'tc_mark.bpf.o').load();
  });
  afterAll(() => obj?.close());

  it('updates, looks up and deletes with the kernel errno names', () => {
    const m = obj.map('counts');
    expect(m.lookup(u32(1))).toBeUndefined();
    m.update(u32(1), u64(10n), 'noexist');
    expect(m.lookup(u32(1))).toEqual(u64(10n));
    expect(errnoOf(() => m.update(u32(1), u64(11n), 'noexist'))).toBe('EEXIST');
    expect(errnoOf(() => m.update(u32(2), u64(11n), 'exist'))).toBe('ENOENT');
    m.update(u32(1), u64(12n), 'exist');
    expect(m.lookup(u32(1))).toEqual(u64(12n));
    for (const k of [2, 3, 4]) m.update(u32(k), u64(BigInt(k)));
    expect(errnoOf(() => m.update(u32(5), u64(5n)))).toBe('E2BIG'); // max_entries 4
    m.update(u32(4), u64(40n)); // replacing in a full map is fine
    const keys = [...m.keys()].map((k) => k.readUInt32LE(0)).sort();
    expect(keys).toEqual([1, 2, 3, 4]);
    expect(new Map([...m.entries()].map(([k, v]) => [k.readUInt32LE(0), (v as Buffer).readBigUInt64LE(0)])).get(4)).toBe(40n);
    m.delete(u32(2));
    expect(errnoOf(() => m.delete(u32(2)))).toBe('ENOENT');
    expect(m.lookupAndDelete(u32(3))).toEqual(u64(3n));
    expect(m.lookup(u32(3))).toBeUndefined();
    for (const k of m.keys()) m.delete(k);
    expect(m.nextKey()).toBeUndefined();
  });

  it('refuses keys and values of the wrong size or kind, without reaching the kernel', () => {
    const m = obj.map('counts');
    expect(errnoOf(() => m.lookup(Buffer.alloc(3)))).toBe('EINVAL');
    expect(errnoOf(() => m.update(u32(1), Buffer.alloc(9)))).toBe('EINVAL');
    expect(errnoOf(() => m.update(null, u64(1n)))).toBe('EINVAL');
    expect(errnoOf(() => m.update(u32(1), [u64(1n)]))).toBe('EINVAL'); // not per-CPU
    const raw = rawAddon();
    const fd = m.fd;
    expect(errnoOf(() => raw.mapLookup(fd, 'abcd' as unknown as Buffer))).toBe('EINVAL');
    expect(errnoOf(() => raw.mapUpdate(fd, u32(1), 42 as unknown as Buffer))).toBe('EINVAL');
    expect(errnoOf(() => raw.mapUpdate(fd, u32(1), u64(1n), -1))).toBe('EINVAL');
    expect(errnoOf(() => raw.mapLookup(-1, u32(1)))).toBe('EINVAL');
    expect(errnoOf(() => raw.mapLookup(1.5, u32(1)))).toBe('EINVAL');
    expect(errnoOf(() => raw.mapInfo(0))).toBe('EINVAL'); // stdin is no BPF map
    // Kernels differ: EBADF, or EBADFD since the fd-class rework.
    expect(errnoOf(() => raw.mapLookup(999_999, u32(1)))).toMatch(/^EBADFD?$/);
    expect(errnoOf(() => raw.testRun(fd, Buffer.alloc(64), null))).toBe('EINVAL'); // a map fd is no program
    expect(errnoOf(() => (raw.objectInfo as (h: unknown) => unknown)(null))).toBe('EINVAL');
    expect(errnoOf(() => (raw.openObject as (b: unknown, n: unknown) => unknown)(kernelFixture('tc_mark'), 7))).toBe('EINVAL');
  });

  it('returns one value per possible CPU for per-CPU maps', () => {
    const m = obj.map('per_cpu');
    const n = numPossibleCpus();
    expect(n).toBeGreaterThanOrEqual(1);
    const before = m.lookup(u32(0)) as Buffer[];
    expect(before).toHaveLength(n);
    expect(before.every((v) => v.equals(u32(0)))).toBe(true);
    m.update(u32(1), u32(7)); // one value: every CPU gets it
    expect((m.lookup(u32(1)) as Buffer[]).map((v) => v.readUInt32LE(0))).toEqual(Array(n).fill(7));
    const each = Array.from({ length: n }, (_, i) => u32(100 + i));
    m.update(u32(1), each);
    expect(m.lookup(u32(1))).toEqual(each);
    expect(errnoOf(() => m.update(u32(1), each.slice(1)))).toBe('EINVAL'); // one short
    expect(errnoOf(() => m.update(u32(2), u32(1)))).toBe('E2BIG'); // array index past max_entries
    expect(m.info()).toMatchObject({ percpu: true, typeName: 'percpu_array' });
  });

  it('pushes, peeks and pops a queue', () => {
    const q = obj.map('fifo');
    expect(q.pop()).toBeUndefined();
    q.push(u32(1));
    q.push(u32(2));
    q.push(u32(3));
    expect(errnoOf(() => q.push(u32(4)))).toBe('E2BIG'); // full
    expect(q.lookup(null)).toEqual(u32(1)); // peek
    expect(q.pop()).toEqual(u32(1));
    expect(q.pop()).toEqual(u32(2));
    expect(q.pop()).toEqual(u32(3));
    expect(q.pop()).toBeUndefined();
    expect(errnoOf(() => q.nextKey())).toBe('EINVAL');
  });

  pinningTests();
});

function pinningTests(): void {
  let fs: BpfFs;
  beforeAll(() => {
    fs = mountBpfFs();
  });
  afterAll(() => fs?.remove());

  it('pins a map and opens it again by path', () => {
    const obj = KernelObject.open(kernelFixture('tc_mark'), 'tc_mark.bpf.o').load();
    try {
      const path = join(fs.dir, 'counts');
      obj.map('counts').update(u32(9), u64(99n));
      obj.map('counts').pin(path);
      expect(errnoOf(() => obj.map('counts').pin(path))).toBe('EEXIST');
      const again = KernelMap.fromPin(path);
      try {
        expect(again.name).toBe('counts');
        expect(again.lookup(u32(9))).toEqual(u64(99n));
      } finally {
        again.close();
      }
      expect(errnoOf(() => again.lookup(u32(9)))).toBe('EBADF');
      obj.program().pin(join(fs.dir, 'prog'));
      expect(existsSync(join(fs.dir, 'prog'))).toBe(true);
      unpin(join(fs.dir, 'prog'));
      unpin(path);
      expect(errnoOf(() => unpin(path))).toBe('ENOENT');
      expect(errnoOf(() => KernelMap.fromPin(path))).toBe('ENOENT');
    } finally {
      obj.close();
    }
  });

  it('shares a map between objects through a pin path set before load', () => {
    const path = join(fs.dir, 'shared_counts');
    const a = KernelObject.open(kernelFixture('tc_mark'), 'tc_mark.bpf.o');
    const b = KernelObject.open(kernelFixture('tc_mark'), 'tc_mark.bpf.o');
    try {
      a.setPinPath('counts', path).load();
      expect(a.info().maps.find((m) => m.name === 'counts')?.pinPath).toBe(path);
      expect(existsSync(path)).toBe(true);
      a.map('counts').update(u32(5), u64(55n));
      b.setPinPath('counts', path).load(); // reuses the pinned map
      expect(b.map('counts').lookup(u32(5))).toEqual(u64(55n));
    } finally {
      a.close();
      b.close();
      if (existsSync(path)) unpin(path);
    }
  });
}

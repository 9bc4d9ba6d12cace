// Map sizes set at open (OpenOptions.maxEntries) and bulk writes (EngineMap.updateBatch,
// writeArray, and src/engine/bulk.ts's fallbacks), in both engines, on the endpoint datapath's
// object: it has an ARRAY, hashes, LPM tries, a per-CPU array, a ring buffer and .rodata.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readObject } from '../../src/elf/object.js';
import { getEngine } from '../../src/engine/index.js';
import { updateMany, writeArrayValues, type BulkMap } from '../../src/engine/bulk.js';
import type { EngineKind, EngineMap, EngineObject, OpenOptions } from '../../src/engine/engine.js';
import { encodeIpcacheKey } from '../../src/datapath/maps.js';
import { describeKernel } from '../helpers/kernel.js';
import { ROOT } from '../helpers/paths.js';

const FILE = 'bpf/datapath/endpoint.bpf.o';
const bytes = new Uint8Array(readFileSync(join(ROOT, FILE)));
const spec = readObject(bytes, FILE);

async function open(kind: EngineKind, opts: OpenOptions = {}): Promise<EngineObject> {
  return (await getEngine(kind)).open({ bytes, file: FILE, spec }, opts);
}

const u32 = (n: number) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
};
const le32 = (b: Uint8Array | undefined) => (b ? new DataView(b.buffer, b.byteOffset).getUint32(0, true) : undefined);

function caught(fn: () => unknown): { code?: string; errnoName?: string; done?: number; location?: { path?: string } } {
  try {
    fn();
  } catch (e) {
    return e as { code?: string };
  }
  throw new Error('expected an error');
}

async function caughtAsync(p: Promise<unknown>): Promise<{ code?: string; location?: { path?: string } }> {
  try {
    const o = await p;
    (o as EngineObject).close();
  } catch (e) {
    return e as { code?: string };
  }
  throw new Error('expected an error');
}

function suite(kind: EngineKind): void {
  it('sizes maps at open, and reports the size it made', async () => {
    const obj = await open(kind, { maxEntries: { lb_maglev: 1000, lb4_services: 5000, cilium_events: 8192, cilium_ipcache: 3 } });
    try {
      expect(obj.map('lb_maglev').maxEntries).toBe(1000);
      expect(obj.map('lb4_services').maxEntries).toBe(5000);
      expect(obj.map('cilium_endpoints').maxEntries).toBe(1024); // as declared
      const m = obj.map('lb_maglev');
      m.writeArray!(998, new Uint8Array([...u32(7), ...u32(8)]));
      expect(le32(m.lookup(u32(999)))).toBe(8);
      // A range past the new end is refused as a whole.
      expect(caught(() => m.writeArray!(999, new Uint8Array(8))).errnoName).toBe('E2BIG');
      expect(le32(m.lookup(u32(999)))).toBe(8);
      // The LPM trie holds 3 and refuses a fourth.
      const ip = obj.map('cilium_ipcache');
      const keys = ['10.0.0.0/8', '10.1.0.0/16', '10.1.2.0/24', '10.1.2.3/32'].map(encodeIpcacheKey);
      const e = caught(() => ip.updateBatch!(keys, keys.map((_, i) => u32(i + 1))));
      expect(e.errnoName).toBe('ENOSPC');
      expect(e.done).toBe(3);
      expect(ip.entries()).toHaveLength(3);
    } finally {
      obj.close();
    }
  });

  it('refuses sizes the object cannot take, naming the map', async () => {
    const bad: Array<[Record<string, number>, string | undefined]> = [
      [{ no_such_map: 10 }, undefined],
      [{ '.rodata': 2 }, 'map .rodata'],
      [{ cilium_events: 5000 }, 'map cilium_events'], // not a power of two
      [{ cilium_events: 2048 }, 'map cilium_events'], // less than a page
      [{ lb_maglev: 0 }, 'map lb_maglev'],
      [{ lb_maglev: 1.5 }, 'map lb_maglev'],
      [{ lb_maglev: 2 ** 32 }, 'map lb_maglev'],
    ];
    for (const [maxEntries, path] of bad) {
      const e = await caughtAsync(open(kind, { maxEntries }));
      expect(e.code, JSON.stringify(maxEntries)).toBe('USAGE');
      expect(e.location?.path).toBe(path);
    }
  });

  it('writes batches into hashes, LPM tries, arrays and per-CPU arrays, in order', async () => {
    const obj = await open(kind);
    try {
      const be = obj.map('lb4_backends');
      const keys = [1, 2, 3, 2].map(u32);
      const values = [1, 2, 3, 4].map((i) => new Uint8Array([10, 0, 0, i, 0x1f, 0x90, 6, 0]));
      be.updateBatch!(keys, values);
      const got = new Map(be.entries().map(([k, v]) => [le32(k), v[3]]));
      expect(got).toEqual(new Map([[1, 1], [2, 4], [3, 3]])); // the later write of key 2 wins
      // BPF_NOEXIST stops at the first key that exists; what came before stays.
      const e = caught(() => be.updateBatch!([u32(9), u32(1), u32(10)], [values[0]!, values[0]!, values[0]!], 1));
      expect(e.errnoName).toBe('EEXIST');
      expect(e.done).toBe(1);
      expect(be.lookup(u32(9))).toBeDefined();
      expect(be.lookup(u32(10))).toBeUndefined();
      // Wrong sizes are refused before anything is written.
      expect(caught(() => be.updateBatch!([u32(11), new Uint8Array(3)], [values[0]!, values[0]!])).done ?? 0).toBe(0);

      const metrics = obj.map('cilium_metrics');
      metrics.updateBatch!([u32(5)], [new Uint8Array(16).fill(1)]);
      expect(metrics.lookup(u32(5))).toEqual(new Uint8Array(16).fill(1));

      const mg = obj.map('lb_maglev');
      const n = 40_000;
      const vals = new Uint8Array(4 * n);
      const dv = new DataView(vals.buffer);
      for (let i = 0; i < n; i++) dv.setUint32(4 * i, i * 3 + 1, true);
      mg.writeArray!(100, vals);
      expect(le32(mg.lookup(u32(99)))).toBe(0);
      expect(le32(mg.lookup(u32(100)))).toBe(1);
      expect(le32(mg.lookup(u32(100 + n - 1)))).toBe((n - 1) * 3 + 1);
      expect(le32(mg.lookup(u32(100 + n)))).toBe(0);
      expect(caught(() => mg.writeArray!(0, new Uint8Array(6))).errnoName).toBe('EINVAL');
    } finally {
      obj.close();
    }
  });

  it('bulk.ts writes through whatever the map offers', async () => {
    const obj = await open(kind);
    try {
      const real = obj.map('lb_maglev');
      // A map with update() only: the fallbacks loop.
      const calls: number[] = [];
      const plain: BulkMap = { update: (k, v) => { calls.push(le32(k)!); real.update(k, v); } };
      writeArrayValues(plain, 5, new Uint8Array([...u32(50), ...u32(60)]), 4);
      expect(calls).toEqual([5, 6]);
      updateMany(plain, [u32(7)], [u32(70)]);
      expect([5, 6, 7].map((i) => le32(real.lookup(u32(i))))).toEqual([50, 60, 70]);
      // A map with updateBatch but no writeArray gets u32 keys.
      const batched: BulkMap = { update: () => { throw new Error('not this'); }, updateBatch: (k, v) => real.updateBatch!(k, v) };
      writeArrayValues(batched, 8, new Uint8Array([...u32(80), ...u32(90)]), 4);
      expect([8, 9].map((i) => le32(real.lookup(u32(i))))).toEqual([80, 90]);
      expect(caught(() => writeArrayValues(batched, 0, new Uint8Array(5), 4)).code).toBe('USAGE');
    } finally {
      obj.close();
    }
  });
}

describe('map sizes and bulk writes (VM)', () => suite('vm'));
describeKernel('map sizes and bulk writes (kernel)', () => suite('kernel'));

describeKernel('map sizes and bulk writes: the engines agree', () => {
  it('the same batches leave the same contents', async () => {
    const objs = await Promise.all((['vm', 'kernel'] as const).map((k) => open(k, { maxEntries: { lb_maglev: 64 } })));
    try {
      const contents = objs.map((o) => {
        const ip = o.map('cilium_ipcache');
        const keys = ['10.0.0.0/8', 'fd00::/64', '10.1.2.3/32'].map(encodeIpcacheKey);
        ip.updateBatch!(keys, [u32(2), u32(3), u32(4)]);
        o.map('lb_maglev').writeArray!(0, new Uint8Array(256).map((_, i) => i));
        const dump = (m: EngineMap) => m.entries().map(([k, v]) => Buffer.from(k).toString('hex') + '=' + Buffer.from(v).toString('hex')).sort();
        return [dump(ip), dump(o.map('lb_maglev'))];
      });
      expect(contents[0]).toEqual(contents[1]);
    } finally {
      for (const o of objs) o.close();
    }
  });
});

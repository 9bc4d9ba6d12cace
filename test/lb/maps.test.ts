// writeLbMaps against the VM engine: refuses before writing anything (missing maps, a table size
// the object was not opened with, too many Maglev rows), replaces an earlier model entry by
// entry, and never touches conntrack or affinity state.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readObject } from '../../src/elf/object.js';
import { getEngine } from '../../src/engine/index.js';
import { compileServices } from '../../src/lb/compile.js';
import { LB_MAPS, lbGlobals, lbMapEntries, writeLbMaps } from '../../src/lb/maps.js';
import type { LbModel } from '../../src/lb/model.js';
import { TwinpathError } from '../../src/errors.js';
import { ROOT } from '../helpers/paths.js';
import { cluster, ep, service, slice } from './helpers.js';

function load(file: string) {
  const bytes = new Uint8Array(readFileSync(join(ROOT, file)));
  return { bytes, file, spec: readObject(bytes, file) };
}

function model(services: number, size = 251): LbModel {
  return compileServices(
    cluster({
      services: Array.from({ length: services }, (_, i) => service(`s${i}`, { clusterIPs: [`10.96.1.${i + 1}`], ports: [{ protocol: 'TCP', port: 80, targetPort: 8080 }] })),
      endpointSlices: Array.from({ length: services }, (_, i) => slice(`s${i}-1`, `s${i}`, [ep(`10.0.${i}.1`), ep(`10.0.${i}.2`)], [])),
    }),
    { maglevTableSize: size },
  );
}

const code = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return (e as TwinpathError).code;
  }
  return 'none';
};

describe('writeLbMaps', () => {
  it('refuses an object without lb.h maps, and a table size the object was not opened with', async () => {
    const vm = await getEngine('vm');
    const other = vm.open(load('bpf/test/kernel/tc_mark.bpf.o'));
    expect(code(() => writeLbMaps(other, model(1)))).toBe('LB_ERROR');
    other.close();
    const obj = vm.open(load('bpf/test/lb/lb.bpf.o')); // default size 16381
    expect(code(() => writeLbMaps(obj, model(1, 251)))).toBe('LB_ERROR');
    expect(obj.map(LB_MAPS.services4).entries()).toEqual([]);
    expect(obj.map(LB_MAPS.backends4).entries()).toEqual([]);
    obj.close();
  });

  it('refuses more Maglev rows than the flat array holds, writing nothing', async () => {
    const vm = await getEngine('vm');
    const m = model(9, 16381); // 9 groups x 16381 > 8 x 16381 entries
    const obj = vm.open(load('bpf/test/lb/lb.bpf.o'), { globals: lbGlobals(m) });
    expect(code(() => writeLbMaps(obj, m))).toBe('LB_ERROR');
    expect(obj.map(LB_MAPS.backends4).entries()).toEqual([]);
    obj.close();
  });

  it('replaces an earlier model: stale frontends and backends go, runtime state stays', async () => {
    const vm = await getEngine('vm');
    const first = model(3);
    const obj = vm.open(load('bpf/test/lb/lb.bpf.o'), { globals: lbGlobals(first) });
    writeLbMaps(obj, first);
    expect(obj.map(LB_MAPS.services4).entries().length).toBe(3);
    expect(obj.map(LB_MAPS.backends4).entries().length).toBe(6);
    expect(obj.map(LB_MAPS.revNat4).entries().length).toBe(3);
    // A conntrack entry the datapath made stays across the update.
    const ctKey = new Uint8Array(16).fill(1);
    obj.map(LB_MAPS.ct4).update(ctKey, new Uint8Array(16));
    const second = model(2);
    writeLbMaps(obj, second);
    const want = lbMapEntries(second);
    for (const name of [LB_MAPS.services4, LB_MAPS.backends4, LB_MAPS.revNat4]) {
      const got = obj.map(name).entries().map(([k, v]) => Buffer.from([...k, ...v]).toString('hex')).sort();
      expect(got, name).toEqual(want[name]!.map(([k, v]) => Buffer.from([...k, ...v]).toString('hex')).sort());
    }
    expect(obj.map(LB_MAPS.ct4).lookup(ctKey)).toBeDefined();
    obj.close();
  });
});

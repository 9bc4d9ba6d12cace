// The VM's redirect maps against the kernel's: DEVMAP, DEVMAP_HASH and CPUMAP from
// bpf/test/progs/xdp_redirect.bpf.o, the same seeded sequence of updates (with each flag, with
// ifindex/qsize 0, with a program fd), deletes, lookups and get_next_key walks applied to both,
// the same outcome for every operation and the same contents after it, in the same order (the
// VM keeps a DEVMAP_HASH's buckets as the kernel does). The devices are lo (ifindex 1) and this
// test's own veth pair; XSKMAP needs AF_XDP sockets, so only what works without one is compared.

import { afterAll, beforeAll, expect, it } from 'vitest';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { KernelObject, numPossibleCpus, type KernelMap } from '../../../src/kernel/index.js';
import { Vm } from '../../../src/vm/vm.js';
import { createVmMap, type VmMap } from '../../../src/vm/maps.js';
import { describeKernel, sh, shQuiet, uniqueName } from '../../helpers/kernel.js';
import { ROOT } from '../../helpers/paths.js';
import { u32 } from './util.js';
import { hex, kernelEntries, lookupOutcome, outcome, rng, vmEntries, walk } from './differential.js';

const OBJECT = join(ROOT, 'bpf', 'test', 'progs', 'xdp_redirect.bpf.o');

const FLAGS = ['any', 'noexist', 'exist', 4] as const;

describeKernel('VM redirect maps against kernel redirect maps', () => {
  let obj: KernelObject;
  let vm: Vm;
  let veth = '';
  const ifindexes: number[] = [1];

  beforeAll(() => {
    veth = uniqueName('rd');
    sh('ip', 'link', 'add', veth, 'type', 'veth', 'peer', 'name', `${veth}p`);
    ifindexes.push(Number(readFileSync(`/sys/class/net/${veth}/ifindex`, 'utf8')));
    ifindexes.push(Number(readFileSync(`/sys/class/net/${veth}p/ifindex`, 'utf8')));
    obj = KernelObject.open(readFileSync(OBJECT), 'xdp_redirect.bpf.o').load();
    vm = new Vm();
  });
  afterAll(() => {
    obj?.close();
    if (veth) shQuiet('ip', 'link', 'del', veth);
  });

  function pair(name: string): [KernelMap, VmMap] {
    const k = obj.map(name);
    const i = k.info();
    const m = createVmMap(vm, { type: i.type, keySize: i.keySize, valueSize: i.valueSize, maxEntries: i.maxEntries, name, possibleCpus: numPossibleCpus() });
    return [k, m];
  }

  /** A value: ifindex or qsize (sometimes 0, sometimes out of range), then a program fd of 0, -1 or 1. */
  function value(r: (n: number) => number, size: number, first: () => number): Uint8Array {
    const v = new Uint8Array(size);
    const dv = new DataView(v.buffer);
    dv.setUint32(0, r(8) === 0 ? 0 : first(), true);
    if (size === 8) dv.setInt32(4, [0, 0, 0, -1, 1][r(5)]!, true);
    return v;
  }

  function compare(name: string, seed: number, keyOf: (r: (n: number) => number) => number, first: (r: (n: number) => number) => number, steps = 1500): void {
    const [k, m] = pair(name);
    const r = rng(seed);
    const size = k.info().valueSize;
    for (let i = 0; i < steps; i++) {
      const op = r(10);
      const key = u32(keyOf(r));
      const kb = Buffer.from(key);
      let what: string, a: string, b: string;
      if (op < 5) {
        const f = FLAGS[r(FLAGS.length)]!;
        const v = value(r, size, () => first(r));
        what = `update ${hex(key)} ${hex(v)} ${f}`;
        a = outcome(() => k.update(kb, Buffer.from(v), f));
        b = outcome(() => m.update(key, v, f));
      } else if (op < 7) {
        what = `delete ${hex(key)}`;
        a = outcome(() => k.delete(kb));
        b = outcome(() => m.delete(key));
      } else if (op < 9) {
        what = `lookup ${hex(key)}`;
        a = lookupOutcome(() => k.lookup(kb));
        b = lookupOutcome(() => m.lookup(key));
      } else {
        what = `next_key ${hex(key)}`;
        a = lookupOutcome(() => k.nextKey(kb));
        b = lookupOutcome(() => m.nextKey(key));
      }
      expect(b, `${name} step ${i}: ${what}`).toBe(a);
      if (i % 50 === 0) expect(vmEntries(m), `${name} contents after step ${i}`).toEqual(kernelEntries(k));
    }
    expect(vmEntries(m)).toEqual(kernelEntries(k));
    m.destroy();
  }

  const device = (r: (n: number) => number) => ifindexes[r(ifindexes.length)]!;

  it('DEVMAP (4-byte values): updates, ifindex 0 as a delete, lookups and walks agree', () => {
    compare('tx_ports', 11, (r) => r(3), device);
  });

  it('DEVMAP_HASH (struct bpf_devmap_val): flags, fullness, bucket order and deletes agree', () => {
    compare('tx_hash', 12, (r) => (r(4) === 0 ? r(64) : r(12)) * (r(2) ? 1 : 8), device);
  });

  it('CPUMAP (struct bpf_cpumap_val): qsize limits, CPUs that do not exist, deletes agree', () => {
    const cpus = numPossibleCpus();
    compare('cpu_map', 13, (r) => r(2), (r) => [1, 64, 192, 16384, 16385][r(5)]!, 400);
    expect(cpus).toBeGreaterThan(0);
  });

  it('XSKMAP: lookups are refused, deletes of empty slots succeed, walks count up', () => {
    const [k, m] = pair('xsks');
    expect(lookupOutcome(() => m.lookup(u32(0)))).toBe(lookupOutcome(() => k.lookup(Buffer.from(u32(0)))));
    for (const key of [0, 1, 5]) expect(outcome(() => m.delete(u32(key)))).toBe(outcome(() => k.delete(Buffer.from(u32(key)))));
    expect(walk((key) => m.nextKey(key))).toEqual(walk((key) => k.nextKey(key ?? null)));
    m.destroy();
  });
});

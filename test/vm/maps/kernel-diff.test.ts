// The VM's maps against the kernel's: the same seeded random sequence of operations (updates
// with each flag, deletes, lookups, get_next_key, push/pop/peek) applied to a kernel map from
// bpf/test/maps/maps.bpf.o and to a VM map of the same type and parameters must give the same
// outcome for every operation, and the same contents after it: as sets for hash maps (the VM
// walks them in another order), exactly for arrays, LPM tries, queues and stacks.
//
// The kernel's LRU lists are per CPU, so the test pins this process to CPU 0 while it runs and
// tells the VM how many CPUs the kernel has (its free-list batch size depends on that).

import { afterAll, beforeAll, expect, it } from 'vitest';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { KernelObject, numPossibleCpus, type KernelMap } from '../../../src/kernel/index.js';
import { Vm } from '../../../src/vm/vm.js';
import { createVmMap, type VmMap, type VmMapSpec } from '../../../src/vm/maps.js';
import { describeKernel, sh, shQuiet } from '../../helpers/kernel.js';
import { ROOT } from '../../helpers/paths.js';
import { lpmKey, u32, u64 } from './util.js';
import { hex, kernelEntries, lookupOutcome, outcome, rng, vmEntries } from './differential.js';

const OBJECT = join(ROOT, 'bpf', 'test', 'maps', 'maps.bpf.o');

const FLAGS = ['any', 'noexist', 'exist'] as const;

describeKernel('VM maps against kernel maps', () => {
  let obj: KernelObject;
  let vm: Vm;
  let cpus = 1;
  let affinity = '';

  beforeAll(() => {
    affinity = sh('taskset', '-p', String(process.pid)).trim().split(/\s+/).pop() ?? '';
    sh('taskset', '-a', '-p', '-c', '0', String(process.pid));
    cpus = numPossibleCpus();
    obj = KernelObject.open(readFileSync(OBJECT), 'maps.bpf.o');
    obj.setMaxEntries('lru', 24); // not a multiple of the batch size, so batches run out mid-way
    obj.load();
    vm = new Vm();
  });
  afterAll(() => {
    obj?.close();
    if (affinity) shQuiet('taskset', '-a', '-p', affinity, String(process.pid));
  });

  function pair(name: string, spec: VmMapSpec): [KernelMap, VmMap] {
    const k = obj.map(name);
    const info = k.info();
    const m = createVmMap(vm, { ...spec, maxEntries: info.maxEntries, possibleCpus: cpus, name });
    return [k, m];
  }

  /** Runs `steps` random keyed operations and returns the outcomes seen. */
  function keyed(name: string, spec: VmMapSpec, key: (r: (n: number) => number) => Uint8Array, valueSize: number, sameOrder: boolean, seed: number, steps = 3000): Set<string> {
    const seen = new Set<string>();
    const [k, m] = pair(name, spec);
    const r = rng(seed);
    let n = 0;
    for (let i = 0; i < steps; i++) {
      const op = r(10);
      const kk = key(r);
      const kb = Buffer.from(kk);
      let what: string, a: string, b: string;
      if (op < 5) {
        const f = FLAGS[r(3)];
        const v = valueSize === 8 ? u64(BigInt(++n) * 0x100000001n) : u32(++n);
        what = `update ${hex(kk)} ${f}`;
        a = outcome(() => k.update(kb, Buffer.from(v), f));
        b = outcome(() => m.update(kk, v, f));
      } else if (op < 7) {
        what = `delete ${hex(kk)}`;
        a = outcome(() => k.delete(kb));
        b = outcome(() => m.delete(kk));
      } else if (op < 9) {
        what = `lookup ${hex(kk)}`;
        a = lookupOutcome(() => k.lookup(kb));
        b = lookupOutcome(() => m.lookup(kk));
      } else {
        what = `next_key ${hex(kk)}`;
        a = lookupOutcome(() => k.nextKey(kb));
        b = lookupOutcome(() => m.nextKey(kk));
        if (!sameOrder) {
          // The order differs: after a present key, any answer is right; after an absent one
          // both start over, and only whether there is a first key can be compared.
          const present = k.lookup(kb) !== undefined;
          a = present ? 'skip' : a === 'none' ? a : 'some';
          b = present ? 'skip' : b === 'none' ? b : 'some';
        }
      }
      expect(b, `${name} step ${i}: ${what}`).toBe(a);
      seen.add(/^E/.test(a) ? `${what.split(' ')[0]} ${a}` : what.split(' ')[0]);
      const ke = kernelEntries(k);
      const ve = vmEntries(m);
      if (sameOrder) expect(ve, `${name} step ${i} contents after ${what}`).toEqual(ke);
      else expect([...ve].sort(), `${name} step ${i} contents after ${what}`).toEqual([...ke].sort());
    }
    m.destroy();
    return seen;
  }

  const smallKey = (range: number) => (r: (n: number) => number) => u32(r(range));

  it('HASH: flags, E2BIG when full, deletes, lookups', () => {
    const seen = keyed('hash', { type: 'hash', keySize: 4, valueSize: 8, maxEntries: 8 }, smallKey(12), 8, false, 1);
    for (const s of ['update E2BIG', 'update EEXIST', 'update ENOENT', 'delete ENOENT']) expect(seen).toContain(s);
  });

  it('ARRAY: NOEXIST is EEXIST, delete EINVAL, out of range E2BIG, walks in index order', () => {
    const seen = keyed('array', { type: 'array', keySize: 4, valueSize: 8, maxEntries: 8 }, smallKey(10), 8, true, 2);
    for (const s of ['update E2BIG', 'update EEXIST', 'delete EINVAL']) expect(seen).toContain(s);
  });

  it('LRU_HASH (common LRU): the same entries are evicted', () => {
    const seen = keyed('lru', { type: 'lru_hash', keySize: 4, valueSize: 8, maxEntries: 24 }, smallKey(40), 8, false, 3, 4000);
    expect(seen).not.toContain('update E2BIG'); // an LRU map evicts instead
  });

  it('LRU_PERCPU_HASH: in-place updates, BPF_EXIST takes no free element', () => {
    keyed('lru_percpu', { type: 'lru_percpu_hash', keySize: 4, valueSize: 8, maxEntries: 24 }, smallKey(40), 8, false, 8, 4000);
  });

  it('LRU_HASH with BPF_F_NO_COMMON_LRU: per-CPU lists, this CPU\'s share only', () => {
    keyed('lru_percpu_lists', { type: 'lru_hash', keySize: 4, valueSize: 8, maxEntries: 16, flags: 2 }, smallKey(24), 8, false, 4);
  });

  it('LPM_TRIE: exact update/delete, longest-prefix lookup, ENOSPC when full, EINVAL past /32, walk order', () => {
    const key = (r: (n: number) => number) =>
      lpmKey(r(36), [10, 192, 172][r(3)], [0, 1, 168, 128][r(4)], r(3), [0, 255][r(2)]);
    const seen = keyed('lpm', { type: 'lpm_trie', keySize: 8, valueSize: 4, maxEntries: 12, flags: 1 }, key, 4, true, 5, 4000);
    for (const s of ['update ENOSPC', 'update EEXIST', 'update ENOENT', 'update EINVAL', 'delete ENOENT', 'delete EINVAL']) {
      expect(seen).toContain(s);
    }
  });

  for (const [name, seed] of [['queue', 6], ['stack', 7]] as const) {
    it(`${name.toUpperCase()}: push with each flag, pop and peek, BPF_EXIST replacing the oldest`, () => {
      const [k, m] = pair(name, { type: name, keySize: 0, valueSize: 4, maxEntries: 4 });
      const r = rng(seed);
      while (k.pop()) {
        // empty the kernel map
      }
      for (let i = 0; i < 3000; i++) {
        const op = r(3);
        let what: string, a: string, b: string;
        if (op === 0) {
          const f = FLAGS[r(3)];
          const v = u32(i);
          what = `push ${i} ${f}`;
          a = outcome(() => k.update(null, Buffer.from(v), f));
          b = outcome(() => m.push(v, f));
        } else if (op === 1) {
          what = 'pop';
          a = lookupOutcome(() => k.pop());
          b = lookupOutcome(() => m.pop());
        } else {
          what = 'peek';
          a = lookupOutcome(() => k.lookup(null));
          b = lookupOutcome(() => m.peek());
        }
        expect(b, `${name} step ${i}: ${what}`).toBe(a);
      }
      m.destroy();
    });
  }
});

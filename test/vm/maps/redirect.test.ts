// DEVMAP, DEVMAP_HASH, CPUMAP and XSKMAP in the VM without a kernel: parameter checks, update
// rules, iteration, and bpf_redirect_map through the VM engine on xdp_redirect.bpf.o (verdicts,
// the fallback in flags, the target reported in RunOutput.redirect, DEVMAP lookups from a
// program). redirect-kernel.test.ts holds the map operations to the kernel's.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Vm, VmError } from '../../../src/vm/vm.js';
import { createVmMap } from '../../../src/vm/maps.js';
import { readObject } from '../../../src/elf/object.js';
import { vmEngine } from '../../../src/engine/vm.js';
import { udp } from '../../../src/pcap/build.js';
import { ROOT } from '../../helpers/paths.js';
import { errnoOf, readU32, u32 } from './util.js';

const val = (a: number, b = 0) => Uint8Array.from([...u32(a), ...u32(b)]);

describe('VM redirect maps', () => {
  const vm = new Vm();

  it('checks parameters as the kernel does', () => {
    expect(errnoOf(() => createVmMap(vm, { type: 'devmap', keySize: 4, valueSize: 12, maxEntries: 2 }))).toBe('EINVAL');
    expect(errnoOf(() => createVmMap(vm, { type: 'devmap', keySize: 8, valueSize: 4, maxEntries: 2 }))).toBe('EINVAL');
    expect(errnoOf(() => createVmMap(vm, { type: 'devmap_hash', keySize: 4, valueSize: 4, maxEntries: 0 }))).toBe('EINVAL');
    expect(errnoOf(() => createVmMap(vm, { type: 'xskmap', keySize: 4, valueSize: 8, maxEntries: 2 }))).toBe('EINVAL');
    expect(errnoOf(() => createVmMap(vm, { type: 'cpumap', keySize: 4, valueSize: 4, maxEntries: 2, flags: 8 }))).toBe('EINVAL');
    for (const type of ['devmap', 'devmap_hash', 'cpumap', 'xskmap'] as const) {
      createVmMap(vm, { type, keySize: 4, valueSize: 4, maxEntries: 4 }).destroy();
    }
  });

  it('DEVMAP: every index exists, ifindex 0 empties a slot, a program fd is refused', () => {
    const m = createVmMap(vm, { type: 'devmap', keySize: 4, valueSize: 8, maxEntries: 3 });
    expect(m.lookup(u32(0))).toBeUndefined();
    m.update(u32(1), val(7));
    expect(m.lookup(u32(1))).toEqual(val(7));
    expect(errnoOf(() => m.update(u32(1), val(8), 'noexist'))).toBe('EEXIST');
    expect(errnoOf(() => m.update(u32(3), val(8)))).toBe('E2BIG');
    expect(errnoOf(() => m.update(u32(0), val(8, 5)))).toBe('EINVAL');
    expect(errnoOf(() => m.update(u32(0), val(0, 5)))).toBe('EINVAL');
    m.update(u32(0), val(9, -1 >>> 0)); // a negative fd means no program
    expect(m.entries().map(([k, v]) => [readU32(k), readU32(v)])).toEqual([[0, 9], [1, 7]]);
    m.update(u32(1), val(0));
    expect(m.lookup(u32(1))).toBeUndefined();
    m.delete(u32(2)); // deleting an empty slot is no error
    expect(errnoOf(() => m.delete(u32(3)))).toBe('EINVAL');
    expect([...m.keys()].map(readU32)).toEqual([0, 1, 2]);
    m.destroy();
  });

  it('DEVMAP_HASH: walks buckets in key order, newest first within one, E2BIG when full', () => {
    const m = createVmMap(vm, { type: 'devmap_hash', keySize: 4, valueSize: 4, maxEntries: 3 });
    m.update(u32(9), u32(1)); // 4 buckets: 9 and 5 share bucket 1
    m.update(u32(5), u32(2));
    m.update(u32(2), u32(3));
    expect([...m.keys()].map(readU32)).toEqual([5, 9, 2]);
    expect(errnoOf(() => m.update(u32(7), u32(4)))).toBe('E2BIG');
    m.update(u32(9), u32(4), 'exist'); // a replaced entry moves to its bucket's head
    expect([...m.keys()].map(readU32)).toEqual([9, 5, 2]);
    expect(errnoOf(() => m.update(u32(9), u32(4), 'noexist'))).toBe('EEXIST');
    expect(errnoOf(() => m.update(u32(1), u32(0)))).toBe('EINVAL');
    expect(errnoOf(() => m.delete(u32(1)))).toBe('ENOENT');
    m.delete(u32(5));
    m.update(u32(7), u32(4));
    expect(m.entries().map(([k, v]) => [readU32(k), readU32(v)])).toEqual([[9, 4], [2, 3], [7, 4]]);
    m.destroy();
  });

  it('CPUMAP: qsize limits, CPUs the kernel does not have, qsize 0 empties', () => {
    const m = createVmMap(vm, { type: 'cpumap', keySize: 4, valueSize: 4, maxEntries: 4, possibleCpus: 2 });
    m.update(u32(1), u32(192));
    expect(readU32(m.lookup(u32(1)))).toBe(192);
    expect(errnoOf(() => m.update(u32(0), u32(16385)))).toBe('EOVERFLOW');
    expect(errnoOf(() => m.update(u32(2), u32(64)))).toBe('ENODEV');
    m.update(u32(1), u32(0));
    expect(m.lookup(u32(1))).toBeUndefined();
    m.destroy();
  });

  it('XSKMAP: sockets cannot be read back; NOEXIST and EXIST are checked', () => {
    const m = createVmMap(vm, { type: 'xskmap', keySize: 4, valueSize: 4, maxEntries: 2 });
    expect(errnoOf(() => m.update(u32(0), u32(3), 'exist'))).toBe('ENOENT');
    m.update(u32(0), u32(3), 'noexist');
    expect(errnoOf(() => m.update(u32(0), u32(3), 'noexist'))).toBe('EEXIST');
    expect(errnoOf(() => m.lookup(u32(0)))).toBe('EOPNOTSUPP');
    m.delete(u32(0));
    m.destroy();
  });
});

describe('bpf_redirect_map in the VM engine', () => {
  const file = join(ROOT, 'bpf', 'test', 'progs', 'xdp_redirect.bpf.o');
  const bytes = new Uint8Array(readFileSync(file));
  const spec = readObject(bytes, 'xdp_redirect.bpf.o');
  const packet = (ttl: number) => udp({ src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2, ttl });

  it('redirects through a filled DEVMAP slot, reporting the target, and falls back on an empty one', () => {
    const o = vmEngine.open({ bytes, spec });
    o.map('tx_ports').update(u32(1), u32(1));
    const hit = o.run('xdp_redirect', { packet: packet(63) });
    expect(hit.retval).toBe(4);
    expect(hit.redirect).toEqual({ map: 'tx_ports', key: 1, ifindex: 1, flags: 0 });
    const miss = o.run('xdp_redirect', { packet: packet(64) });
    expect(miss.retval).toBe(2);
    expect(miss.redirect).toBeUndefined();
    o.close();
  });

  it('reads a DEVMAP entry from the program and redirects through DEVMAP_HASH, CPUMAP and XSKMAP', () => {
    const o = vmEngine.open({ bytes, spec });
    o.map('tx_ports').update(u32(1), u32(5));
    o.map('tx_hash').update(u32(64), val(3));
    const viaHash = o.run('xdp_redirect_maps', { packet: packet(64) });
    expect(viaHash.retval).toBe(4);
    expect(viaHash.redirect).toEqual({ map: 'tx_hash', key: 64, ifindex: 3, flags: 0 });
    expect(readU32(o.map('.bss').lookup(u32(0)))).toBe(5);
    expect(o.run('xdp_redirect_maps', { packet: packet(62) }).retval).toBe(3); // miss: XDP_TX
    expect(o.run('xdp_redirect_maps', { packet: packet(63) }).retval).toBe(2); // empty CPUMAP: XDP_PASS
    o.map('cpu_map').update(u32(0), val(64));
    const viaCpu = o.run('xdp_redirect_maps', { packet: packet(63) });
    expect(viaCpu.redirect).toEqual({ map: 'cpu_map', key: 0, flags: 0 });
    const v6 = Uint8Array.from([...new Uint8Array(12), 0x86, 0xdd, ...new Uint8Array(40)]);
    expect(o.run('xdp_redirect_maps', { packet: v6 }).retval).toBe(1); // empty XSKMAP: XDP_DROP
    o.map('xsks').update(u32(0), u32(0));
    expect(o.run('xdp_redirect_maps', { packet: v6 }).redirect).toEqual({ map: 'xsks', key: 0, flags: 0 });
    o.close();
  });
});

describe('bpf_redirect_map flags and refused pairings, in bytecode', () => {
  const vm = new Vm();
  const packet = udp({ src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2 });

  /** r0 = helper(map, r2 = key, r3 = flags); exit. The map reference is resolved as a loader would. */
  function program(mapId: number, helper: number, key: number, flags: number): Uint8Array {
    const b = new Uint8Array(8 * 6);
    const dv = new DataView(b.buffer);
    b[0] = 0x18; b[1] = 0x11; dv.setInt32(4, mapId, true); // r1 = map (BPF_PSEUDO_MAP_FD)
    b[16] = 0xb7; b[17] = 0x02; dv.setInt32(20, key, true); // r2 = key
    b[24] = 0xb7; b[25] = 0x03; dv.setInt32(28, flags, true); // r3 = flags
    b[32] = 0x85; dv.setInt32(36, helper, true); // call helper
    b[40] = 0x95; // exit
    return b;
  }

  it('BPF_F_BROADCAST redirects even without an entry; bits outside the allowed set abort', () => {
    const dev = createVmMap(vm, { type: 'devmap', keySize: 4, valueSize: 4, maxEntries: 2 });
    const cpu = createVmMap(vm, { type: 'cpumap', keySize: 4, valueSize: 4, maxEntries: 1 });
    const run = (id: number, key: number, flags: number) => vm.runPacket(vm.load(program(id, 51, key, flags), { helpers: 'xdp' }), 'xdp', packet);
    const b = run(dev.id, 7, 8 | 2); // BPF_F_BROADCAST, fallback XDP_PASS
    expect(b.retval).toBe(4);
    expect(b.redirect).toEqual({ mapId: dev.id, key: 7, flags: 8 });
    expect(run(dev.id, 7, 16 | 1).retval).toBe(1); // EXCLUDE_INGRESS alone: a miss, the fallback
    expect(run(dev.id, 0, 32).retval).toBe(0); // an unknown flag: XDP_ABORTED
    expect(run(cpu.id, 0, 8).retval).toBe(0); // broadcast is for device maps only
    dev.destroy();
    cpu.destroy();
  });

  it('refuses what the verifier refuses: redirect_map on an ARRAY, a lookup in a CPUMAP', () => {
    const arr = createVmMap(vm, { type: 'array', keySize: 4, valueSize: 4, maxEntries: 1 });
    const cpu = createVmMap(vm, { type: 'cpumap', keySize: 4, valueSize: 4, maxEntries: 1 });
    const fail = (id: number, helper: number) => {
      try {
        vm.runPacket(vm.load(program(id, helper, 0, 0), { helpers: 'xdp' }), 'xdp', packet);
      } catch (e) {
        return e as VmError;
      }
      throw new Error('ran');
    };
    const a = fail(arr.id, 51);
    expect(a.code).toBe('VM_UNSUPPORTED');
    expect(a.insnIndex).toBe(4);
    expect(a.message).toMatch(/bpf_redirect_map \(51\) takes a DEVMAP, DEVMAP_HASH, CPUMAP or XSKMAP, not ARRAY/);
    // bpf_map_lookup_elem's key is r2 = 0, not a pointer: the map check comes first.
    expect(fail(cpu.id, 1).message).toMatch(/bpf_map_lookup_elem \(1\) on a CPUMAP/);
    arr.destroy();
    cpu.destroy();
  });
});

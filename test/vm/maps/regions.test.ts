// Which map memory a program may touch (vm_map_region_ok): values inside a live map's arena,
// not past its end, not after the map is destroyed; BPF_F_RDONLY_PROG refuses writes and
// BPF_F_WRONLY_PROG reads. Maps whose values are copied (queue, stack, fd arrays) have no arena.

import { describe, expect, it } from 'vitest';
import { Vm } from '../../../src/vm/vm.js';
import { BPF_F_RDONLY_PROG, BPF_F_WRONLY_PROG, createVmMap } from '../../../src/vm/maps.js';

const READ = 1;
const WRITE = 2;

describe('VM map regions', () => {
  const vm = new Vm();

  it('allows accesses inside an arena only, with the access the map flags allow', () => {
    const rw = createVmMap(vm, { type: 'array', keySize: 4, valueSize: 12, maxEntries: 4 });
    const ro = createVmMap(vm, { type: 'hash', keySize: 4, valueSize: 8, maxEntries: 4, flags: BPF_F_RDONLY_PROG });
    const wo = createVmMap(vm, { type: 'array', keySize: 4, valueSize: 8, maxEntries: 1, flags: BPF_F_WRONLY_PROG });
    const q = createVmMap(vm, { type: 'queue', keySize: 0, valueSize: 8, maxEntries: 4 });
    expect(rw.regionOk(rw.arena, 64, READ | WRITE)).toBe(true); // 4 values of 16 bytes (rounded to 8)
    expect(rw.regionOk(rw.arena + 60, 8, READ)).toBe(false);
    expect(rw.regionOk(rw.arena - 1, 1, READ)).toBe(false);
    expect(ro.regionOk(ro.arena, 8, READ)).toBe(true);
    expect(ro.regionOk(ro.arena, 8, WRITE)).toBe(false);
    expect(wo.regionOk(wo.arena, 8, WRITE)).toBe(true);
    expect(wo.regionOk(wo.arena, 8, READ)).toBe(false);
    expect(q.arena).toBe(0);
    const at = rw.arena;
    rw.destroy();
    expect(ro.regionOk(at, 8, READ)).toBe(false);
    for (const m of [ro, wo, q]) m.destroy();
  });

  it('gives the address of the map struct a program holds', () => {
    const m = createVmMap(vm, { type: 'array', keySize: 4, valueSize: 4, maxEntries: 1 });
    expect(m.address).toBeGreaterThan(0);
    expect(m.address % 4).toBe(0);
    m.destroy();
  });
});

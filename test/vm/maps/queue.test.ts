// QUEUE and STACK in the VM: FIFO and LIFO order, E2BIG when full, BPF_EXIST dropping the
// oldest, ENOENT when empty, EINVAL for NOEXIST and for keyed operations.

import { describe, expect, it } from 'vitest';
import { Vm } from '../../../src/vm/vm.js';
import { createVmMap } from '../../../src/vm/maps.js';
import { errnoOf, readU32, u32 } from './util.js';

describe('VM queue and stack', () => {
  const vm = new Vm();

  it('QUEUE pops oldest first; BPF_EXIST in a full queue drops the oldest', () => {
    const q = createVmMap(vm, { type: 'queue', keySize: 0, valueSize: 4, maxEntries: 3 });
    expect(q.pop()).toBeUndefined();
    for (const v of [1, 2, 3]) q.push(u32(v));
    expect(errnoOf(() => q.push(u32(4)))).toBe('E2BIG');
    expect(errnoOf(() => q.push(u32(4), 'noexist'))).toBe('EINVAL');
    q.push(u32(4), 'exist');
    expect(readU32(q.peek())).toBe(2);
    expect(readU32(q.lookup(null))).toBe(2); // a lookup is a peek
    expect([q.pop(), q.pop(), q.pop()].map(readU32)).toEqual([2, 3, 4]);
    expect(q.pop()).toBeUndefined();
    expect(errnoOf(() => q.nextKey())).toBe('EINVAL');
    q.destroy();
  });

  it('STACK pops newest first; BPF_EXIST in a full stack drops the oldest', () => {
    const s = createVmMap(vm, { type: 'stack', keySize: 0, valueSize: 4, maxEntries: 3 });
    for (const v of [1, 2, 3]) s.push(u32(v));
    s.push(u32(4), 'exist');
    expect([s.pop(), s.pop(), s.pop()].map(readU32)).toEqual([4, 3, 2]);
    expect(s.peek()).toBeUndefined();
    s.destroy();
  });

  it('checks parameters as the kernel does', () => {
    expect(errnoOf(() => createVmMap(vm, { type: 'queue', keySize: 4, valueSize: 4, maxEntries: 1 }))).toBe('EINVAL');
    expect(errnoOf(() => createVmMap(vm, { type: 'stack', keySize: 0, valueSize: 0, maxEntries: 1 }))).toBe('EINVAL');
    expect(errnoOf(() => createVmMap(vm, { type: 'stack', keySize: 0, valueSize: 4, maxEntries: 0 }))).toBe('EINVAL');
  });
});

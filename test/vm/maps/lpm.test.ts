// LPM_TRIE in the VM: longest-prefix lookup, exact update and delete, post-order walk (more
// specific first, the 0 side first), ENOSPC when full, EINVAL for a prefix past the key, and the
// creation rules (BPF_F_NO_PREALLOC required).

import { describe, expect, it } from 'vitest';
import { Vm } from '../../../src/vm/vm.js';
import { createVmMap } from '../../../src/vm/maps.js';
import { errnoOf, lpmKey, readU32, u32 } from './util.js';

const show = (k: Uint8Array) => `${[...k.subarray(4)].join('.')}/${readU32(k)}`;

describe('VM LPM trie', () => {
  const vm = new Vm();
  const make = (maxEntries = 16) => createVmMap(vm, { type: 'lpm_trie', keySize: 8, valueSize: 4, maxEntries, flags: 1 });

  it('finds the longest prefix, and updates and deletes only exact prefixes', () => {
    const m = make();
    m.update(lpmKey(8, 10, 0, 0, 0), u32(8));
    m.update(lpmKey(16, 10, 1, 0, 0), u32(16));
    m.update(lpmKey(24, 10, 1, 2, 0), u32(24));
    m.update(lpmKey(0, 0, 0, 0, 0), u32(0));
    expect(readU32(m.lookup(lpmKey(32, 10, 1, 2, 3)))).toBe(24);
    expect(readU32(m.lookup(lpmKey(32, 10, 1, 3, 3)))).toBe(16);
    expect(readU32(m.lookup(lpmKey(32, 10, 2, 3, 3)))).toBe(8);
    expect(readU32(m.lookup(lpmKey(32, 11, 2, 3, 3)))).toBe(0);
    expect(readU32(m.lookup(lpmKey(20, 10, 1, 2, 3)))).toBe(16); // the key's own length caps it
    expect(m.lookup(lpmKey(33, 10, 1, 2, 3))).toBeUndefined();
    expect(errnoOf(() => m.delete(lpmKey(12, 10, 0, 0, 0)))).toBe('ENOENT');
    expect(errnoOf(() => m.update(lpmKey(12, 10, 0, 0, 0), u32(1), 'exist'))).toBe('ENOENT');
    expect(errnoOf(() => m.update(lpmKey(16, 10, 1, 9, 9), u32(1), 'noexist'))).toBe('EEXIST'); // bits past /16 ignored
    expect(errnoOf(() => m.update(lpmKey(33, 10, 1, 9, 9), u32(1)))).toBe('EINVAL');
    expect(errnoOf(() => m.delete(lpmKey(33, 10, 1, 9, 9)))).toBe('EINVAL');
    m.delete(lpmKey(16, 10, 1, 0, 0));
    expect(readU32(m.lookup(lpmKey(32, 10, 1, 3, 3)))).toBe(8);
    expect(readU32(m.lookup(lpmKey(32, 10, 1, 2, 3)))).toBe(24); // still below the removed fork
    m.destroy();
  });

  it('walks in post order: more specific prefixes first, the 0 side of a fork first', () => {
    const m = make();
    for (const [p, a, b, c] of [[16, 192, 168, 0], [24, 192, 168, 0], [24, 192, 168, 1], [23, 192, 168, 0], [8, 10, 0, 0]]) {
      m.update(lpmKey(p, a, b, c, 0), u32(p));
    }
    expect([...m.keys()].map(show)).toEqual([
      '10.0.0.0/8', '192.168.0.0/24', '192.168.1.0/24', '192.168.0.0/23', '192.168.0.0/16',
    ]);
    expect(show(m.nextKey(lpmKey(20, 1, 2, 3, 4))!)).toBe('10.0.0.0/8'); // unknown: from the start
    m.destroy();
  });

  it('is full at max_entries (ENOSPC), and replacing still works then', () => {
    const m = make(2);
    m.update(lpmKey(8, 1, 0, 0, 0), u32(1));
    m.update(lpmKey(8, 2, 0, 0, 0), u32(2));
    expect(errnoOf(() => m.update(lpmKey(8, 3, 0, 0, 0), u32(3)))).toBe('ENOSPC');
    m.update(lpmKey(8, 2, 0, 0, 0), u32(22));
    expect(readU32(m.lookup(lpmKey(32, 2, 9, 9, 9)))).toBe(22);
    m.destroy();
  });

  it('checks parameters as the kernel does', () => {
    const bad = (s: Partial<Parameters<typeof createVmMap>[1]>) =>
      errnoOf(() => createVmMap(vm, { type: 'lpm_trie', keySize: 8, valueSize: 4, maxEntries: 1, flags: 1, ...s }));
    expect(bad({ flags: 0 })).toBe('EINVAL'); // the kernel requires BPF_F_NO_PREALLOC
    expect(bad({ keySize: 4 })).toBe('EINVAL');
    expect(bad({ keySize: 261 })).toBe('EINVAL');
    expect(bad({ valueSize: 0 })).toBe('EINVAL');
  });
});

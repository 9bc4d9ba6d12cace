// The replay runs every packet with one context object per interface, and the engines keep the
// __sk_buff they built for an object (src/engine/kernel.ts skbIn). A kept struct must never
// outlive a change to its object: changed, added and removed fields, and cb words changed in
// place, all give the struct a fresh build would.

import { describe, expect, it } from 'vitest';
import type { RunContext } from '../../src/engine/engine.js';
import { skbIn } from '../../src/engine/kernel.js';
import { endpointContext } from '../../src/datapath/maps.js';

const where = { file: 'test' };
const fresh = (c: RunContext) => skbIn(structuredClone(c), where);

describe('the __sk_buff kept per context object', () => {
  it('is reused while the object is unchanged', () => {
    const c = endpointContext(7);
    const a = skbIn(c, where);
    expect(skbIn(c, where)).toBe(a);
    expect(a).toEqual(fresh(c));
  });

  it('follows every change to the object', () => {
    const c: RunContext = endpointContext(7);
    const first = skbIn(c, where);
    c.cb![0] = 9; // in place
    expect(skbIn(c, where)).toEqual(fresh(c));
    expect(skbIn(c, where)).not.toEqual(first);
    c.mark = 5; // added
    expect(skbIn(c, where)).toEqual(fresh(c));
    c.mark = 6; // changed
    expect(skbIn(c, where)).toEqual(fresh(c));
    delete c.mark; // removed
    expect(skbIn(c, where)).toEqual(fresh(c));
    c.cb = [1]; // replaced, shorter
    expect(skbIn(c, where)).toEqual(fresh(c));
  });

  it('still refuses what a tc test run cannot set, every time', () => {
    const c = { ...endpointContext(7), cb: [1, 2, 3, 4, 5, 6] };
    expect(() => skbIn(c, where)).toThrow(expect.objectContaining({ code: 'USAGE' }));
    expect(() => skbIn(c, where)).toThrow(expect.objectContaining({ code: 'USAGE' }));
  });
});

// Kernel engine: every raw addon function, called with wrong argument types, missing
// arguments, forged handles and impossible numbers, throws a KERNEL_ERROR and never crashes.

import { expect, it } from 'vitest';
import { rawAddon, type RawAddon } from '../../src/kernel/addon.js';
import { describeKernel } from '../helpers/kernel.js';

// Values no caller should pass. No valid interface index (1 is lo), no path that exists, no
// fd that belongs to someone (closeFd is left out entirely for that reason).
const JUNK: unknown[] = [
  undefined, null, -1, 0.5, Number.NaN, 2 ** 53, '/nonexistent-twinpath/x', {}, [], Buffer.alloc(0), true,
  { __proto__: null }, new Uint16Array(4), () => 0,
];

const show = (args: unknown[]) =>
  args.map((a) => (typeof a === 'object' && a !== null ? Object.prototype.toString.call(a) : String(a))).join(', ');

describeKernel('kernel addon bad input', () => {
  it('throws KERNEL_ERROR for every kind of junk argument', () => {
    const raw = rawAddon() as unknown as Record<string, unknown>;
    const names = Object.keys(raw).filter((k) => typeof raw[k] === 'function' && k !== 'closeFd' && k !== 'probe' && k !== 'numPossibleCpus');
    expect(names.length).toBeGreaterThan(30);
    let calls = 0;
    for (const name of names) {
      const fn = raw[name] as (...args: unknown[]) => unknown;
      for (let arity = 0; arity <= 4; arity++) {
        for (const j of JUNK) {
          for (let pos = 0; pos < Math.max(arity, 1); pos++) {
            const args = Array.from({ length: arity }, (_, i) => (i === pos ? j : JUNK[0]));
            calls++;
            try {
              fn(...args);
            } catch (e) {
              expect((e as { code?: string }).code, `${name}(${show(args)}): ${String(e)}`).toBe('KERNEL_ERROR');
              continue;
            }
            // A call may succeed only where the junk happens to be acceptable; none here is.
            throw new Error(`${name}(${show(args)}) did not throw`);
          }
        }
      }
    }
    expect(calls).toBeGreaterThan(1000);
  });

  it('refuses handles of the wrong kind', () => {
    const raw: RawAddon = rawAddon();
    const forged = {} as Parameters<RawAddon['objectInfo']>[0];
    expect(() => raw.objectInfo(forged)).toThrow(expect.objectContaining({ errnoName: 'EINVAL' }));
    expect(() => raw.ringbufPoll(forged, 0)).toThrow(expect.objectContaining({ errnoName: 'EINVAL' }));
  });
});

// Helpers of the tests that apply one seeded sequence of map operations to a kernel map and to
// the VM's map of the same type: the sequence's generator, each operation's outcome as text (so
// a value, a success and an errno compare alike), and a map's contents by get_next_key walk.

import type { KernelMap } from '../../../src/kernel/index.js';
import { isKernelError } from '../../../src/kernel/error.js';
import { isVmMapError, type VmMap } from '../../../src/vm/maps.js';

/** A small deterministic PRNG (xorshift32) giving whole numbers below n, so a failure replays. */
export function rng(seed: number): (n: number) => number {
  let s = seed >>> 0 || 1;
  return (n) => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s % n;
  };
}

export const hex = (b: Uint8Array | undefined | null): string => (b ? Buffer.from(b).toString('hex') : 'none');

/** An operation's outcome as text: 'ok' (done, no value), its value ('none' for null: nothing
 * found), or the errno name it failed with. A per-CPU value from the kernel counts as CPU 0's. */
export function outcome(fn: () => Uint8Array | Uint8Array[] | undefined | null | void): string {
  try {
    const r = fn();
    return r === undefined ? 'ok' : hex(Array.isArray(r) ? r[0] : r);
  } catch (e) {
    if (isKernelError(e) || isVmMapError(e)) return (e as { errnoName: string }).errnoName;
    throw e;
  }
}

/** A lookup's outcome: its value, 'none' when nothing is found, or the errno name. */
export function lookupOutcome(fn: () => Uint8Array | Uint8Array[] | undefined | null): string {
  const r = outcome(fn);
  return r === 'ok' ? 'none' : r;
}

/** The keys a get_next_key walk visits, in its order. */
export function walk(next: (k?: Uint8Array) => Uint8Array | undefined | null): string[] {
  const out: string[] = [];
  for (let k = next(); k; k = next(k)) {
    out.push(hex(k));
    if (out.length > 10_000) throw new Error('get_next_key walk does not end');
  }
  return out;
}

/** `key=value` for every entry, in walk order. */
export function kernelEntries(k: KernelMap): string[] {
  return walk((key) => k.nextKey(key ?? null)).map((key) => `${key}=${lookupOutcome(() => k.lookup(Buffer.from(key, 'hex')))}`);
}
export function vmEntries(m: VmMap): string[] {
  return walk((key) => m.nextKey(key)).map((key) => `${key}=${lookupOutcome(() => m.lookup(Buffer.from(key, 'hex')))}`);
}

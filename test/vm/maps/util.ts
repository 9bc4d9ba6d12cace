// Small helpers for the VM map tests: little-endian integers as bytes, errno names of failures.

import { expect } from 'vitest';
import { isVmMapError } from '../../../src/vm/maps.js';

export const u32 = (n: number): Uint8Array => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n >>> 0, true);
  return b;
};
export const u64 = (n: bigint | number): Uint8Array => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, BigInt(n)), true);
  return b;
};
export const readU32 = (b: Uint8Array | undefined): number | undefined =>
  b === undefined ? undefined : new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(0, true);
export const readU64 = (b: Uint8Array | undefined): bigint | undefined =>
  b === undefined ? undefined : new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(0, true);

/** An LPM key: u32 prefix length, then the address bytes. */
export const lpmKey = (plen: number, ...addr: number[]): Uint8Array => Uint8Array.from([...u32(plen), ...addr]);

/** The errno name a call fails with, or 'ok'. */
export function errnoOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(isVmMapError(e), String(e)).toBe(true);
    return (e as { errnoName: string }).errnoName;
  }
  return 'ok';
}

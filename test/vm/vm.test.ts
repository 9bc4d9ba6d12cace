// The TypeScript API of the VM: load, run on memory, r0 in full, the memory written back, the
// budget, and typed errors.

import { describe, expect, it } from 'vitest';
import { Vm, VmError } from '../../src/vm/vm.js';
import { TwinpathError } from '../../src/errors.js';
import { EXIT, insn, prog } from './insn.js';

describe('Vm', () => {
  const vm = new Vm();

  it('returns all 64 bits of r0', () => {
    // lddw r0, 0xfedcba9876543210
    const p = vm.load(prog(insn(0x18, 0, 0, 0, 0x76543210), insn(0, 0, 0, 0, 0xfedcba98 | 0), EXIT));
    const r = p.run();
    expect(r.r0).toBe(0xfedcba9876543210n);
    expect(r.retval).toBe(0x76543210);
    expect(r.executed).toBe(2);
  });

  it('passes memory in r1 and its length in r2, and returns what the program wrote', () => {
    // *(u8 *)(r1 + 1) = 0x7f; r0 = r2; exit
    const p = vm.load(prog(insn(0x72, 1, 0, 1, 0x7f), insn(0xbf, 0, 2, 0, 0), EXIT));
    const input = Uint8Array.from([1, 2, 3]);
    const r = p.run({ memory: input });
    expect(r.r0).toBe(3n);
    expect([...r.memory]).toEqual([1, 0x7f, 3]);
    expect([...input]).toEqual([1, 2, 3]);
  });

  it('refuses to read a result memory after a later run overwrote it', () => {
    const p = vm.load(prog(insn(0x72, 1, 0, 0, 9), insn(0xb7, 0, 0, 0, 0), EXIT));
    const first = p.run({ memory: Uint8Array.from([1]) });
    p.run({ memory: Uint8Array.from([2]) });
    expect(() => first.memory).toThrow(TwinpathError);
  });

  it('starts every run with a zeroed stack', () => {
    // r0 = *(u64 *)(r10 - 8); *(u64 *)(r10 - 8) = 5; exit
    const p = vm.load(prog(insn(0x79, 0, 10, -8, 0), insn(0x7a, 10, 0, -8, 5), EXIT));
    expect(p.run().r0).toBe(0n);
    expect(p.run().r0).toBe(0n);
  });

  it('rejects a budget that is not a positive whole number', () => {
    const p = vm.load(prog(insn(0xb7, 0, 0, 0, 0), EXIT));
    for (const budget of [0, -1, 1.5, Number.NaN]) {
      expect(() => p.run({ budget })).toThrow(TwinpathError);
    }
  });

  it('throws VmError with the code and instruction index on a bad load', () => {
    try {
      vm.load(prog(insn(0xb7, 0, 0, 0, 0), insn(0xb7, 0, 0, 0, 0)));
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(VmError);
      expect((e as VmError).code).toBe('VM_FALLTHROUGH');
      expect((e as VmError).insnIndex).toBe(1);
    }
    expect(() => vm.load(new Uint8Array(0))).toThrow(/no instructions/);
    expect(() => vm.load(new Uint8Array(12))).toThrow(TwinpathError);
  });

  it('keeps many programs loaded, and frees them', () => {
    const progs = Array.from({ length: 200 }, (_, k) => vm.load(prog(insn(0xb7, 0, 0, 0, k), EXIT)));
    progs.forEach((p, k) => expect(p.run().r0).toBe(BigInt(k)));
    for (const p of progs) p.dispose();
  });

  it('handles large inputs (the memory grows)', () => {
    // r0 = *(u8 *)(r1 + 0) + last byte via r2
    const p = vm.load(
      prog(insn(0xbf, 3, 1, 0, 0), insn(0x0f, 3, 2, 0, 0), insn(0x71, 0, 3, -1, 0), EXIT),
    );
    const big = new Uint8Array(3 << 20);
    big[big.length - 1] = 42;
    expect(p.run({ memory: big }).r0).toBe(42n);
  });
});

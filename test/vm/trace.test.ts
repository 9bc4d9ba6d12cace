// Traced runs of the VM: every completed instruction with what it did (register written and its
// value, memory address and size, jump taken, helper id and r0, calls and exits with the frame
// depth), the ring that keeps the last records of a long run, and untraced runs left alone.

import { describe, expect, it } from 'vitest';
import { Vm, VmError } from '../../src/vm/vm.js';
import { TwinpathError } from '../../src/errors.js';
import { EXIT, insn, prog } from './insn.js';
import { MAX_TRACE_LIMIT } from '../../src/vm/trace.js';

// Each kind of record once: a load from the input, a store to the stack, a taken jump, a helper
// (get_smp_processor_id, 8: r0 = 0), an atomic add, an lddw, a bpf-to-bpf call and both exits.
const EVERY_KIND = prog(
  insn(0xbf, 4, 1, 0, 0), //  0: r4 = r1
  insn(0x71, 3, 1, 1, 0), //  1: r3 = *(u8 *)(r1 + 0x1)
  insn(0x63, 10, 3, -4, 0), //  2: *(u32 *)(r10 - 0x4) = r3
  insn(0x25, 3, 0, 1, 0x10), //  3: if r3 > 0x10 goto +0x1
  insn(0x07, 0, 0, 0, 5), //  4: r0 += 0x5 (jumped over)
  insn(0x85, 0, 0, 0, 8), //  5: call 0x8
  insn(0x0f, 0, 3, 0, 0), //  6: r0 += r3
  insn(0xc3, 10, 0, -4, 0), //  7: lock *(u32 *)(r10 - 0x4) += r0
  insn(0x18, 1, 0, 0, 0x55667788), //  8: r1 = 0x1122334455667788 ll
  insn(0, 0, 0, 0, 0x11223344),
  insn(0x85, 0, 1, 0, 3), // 10: call +3 (slot 14)
  insn(0x61, 5, 10, -4, 0), // 11: r5 = *(u32 *)(r10 - 0x4)
  insn(0x0f, 0, 5, 0, 0), // 12: r0 += r5
  EXIT, // 13
  insn(0xb7, 0, 0, 0, 7), // 14: r0 = 0x7
  EXIT, // 15
);

describe('a traced run', () => {
  const vm = new Vm();

  it('records each instruction with what it did', () => {
    const p = vm.load(EVERY_KIND, { helpers: 'tc' });
    const r = p.run({ memory: Uint8Array.from([0x11, 0x22, 0x33]), trace: {} });
    expect(r.r0).toBe(0x7n + 0x44n);
    const t = r.trace!;
    expect(t.truncated).toBe(false);
    expect(t.total).toBe(14);
    expect(t.total).toBe(r.executed);
    expect(t.limit).toBe(65_536);
    const mem = Number(t.records[0]!.value);
    const fp = t.records[2]!.addr! + 4; // r10 of the entry frame
    const h = p.handle;
    expect(t.records).toEqual([
      { kind: 'alu', program: h, insn: 0, depth: 0, reg: 4, value: BigInt(mem) },
      { kind: 'load', program: h, insn: 1, depth: 0, reg: 3, value: 0x22n, addr: mem + 1, size: 1 },
      { kind: 'store', program: h, insn: 2, depth: 0, value: 0x22n, addr: fp - 4, size: 4 },
      { kind: 'jump', program: h, insn: 3, depth: 0, taken: true },
      { kind: 'helper', program: h, insn: 5, depth: 0, reg: 0, value: 0n, helper: 8 },
      { kind: 'alu', program: h, insn: 6, depth: 0, reg: 0, value: 0x22n },
      { kind: 'atomic', program: h, insn: 7, depth: 0, value: 0x44n, addr: fp - 4, size: 4 },
      { kind: 'alu', program: h, insn: 8, depth: 0, reg: 1, value: 0x1122334455667788n },
      { kind: 'call', program: h, insn: 10, depth: 0, target: 14 },
      { kind: 'alu', program: h, insn: 14, depth: 1, reg: 0, value: 7n },
      { kind: 'exit', program: h, insn: 15, depth: 1, reg: 0, value: 7n },
      { kind: 'load', program: h, insn: 11, depth: 0, reg: 5, value: 0x44n, addr: fp - 4, size: 4 },
      { kind: 'alu', program: h, insn: 12, depth: 0, reg: 0, value: 0x4bn },
      { kind: 'exit', program: h, insn: 13, depth: 0, reg: 0, value: 0x4bn },
    ]);
    p.dispose();
  });

  it('records a jump not taken, and the register a fetching atomic wrote', () => {
    const p = vm.load(
      prog(
        insn(0xb7, 1, 0, 0, 3), // 0: r1 = 0x3
        insn(0x7b, 10, 1, -8, 0), // 1: *(u64 *)(r10 - 0x8) = r1
        insn(0xb7, 2, 0, 0, 4), // 2: r2 = 0x4
        insn(0xdb, 10, 2, -8, 0x01), // 3: r2 = atomic_fetch_add((u64 *)(r10 - 0x8), r2)
        insn(0x15, 2, 0, 1, 0), // 4: if r2 == 0x0 goto +0x1
        insn(0x79, 0, 10, -8, 0), // 5: r0 = *(u64 *)(r10 - 0x8)
        EXIT,
      ),
    );
    const t = p.run({ trace: {} }).trace!;
    expect(t.records.map((r) => [r.insn, r.kind, r.reg, r.value, r.taken])).toEqual([
      [0, 'alu', 1, 3n, undefined],
      [1, 'store', undefined, 3n, undefined],
      [2, 'alu', 2, 4n, undefined],
      [3, 'atomic', 2, 3n, undefined],
      [4, 'jump', undefined, undefined, false],
      [5, 'load', 0, 7n, undefined],
      [6, 'exit', 0, 7n, undefined],
    ]);
    p.dispose();
  });

  it('names the helper a callx called by the id its register held', () => {
    // r2 = 0x8; callx r2 (get_smp_processor_id); exit
    const p = vm.load(prog(insn(0xb7, 2, 0, 0, 8), insn(0x8d, 2, 0, 0, 0), EXIT), { helpers: 'tc' });
    expect(p.run({ trace: {} }).trace!.records[1]).toEqual({ kind: 'helper', program: p.handle, insn: 1, depth: 0, reg: 0, value: 0n, helper: 8 });
    p.dispose();
  });

  it('keeps the last records of a run longer than the limit, and says so', () => {
    // r0 = 0; r1 = 0; loop: r0 += r1; r1 += 1; if r1 != 100 goto loop; exit
    const p = vm.load(
      prog(insn(0xb7, 0, 0, 0, 0), insn(0xb7, 1, 0, 0, 0), insn(0x0f, 0, 1, 0, 0), insn(0x07, 1, 0, 0, 1), insn(0x55, 1, 0, -3, 100), EXIT),
    );
    const r = p.run({ trace: { limit: 4 } });
    expect(r.r0).toBe(4950n);
    const t = r.trace!;
    expect(t).toMatchObject({ total: 303, truncated: true, limit: 4 });
    expect(t.records.map((x) => [x.insn, x.kind, x.value ?? x.taken])).toEqual([
      [2, 'alu', 4950n],
      [3, 'alu', 100n],
      [4, 'jump', false],
      [5, 'exit', 4950n],
    ]);
    // A limit the run fits exactly is not truncated.
    const exact = p.run({ trace: { limit: 303 } }).trace!;
    expect(exact).toMatchObject({ total: 303, truncated: false });
    expect(exact.records[0]).toMatchObject({ insn: 0, kind: 'alu', value: 0n });
    p.dispose();
  });

  it('leaves the next run untraced', () => {
    const p = vm.load(prog(insn(0xb7, 0, 0, 0, 1), EXIT));
    expect(p.run({ trace: {} }).trace?.records).toHaveLength(2);
    expect(p.run().trace).toBeUndefined();
    p.dispose();
  });

  it('gives a failing run\'s records up to the failure with the error', () => {
    // r0 = 0x1; r0 = *(u32 *)(r1 + 0x10) with no input memory: out of bounds at insn 1
    const p = vm.load(prog(insn(0xb7, 0, 0, 0, 1), insn(0x61, 0, 1, 0x10, 0), EXIT));
    let err: unknown;
    try {
      p.run({ trace: {} });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(VmError);
    expect((err as VmError).code).toBe('VM_OOB_ACCESS');
    expect((err as VmError).trace?.records).toEqual([{ kind: 'alu', program: p.handle, insn: 0, depth: 0, reg: 0, value: 1n }]);
    p.dispose();
  });

  it('refuses a limit that is not a whole number of records in range', () => {
    const p = vm.load(prog(insn(0xb7, 0, 0, 0, 1), EXIT));
    for (const limit of [0, -1, 2.5, MAX_TRACE_LIMIT + 1]) {
      expect(() => p.run({ trace: { limit } })).toThrow(TwinpathError);
    }
    p.dispose();
  });
});

// Kernel engine: records a program writes to a BPF_MAP_TYPE_RINGBUF map, read back in order,
// with a record limit, a bounded wait and a closed reader refused.

import { afterAll, beforeAll, expect, it } from 'vitest';
import { KernelObject, RingBufferReader } from '../../src/kernel/index.js';
import { describeKernel, kernelFixture } from '../helpers/kernel.js';

interface Event {
  len: number;
  mark: number;
  seq: bigint;
}
// struct tc_mark_event in bpf/test/kernel/tc_mark.bpf.c
const decode = (b: Buffer): Event => ({ len: b.readUInt32LE(0), mark: b.readUInt32LE(4), seq: b.readBigUInt64LE(8) });

describeKernel('kernel ring buffer', () => {
  let obj: KernelObject;
  let reader: RingBufferReader;
  beforeAll(() => {
    obj = KernelObject.open(kernelFixture('tc_mark'), 'tc_mark.bpf.o').setGlobal('mark_base', 0x1000).load();
    reader = new RingBufferReader(obj.map('events'));
  });
  afterAll(() => {
    reader?.close();
    obj?.close();
  });

  it('returns one record per run, oldest first', () => {
    expect(reader.drain()).toEqual([]);
    for (const len of [60, 61, 62]) obj.program().testRun(Buffer.alloc(len));
    const events = reader.drain().map(decode);
    expect(events).toEqual([
      { len: 60, mark: 0x1000 + 60, seq: 1n },
      { len: 61, mark: 0x1000 + 61, seq: 2n },
      { len: 62, mark: 0x1000 + 62, seq: 3n },
    ]);
    expect(reader.drain()).toEqual([]);
  });

  it('stops at maxRecords and keeps the rest for the next poll', () => {
    for (let i = 0; i < 5; i++) obj.program().testRun(Buffer.alloc(70 + i));
    const first = reader.poll(0, 2).map(decode);
    expect(first.map((e) => e.len)).toEqual([70, 71]);
    const rest = reader.poll(100).map(decode);
    expect(rest.map((e) => e.len)).toEqual([72, 73, 74]);
  });

  it('waits at most the timeout when there is nothing', () => {
    const t0 = performance.now();
    expect(reader.poll(50)).toEqual([]);
    const waited = performance.now() - t0;
    expect(waited).toBeGreaterThanOrEqual(40);
    expect(waited).toBeLessThan(2000);
  });

  it('refuses a map that is not a ring buffer, and a closed reader', () => {
    expect(() => new RingBufferReader(obj.map('counts'))).toThrow(expect.objectContaining({ code: 'KERNEL_ERROR' }));
    const r = new RingBufferReader(obj.map('events'));
    r.close();
    r.close();
    expect(() => r.poll(0)).toThrow(expect.objectContaining({ errnoName: 'EBADF' }));
  });
});

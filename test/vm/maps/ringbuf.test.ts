// RINGBUF and PERF_EVENT_ARRAY records in the VM: reserve/submit/discard/output/query as the
// kernel's bpf_ringbuf_* do them, records drained in order, discarded ones skipped, a busy
// record holding back the ones after it, the ring refusing what does not fit, records that
// wrap around the end of the ring; perf outputs by slot.

import { describe, expect, it } from 'vitest';
import { Vm } from '../../../src/vm/vm.js';
import { createVmMap, type VmMap } from '../../../src/vm/maps.js';
import { errnoOf, u32 } from './util.js';

const text = (s: string) => new TextEncoder().encode(s);
const texts = (m: VmMap) => m.drain().map((r) => new TextDecoder().decode(r.data));

describe('VM ring buffer', () => {
  const vm = new Vm();
  const ring = () => createVmMap(vm, { type: 'ringbuf', keySize: 0, valueSize: 0, maxEntries: 4096 });

  it('drains submitted and output records in order, skipping discarded ones', () => {
    const m = ring();
    m.ringbufOutput(text('one'));
    const a = m.ringbufReserve(5);
    const b = m.ringbufReserve(3);
    expect(a).not.toBe(0);
    vm.bytes().set(text('two!!'), a);
    vm.bytes().set(text('bad'), b);
    m.ringbufDiscard(b);
    // `a` is still busy: nothing after it may be read yet
    expect(texts(m)).toEqual(['one']);
    m.ringbufSubmit(a);
    m.ringbufOutput(text('three'));
    expect(texts(m)).toEqual(['two!!', 'three']);
    expect(m.drain()).toEqual([]);
    expect(m.ringbufQuery(1)).toBe(4096n);
    expect(m.ringbufQuery(0)).toBe(0n);
    expect(m.ringbufQuery(3)).toBe(m.ringbufQuery(2));
    m.destroy();
  });

  it('refuses a record that would put the producer a whole ring ahead, and bad flags', () => {
    const m = ring();
    expect(m.ringbufReserve(4096)).toBe(0);
    expect(m.ringbufReserve(4088)).toBe(0); // 4096 with its header: one byte too many
    expect(m.ringbufReserve(8, 1)).toBe(0);
    expect(errnoOf(() => m.ringbufOutput(text('x'), 4))).toBe('EINVAL');
    for (let i = 0; i < 3; i++) m.ringbufOutput(new Uint8Array(1000));
    expect(errnoOf(() => m.ringbufOutput(new Uint8Array(1100)))).toBe('EAGAIN');
    expect(m.ringbufQuery(0)).toBe(3n * 1008n);
    expect(m.drain().length).toBe(3);
    m.ringbufOutput(new Uint8Array(1100)); // room again once consumed
    m.destroy();
  });

  it('keeps a record that wraps past the end of the ring contiguous, and writable', () => {
    const m = ring();
    for (let i = 0; i < 3; i++) m.ringbufOutput(new Uint8Array(1200));
    m.drain();
    const at = m.ringbufReserve(2000); // starts at 3624 of 4096: wraps
    expect(at).not.toBe(0);
    expect(m.regionOk(at, 2000, 2)).toBe(true);
    vm.bytes().fill(0xab, at, at + 2000);
    m.ringbufSubmit(at);
    const [r] = m.drain();
    expect(r.data.length).toBe(2000);
    expect(r.data.every((b) => b === 0xab)).toBe(true);
    m.destroy();
  });

  it('checks parameters as the kernel does', () => {
    const bad = (maxEntries: number, keySize = 0) =>
      errnoOf(() => createVmMap(vm, { type: 'ringbuf', keySize, valueSize: 0, maxEntries }));
    expect(bad(4096 + 1)).toBe('EINVAL');
    expect(bad(2048)).toBe('EINVAL'); // not a whole page
    expect(bad(4096, 4)).toBe('EINVAL');
    expect(errnoOf(() => ring().lookup(null))).toBe('ENOTSUPP');
  });
});

describe('VM perf event array', () => {
  const vm = new Vm();

  it('records outputs for a slot that has a reader, E2BIG past the end, ENOENT for an empty slot', () => {
    const m = createVmMap(vm, { type: 'perf_event_array', keySize: 4, valueSize: 4, maxEntries: 2 });
    expect(errnoOf(() => m.perfEventOutput(text('x')))).toBe('ENOENT');
    m.update(u32(0), u32(1));
    m.perfEventOutput(text('hello')); // BPF_F_CURRENT_CPU: CPU 0
    m.perfEventOutput(text('again'), 0n);
    expect(errnoOf(() => m.perfEventOutput(text('x'), 2n))).toBe('E2BIG');
    expect(errnoOf(() => m.perfEventOutput(text('x'), 1n << 40n))).toBe('EINVAL');
    expect(texts(m)).toEqual(['hello', 'again']);
    expect(m.drain()).toEqual([]);
    expect(errnoOf(() => m.lookup(u32(0)))).toBe('ENOTSUPP');
    m.destroy();
  });
});

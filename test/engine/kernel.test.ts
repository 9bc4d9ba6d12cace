// The kernel engine through the Engine interface: open with globals, run tc and XDP programs
// with context in and out, maps by their spec names (per-CPU folded to one CPU, queues read
// without losing elements), ring buffer events per run, and the errors a caller can cause.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readObject } from '../../src/elf/object.js';
import { kernelEngine } from '../../src/engine/kernel.js';
import { sumCpus } from '../../src/engine/kernel.js';
import type { EngineObject } from '../../src/engine/engine.js';
import { describeKernel } from '../helpers/kernel.js';
import { ROOT } from '../helpers/paths.js';

function load(rel: string) {
  const file = `bpf/test/${rel}.bpf.o`;
  const bytes = new Uint8Array(readFileSync(join(ROOT, file)));
  return { bytes, file, spec: readObject(bytes, file) };
}

function packet(len: number): Uint8Array {
  const b = new Uint8Array(len);
  for (let i = 0; i < len; i++) b[i] = i & 0xff;
  b[12] = 0x08; // EtherType IPv4
  b[13] = 0x00;
  return b;
}

const u32 = (n: number) => new Uint8Array(new Uint32Array([n]).buffer);
const u64 = (n: bigint) => new Uint8Array(new BigUint64Array([n]).buffer);
const le32 = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset).getUint32(0, true);
const le64 = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset).getBigUint64(0, true);

describe('sumCpus', () => {
  it('adds u64 lanes, wrapping', () => {
    const a = u64(0xffffffffffffffffn);
    const b = u64(2n);
    expect(le64(sumCpus([a, b], 8))).toBe(1n);
  });
  it('adds u32 lanes when the size is not a multiple of 8', () => {
    const v = new Uint8Array([1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0]);
    expect([...sumCpus([v, v], 12)]).toEqual([2, 0, 0, 0, 4, 0, 0, 0, 6, 0, 0, 0]);
  });
  it('adds bytes for odd sizes', () => {
    expect([...sumCpus([new Uint8Array([200, 1, 2]), new Uint8Array([100, 1, 2])], 3)]).toEqual([44, 2, 4]);
  });
});

describeKernel('kernel engine', () => {
  let tc: EngineObject;
  let xdp: EngineObject;
  beforeAll(() => {
    tc = kernelEngine.open(load('kernel/tc_mark'), { globals: { mark_base: u32(0x2000) } });
    xdp = kernelEngine.open(load('kernel/xdp_grow'), { globals: { verdict: u32(3) } });
  });
  afterAll(() => {
    tc?.close();
    xdp?.close();
  });

  it('runs a tc program: retval, output bytes, mark written, globals set before load', () => {
    const input = packet(64);
    const r = tc.run('tc_mark', { packet: input });
    expect(r.retval).toBe(0);
    expect(r.packet[0]).toBe(0xaa);
    expect(r.packet.subarray(1)).toEqual(input.subarray(1));
    expect(r.ctx.mark).toBe(0x2000 + 64);
    expect(r.ctx.ifindex).toBe(1); // no ifindex given: the kernel runs the skb on loopback
    expect(r.ctx64).toEqual({ tstamp: 0n, hwtstamp: 0n });
  });

  it('takes every tc ctx_in field the kernel accepts and reports them back', () => {
    const r = tc.run('tc_mark', {
      packet: packet(100),
      ctx: {
        mark: 5, priority: 7, ifindex: 1, ingressIfindex: 42, cb: [1, 2, 3, 4, 5],
        tstamp: 0x1_0000_0000_0001n, wireLen: 1500, gsoSegs: 3, gsoSize: 1400, hwtstamp: 99n,
      },
    });
    expect(r.ctx).toEqual({
      mark: 0x2000 + 100, priority: 7, ingress_ifindex: 42, ifindex: 1,
      'cb[0]': 1, 'cb[1]': 2, 'cb[2]': 3, 'cb[3]': 4, 'cb[4]': 5,
      wire_len: 1500, gso_segs: 3, gso_size: 1400,
    });
    expect(r.ctx64).toEqual({ tstamp: 0x1_0000_0000_0001n, hwtstamp: 99n });
  });

  it('refuses ctx fields a tc test run cannot set, naming them', () => {
    expect(() => tc.run('tc_mark', { packet: packet(64), ctx: { tcIndex: 1 } }))
      .toThrow(expect.objectContaining({ code: 'USAGE', message: expect.stringContaining('tc_index') }));
    expect(() => tc.run('tc_mark', { packet: packet(64), ctx: { rxQueueIndex: 1 } }))
      .toThrow(expect.objectContaining({ code: 'USAGE', message: expect.stringContaining('rx_queue_index') }));
    expect(() => tc.run('tc_mark', { packet: packet(64), ctx: { ifindex: 0x7ffffff0 } }))
      .toThrow(expect.objectContaining({ code: 'KERNEL_ERROR', message: expect.stringContaining('no network device') }));
  });

  it('drains the ring buffer after each run', () => {
    const a = tc.run('tc_mark', { packet: packet(70) });
    const b = tc.run('tc_mark', { packet: packet(71) });
    expect(a.events).toHaveLength(1);
    expect(a.events[0]!.kind).toBe('ringbuf');
    expect(a.events[0]!.map).toBe('events');
    expect(le32(a.events[0]!.data)).toBe(70);
    expect(le32(a.events[0]!.data.subarray(4))).toBe(0x2000 + 70);
    expect(le64(b.events[0]!.data.subarray(8))).toBe(le64(a.events[0]!.data.subarray(8)) + 1n);
  });

  it('names maps as the spec does and reads global data', () => {
    const obj = kernelEngine.open(load('kernel/tc_mark'), { globals: { mark_base: u32(0x2000) } });
    try {
      expect(obj.maps().map((m) => m.name).sort()).toEqual(['.bss', '.data', '.rodata', 'counts', 'events', 'fifo', 'per_cpu']);
      expect(le32(obj.map('.data').lookup(u32(0))!)).toBe(0xffffffff);
      obj.run('tc_mark', { packet: packet(80) });
      obj.run('tc_mark', { packet: packet(80) });
      expect(le64(obj.map('.bss').lookup(u32(0))!)).toBe(2n);
      expect(le32(obj.map('.data').lookup(u32(0))!)).toBe(80);
      expect(le32(obj.map('.rodata').lookup(u32(0))!)).toBe(0x2000);
      expect(obj.map('counts').entries().map(([k, v]) => [le32(k), le64(v)])).toEqual([[80, 2n]]);
      expect(obj.map('events').entries()).toEqual([]);
    } finally {
      obj.close();
    }
  });

  it('shows a per-CPU map as one CPU: the value written is the value read', () => {
    const m = tc.map('per_cpu');
    m.update(u32(1), u32(41));
    expect(le32(m.lookup(u32(1))!)).toBe(41);
    expect(m.entries().map(([k, v]) => [le32(k), le32(v)])).toEqual([[0, 0], [1, 41]]);
  });

  it('lists a queue without emptying it', () => {
    const q = tc.map('fifo');
    q.push!(u32(1));
    q.push!(u32(2));
    expect(q.entries().map(([k, v]) => [k.length, le32(v)])).toEqual([[0, 1], [0, 2]]);
    expect(le32(q.pop!()!)).toBe(1);
    expect(le32(q.pop!()!)).toBe(2);
    expect(q.pop!()).toBeUndefined();
  });

  it('runs XDP: the packet grows at the head, ctx in and out', () => {
    const input = packet(64);
    const r = xdp.run('xdp_grow', { packet: input, ctx: { ingressIfindex: 1, rxQueueIndex: 0 } });
    expect(r.retval).toBe(3);
    expect(r.packet).toHaveLength(68);
    expect(new TextDecoder().decode(r.packet.subarray(0, 4))).toBe('tp01');
    expect(r.packet.subarray(4)).toEqual(input);
    expect(r.ctx).toEqual({ ingress_ifindex: 1, rx_queue_index: 0 });
    expect(r.events).toEqual([]);
    expect(() => xdp.run('xdp_grow', { packet: input, ctx: { mark: 1 } })).toThrow(expect.objectContaining({ code: 'USAGE' }));
    expect(() => xdp.run('xdp_grow', { packet: input, ctx: { rxQueueIndex: 5 } })).toThrow(expect.objectContaining({ code: 'KERNEL_ERROR' }));
  });

  it('refuses tc packets over 3712 bytes and runt packets with KERNEL_PACKET_SIZE', () => {
    expect(tc.run('tc_mark', { packet: packet(3712) }).packet).toHaveLength(3712);
    expect(() => tc.run('tc_mark', { packet: packet(3713) }))
      .toThrow(expect.objectContaining({ code: 'KERNEL_PACKET_SIZE', location: expect.objectContaining({ program: 'tc_mark' }) }));
    expect(() => xdp.run('xdp_grow', { packet: packet(13) })).toThrow(expect.objectContaining({ code: 'KERNEL_PACKET_SIZE' }));
    expect(xdp.run('xdp_grow', { packet: packet(5000) }).packet).toHaveLength(5004);
  });

  it('refuses unknown programs, maps and globals', () => {
    expect(() => tc.run('nope', { packet: packet(64) })).toThrow(expect.objectContaining({ code: 'ELF_NO_PROGRAM' }));
    expect(() => tc.map('nope')).toThrow(expect.objectContaining({ code: 'USAGE' }));
    expect(() => kernelEngine.open(load('kernel/tc_mark'), { globals: { nope: u32(1) } })).toThrow(expect.objectContaining({ code: 'USAGE' }));
    expect(() => kernelEngine.open(load('kernel/tc_mark'), { globals: { mark_base: u64(1n) } })).toThrow(expect.objectContaining({ code: 'USAGE' }));
  });

  it('reports a verifier rejection as KERNEL_ERROR', () => {
    expect(() => kernelEngine.open(load('kernel/verifier_reject'))).toThrow(expect.objectContaining({ code: 'KERNEL_ERROR' }));
  });

  it('loads the ELF test objects: every xdp and tc program runs, kprobes are left out', () => {
    for (const rel of ['elf/globals', 'elf/maps', 'elf/btf_kinds', 'elf/globals.clang-14-v2', 'elf/maps.clang-14-v2']) {
      const o = load(rel);
      const obj = kernelEngine.open(o);
      try {
        for (const p of o.spec.programs) {
          const r = obj.run(p.name, { packet: packet(64) });
          expect(r.packet).toHaveLength(64);
        }
      } finally {
        obj.close();
      }
    }
  });

  it('runs a tc/ingress program of maps.bpf.o and sees its map-in-map and ring buffer writes', () => {
    const pinned = '/sys/fs/bpf/flows'; // where libbpf would pin the by-name map "flows"
    const existed = existsSync(pinned);
    const obj = kernelEngine.open(load('elf/maps'));
    if (!existed) expect(existsSync(pinned)).toBe(false);
    try {
      const r = obj.run('tc_count', { packet: packet(64) });
      expect(r.retval).toBe(0);
      expect(r.events.map((e) => [e.map, [...e.data]])).toEqual([['events', [0, 0, 0, 0]]]);
      expect(le64(obj.map('counters').lookup(u32(1))!)).toBe(64n);
      expect(le32(obj.map('inner_a').lookup(u32(0))!)).toBe(1);
      expect(obj.map('outer').entries().map(([k]) => le32(k))).toEqual([0, 2]);
    } finally {
      obj.close();
    }
  });
});

// Kernel engine: BPF_PROG_TEST_RUN for tc and XDP, returning the verdict, the packet after the
// run, the context after the run and the mean duration; context input; packet size limits.

import { afterAll, beforeAll, expect, it } from 'vitest';
import { KernelObject, TC_TEST_RUN_MAX_PACKET, isKernelError } from '../../src/kernel/index.js';
import { describeKernel, kernelFixture } from '../helpers/kernel.js';

// struct __sk_buff and struct xdp_md offsets, as linux/bpf.h lays them out.
const SKB = { size: 192, mark: 8, priority: 32, cb0: 48 } as const;
const XDP_MD = { size: 24, data: 0, data_end: 4 } as const;
const TC_ACT_SHOT = 2;
const XDP_PASS = 2;
const XDP_TX = 3;

function packet(len: number): Buffer {
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) b[i] = i & 0xff;
  b.writeUInt16BE(0x0800, 12); // EtherType IPv4, so the skb looks ordinary
  return b;
}

describeKernel('kernel test run', () => {
  let tc: KernelObject;
  let xdp: KernelObject;
  beforeAll(() => {
    tc = KernelObject.open(kernelFixture('tc_mark'), 'tc_mark.bpf.o').load();
    xdp = KernelObject.open(kernelFixture('xdp_grow'), 'xdp_grow.bpf.o').setGlobal('verdict', XDP_TX).load();
  });
  afterAll(() => {
    tc?.close();
    xdp?.close();
  });

  it('runs a tc program: verdict, skb->mark written, first byte rewritten', () => {
    const input = packet(64);
    const r = tc.program('tc_mark').testRun(input);
    expect(r.retval).toBe(0); // TC_ACT_OK
    expect(r.dataOut).toHaveLength(64);
    expect(r.dataOut[0]).toBe(0xaa);
    expect(r.dataOut.subarray(1)).toEqual(input.subarray(1));
    expect(input[0]).toBe(0); // the caller's buffer is not touched
    expect(r.ctxOut).toHaveLength(SKB.size);
    expect(r.ctxOut!.readUInt32LE(SKB.mark)).toBe(0x100 + 64);
    expect(r.durationNs).toBeGreaterThanOrEqual(0);
    expect(tc.map('counts').lookup(Buffer.from([64, 0, 0, 0]))).toBeDefined();
  });

  it('passes a __sk_buff in and reads the written fields back', () => {
    const ctx = Buffer.alloc(SKB.size);
    ctx.writeUInt32LE(7, SKB.priority);
    ctx.writeUInt32LE(0x1234, SKB.cb0);
    const r = tc.program().testRun(packet(100), { ctx });
    expect(r.ctxOut!.readUInt32LE(SKB.priority)).toBe(7);
    expect(r.ctxOut!.readUInt32LE(SKB.cb0)).toBe(0x1234);
    expect(r.ctxOut!.readUInt32LE(SKB.mark)).toBe(0x100 + 100);
    // A field the kernel does not let a test run set is refused.
    const bad = Buffer.alloc(SKB.size);
    bad.writeUInt32LE(5, 4); // pkt_type
    expect(() => tc.program().testRun(packet(100), { ctx: bad })).toThrow(expect.objectContaining({ errnoName: 'EINVAL' }));
    const tooLong = Buffer.alloc(SKB.size + 8);
    expect(() => tc.program().testRun(packet(100), { ctx: tooLong })).toThrow(expect.objectContaining({ errnoName: 'EINVAL' }));
  });

  it('follows a verdict chosen before load', () => {
    const obj = KernelObject.open(kernelFixture('tc_mark'), 'tc_mark.bpf.o').setGlobal('verdict', TC_ACT_SHOT).load();
    try {
      expect(obj.program().testRun(packet(60)).retval).toBe(TC_ACT_SHOT);
    } finally {
      obj.close();
    }
  });

  it('runs an XDP program that grows the packet at the head', () => {
    const input = packet(64);
    const r = xdp.program('xdp_grow').testRun(input);
    expect(r.retval).toBe(XDP_TX);
    expect(r.dataOut).toHaveLength(68);
    expect(r.dataOut.subarray(0, 4).toString('latin1')).toBe('tp01');
    expect(r.dataOut.subarray(4)).toEqual(input);
    expect(r.ctxOut).toHaveLength(XDP_MD.size);
    expect(r.ctxOut!.readUInt32LE(XDP_MD.data_end) - r.ctxOut!.readUInt32LE(XDP_MD.data)).toBe(68);
  });

  it('takes an xdp_md in', () => {
    const obj = KernelObject.open(kernelFixture('xdp_grow'), 'xdp_grow.bpf.o').load();
    try {
      const ctx = Buffer.alloc(XDP_MD.size);
      ctx.writeUInt32LE(80, XDP_MD.data_end);
      const r = obj.program().testRun(packet(80), { ctx });
      expect(r.retval).toBe(XDP_PASS);
      expect(r.dataOut).toHaveLength(84);
      const tooLong = Buffer.alloc(XDP_MD.size + 4);
      expect(() => obj.program().testRun(packet(80), { ctx: tooLong })).toThrow(expect.objectContaining({ errnoName: 'EINVAL' }));
    } finally {
      obj.close();
    }
  });

  it('refuses packets the kernel cannot take, saying why', () => {
    const prog = tc.program();
    expect(prog.testRun(packet(TC_TEST_RUN_MAX_PACKET)).dataOut).toHaveLength(TC_TEST_RUN_MAX_PACKET);
    try {
      prog.testRun(packet(TC_TEST_RUN_MAX_PACKET + 1));
      throw new Error('expected EINVAL');
    } catch (e) {
      expect(isKernelError(e, 'EINVAL')).toBe(true);
      expect((e as Error).message).toContain(`at most ${TC_TEST_RUN_MAX_PACKET} bytes`);
      expect((e as { location: { program?: string } }).location.program).toBe('tc_mark');
    }
    expect(() => prog.testRun(Buffer.alloc(0))).toThrow(expect.objectContaining({ errnoName: 'EINVAL' }));
    expect(() => prog.testRun(Buffer.alloc(10))).toThrow(expect.objectContaining({ errnoName: 'EINVAL' })); // < ETH_HLEN
    expect(() => prog.testRun('0011' as unknown as Buffer)).toThrow(expect.objectContaining({ errnoName: 'EINVAL' }));
    expect(() => prog.testRun(packet(64), { repeat: -1 })).toThrow(expect.objectContaining({ errnoName: 'EINVAL' }));
    expect(() => prog.testRun(packet(64), { dataOutSize: 8 })).toThrow(expect.objectContaining({ errnoName: 'ENOSPC' }));
  });

  it('measures the cost of one run (repeat=1000, 64-byte packet)', () => {
    const tcRun = tc.program().testRun(packet(64), { repeat: 1000 });
    const xdpRun = xdp.program().testRun(packet(64), { repeat: 1000 });
    expect(tcRun.durationNs).toBeGreaterThan(0);
    expect(xdpRun.durationNs).toBeGreaterThan(0);
    console.log(`BPF_PROG_TEST_RUN mean per run, repeat=1000, 64-byte packet: tc ${tcRun.durationNs} ns, xdp ${xdpRun.durationNs} ns`);
  });
});

// Runs one engine-agreement test program in the kernel the way its expected file says: open the
// object, set globals, load, fill maps, prog array slots and inner maps, run every packet of its
// capture with BPF_PROG_TEST_RUN, then read back maps, globals and ring buffers into the
// engine-neutral Results shape, with masked values zeroed. Also keeps the raw values the masks
// hide, so tests can check the properties (monotonic, nonzero) those values must still have.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KernelObject, RingBufferReader, type KernelMap } from '../../src/kernel/index.js';
import { readCaptureSync } from '../../src/pcap/index.js';
import { capturesDir, hex, progsDir, unhex, type Expected, type PacketResult, type Results } from './expected.js';

// struct __sk_buff offsets (linux/bpf.h) of the fields the programs write.
export const SKB = { size: 192, mark: 8, priority: 32, cb: 48 } as const;

// enum bpf_map_type values this harness treats specially.
const MAP = {
  PROG_ARRAY: 3, PERF_EVENT_ARRAY: 4, PERCPU_HASH: 5, PERCPU_ARRAY: 6, LRU_PERCPU_HASH: 10,
  ARRAY_OF_MAPS: 12, HASH_OF_MAPS: 13, XSKMAP: 17, QUEUE: 22, STACK: 23, RINGBUF: 27,
} as const;
/** Maps whose values are fds or ids (meaningless across engines) or that hold no readable state. */
const NOT_DUMPED: number[] = [MAP.PROG_ARRAY, MAP.PERF_EVENT_ARRAY, MAP.ARRAY_OF_MAPS, MAP.HASH_OF_MAPS, MAP.XSKMAP, MAP.RINGBUF];

export interface KernelRun {
  results: Results;
  inputs: Buffer[];
  outputs: Buffer[];
  ctxOut: (Buffer | null)[];
  /** Globals and map values before masking. */
  rawGlobals: Record<string, Buffer>;
  rawMaps: Record<string, [string, Buffer][]>;
}

export function capturePackets(name: string): Buffer[] {
  const bytes = readFileSync(join(capturesDir, name));
  return readCaptureSync(bytes, { file: name }).map((r) => Buffer.from(r.data));
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}

function skbCtx(exp: Expected): Buffer | undefined {
  if (exp.hook !== 'tc' || !exp.ctx) return undefined;
  const c = Buffer.alloc(SKB.size);
  c.writeUInt32LE(exp.ctx.mark ?? 0, SKB.mark);
  c.writeUInt32LE(exp.ctx.priority ?? 0, SKB.priority);
  (exp.ctx.cb ?? []).forEach((v, i) => c.writeUInt32LE(v >>> 0, SKB.cb + 4 * i));
  return c;
}

function ctxDiff(before: Buffer | undefined, after: Buffer | null): PacketResult['ctx'] {
  if (!after) return undefined;
  const base = before ?? Buffer.alloc(SKB.size);
  const out: NonNullable<PacketResult['ctx']> = {};
  if (after.readUInt32LE(SKB.mark) !== base.readUInt32LE(SKB.mark)) out.mark = after.readUInt32LE(SKB.mark);
  if (after.readUInt32LE(SKB.priority) !== base.readUInt32LE(SKB.priority)) out.priority = after.readUInt32LE(SKB.priority);
  const cb = [0, 1, 2, 3, 4].map((i) => after.readUInt32LE(SKB.cb + 4 * i));
  if (cb.some((v, i) => v !== base.readUInt32LE(SKB.cb + 4 * i))) out.cb = cb;
  return Object.keys(out).length ? out : undefined;
}

/** Sums per-CPU values as little-endian __u64 words (every per-CPU value here is made of them). */
function sumPerCpu(values: Buffer[]): Buffer {
  const out = Buffer.alloc(values[0]!.length);
  for (let at = 0; at + 8 <= out.length; at += 8) {
    let s = 0n;
    for (const v of values) s += v.readBigUInt64LE(at);
    out.writeBigUInt64LE(BigInt.asUintN(64, s), at);
  }
  return out;
}

function dumpMap(m: KernelMap, type: number): [string, Buffer][] {
  if (type === MAP.QUEUE || type === MAP.STACK) {
    const out: [string, Buffer][] = [];
    for (let v = m.pop(); v !== undefined; v = m.pop()) out.push(['', v as Buffer]);
    return out;
  }
  const rows: [string, Buffer][] = [];
  for (const [k, v] of m.entries()) rows.push([hex(k), Array.isArray(v) ? sumPerCpu(v) : (v as Buffer)]);
  return rows.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

function mask(b: Buffer, ranges: [number, number][]): Buffer {
  const c = Buffer.from(b);
  for (const [from, to] of ranges) c.fill(0, from, Math.min(to, c.length));
  return c;
}

/** Opens, prepares and loads the object; the caller closes it. */
export function loadForTest(exp: Expected, objectFile = exp.object): KernelObject {
  const obj = KernelObject.openFile(join(progsDir, objectFile));
  try {
    for (const [name, v] of Object.entries(exp.load?.globals ?? {})) obj.setGlobal(name, typeof v === 'string' ? unhex(v) : v);
    obj.load();
    for (const e of exp.setup?.maps ?? []) obj.map(e.map).update(unhex(e.key), unhex(e.value));
    for (const p of exp.setup?.progs ?? []) obj.map(p.map).update(u32(p.index), u32(obj.program(p.program).fd));
    for (const i of exp.setup?.innerMaps ?? []) obj.map(i.map).update(unhex(i.key), u32(obj.map(i.inner).fd));
  } catch (e) {
    obj.close();
    throw e;
  }
  return obj;
}

export function runInKernel(exp: Expected, objectFile = exp.object): KernelRun {
  const obj = loadForTest(exp, objectFile);
  try {
    const specs = obj.info().maps;
    const rings = specs.filter((m) => m.type === MAP.RINGBUF).map((m) => new RingBufferReader(obj.map(m.name)));
    const ringbuf: Record<string, string[]> = {};
    for (const r of rings) ringbuf[r.map.name] = [];

    const prog = obj.program(exp.program);
    const ctx = skbCtx(exp);
    const inputs = capturePackets(exp.capture);
    const outputs: Buffer[] = [];
    const ctxOut: (Buffer | null)[] = [];
    const packets: PacketResult[] = [];
    for (const data of inputs) {
      const r = prog.testRun(data, ctx ? { ctx } : {});
      outputs.push(r.dataOut);
      ctxOut.push(r.ctxOut);
      const pr: PacketResult = { retval: r.retval | 0, out: r.dataOut.equals(data) ? 'unchanged' : hex(r.dataOut) };
      const c = exp.hook === 'tc' ? ctxDiff(ctx, r.ctxOut) : undefined;
      if (c) pr.ctx = c;
      packets.push(pr);
      // Drained after every packet, so a full ring can never be the reason for a missing record.
      for (const rb of rings) ringbuf[rb.map.name]!.push(...rb.drain().map(hex));
    }
    for (const r of rings) r.close();

    const maps: Results['maps'] = {};
    const rawMaps: KernelRun['rawMaps'] = {};
    for (const m of specs) {
      if (m.internal || NOT_DUMPED.includes(m.type) || exp.masked?.maps?.[m.name] !== undefined) continue;
      const rows = dumpMap(obj.map(m.name), m.type);
      rawMaps[m.name] = rows;
      const ranges = exp.masked?.values?.[m.name]?.ranges ?? [];
      maps[m.name] = rows.map(([k, v]) => [k, hex(mask(v, ranges))]);
    }

    const globals: Results['globals'] = {};
    const rawGlobals: KernelRun['rawGlobals'] = {};
    for (const g of obj.globals()) {
      if (g.section.startsWith('.rodata')) continue; // constants: what load set them to
      const v = obj.getGlobal(g.name);
      rawGlobals[g.name] = v;
      globals[g.name] = exp.masked?.globals?.[g.name] !== undefined ? 'masked' : hex(v);
    }
    return { results: { packets, maps, globals, ringbuf }, inputs, outputs, ctxOut, rawGlobals, rawMaps };
  } finally {
    obj.close();
  }
}

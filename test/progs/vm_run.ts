// Runs one engine-agreement test program in the VM engine the way its expected file says, and
// reads back the same engine-neutral Results shape that kernel_run.ts reads from the kernel:
// the VM is held to what the kernel recorded, on any machine, kernel or not.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readObject } from '../../src/elf/object.js';
import { vmEngine } from '../../src/engine/vm.js';
import type { EngineMap, EngineObject, RunContext } from '../../src/engine/engine.js';
import { capturePackets } from './kernel_run.js';
import { hex, progsDir, unhex, type Expected, type PacketResult, type Results } from './expected.js';

const MAP = { PROG_ARRAY: 3, PERF_EVENT_ARRAY: 4, ARRAY_OF_MAPS: 12, HASH_OF_MAPS: 13, XSKMAP: 17, RINGBUF: 27 } as const;
const NOT_DUMPED: number[] = [MAP.PROG_ARRAY, MAP.PERF_EVENT_ARRAY, MAP.ARRAY_OF_MAPS, MAP.HASH_OF_MAPS, MAP.XSKMAP, MAP.RINGBUF];

interface VmInternals {
  programHandle(name: string): number | undefined;
  map(name: string): EngineMap & { vm: { id: number } };
}

function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n >>> 0, true);
  return b;
}

function globalBytes(exp: Expected, spec: ReturnType<typeof readObject>): Record<string, Uint8Array> {
  const out: Record<string, Uint8Array> = {};
  for (const [name, v] of Object.entries(exp.load?.globals ?? {})) {
    if (typeof v === 'string') {
      out[name] = unhex(v);
      continue;
    }
    const size = spec.maps.flatMap((m) => m.data?.variables ?? []).find((x) => x.name === name)?.size ?? 4;
    const b = new Uint8Array(size);
    const dv = new DataView(b.buffer);
    if (size === 8) dv.setBigUint64(0, BigInt(v), true);
    else if (size === 4) dv.setUint32(0, v >>> 0, true);
    else if (size === 2) dv.setUint16(0, v, true);
    else b[0] = v;
    out[name] = b;
  }
  return out;
}

export function openInVm(exp: Expected, objectFile = exp.object): EngineObject {
  const path = join(progsDir, objectFile);
  const bytes = new Uint8Array(readFileSync(path));
  const spec = readObject(bytes, objectFile);
  const obj = vmEngine.open({ bytes, file: objectFile, spec }, { globals: globalBytes(exp, spec) });
  const vm = obj as unknown as VmInternals;
  for (const e of exp.setup?.maps ?? []) obj.map(e.map).update(unhex(e.key), unhex(e.value));
  for (const p of exp.setup?.progs ?? []) obj.map(p.map).update(u32(p.index), u32(vm.programHandle(p.program)!));
  for (const i of exp.setup?.innerMaps ?? []) obj.map(i.map).update(unhex(i.key), u32(vm.map(i.inner).vm.id));
  return obj;
}

export function runInVm(exp: Expected, objectFile = exp.object): Results {
  const obj = openInVm(exp, objectFile);
  try {
    const ctx: RunContext = exp.hook === 'tc' && exp.ctx ? { mark: exp.ctx.mark, priority: exp.ctx.priority, cb: exp.ctx.cb } : {};
    const ringbuf: Record<string, string[]> = {};
    for (const m of obj.maps()) if (m.type === MAP.RINGBUF) ringbuf[m.name] = [];
    const packets: PacketResult[] = [];
    for (const data of capturePackets(exp.capture)) {
      const r = obj.run(exp.program, { packet: data, ctx });
      const whole = r.meta ? Buffer.concat([r.meta, r.packet]) : Buffer.from(r.packet);
      const pr: PacketResult = { retval: r.retval | 0, out: whole.equals(data) ? 'unchanged' : hex(whole) };
      if (exp.hook === 'tc') {
        const c: NonNullable<PacketResult['ctx']> = {};
        if ((r.ctx.mark ?? 0) !== (exp.ctx?.mark ?? 0)) c.mark = r.ctx.mark;
        if ((r.ctx.priority ?? 0) !== (exp.ctx?.priority ?? 0)) c.priority = r.ctx.priority;
        const cb = [0, 1, 2, 3, 4].map((k) => r.ctx[`cb[${k}]`] ?? 0);
        if (cb.some((v, k) => v !== (exp.ctx?.cb?.[k] ?? 0))) c.cb = cb;
        if (Object.keys(c).length) pr.ctx = c;
      }
      packets.push(pr);
      for (const e of r.events) if (e.kind === 'ringbuf') ringbuf[e.map!]!.push(hex(e.data));
    }
    const maps: Results['maps'] = {};
    const globals: Results['globals'] = {};
    for (const spec of obj.spec.maps) {
      const m = obj.map(spec.name);
      if (spec.data) {
        if (spec.data.section.startsWith('.rodata')) continue;
        const value = m.lookup(new Uint8Array(4))!;
        for (const v of spec.data.variables) {
          globals[v.name] = exp.masked?.globals?.[v.name] !== undefined ? 'masked' : hex(value.subarray(v.offset, v.offset + v.size));
        }
        continue;
      }
      if (NOT_DUMPED.includes(spec.type) || exp.masked?.maps?.[spec.name] !== undefined) continue;
      const ranges = exp.masked?.values?.[spec.name]?.ranges ?? [];
      const rows = m.entries().map(([k, v]): [string, string] => {
        const c = Buffer.from(v);
        for (const [from, to] of ranges) c.fill(0, from, Math.min(to, c.length));
        return [hex(k), hex(c)];
      });
      maps[spec.name] = spec.type === 22 || spec.type === 23 ? rows : rows.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    }
    return { packets, maps, globals, ringbuf };
  } finally {
    obj.close();
  }
}

// Where the scaling benchmark runs a program: one opened object in the VM or in the kernel, with
// map sizes chosen for the benchmark, and a timer for each engine.
//
// Why not the Engine interface alone: the benchmark needs maps larger than the objects declare
// (50,000 services do not fit lb.h's 1,024-entry service map), which libbpf sets with
// bpf_map__set_max_entries before load and Engine.open has no option for; and in the kernel it
// needs BPF_PROG_TEST_RUN's own duration, not the time of a system call. The VM side still goes
// through the VM engine (with the map sizes changed in the spec it is given), so what runs there
// is exactly what `twinpath run` runs.
//
// Timing. Every measured packet is its own run, in both engines. The service path rewrites the
// packet (DNAT) and a repeated kernel test run reuses one skb, so from its second repetition on
// the packet would no longer be addressed to the service; single runs keep every packet intact,
// and the iptables model is timed the same way so that both carry the same fixed cost. Kernel:
// the mean of the in-kernel durations of the round's runs. VM: the CPU time the process spent on
// the round (not wall time: on a shared machine the wall clock also counts other processes' turns)
// divided by its packets, which includes the engine's per-run work (context, packet copy) for
// both paths.

import { basename } from 'node:path';
import { readInputFile } from '../util/files.js';
import { TwinpathError } from '../errors.js';
import { readObject, type ObjectSpec } from '../elf/object.js';
import { getEngine } from '../engine/index.js';
import type { EngineKind, EngineObject } from '../engine/engine.js';
import { SK_BUFF, SK_BUFF_SIZE, ctxField, readField } from '../engine/ctx_layout.js';
import { KernelObject, kernelAvailability, type KernelProgram } from '../kernel/index.js';

export interface TargetOptions {
  /** Values of globals, by variable name, set before load. */
  globals?: Record<string, Uint8Array>;
  /** At least this many entries, by map name: a map the object declares smaller is grown. */
  minEntries?: Record<string, number>;
}

/** What the benchmark reads back from a run: the verdict, the context's cb[] and the packet. */
export interface TargetRun {
  retval: number;
  cb: number[];
  packet: Uint8Array;
}

export interface BenchTarget {
  readonly engine: EngineKind;
  update(map: string, key: Uint8Array, value: Uint8Array): void;
  run(program: string, packet: Uint8Array): TargetRun;
  /** ns per packet of one round: every packet run once, in order. */
  time(program: string, packets: readonly Uint8Array[]): number;
  close(): void;
}

/** Why the kernel cannot be used here, or undefined when it can. */
export function kernelUnavailable(): string | undefined {
  const a = kernelAvailability();
  return a.ok ? undefined : a.reason;
}

export async function openTarget(engine: EngineKind, file: string, opts: TargetOptions = {}): Promise<BenchTarget> {
  const bytes = readInputFile(file);
  const spec = readObject(bytes, file);
  const grow: Record<string, number> = {};
  for (const [name, n] of Object.entries(opts.minEntries ?? {})) {
    const m = spec.maps.find((x) => x.name === name);
    if (!m) throw new TwinpathError('USAGE', `no map "${name}" to resize`, { file });
    if (n > m.maxEntries) grow[name] = n;
  }
  return engine === 'vm' ? openVm(bytes, file, spec, opts.globals ?? {}, grow) : openKernel(bytes, file, spec, opts.globals ?? {}, grow);
}

type Sizes = Record<string, number>;
type Globals = Record<string, Uint8Array>;

async function openVm(bytes: Uint8Array, file: string, spec: ObjectSpec, globals: Globals, grow: Sizes): Promise<BenchTarget> {
  const sized: ObjectSpec = { ...spec, maps: spec.maps.map((m) => (grow[m.name] !== undefined ? { ...m, maxEntries: grow[m.name]! } : m)) };
  const obj: EngineObject = (await getEngine('vm')).open({ bytes, file, spec: sized }, { globals });
  const cbOf = (ctx: Record<string, number>) => [0, 1, 2, 3, 4].map((i) => ctx[`cb[${i}]`] ?? 0);
  return {
    engine: 'vm',
    update: (map, key, value) => obj.map(map).update(key, value),
    run(program, packet) {
      const out = obj.run(program, { packet });
      return { retval: out.retval, cb: cbOf(out.ctx), packet: out.packet };
    },
    time(program, packets) {
      const t = process.cpuUsage();
      for (const packet of packets) obj.run(program, { packet });
      const d = process.cpuUsage(t);
      return ((d.user + d.system) * 1000) / packets.length;
    },
    close: () => obj.close(),
  };
}

const CB = [0, 1, 2, 3, 4].map((i) => ctxField(SK_BUFF, `cb[${i}]`));

function openKernel(bytes: Uint8Array, file: string, spec: ObjectSpec, globals: Globals, grow: Sizes): BenchTarget {
  const why = kernelUnavailable();
  if (why !== undefined) throw new TwinpathError('KERNEL_UNAVAILABLE', why);
  const obj = KernelObject.open(bytes, basename(file));
  try {
    for (const [name, value] of Object.entries(globals)) obj.setGlobal(name, value);
    for (const [name, n] of Object.entries(grow)) obj.setMaxEntries(name, n);
    for (const m of obj.info().maps) if (m.pinPath !== null) obj.setPinPath(m.name, null);
    for (const p of obj.info().programs) if (!spec.programs.some((s) => s.name === p.name)) obj.setAutoload(p.name, false);
    obj.load();
  } catch (e) {
    obj.close();
    throw e;
  }
  const programs = new Map<string, KernelProgram>();
  const program = (name: string) => {
    let p = programs.get(name);
    if (!p) programs.set(name, (p = obj.program(name)));
    return p;
  };
  // A zeroed __sk_buff: the kernel's defaults, and a ctx_out to read cb[] from.
  const ctx = new Uint8Array(SK_BUFF_SIZE);
  const maps = new Map<string, ReturnType<KernelObject['map']>>();
  return {
    engine: 'kernel',
    update(map, key, value) {
      let m = maps.get(map);
      if (!m) maps.set(map, (m = obj.map(map)));
      m.update(key, value);
    },
    run(name, packet) {
      const r = program(name).testRun(packet, { ctx, pinCpu: 0 });
      const out = r.ctxOut ?? new Uint8Array(SK_BUFF_SIZE);
      return { retval: r.retval >>> 0, cb: CB.map((f) => Number(readField(out, f))), packet: new Uint8Array(r.dataOut) };
    },
    time(name, packets) {
      const p = program(name);
      let total = 0;
      for (const packet of packets) total += p.testRun(packet, { ctx, pinCpu: 0 }).durationNs;
      return total / packets.length;
    },
    close: () => obj.close(),
  };
}

// The VM engine: an ObjectSpec loaded into twinpath's wasm VM the way libbpf loads it into the
// kernel. Maps are created from their specs (global data sections as one-entry arrays holding
// their initial bytes, .rodata read-only to programs), every ld_imm64 that names a map or a global
// is pointed at the VM's map, prog arrays and maps of maps get their initial slots, and each
// program is validated against the helpers of its hook. A run fills the context as the kernel's
// BPF_PROG_TEST_RUN does (see wasm/context.c) and reports what the kernel engine reports, under
// the same names, so the two can be compared field by field.
//
// Where the VM cannot be the kernel: bpf_ktime_get_ns follows RunInput.timeNs, random numbers
// come from a seeded generator, per-CPU maps have one CPU, and PERF_EVENT_ARRAY slots are left
// empty as a test run has no perf reader (so bpf_perf_event_output returns -ENOENT in both).

import { cpus } from 'node:os';
import { TwinpathError, type ErrorLocation } from '../errors.js';
import type { MapSpec, ObjectSpec, ProgramSpec } from '../elf/object.js';
import { Vm, VmError, type ExecTrace, type PacketRunResult, type Program, type TraceOptions } from '../vm/vm.js';
import { sourceLocation } from './source.js';
import { checkedMaxEntries } from './sizes.js';
import { createVmMap, VmMapError, type VmMap } from '../vm/maps.js';
import { ctxField, readField, SK_BUFF, TC_CTX_OUT, XDP_MD, XDP_CTX_OUT, type CtxField } from './ctx_layout.js';
import { checkLength, checkTcHeaders, popAllAndRestore, skbIn, xdpIn } from './kernel.js';
import type { Engine, EngineMap, EngineObject, OpenOptions, RunContext, RunEvent, RunInput, RunOutput, RunTrace, TraceRecord } from './engine.js';

const BPF_MAP_TYPE_PROG_ARRAY = 3;
const BPF_MAP_TYPE_PERF_EVENT_ARRAY = 4;
const BPF_MAP_TYPE_XSKMAP = 17;
const BPF_MAP_TYPE_QUEUE = 22;
const BPF_MAP_TYPE_STACK = 23;
const BPF_MAP_TYPE_RINGBUF = 27;
const BPF_PSEUDO_MAP_FD = 1;
const BPF_PSEUDO_MAP_VALUE = 2;

const TEXT = new TextEncoder();
const NO_CTX: RunContext = {};

/** The seed of bpf_get_prandom_u32 for a fresh object: runs are reproducible. */
const DEFAULT_SEED = 0x74776e70617468n;

export const vmEngine: Engine = {
  kind: 'vm',
  open(object, opts = {}) {
    return new VmEngineObject(object.spec, object.file, opts);
  },
};

class VmEngineObject implements EngineObject {
  readonly engine = 'vm' as const;
  readonly spec: ObjectSpec;
  readonly #vm = new Vm();
  readonly #maps = new Map<string, VmEngineMap>();
  readonly #programs = new Map<string, { spec: ProgramSpec; program: Program; where: ErrorLocation; fields: CtxField[] }>();
  /** Programs by VM handle: a run's failure may lie in a tail call's target. */
  readonly #byHandle = new Map<number, ProgramSpec>();
  /** RINGBUF and PERF_EVENT_ARRAY maps, drained after every run. */
  readonly #recordMaps: VmEngineMap[] = [];
  readonly #where: ErrorLocation;

  constructor(spec: ObjectSpec, file: string | undefined, opts: OpenOptions) {
    this.spec = spec;
    this.#where = file !== undefined ? { file } : spec.file !== undefined ? { file: spec.file } : {};
    this.#vm.seed(DEFAULT_SEED);
    const globals = globalValues(spec, opts, this.#where);
    const sizes = checkedMaxEntries(spec, opts.maxEntries, this.#where);
    for (const m of spec.maps) {
      const sized = sizes.has(m.name) ? { ...m, maxEntries: sizes.get(m.name)! } : m;
      const map = new VmEngineMap(m, this.createMap(sized, globals));
      this.#maps.set(m.name, map);
      if (m.type === BPF_MAP_TYPE_RINGBUF || m.type === BPF_MAP_TYPE_PERF_EVENT_ARRAY) this.#recordMaps.push(map);
    }
    for (const p of spec.programs) {
      const where = { ...this.#where, program: p.name, section: p.section };
      const code = this.relocate(p, where);
      try {
        const fields = (p.hook === 'tc' ? TC_CTX_OUT : XDP_CTX_OUT).map((f) => ctxField(p.hook === 'tc' ? SK_BUFF : XDP_MD, f));
        const program = this.#vm.load(code, { helpers: p.hook });
        this.#programs.set(p.name, { spec: p, program, where, fields });
        this.#byHandle.set(program.handle, p);
      } catch (e) {
        throw this.located(e, p, where);
      }
    }
    this.fillSlots();
  }

  /** A VM map for a spec; global data gets its initial bytes (with the caller's globals). */
  private createMap(m: MapSpec, globals: Map<string, Uint8Array>): VmMap {
    const where = { ...this.#where, path: `map ${m.name}` };
    try {
      const inner = m.inner ? this.createMap({ ...m.inner, name: `${m.name}.inner` }, globals) : undefined;
      let maxEntries = m.maxEntries;
      // libbpf sizes a perf event array with max_entries 0 to the possible CPUs.
      if (m.type === BPF_MAP_TYPE_PERF_EVENT_ARRAY && maxEntries === 0) maxEntries = possibleCpus();
      const map = createVmMap(this.#vm, {
        type: m.type,
        keySize: m.keySize,
        valueSize: m.valueSize,
        maxEntries,
        flags: m.flags,
        inner,
        name: m.name,
        possibleCpus: possibleCpus(),
      });
      if (m.data) map.update(new Uint8Array(4), globals.get(m.name) ?? m.data.contents);
      return map;
    } catch (e) {
      throw e instanceof TwinpathError ? e.within(where) : e;
    }
  }

  /** Points every ld_imm64 that names a map or a global at the VM's map. */
  private relocate(p: ProgramSpec, where: ErrorLocation): Uint8Array {
    const code = p.instructions.slice();
    const dv = new DataView(code.buffer, code.byteOffset, code.byteLength);
    for (const r of p.references) {
      const m = this.#maps.get(r.map);
      const at = r.insn * 8;
      if (!m || at + 16 > code.length || code[at] !== 0x18) {
        throw new TwinpathError('ELF_BAD_RELOC', `insn ${r.insn}: reference to map "${r.map}" cannot be resolved`, where);
      }
      const isData = this.spec.maps.find((s) => s.name === r.map)?.data !== undefined;
      code[at + 1] = (code[at + 1]! & 0x0f) | ((isData ? BPF_PSEUDO_MAP_VALUE : BPF_PSEUDO_MAP_FD) << 4);
      dv.setUint32(at + 4, m.vm.id, true);
      dv.setUint32(at + 12, isData ? r.offset : 0, true);
    }
    return code;
  }

  /** Initial slots of prog arrays (programs) and maps of maps (inner maps), as libbpf fills them. */
  private fillSlots(): void {
    for (const m of this.spec.maps) {
      if (!m.initial) continue;
      const map = this.#maps.get(m.name)!;
      for (const slot of m.initial) {
        const value = new Uint8Array(4);
        const dv = new DataView(value.buffer);
        if (m.type === BPF_MAP_TYPE_PROG_ARRAY) {
          const prog = this.#programs.get(slot.name);
          if (!prog) throw new TwinpathError('ELF_BAD_MAP', `prog array "${m.name}" slot ${slot.index}: no program "${slot.name}"`, this.#where);
          dv.setUint32(0, prog.program.handle, true);
        } else {
          const inner = this.#maps.get(slot.name);
          if (!inner) throw new TwinpathError('ELF_BAD_MAP', `map "${m.name}" slot ${slot.index}: no map "${slot.name}"`, this.#where);
          dv.setUint32(0, inner.vm.id, true);
        }
        const key = new Uint8Array(m.keySize);
        new DataView(key.buffer).setUint32(0, slot.index, true);
        map.vm.update(key, value);
      }
    }
  }

  /** A VM error seen from the object: the program it is in (a tail call's target, perhaps) and
   * the C source line of its instruction, when the object has line info. */
  private located(e: unknown, spec: ProgramSpec, where: ErrorLocation): unknown {
    if (!(e instanceof TwinpathError)) return e;
    if (!(e instanceof VmError)) return e.within(where);
    const failed = (e.programHandle !== undefined ? this.#byHandle.get(e.programHandle) : undefined) ?? spec;
    const loc: ErrorLocation = {
      ...where,
      program: failed.name,
      section: failed.section,
      ...e.location,
      ...sourceLocation(failed.lineInfo, e.insnIndex),
    };
    return new TwinpathError(e.code, e.detail, loc, { cause: e });
  }

  map(name: string): EngineMap {
    const m = this.#maps.get(name);
    if (!m) throw new TwinpathError('USAGE', `no map "${name}" (maps: ${[...this.#maps.keys()].join(', ') || 'none'})`, this.#where);
    return m;
  }

  maps(): EngineMap[] {
    return [...this.#maps.values()];
  }

  /** The VM program handle of a program, for tests that fill prog arrays themselves. */
  programHandle(name: string): number | undefined {
    return this.#programs.get(name)?.program.handle;
  }

  programRef(name: string): number {
    const h = this.programHandle(name);
    if (h === undefined) throw new TwinpathError('ELF_NO_PROGRAM', `no program named "${name}"`, this.#where);
    return h;
  }

  mapRef(name: string): number {
    const m = this.#maps.get(name);
    if (!m) throw new TwinpathError('USAGE', `no map "${name}"`, this.#where);
    return m.vm.id;
  }

  run(name: string, input: RunInput): RunOutput {
    return this.runWith(name, input).out;
  }

  runTraced(name: string, input: RunInput, opts: TraceOptions = {}): RunOutput & { trace: RunTrace } {
    const { out, trace } = this.runWith(name, input, opts);
    return { ...out, trace: this.named(trace!) };
  }

  /** The VM's trace with programs named as the object names them, not by VM handle. */
  private named(t: ExecTrace): RunTrace {
    const name = (h: number) => this.#byHandle.get(h)?.name ?? `program ${h}`;
    const records = t.records.map((r) => {
      const { program, target, ...rest } = r;
      const out: TraceRecord = { ...rest, program: name(program) };
      if (r.kind === 'tail_call') out.tailCall = name(target!);
      else if (target !== undefined) out.target = target;
      return out;
    });
    return { records, total: t.total, truncated: t.truncated, limit: t.limit };
  }

  private runWith(name: string, input: RunInput, trace?: TraceOptions): { out: RunOutput; trace?: ExecTrace } {
    const entry = this.#programs.get(name);
    if (!entry) {
      throw new TwinpathError('ELF_NO_PROGRAM', `no program named "${name}" (programs: ${[...this.#programs.keys()].join(', ') || 'none'})`, this.#where);
    }
    const { spec, program, where, fields } = entry;
    checkLength(spec, input.packet.length, where);
    checkTcHeaders(spec, input.packet, where);
    const tc = spec.hook === 'tc';
    const ctxIn = tc ? skbIn(input.ctx ?? NO_CTX, where) : xdpIn(input.ctx ?? NO_CTX, input.packet.length, where);
    let r;
    try {
      r = this.#vm.runPacket(program, spec.hook, input.packet, { ctxIn, timeNs: input.timeNs, trace });
    } catch (e) {
      throw this.located(e, spec, where);
    }
    // A tc run reports the skb fields back; an XDP run reports ingress_ifindex and rx_queue_index
    // as ctx_in gave them (the kernel converts back only the data offsets), although the program
    // saw the loopback device's ifindex when none was given.
    const ctx: Record<string, number> = {};
    const ctx64: Record<string, bigint> = {};
    const after = tc ? r.ctx : ctxIn;
    for (const f of fields) {
      const v = readField(after, f);
      if (typeof v === 'bigint') ctx64[f.name] = v;
      else ctx[f.name] = v;
    }
    const events: RunEvent[] = [];
    for (const m of this.#recordMaps) {
      for (const rec of m.vm.drain()) events.push({ kind: m.type === BPF_MAP_TYPE_RINGBUF ? 'ringbuf' : 'perf', map: m.name, data: rec.data });
    }
    for (const line of r.trace) events.push({ kind: 'trace', data: TEXT.encode(line) });
    const redirect = redirectOf(spec, r.retval, r.redirect, this.#maps);
    const out: RunOutput = {
      retval: r.retval,
      packet: r.packet,
      ctx,
      ...(tc ? { ctx64 } : {}),
      ...(r.meta.length ? { meta: r.meta } : {}),
      events,
      ...(redirect ? { redirect } : {}),
    };
    return r.execTrace ? { out, trace: r.execTrace } : { out };
  }

  close(): void {
    for (const { program } of this.#programs.values()) program.dispose();
    this.#programs.clear();
    for (const m of this.#maps.values()) m.vm.destroy();
    this.#maps.clear();
  }
}

const XDP_REDIRECT = 4;
const TC_ACT_REDIRECT = 7;

/** The redirect target, when the verdict is a redirect; the VM's map id becomes the map's name. */
function redirectOf(spec: ProgramSpec, retval: number, r: PacketRunResult['redirect'], maps: Map<string, VmEngineMap>): RunOutput['redirect'] {
  if (!r || retval !== (spec.hook === 'xdp' ? XDP_REDIRECT : TC_ACT_REDIRECT)) return undefined;
  const out: NonNullable<RunOutput['redirect']> = { flags: r.flags };
  if (r.mapId !== undefined) {
    const m = [...maps.values()].find((x) => x.vm.id === r.mapId);
    if (m) out.map = m.name;
    out.key = r.key!;
  }
  if (r.ifindex !== undefined) out.ifindex = r.ifindex;
  return out;
}

/** Values for globals, by data section, after checking each name and size against the spec. */
function globalValues(spec: ObjectSpec, opts: OpenOptions, where: ErrorLocation): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  for (const [name, bytes] of Object.entries(opts.globals ?? {})) {
    const m = spec.maps.find((x) => x.data?.variables.some((v) => v.name === name));
    const v = m?.data?.variables.find((x) => x.name === name);
    if (!m || !v) throw new TwinpathError('USAGE', `no global variable named "${name}"`, where);
    if (v.size !== bytes.length) throw new TwinpathError('USAGE', `global "${name}" is ${v.size} bytes, got ${bytes.length}`, where);
    const contents = (out.get(m.name) ?? m.data!.contents).slice();
    contents.set(bytes, v.offset);
    out.set(m.name, contents);
  }
  return out;
}

/** The CPUs the kernel would report possible; LRU maps size their free lists by it. */
function possibleCpus(): number {
  return Math.max(1, cpus().length);
}

/** EngineMap over a VmMap. */
class VmEngineMap implements EngineMap {
  readonly name: string;
  readonly type: number;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;

  constructor(spec: MapSpec, readonly vm: VmMap) {
    this.name = spec.name;
    this.type = spec.type;
    this.keySize = spec.keySize;
    this.valueSize = spec.valueSize;
    this.maxEntries = vm.maxEntries;
  }

  private get keyless(): boolean {
    return this.type === BPF_MAP_TYPE_QUEUE || this.type === BPF_MAP_TYPE_STACK;
  }

  lookup(key: Uint8Array): Uint8Array | undefined {
    if (this.keyless) return this.vm.peek();
    return this.vm.lookup(key);
  }

  update(key: Uint8Array, value: Uint8Array, flags = 0): void {
    if (this.keyless) this.vm.push(value, flags);
    else this.vm.update(key, value, flags);
  }

  updateBatch(keys: readonly Uint8Array[], values: readonly Uint8Array[], flags = 0): void {
    if (this.keyless) throw new VmMapError('updateBatch', 22, this.name, 'a queue or stack has no keys (push its values)');
    this.vm.updateBatch(keys, values, flags);
  }

  writeArray(first: number, values: Uint8Array): void {
    this.vm.writeArray(first, values);
  }

  delete(key: Uint8Array): void {
    this.vm.delete(key);
  }

  entries(): Array<[Uint8Array, Uint8Array]> {
    // Records are events, not entries; an XSKMAP's sockets cannot be read from user space.
    if (this.type === BPF_MAP_TYPE_RINGBUF || this.type === BPF_MAP_TYPE_PERF_EVENT_ARRAY || this.type === BPF_MAP_TYPE_XSKMAP) return [];
    if (this.keyless) {
      const values = popAllAndRestore(() => this.vm.pop(), (v) => this.vm.push(v), this.type === BPF_MAP_TYPE_STACK);
      return values.map((v) => [new Uint8Array(0), v]);
    }
    return this.vm.entries();
  }

  push(value: Uint8Array, flags = 0): void {
    this.vm.push(value, flags);
  }

  pop(): Uint8Array | undefined {
    return this.vm.pop();
  }
}

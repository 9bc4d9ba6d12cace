// The kernel engine: the Engine interface over src/kernel (libbpf through the native addon).
// Owns how an ObjectSpec's programs, maps and globals meet the loaded kernel object, how a
// RunContext becomes the ctx_in of BPF_PROG_TEST_RUN and ctx_out becomes RunOutput, and how
// per-CPU maps and ring buffers look through the engine-neutral EngineMap and RunEvent.
//
// Decisions that make the kernel comparable with the VM (one CPU, no printk):
// - Every test run executes on CPU 0, the VM's only CPU: the calling thread is pinned there for
//   the run (when the process may use CPU 0), so bpf_get_smp_processor_id returns 0 in both.
// - Per-CPU maps appear as one CPU. A lookup sums the values of every possible CPU, lane by
//   lane (u64 lanes when the value size is a multiple of 8, else u32, else bytes; wrapping); an
//   update writes the value to CPU 0 and zeros to the others. A test run executes on whichever
//   CPU the calling thread is on, so counters land on different CPUs from run to run; their sum
//   is what the VM's single CPU holds. A value that is not a counter written on two CPUs does not
//   sum meaningfully; per-CPU maps hold counters in practice.
// - Events are the records of every BPF_MAP_TYPE_RINGBUF map, drained after each run. A test run
//   has no perf buffer reader here, and trace_printk output goes to the kernel's trace pipe,
//   not to the caller, so neither appears in RunOutput.events.
// - The program's clock (RunInput.timeNs) cannot be set in the kernel and is ignored.
// - Nothing is pinned: maps with `pinning` are created fresh, unpinned, for every open.
// - Maps are named as the spec names them (".bss", not libbpf's "obj.bss"), so both engines'
//   maps pair up by name.

import { basename } from 'node:path';
import { TwinpathError, type ErrorLocation } from '../errors.js';
import type { MapSpec, ObjectSpec, ProgramSpec } from '../elf/object.js';
import {
  KernelError, KernelMap, KernelObject, RingBufferReader, TC_TEST_RUN_MAX_PACKET, isKernelError, kernelAvailability, numPossibleCpus,
  type KernelProgram,
} from '../kernel/index.js';
import {
  SK_BUFF, SK_BUFF_SIZE, TC_CTX_IN, TC_CTX_OUT, XDP_CTX_OUT, XDP_MD, XDP_MD_SIZE, ctxField, readField, writeField,
} from './ctx_layout.js';
import { checkedMaxEntries } from './sizes.js';
import type { Engine, EngineMap, EngineObject, OpenOptions, RunContext, RunEvent, RunInput, RunOutput } from './engine.js';

const BPF_MAP_TYPE_ARRAY = 2;
const BPF_MAP_TYPE_PERF_EVENT_ARRAY = 4;
const BPF_MAP_TYPE_PERCPU_ARRAY = 6;
const BPF_MAP_TYPE_XSKMAP = 17;
const BPF_MAP_TYPE_QUEUE = 22;
const BPF_MAP_TYPE_STACK = 23;
const BPF_MAP_TYPE_RINGBUF = 27;
const PERCPU_TYPES = new Set([5, 6, 10, 21]); // PERCPU_HASH, PERCPU_ARRAY, LRU_PERCPU_HASH, PERCPU_CGROUP_STORAGE

/** The shortest packet either hook takes in a test run (an Ethernet header). */
const ETH_HLEN = 14;

export const kernelEngine: Engine = {
  kind: 'kernel',
  open(object, opts = {}) {
    return KernelEngineObject.open(object, opts);
  },
};

class KernelEngineObject implements EngineObject {
  readonly engine = 'kernel' as const;
  readonly spec: ObjectSpec;
  readonly #obj: KernelObject;
  readonly #where: ErrorLocation;
  readonly #maps: Map<string, KernelEngineMap>;
  readonly #readers: { name: string; reader: RingBufferReader }[];

  private constructor(spec: ObjectSpec, obj: KernelObject, where: ErrorLocation) {
    this.spec = spec;
    this.#obj = obj;
    this.#where = where;
    this.#maps = new Map();
    for (const m of spec.maps) {
      const name = kernelMapName(obj, m);
      this.#maps.set(m.name, new KernelEngineMap(m, obj.map(name), obj.mapSpec(name).maxEntries));
    }
    this.#readers = [];
    try {
      for (const m of this.#maps.values()) {
        if (m.type === BPF_MAP_TYPE_RINGBUF) this.#readers.push({ name: m.name, reader: new RingBufferReader(m.kernel) });
      }
    } catch (e) {
      this.close();
      throw e;
    }
  }

  static open(object: { bytes: Uint8Array; file?: string; spec: ObjectSpec }, opts: OpenOptions): KernelEngineObject {
    const avail = kernelAvailability();
    if (!avail.ok) throw new TwinpathError('KERNEL_UNAVAILABLE', avail.reason);
    const file = object.file ?? object.spec.file;
    const where: ErrorLocation = file !== undefined ? { file } : {};
    const obj = KernelObject.open(object.bytes, basename(file ?? 'object.bpf.o'));
    try {
      prepare(obj, object.spec, opts, where);
      obj.load();
      return new KernelEngineObject(object.spec, obj, where);
    } catch (e) {
      obj.close();
      throw e;
    }
  }

  map(name: string): EngineMap {
    const m = this.#maps.get(name);
    if (!m) {
      throw new TwinpathError('USAGE', `no map "${name}" (maps: ${[...this.#maps.keys()].join(', ') || 'none'})`, this.#where);
    }
    return m;
  }

  maps(): EngineMap[] {
    return [...this.#maps.values()];
  }

  programRef(name: string): number {
    return this.#obj.program(name).fd;
  }

  mapRef(name: string): number {
    return (this.map(name) as KernelEngineMap).kernel.fd;
  }

  run(program: string, input: RunInput): RunOutput {
    const spec = this.spec.programs.find((p) => p.name === program);
    if (!spec) {
      throw new TwinpathError('ELF_NO_PROGRAM', `no program named "${program}" (programs: ${this.spec.programs.map((p) => p.name).join(', ') || 'none'})`, this.#where);
    }
    const where: ErrorLocation = { ...this.#where, program: spec.name, section: spec.section };
    checkLength(spec, input.packet.length, where);
    checkTcHeaders(spec, input.packet, where);
    const ctxIn = spec.hook === 'tc' ? skbIn(input.ctx ?? {}, where) : xdpIn(input.ctx ?? {}, input.packet.length, where);
    const kp = this.#obj.program(spec.name);
    const r = testRun(kp, input.packet, ctxIn, input.ctx ?? {}, where);
    const out = spec.hook === 'tc' ? tcOutput(r.dataOut, r.ctxOut) : xdpOutput(r.dataOut, r.ctxOut);
    return { retval: r.retval >>> 0, ...out, events: this.drain() };
  }

  private drain(): RunEvent[] {
    const events: RunEvent[] = [];
    for (const { name, reader } of this.#readers) {
      for (const rec of reader.drain()) events.push({ kind: 'ringbuf', map: name, data: new Uint8Array(rec) });
    }
    return events;
  }

  close(): void {
    for (const { reader } of this.#readers.splice(0)) reader.close();
    this.#obj.close();
  }
}

/** Before load: globals, program types libbpf cannot tell from the section, programs to skip. */
function prepare(obj: KernelObject, spec: ObjectSpec, opts: OpenOptions, where: ErrorLocation): void {
  for (const [name, bytes] of Object.entries(opts.globals ?? {})) {
    const v = spec.maps.flatMap((m) => m.data?.variables ?? []).find((x) => x.name === name);
    if (!v) throw new TwinpathError('USAGE', `no global variable named "${name}"`, where);
    if (v.size !== bytes.length) throw new TwinpathError('USAGE', `global "${name}" is ${v.size} bytes, got ${bytes.length}`, where);
    obj.setGlobal(name, bytes);
  }
  for (const [name, n] of checkedMaxEntries(spec, opts.maxEntries, where)) obj.setMaxEntries(name, n);
  // libbpf would pin LIBBPF_PIN_BY_NAME maps under /sys/fs/bpf and, worse, reuse a map already
  // pinned there, carrying state from one run into the next. A test-run engine owns fresh maps;
  // pinning belongs to attaching a datapath to real interfaces.
  for (const m of obj.info().maps) {
    if (m.pinPath !== null || spec.maps.some((s) => s.name === m.name && s.pinning !== 0)) obj.setPinPath(m.name, null);
  }
  for (const p of obj.info().programs) {
    const s = spec.programs.find((x) => x.name === p.name);
    // Programs twinpath does not run (kprobes and the like) could fail to load here for reasons
    // that have nothing to do with the datapath; leave them out as bpftool's autoload does.
    if (!s) obj.setAutoload(p.name, false);
    // Older libbpf does not know tc/ingress, tcx/*: it leaves the type unset and the load fails.
    else if (p.typeName === 'unspec') obj.setProgramType(p.name, s.hook === 'tc' ? 'sched_cls' : 'xdp');
  }
}

/** libbpf names global data maps "<object prefix>.<section>"; the spec names them by section. */
function kernelMapName(obj: KernelObject, m: MapSpec): string {
  const maps = obj.info().maps;
  if (!m.data) return m.name;
  const exact = maps.find((k) => k.internal && k.name === m.name);
  if (exact) return exact.name;
  const suffixed = maps.find((k) => k.internal && k.name.endsWith(m.name));
  return suffixed?.name ?? m.name;
}

export function checkLength(spec: ProgramSpec, len: number, where: ErrorLocation): void {
  if (len < ETH_HLEN) {
    throw new TwinpathError('KERNEL_PACKET_SIZE', `a ${spec.hook} test run needs at least ${ETH_HLEN} bytes of packet (an Ethernet header), this one has ${len}`, where);
  }
  if (spec.hook === 'tc' && len > TC_TEST_RUN_MAX_PACKET) {
    throw new TwinpathError('KERNEL_PACKET_SIZE',
      `a tc test run takes at most ${TC_TEST_RUN_MAX_PACKET} bytes of packet (one page less headroom and skb_shared_info), this one has ${len}`, where);
  }
}

/** The kernel's tc test run also refuses (EINVAL) an IPv4 frame too short for an IPv4 header and
 * an IPv6 frame too short for an IPv6 header, judged by the EtherType. Both engines refuse these
 * the same way, before running anything. */
export function checkTcHeaders(spec: ProgramSpec, packet: Uint8Array, where: ErrorLocation): void {
  if (spec.hook !== 'tc' || packet.length < ETH_HLEN) return;
  const type = (packet[12]! << 8) | packet[13]!;
  const need = type === 0x0800 ? ETH_HLEN + 20 : type === 0x86dd ? ETH_HLEN + 40 : 0;
  if (packet.length < need) {
    throw new TwinpathError('KERNEL_PACKET_SIZE',
      `a tc test run refuses a ${type === 0x0800 ? 'IPv4' : 'IPv6'} frame shorter than ${need} bytes, this one has ${packet.length}`, where);
  }
}

// By name rather than keyof RunContext, so a field added to RunContext later is refused by name
// here (until this engine learns it) instead of failing the build of every other engine.
const CTX_KEYS: Record<string, string | undefined> = {
  mark: 'mark', priority: 'priority', ifindex: 'ifindex', ingressIfindex: 'ingress_ifindex', cb: 'cb',
  tcIndex: 'tc_index', tstamp: 'tstamp', rxQueueIndex: 'rx_queue_index', wireLen: 'wire_len',
  gsoSegs: 'gso_segs', gsoSize: 'gso_size', hwtstamp: 'hwtstamp',
};

// A replay runs every packet with one of a few context objects: the struct built for an object
// is kept with the values it came from and reused while they are unchanged (a caller may change
// an object between runs). The struct is only read (copied into the VM, passed as ctx_in).
interface SkbBuilt {
  keys: string[];
  values: unknown[];
  cb: number[] | undefined;
  buf: Uint8Array;
}
const skbBuilt = new WeakMap<RunContext, SkbBuilt>();

function unchanged(c: RunContext, b: SkbBuilt): boolean {
  let i = 0;
  for (const key in c) {
    const v = (c as Record<string, unknown>)[key];
    if (b.keys[i] !== key) return false;
    if (key === 'cb' && Array.isArray(v) && b.cb !== undefined) {
      if (v.length !== b.cb.length) return false;
      for (let k = 0; k < v.length; k++) if (v[k] !== b.cb[k]) return false;
    } else if (b.values[i] !== v) {
      return false;
    }
    i++;
  }
  return i === b.keys.length;
}

/** struct __sk_buff for ctx_in, refusing what a tc test run cannot set rather than dropping it. */
export function skbIn(c: RunContext, where: ErrorLocation): Uint8Array {
  const built = skbBuilt.get(c);
  if (built !== undefined && unchanged(c, built)) return built.buf;
  const buf = buildSkbIn(c, where);
  const keys: string[] = [];
  const values: unknown[] = [];
  for (const key in c) {
    keys.push(key);
    values.push((c as Record<string, unknown>)[key]);
  }
  skbBuilt.set(c, { keys, values, cb: Array.isArray(c.cb) ? [...c.cb] : undefined, buf });
  return buf;
}

function buildSkbIn(c: RunContext, where: ErrorLocation): Uint8Array {
  const buf = new Uint8Array(SK_BUFF_SIZE);
  for (const [key, value] of Object.entries(c) as [keyof RunContext, unknown][]) {
    if (value === undefined) continue;
    if (key === 'cb') {
      const cb = value as number[];
      if (cb.length > 5) throw new TwinpathError('USAGE', `cb has 5 words, got ${cb.length}`, where);
      cb.forEach((w, i) => writeField(buf, ctxField(SK_BUFF, `cb[${i}]`), w));
      continue;
    }
    const name = CTX_KEYS[key];
    if (name === undefined || !TC_CTX_IN.includes(name)) {
      throw new TwinpathError('USAGE',
        `the kernel's tc test run cannot set ${name ?? key} (it accepts ${TC_CTX_IN.join(', ')})`, where);
    }
    writeField(buf, ctxField(SK_BUFF, name), value as number | bigint);
  }
  return buf;
}

/** struct xdp_md for ctx_in. `ifindex` stands for ingress_ifindex (an XDP program's device). */
export function xdpIn(c: RunContext, len: number, where: ErrorLocation): Uint8Array {
  const buf = new Uint8Array(XDP_MD_SIZE);
  writeField(buf, ctxField(XDP_MD, 'data_end'), len);
  for (const [key, value] of Object.entries(c) as [keyof RunContext, unknown][]) {
    if (value === undefined) continue;
    if (key === 'ingressIfindex' || key === 'ifindex') {
      writeField(buf, ctxField(XDP_MD, 'ingress_ifindex'), (c.ingressIfindex ?? c.ifindex)!);
    } else if (key === 'rxQueueIndex') {
      writeField(buf, ctxField(XDP_MD, 'rx_queue_index'), value as number);
    } else {
      throw new TwinpathError('USAGE',
        `struct xdp_md has no ${CTX_KEYS[key] ?? key}; an XDP test run takes ingress_ifindex and rx_queue_index`, where);
    }
  }
  return buf;
}

function testRun(kp: KernelProgram, packet: Uint8Array, ctx: Uint8Array, c: RunContext, where: ErrorLocation) {
  try {
    // On CPU 0, as the VM's one CPU: bpf_get_smp_processor_id and per-CPU slots then agree.
    return kp.testRun(packet, { ctx, pinCpu: 0 });
  } catch (e) {
    if (isKernelError(e, 'ENODEV')) {
      const idx = c.ifindex ?? c.ingressIfindex;
      throw new TwinpathError('KERNEL_ERROR',
        `ifindex ${idx} is no network device in this namespace (a test run needs a real one; 0 or unset means loopback for tc)`, where, { cause: e });
    }
    if (isKernelError(e, 'EINVAL') && c.rxQueueIndex) {
      throw new TwinpathError('KERNEL_ERROR',
        `rx_queue_index ${c.rxQueueIndex} was refused: it needs ingress_ifindex, and a queue that device has`, where, { cause: e });
    }
    throw e;
  }
}

function tcOutput(data: Uint8Array, ctxOut: Uint8Array | null): Pick<RunOutput, 'packet' | 'ctx' | 'ctx64'> {
  const ctx: Record<string, number> = {};
  const ctx64: Record<string, bigint> = {};
  if (ctxOut && ctxOut.length >= SK_BUFF_SIZE) {
    for (const name of TC_CTX_OUT) {
      const f = ctxField(SK_BUFF, name);
      const v = readField(ctxOut, f);
      if (typeof v === 'bigint') ctx64[name] = v;
      else ctx[name] = v;
    }
  }
  return { packet: new Uint8Array(data), ctx, ctx64 };
}

/** The output of an XDP run starts at data_meta; ctx_out's data is the metadata length. */
function xdpOutput(data: Uint8Array, ctxOut: Uint8Array | null): Pick<RunOutput, 'packet' | 'ctx'> {
  const ctx: Record<string, number> = {};
  let start = 0;
  if (ctxOut && ctxOut.length >= XDP_MD_SIZE) {
    start = Number(readField(ctxOut, ctxField(XDP_MD, 'data')));
    for (const name of XDP_CTX_OUT) ctx[name] = Number(readField(ctxOut, ctxField(XDP_MD, name)));
  }
  return { packet: new Uint8Array(data.subarray(Math.min(start, data.length))), ctx };
}

/** EngineMap over a KernelMap, with per-CPU values folded to one CPU (see the header). */
class KernelEngineMap implements EngineMap {
  readonly name: string;
  readonly type: number;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly kernel: KernelMap;

  /** `maxEntries`: as loaded (an OpenOptions.maxEntries override, or libbpf's choice for a perf
   * event array of size 0). */
  constructor(spec: MapSpec, kernel: KernelMap, maxEntries: number) {
    this.name = spec.name;
    this.type = spec.type;
    this.keySize = spec.keySize;
    this.valueSize = spec.valueSize;
    this.maxEntries = maxEntries;
    this.kernel = kernel;
  }

  private get keyless(): boolean {
    return this.type === BPF_MAP_TYPE_QUEUE || this.type === BPF_MAP_TYPE_STACK;
  }

  lookup(key: Uint8Array): Uint8Array | undefined {
    const v = this.kernel.lookup(this.keyless ? null : key);
    if (v === undefined) return undefined;
    return Array.isArray(v) ? sumCpus(v, this.valueSize) : new Uint8Array(v);
  }

  update(key: Uint8Array, value: Uint8Array, flags = 0): void {
    if (PERCPU_TYPES.has(this.type)) {
      const n = numPossibleCpus();
      const values = [value, ...Array.from({ length: n - 1 }, () => new Uint8Array(value.length))];
      this.kernel.update(key, values, flags);
      return;
    }
    this.kernel.update(this.keyless ? null : key, value, flags);
  }

  updateBatch(keys: readonly Uint8Array[], values: readonly Uint8Array[], flags = 0): void {
    if (this.keyless) {
      throw new KernelError('a queue or stack has no keys (push its values)', { errno: 22, errnoName: 'EINVAL', op: 'mapUpdateBatch' }, { path: `map ${this.name}` });
    }
    // Per-CPU values go to CPU 0 with zeros elsewhere (see update); rare enough to go one by one.
    if (PERCPU_TYPES.has(this.type)) {
      if (keys.length !== values.length) throw new TwinpathError('USAGE', `updateBatch: ${keys.length} keys but ${values.length} values`);
      keys.forEach((k, i) => this.update(k, values[i]!, flags));
      return;
    }
    this.kernel.updateBatch(keys, values, flags);
  }

  writeArray(first: number, values: Uint8Array): void {
    const where = { path: `map ${this.name}` };
    if (this.type !== BPF_MAP_TYPE_ARRAY && this.type !== BPF_MAP_TYPE_PERCPU_ARRAY) {
      throw new KernelError('writeArray writes ARRAY maps only', { errno: 22, errnoName: 'EINVAL', op: 'mapUpdateBatch' }, where);
    }
    if (values.length % this.valueSize !== 0) {
      throw new KernelError(`${values.length} bytes are not a whole number of ${this.valueSize}-byte values`, { errno: 22, errnoName: 'EINVAL', op: 'mapUpdateBatch' }, where);
    }
    const count = values.length / this.valueSize;
    if (!Number.isInteger(first) || first < 0 || first + count > this.maxEntries) {
      throw new KernelError(`indexes ${first}..${first + count - 1} of ${this.maxEntries}`, { errno: 7, errnoName: 'E2BIG', op: 'mapUpdateBatch' }, where);
    }
    if (PERCPU_TYPES.has(this.type)) {
      // CPU 0 gets the value, the others zeros (see update).
      for (let i = 0; i < count; i++) {
        const k = new Uint8Array(4);
        new DataView(k.buffer).setUint32(0, first + i, true);
        this.update(k, values.subarray(i * this.valueSize, (i + 1) * this.valueSize));
      }
      return;
    }
    this.kernel.writeArray(first, values);
  }

  delete(key: Uint8Array): void {
    this.kernel.delete(key);
  }

  entries(): Array<[Uint8Array, Uint8Array]> {
    // Records are events, not entries; an XSKMAP's sockets cannot be read from user space.
    if (this.type === BPF_MAP_TYPE_RINGBUF || this.type === BPF_MAP_TYPE_PERF_EVENT_ARRAY || this.type === BPF_MAP_TYPE_XSKMAP) return [];
    if (this.keyless) {
      const pop = () => {
        const v = this.kernel.pop();
        return v === undefined ? undefined : new Uint8Array(Array.isArray(v) ? v[0]! : v);
      };
      return popAllAndRestore(pop, (v) => this.kernel.push(v), this.type === BPF_MAP_TYPE_STACK).map((v) => [new Uint8Array(0), v]);
    }
    const out: Array<[Uint8Array, Uint8Array]> = [];
    for (const [k, v] of this.kernel.entries()) {
      out.push([new Uint8Array(k), Array.isArray(v) ? sumCpus(v, this.valueSize) : new Uint8Array(v)]);
    }
    return out;
  }



  push(value: Uint8Array, flags = 0): void {
    this.kernel.update(null, value, flags);
  }

  pop(): Uint8Array | undefined {
    const v = this.kernel.pop();
    if (v === undefined) return undefined;
    return new Uint8Array(Array.isArray(v) ? v[0]! : v);
  }
}

/**
 * Queues and stacks can only be read by popping: take every value (in pop order), then push them
 * back so the map is as it was. Both engines read them this way.
 */
export function popAllAndRestore(
  pop: () => Uint8Array | undefined,
  push: (v: Uint8Array) => void,
  stack: boolean,
): Uint8Array[] {
  const popped: Uint8Array[] = [];
  for (let v = pop(); v !== undefined; v = pop()) popped.push(v);
  for (const v of stack ? [...popped].reverse() : popped) push(v);
  return popped;
}

/** The values of every CPU added lane by lane, wrapping, as one CPU would have counted them. */
export function sumCpus(values: Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  const lane = size % 8 === 0 ? 8 : size % 4 === 0 ? 4 : 1;
  for (const v of values) {
    const src = new DataView(v.buffer, v.byteOffset, Math.min(v.byteLength, size));
    for (let off = 0; off + lane <= src.byteLength; off += lane) {
      if (lane === 8) dv.setBigUint64(off, dv.getBigUint64(off, true) + src.getBigUint64(off, true), true);
      else if (lane === 4) dv.setUint32(off, (dv.getUint32(off, true) + src.getUint32(off, true)) >>> 0, true);
      else out[off] = (out[off]! + src.getUint8(off)) & 0xff;
    }
  }
  return out;
}

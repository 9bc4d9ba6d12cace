// The typed kernel binding: BPF objects opened and loaded by libbpf, their programs (with
// BPF_PROG_TEST_RUN) and maps (by fd), and ring buffer consumers. A thin layer over the raw
// addon that adds names, owner tracking and KernelError; no engine policy lives here.
//
// Lifetimes: maps and programs of an object are valid until the object is closed; using them
// afterwards throws EBADF here rather than reaching the kernel with an fd that may since have
// been reused for something else.

import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { TwinpathError, type ErrorLocation } from '../errors.js';
import {
  rawAddon,
  type RawGlobalInfo,
  type RawHandle,
  type RawMapInfo,
  type RawMapSpecInfo,
  type RawObjectInfo,
  type RawProgInfo,
  type RawProgramInfo,
  type RawTestRunResult,
  type RawValue,
} from './addon.js';
import { KernelError, kcall } from './error.js';

/** bpf_map_update_elem flags, as the UAPI numbers them. */
export const BPF_ANY = 0;
export const BPF_NOEXIST = 1;
export const BPF_EXIST = 2;
export const BPF_F_LOCK = 4;

export type UpdateFlag = 'any' | 'noexist' | 'exist' | number;

/** Elements per BPF_MAP_UPDATE_BATCH call: bounds the buffers copied into the kernel at once. */
export const BATCH_CHUNK = 16384;

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function u32le(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
}

/** Program types a caller may force before load (bpf_prog_type numbers). */
export const PROG_TYPES = { socket_filter: 1, sched_cls: 3, sched_act: 4, xdp: 6 } as const;

/** The most packet BPF_PROG_TEST_RUN takes for tc on 4 KiB pages (page minus headroom and
 * skb_shared_info); XDP takes more. Used only to explain an EINVAL. */
export const TC_TEST_RUN_MAX_PACKET = 3712;

export type ObjectInfo = RawObjectInfo;
export type GlobalInfo = RawGlobalInfo;
export type MapInfo = RawMapInfo;
export type ProgInfo = RawProgInfo;
export type TestRunResult = RawTestRunResult;

export interface TestRunOptions {
  /** struct __sk_buff (tc) or struct xdp_md (XDP) bytes; the kernel's defaults without it. */
  ctx?: Uint8Array;
  /** Runs the program this many times; durationNs is the mean. Default 1. */
  repeat?: number;
  flags?: number;
  cpu?: number;
  /** Capacity for the output packet; default input length plus 4 KiB. */
  dataOutSize?: number;
  /** Run on this CPU (the calling thread is pinned to it for the run, when the CPU is allowed). */
  pinCpu?: number;
}

function unloadedFd(what: string, where: ErrorLocation): never {
  throw new KernelError(`${what} has no fd: load the object first`, { errno: 9, errnoName: 'EBADF', op: 'fd' }, where);
}

export class KernelObject {
  readonly name: string;
  #handle: RawHandle | undefined;
  #loaded = false;
  /** Nothing about programs and maps changes after load, so their fds are looked up once. */
  #loadedInfo: ObjectInfo | undefined;

  private constructor(name: string, handle: RawHandle) {
    this.name = name;
    this.#handle = handle;
  }

  /** Opens an ELF object from its bytes. `name` names it in messages and prefixes its
   * internal maps (a trailing .bpf.o or .o is dropped, as libbpf does for files). */
  static open(bytes: Uint8Array, name: string): KernelObject {
    const short = name.replace(/\.bpf\.o$|\.o$/, '');
    const h = kcall({ file: name }, () => rawAddon().openObject(bytes, short));
    return new KernelObject(short, h);
  }

  static openFile(path: string): KernelObject {
    let bytes: Buffer;
    try {
      bytes = readFileSync(path);
    } catch (e) {
      throw new TwinpathError('IO_ERROR', `cannot read: ${(e as Error).message}`, { file: path }, { cause: e });
    }
    return KernelObject.open(bytes, basename(path));
  }

  get loaded(): boolean {
    return this.#loaded;
  }

  get closed(): boolean {
    return this.#handle === undefined;
  }

  /** @internal the raw handle; throws EBADF once closed. */
  handle(): RawHandle {
    if (this.#handle === undefined) {
      throw new KernelError(`object "${this.name}" is closed`, { errno: 9, errnoName: 'EBADF', op: 'handle' }, { file: this.name });
    }
    return this.#handle;
  }

  private call<T>(fn: (h: RawHandle) => T, where: ErrorLocation = {}): T {
    const h = this.handle();
    return kcall({ file: this.name, ...where }, () => fn(h));
  }

  info(): ObjectInfo {
    if (this.#loadedInfo !== undefined) {
      this.handle();
      return this.#loadedInfo;
    }
    return this.call((h) => rawAddon().objectInfo(h));
  }

  programs(): KernelProgram[] {
    return this.info().programs.map((p) => new KernelProgram(this, p));
  }

  maps(): KernelMap[] {
    return this.info().maps.map((m) => new KernelMap(m.name, () => this.mapFd(m.name), this));
  }

  /** A program by its function name; without a name, the only (or first) program. */
  program(name?: string): KernelProgram {
    const progs = this.info().programs;
    const p = name === undefined ? progs[0] : progs.find((x) => x.name === name);
    if (!p) {
      const known = progs.map((x) => x.name).join(', ') || 'none';
      throw new KernelError(`no program "${name ?? ''}" (programs: ${known})`, { errno: 2, errnoName: 'ENOENT', op: 'program' }, { file: this.name });
    }
    return new KernelProgram(this, p);
  }

  map(name: string): KernelMap {
    this.mapSpec(name);
    return new KernelMap(name, () => this.mapFd(name), this);
  }

  /** @internal */
  mapSpec(name: string): RawMapSpecInfo {
    const maps = this.info().maps;
    const m = maps.find((x) => x.name === name);
    if (!m) {
      const known = maps.map((x) => x.name).join(', ') || 'none';
      throw new KernelError(`no map "${name}" (maps: ${known})`, { errno: 2, errnoName: 'ENOENT', op: 'map' }, { file: this.name });
    }
    return m;
  }

  private mapFd(name: string): number {
    const fd = this.mapSpec(name).fd;
    if (fd < 0) unloadedFd(`map "${name}"`, { file: this.name });
    return fd;
  }

  globals(): GlobalInfo[] {
    return this.info().globals;
  }

  /** Sets a `.rodata`/`.data`/`.bss` variable: bytes of its exact size, or a number/bigint
   * written little-endian in its size. Before load for `.rodata`; `.data`/`.bss` also after. */
  setGlobal(name: string, value: Uint8Array | number | bigint): this {
    const bytes = typeof value === 'number' || typeof value === 'bigint' ? this.encodeGlobal(name, value) : value;
    this.call((h) => rawAddon().setGlobal(h, name, bytes));
    return this;
  }

  getGlobal(name: string): Buffer {
    return this.call((h) => rawAddon().getGlobal(h, name));
  }

  private encodeGlobal(name: string, value: number | bigint): Buffer {
    const g = this.globals().find((x) => x.name === name);
    if (!g) return Buffer.alloc(0); // let the addon report the missing name
    if (![1, 2, 4, 8].includes(g.size)) {
      throw new TwinpathError('USAGE', `global "${name}" is ${g.size} bytes: pass its bytes, not a number`, { file: this.name });
    }
    const b = Buffer.alloc(g.size);
    const big = BigInt.asUintN(g.size * 8, BigInt(value));
    for (let i = 0; i < g.size; i++) b[i] = Number((big >> BigInt(8 * i)) & 0xffn);
    return b;
  }

  setProgramType(prog: string, type: number | keyof typeof PROG_TYPES): this {
    const t = typeof type === 'number' ? type : PROG_TYPES[type];
    this.call((h) => rawAddon().setProgramType(h, prog, t), { program: prog });
    return this;
  }

  setAutoload(prog: string, autoload: boolean): this {
    this.call((h) => rawAddon().setProgramAutoload(h, prog, autoload), { program: prog });
    return this;
  }

  setMaxEntries(map: string, n: number): this {
    this.call((h) => rawAddon().setMapMaxEntries(h, map, n));
    return this;
  }

  /** libbpf pins the map there at load, or reuses a compatible map already pinned there. */
  setPinPath(map: string, path: string | null): this {
    this.call((h) => rawAddon().setMapPinPath(h, map, path));
    return this;
  }

  /** Creates the maps and loads the programs. A rejection carries libbpf's output and the
   * verifier log in the message (shortened) and in `.log` (whole). */
  load(): this {
    try {
      this.call((h) => rawAddon().loadObject(h));
    } finally {
      // libbpf takes a failed load as final too: the object can only be closed afterwards.
      this.#loaded = true;
    }
    this.#loadedInfo = this.call((h) => rawAddon().objectInfo(h));
    return this;
  }

  /** Frees everything the object holds in the kernel except pins and attachments. */
  close(): void {
    if (this.#handle === undefined) return;
    const h = this.#handle;
    this.#handle = undefined;
    kcall({ file: this.name }, () => rawAddon().closeObject(h));
  }
}

export class KernelProgram {
  readonly name: string;
  readonly section: string;
  readonly type: number;
  readonly typeName: string;
  readonly #owner: KernelObject;

  /** @internal made by KernelObject */
  constructor(owner: KernelObject, spec: RawProgramInfo) {
    this.#owner = owner;
    this.name = spec.name;
    this.section = spec.section;
    this.type = spec.type;
    this.typeName = spec.typeName;
  }

  private where(): ErrorLocation {
    return { file: this.#owner.name, program: this.name, section: this.section };
  }

  get fd(): number {
    this.#owner.handle();
    const fd = this.#owner.info().programs.find((p) => p.name === this.name)?.fd ?? -1;
    if (fd < 0) unloadedFd(`program "${this.name}"`, this.where());
    return fd;
  }

  info(): ProgInfo {
    const fd = this.fd;
    return kcall(this.where(), () => rawAddon().progInfo(fd));
  }

  /** BPF_PROG_TEST_RUN: the return code, the packet after the run, the context after the run
   * (__sk_buff or xdp_md) and the mean duration per run in ns. */
  testRun(data: Uint8Array, opts: TestRunOptions = {}): TestRunResult {
    const fd = this.fd;
    const { ctx, ...rest } = opts;
    try {
      return kcall(this.where(), () => rawAddon().testRun(fd, data, ctx ?? null, rest));
    } catch (e) {
      if (e instanceof KernelError && e.errnoName === 'EINVAL' && this.typeName === 'sched_cls' && data.length > TC_TEST_RUN_MAX_PACKET) {
        throw new KernelError(
          `${e.detail}; a tc test run takes at most ${TC_TEST_RUN_MAX_PACKET} bytes of packet, this one has ${data.length}`,
          e,
          e.location,
          { cause: e },
        );
      }
      throw e;
    }
  }

  pin(path: string): void {
    const fd = this.fd;
    kcall(this.where(), () => rawAddon().objPin(fd, path));
  }
}

/** A map by fd: one of an object's maps, or one opened from a pin (which owns its fd). */
export class KernelMap {
  readonly name: string;
  readonly #fd: () => number;
  readonly #owner: KernelObject | undefined;
  #ownFd: number | undefined;

  /** @internal made by KernelObject or KernelMap.fromPin */
  constructor(name: string, fd: () => number, owner?: KernelObject, ownFd?: number) {
    this.name = name;
    this.#fd = fd;
    this.#owner = owner;
    this.#ownFd = ownFd;
  }

  /** Opens a pinned map; close() releases the fd. */
  static fromPin(path: string): KernelMap {
    const fd = kcall({ file: path }, () => rawAddon().objGet(path));
    const info = kcall({ file: path }, () => rawAddon().mapInfo(fd));
    const m: KernelMap = new KernelMap(info.name, () => {
      if (m.#ownFd === undefined) {
        throw new KernelError(`pinned map "${path}" is closed`, { errno: 9, errnoName: 'EBADF', op: 'fd' }, { file: path });
      }
      return m.#ownFd;
    }, undefined, fd);
    return m;
  }

  get fd(): number {
    return this.#fd();
  }

  private where(): ErrorLocation {
    return this.#owner ? { file: this.#owner.name, path: `map ${this.name}` } : { path: `map ${this.name}` };
  }

  private op<T>(fn: (fd: number) => T): T {
    const fd = this.fd;
    return kcall(this.where(), () => fn(fd));
  }

  info(): MapInfo {
    return this.op((fd) => rawAddon().mapInfo(fd));
  }

  /** The value, one Buffer per possible CPU for per-CPU maps, undefined when absent. For
   * queue and stack maps (no key) this peeks. */
  lookup(key: Uint8Array | null, flags = 0): RawValue | undefined {
    return this.op((fd) => rawAddon().mapLookup(fd, key, flags)) ?? undefined;
  }

  /** Per-CPU maps take one value (copied to every CPU) or one per possible CPU. Queue and
   * stack maps take a null key (push). Throws EEXIST/ENOENT/E2BIG as the kernel says. */
  update(key: Uint8Array | null, value: Uint8Array | Uint8Array[], flags: UpdateFlag = 'any'): void {
    const f = flags === 'any' ? BPF_ANY : flags === 'noexist' ? BPF_NOEXIST : flags === 'exist' ? BPF_EXIST : flags;
    this.op((fd) => rawAddon().mapUpdate(fd, key, value, f));
  }

  /**
   * Many updates in few system calls (BPF_MAP_UPDATE_BATCH; one update per element, inside the
   * addon, for map types without batch operations): keys[i] gets values[i], in order, in chunks
   * of BATCH_CHUNK elements. Per-CPU maps take one value per element, copied to every CPU as
   * update() does. Stops at the first refusal and throws it; the elements before it stay written
   * (the error's `done` counts them).
   */
  updateBatch(keys: readonly Uint8Array[], values: readonly Uint8Array[], flags: UpdateFlag = 'any'): void {
    if (keys.length !== values.length) {
      throw new TwinpathError('USAGE', `updateBatch: ${keys.length} keys but ${values.length} values`, this.where());
    }
    if (keys.length === 0) return;
    const f = flags === 'any' ? BPF_ANY : flags === 'noexist' ? BPF_NOEXIST : flags === 'exist' ? BPF_EXIST : flags;
    const info = this.info();
    const ncpu = info.percpu ? numPossibleCpus() : 1;
    const stride = info.percpu ? (info.valueSize + 7) & ~7 : info.valueSize;
    let done = 0;
    for (let at = 0; at < keys.length; at += BATCH_CHUNK) {
      const n = Math.min(BATCH_CHUNK, keys.length - at);
      const kb = new Uint8Array(n * info.keySize);
      const vb = new Uint8Array(n * stride * ncpu);
      for (let i = 0; i < n; i++) {
        const k = keys[at + i]!;
        const v = values[at + i]!;
        if (k.length !== info.keySize || v.length !== info.valueSize) {
          throw new KernelError(
            `element ${at + i}: map "${this.name}" has ${info.keySize}-byte keys and ${info.valueSize}-byte values, got ${k.length} and ${v.length}` +
              (at + i > 0 ? ` (${done} elements written before it)` : ''),
            { errno: 22, errnoName: 'EINVAL', op: 'mapUpdateBatch' },
            this.where(),
          );
        }
        kb.set(k, i * info.keySize);
        for (let c = 0; c < ncpu; c++) vb.set(v, (i * ncpu + c) * stride);
      }
      try {
        this.op((fd) => rawAddon().mapUpdateBatch(fd, kb, vb, n, f));
      } catch (e) {
        const more = (e as { done?: number }).done;
        if (e instanceof KernelError && more !== undefined) e.done = done + more;
        throw e;
      }
      done += n;
    }
  }

  /** ARRAY maps: the values of indexes first, first + 1, ... (a whole number of values, back to
   * back), in batches of BATCH_CHUNK with no per-element copies. Per-CPU arrays get each value on
   * every CPU, as update() does. Stops at the first refusal, as updateBatch does. */
  writeArray(first: number, values: Uint8Array): void {
    const info = this.info();
    if (values.length % info.valueSize !== 0) {
      throw new KernelError(`${values.length} bytes are not a whole number of ${info.valueSize}-byte values`, { errno: 22, errnoName: 'EINVAL', op: 'mapUpdateBatch' }, this.where());
    }
    const count = values.length / info.valueSize;
    if (info.keySize !== 4) {
      throw new KernelError(`map "${this.name}" has ${info.keySize}-byte keys, not an array's 4`, { errno: 22, errnoName: 'EINVAL', op: 'mapUpdateBatch' }, this.where());
    }
    if (info.percpu) {
      const keys = Array.from({ length: count }, (_, i) => u32le(first + i));
      const vals = Array.from({ length: count }, (_, i) => values.subarray(i * info.valueSize, (i + 1) * info.valueSize));
      this.updateBatch(keys, vals);
      return;
    }
    let done = 0;
    for (let at = 0; at < count; at += BATCH_CHUNK) {
      const n = Math.min(BATCH_CHUNK, count - at);
      const keys = new Uint32Array(n);
      for (let i = 0; i < n; i++) keys[i] = first + at + i;
      const kb = new Uint8Array(keys.buffer);
      if (!LITTLE_ENDIAN) for (let i = 0; i < n; i++) new DataView(kb.buffer).setUint32(4 * i, first + at + i, true);
      try {
        this.op((fd) => rawAddon().mapUpdateBatch(fd, kb, values.subarray(at * info.valueSize, (at + n) * info.valueSize), n, BPF_ANY));
      } catch (e) {
        const more = (e as { done?: number }).done;
        if (e instanceof KernelError && more !== undefined) e.done = done + more;
        throw e;
      }
      done += n;
    }
  }

  delete(key: Uint8Array): void {
    this.op((fd) => rawAddon().mapDelete(fd, key));
  }

  /** The key after `key` (the first with none), undefined after the last. */
  nextKey(key?: Uint8Array | null): Buffer | undefined {
    return this.op((fd) => rawAddon().mapGetNextKey(fd, key ?? null)) ?? undefined;
  }

  *keys(): Generator<Buffer> {
    let k = this.nextKey();
    while (k !== undefined) {
      yield k;
      k = this.nextKey(k);
    }
  }

  *entries(): Generator<[Buffer, RawValue]> {
    for (const k of this.keys()) {
      const v = this.lookup(k);
      if (v !== undefined) yield [k, v]; // deleted between the two calls: skip it
    }
  }

  /** Pops from a queue or stack (key null), or takes an entry out of a hash map. */
  lookupAndDelete(key: Uint8Array | null = null): RawValue | undefined {
    return this.op((fd) => rawAddon().mapLookupAndDelete(fd, key)) ?? undefined;
  }

  push(value: Uint8Array): void {
    this.update(null, value, 'any');
  }

  pop(): RawValue | undefined {
    return this.lookupAndDelete(null);
  }

  pin(path: string): void {
    this.op((fd) => rawAddon().objPin(fd, path));
  }

  /** Releases the fd of a map opened with fromPin; a no-op for an object's own maps. */
  close(): void {
    if (this.#ownFd === undefined) return;
    const fd = this.#ownFd;
    this.#ownFd = undefined;
    kcall(this.where(), () => rawAddon().closeFd(fd));
  }
}

/** Reads records from a BPF_MAP_TYPE_RINGBUF map, synchronously. */
export class RingBufferReader {
  readonly map: KernelMap;
  #handle: RawHandle | undefined;

  constructor(map: KernelMap) {
    this.map = map;
    const fd = map.fd;
    this.#handle = kcall({ path: `map ${map.name}` }, () => rawAddon().ringbufOpen(fd));
  }

  /** Waits up to timeoutMs for records (0: no wait) and returns those available, oldest first,
   * at most maxRecords. Blocks the JS thread while it waits. */
  poll(timeoutMs = 0, maxRecords?: number): Buffer[] {
    if (this.#handle === undefined) {
      throw new KernelError(`ring buffer reader of "${this.map.name}" is closed`, { errno: 9, errnoName: 'EBADF', op: 'ringbufPoll' });
    }
    const h = this.#handle;
    return kcall({ path: `map ${this.map.name}` }, () => rawAddon().ringbufPoll(h, timeoutMs, maxRecords));
  }

  /** Everything there now, without waiting. */
  drain(): Buffer[] {
    return this.poll(0);
  }

  close(): void {
    if (this.#handle === undefined) return;
    const h = this.#handle;
    this.#handle = undefined;
    rawAddon().ringbufClose(h);
  }
}

export function numPossibleCpus(): number {
  return kcall({}, () => rawAddon().numPossibleCpus());
}

// eBPF maps inside the wasm VM, from TypeScript: create a map of any issue-3 type, fill it, read
// it, iterate it, push and pop, and drain ring buffer and perf event records. The semantics are
// the kernel's and live in C (wasm/maps.c, wasm/map_*.c); this module moves bytes across the
// boundary and turns negative errno returns into VmMapError with the errno's name.
//
// Differences from the kernel a caller can see (the C files say why):
// - get_next_key walks a hash map in another order than the kernel's: compare hashes as sets.
// - Per-CPU maps have one CPU: a value is valueSize bytes, not one 8-byte-aligned copy per CPU.
// - Map-in-map values and PROG_ARRAY values are VM map ids and program handles, not fds.
// - A PERF_EVENT_ARRAY slot takes any nonzero number to mean "a reader is attached"; records
//   keep their exact length (the kernel pads raw samples) and are not lost when many pile up.
// - LRU eviction follows the kernel's lists for one running CPU (CPU 0) of `possibleCpus`; the
//   other CPUs' lists (and stealing from them) and the kernel's lock-contention paths are not
//   modelled, so programs on several CPUs at once would evict differently in the kernel.
// - An inner map destroyed while an outer map holds it is dropped from the outer map (the
//   kernel would keep it alive until the outer map lets go).
// - Redirect maps hold no devices, CPUs' kthreads or sockets (wasm/map_dev.c): a DEVMAP or
//   DEVMAP_HASH takes any nonzero ifindex, an XSKMAP value is the receive queue of the socket it
//   stands for, and program fds in 8-byte DEVMAP/CPUMAP values are refused as the kernel
//   refuses an fd that names no suitable program (EINVAL; ENOMEM for a CPUMAP).

import { TwinpathError, type ErrorCode } from '../errors.js';
import type { Vm } from './vm.js';

/** enum bpf_map_type numbers of the types the VM implements. */
export const MAP_TYPES = {
  hash: 1,
  array: 2,
  prog_array: 3,
  perf_event_array: 4,
  percpu_hash: 5,
  percpu_array: 6,
  lru_hash: 9,
  lru_percpu_hash: 10,
  lpm_trie: 11,
  array_of_maps: 12,
  hash_of_maps: 13,
  devmap: 14,
  cpumap: 16,
  xskmap: 17,
  queue: 22,
  stack: 23,
  devmap_hash: 25,
  ringbuf: 27,
} as const;
export type MapTypeName = keyof typeof MAP_TYPES;

/** map_flags bits, as the UAPI numbers them. */
export const BPF_F_NO_PREALLOC = 1;
export const BPF_F_NO_COMMON_LRU = 2;
export const BPF_F_RDONLY = 8;
export const BPF_F_WRONLY = 16;
export const BPF_F_RDONLY_PROG = 128;
export const BPF_F_WRONLY_PROG = 256;

/** Update flags. */
export const BPF_ANY = 0;
export const BPF_NOEXIST = 1;
export const BPF_EXIST = 2;
export type UpdateFlag = 'any' | 'noexist' | 'exist' | number;

/** Linux errno numbers the map code returns, by name. The one table of them on this side. */
export const ERRNO_NAMES: Readonly<Record<number, string>> = {
  1: 'EPERM',
  2: 'ENOENT',
  7: 'E2BIG',
  9: 'EBADF',
  11: 'EAGAIN',
  12: 'ENOMEM',
  16: 'EBUSY',
  17: 'EEXIST',
  19: 'ENODEV',
  22: 'EINVAL',
  28: 'ENOSPC',
  75: 'EOVERFLOW',
  95: 'EOPNOTSUPP',
  524: 'ENOTSUPP',
};

export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `errno ${errno}`;
}

// The closed set in src/errors.ts has no code for a VM map operation yet; this is the one
// place that names it, to be replaced by a member of ERROR_CODES once it has one.
const VM_MAP_ERROR: ErrorCode = 'VM_MAP_ERROR';

/** A map operation refused with an errno, named as the kernel names it (like KernelError). */
export class VmMapError extends TwinpathError {
  readonly errno: number;
  readonly errnoName: string;
  readonly op: string;
  /** A batch operation: the elements written before the refusal. */
  done?: number;

  constructor(op: string, errno: number, map: string, why?: string) {
    const name = errnoName(errno);
    super(VM_MAP_ERROR, `${op}: ${name}${why ? ` (${why})` : ''}`, { path: `map ${map}` });
    this.name = 'VmMapError';
    this.errno = errno;
    this.errnoName = name;
    this.op = op;
  }
}

export function isVmMapError(e: unknown, errno?: string): e is VmMapError {
  return e instanceof VmMapError && (errno === undefined || e.errnoName === errno);
}

export interface VmMapSpec {
  type: MapTypeName | number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags?: number;
  /** *_OF_MAPS: the template inner map. */
  inner?: VmMap;
  /** For messages. */
  name?: string;
  /** LRU maps: the possible CPUs of the kernel being imitated (its free-list batch size and a
   * per-CPU LRU's share depend on it). Default 1. */
  possibleCpus?: number;
}

interface MapExports {
  memory: WebAssembly.Memory;
  tp_alloc(size: number): number;
  tp_free(addr: number): void;
  tp_map_create(type: number, keySize: number, valueSize: number, maxEntries: number, flags: number, innerId: number): number;
  tp_map_destroy(id: number): number;
  tp_map_lookup(id: number, key: number, out: number): number;
  tp_map_update(id: number, key: number, value: number, flags: number): number;
  tp_map_delete(id: number, key: number): number;
  tp_map_update_batch(id: number, keys: number, values: number, count: number, flags: number, done: number): number;
  tp_map_array_write(id: number, first: number, values: number, count: number): number;
  tp_map_next_key(id: number, key: number, next: number): number;
  tp_map_push(id: number, value: number, flags: number): number;
  tp_map_pop(id: number, out: number): number;
  tp_map_peek(id: number, out: number): number;
  tp_map_records_pending(id: number): number;
  tp_map_records_drain(id: number, out: number, cap: number): number;
  tp_map_arena(id: number): number;
  tp_map_addr(id: number): number;
  tp_map_max_entries(id: number): number;
  tp_map_set_possible_cpus(n: number): number;
  tp_ringbuf_reserve(id: number, size: number, flags: number): number;
  tp_ringbuf_submit(sample: number, flags: number): void;
  tp_ringbuf_discard(sample: number, flags: number): void;
  tp_ringbuf_output(id: number, data: number, size: number, flags: number): number;
  tp_ringbuf_query(id: number, flags: number): bigint;
  tp_perf_event_output(id: number, flags: bigint, data: number, size: number): number;
  tp_map_region_ok(addr: number, size: number, need: number): number;
}

function mapExports(vm: Vm): MapExports {
  return vm.x as unknown as MapExports;
}

/** Bytes copied into the VM per batch call: large enough that the call overhead vanishes, small
 * enough that a fill never doubles the VM's memory. */
const BATCH_BYTES = 1 << 20;
/** Drains of at most this many bytes reuse one buffer kept by the map. */
const DRAIN_KEEP_BYTES = 4096;

function batchError(e: VmMapError, done: number): VmMapError {
  e.done = done;
  return e;
}

function flagNumber(f: UpdateFlag): number {
  return f === 'any' ? BPF_ANY : f === 'noexist' ? BPF_NOEXIST : f === 'exist' ? BPF_EXIST : f;
}

/** A ring buffer or perf event record. */
export interface MapRecord {
  data: Uint8Array;
  cpu: number;
}

/** Creates a map in the VM; throws VmMapError with the kernel's errno for bad parameters. */
export function createVmMap(vm: Vm, spec: VmMapSpec): VmMap {
  const x = mapExports(vm);
  const type = typeof spec.type === 'number' ? spec.type : MAP_TYPES[spec.type];
  const name = spec.name ?? (typeof spec.type === 'string' ? spec.type : `type ${spec.type}`);
  const prev = spec.possibleCpus !== undefined ? x.tp_map_set_possible_cpus(spec.possibleCpus) : undefined;
  let id: number;
  try {
    id = x.tp_map_create(type, spec.keySize, spec.valueSize, spec.maxEntries, spec.flags ?? 0, spec.inner?.id ?? 0);
  } finally {
    if (prev !== undefined) x.tp_map_set_possible_cpus(prev);
  }
  if (id < 0) throw new VmMapError('create', -id, name);
  return new VmMap(vm, id, type, spec.keySize, spec.valueSize, x.tp_map_max_entries(id), spec.flags ?? 0, name);
}

/** One map in a Vm, by its id. */
export class VmMap {
  readonly #x: MapExports;
  /** Scratch in VM memory: a key, a second key (for get_next_key) and a value. */
  #scratch: number;
  #destroyed = false;
  /** Kept between drains of a record map (a replay drains after every run); 0 until the first. */
  #drainAt = 0;
  #drainCap = 0;

  /** @internal made by createVmMap */
  constructor(
    readonly vm: Vm,
    readonly id: number,
    readonly type: number,
    readonly keySize: number,
    readonly valueSize: number,
    readonly maxEntries: number,
    readonly flags: number,
    readonly name: string,
  ) {
    this.#x = mapExports(vm);
    this.#scratch = this.#x.tp_alloc(2 * Math.max(keySize, 4) + Math.max(valueSize, 8));
    if (this.#scratch === 0) throw new TwinpathError('VM_OUT_OF_MEMORY', `no room for map ${name}'s buffers`);
  }

  /** The address of the map in VM memory: what a program's map reference holds. */
  get address(): number {
    return this.#x.tp_map_addr(this.id);
  }

  /** Where the map's values live (0 for maps without an arena). */
  get arena(): number {
    return this.#x.tp_map_arena(this.id);
  }

  private get keyAt(): number {
    return this.#scratch;
  }
  private get nextAt(): number {
    return this.#scratch + Math.max(this.keySize, 4);
  }
  private get valueAt(): number {
    return this.#scratch + 2 * Math.max(this.keySize, 4);
  }

  private live(op: string): void {
    if (this.#destroyed) throw new VmMapError(op, 9, this.name);
  }

  private put(at: number, bytes: Uint8Array, size: number, what: string, op: string): void {
    if (bytes.length !== size) {
      throw new VmMapError(op, 22, this.name, `${what} is ${bytes.length} bytes, not ${size}`);
    }
    this.vm.bytes().set(bytes, at);
  }

  private check(op: string, r: number): void {
    if (r < 0) throw new VmMapError(op, -r, this.name);
  }

  /** The value, undefined when absent. *_OF_MAPS give the inner map id (4 bytes, LE), QUEUE and
   * STACK peek (key ignored). */
  lookup(key: Uint8Array | null): Uint8Array | undefined {
    this.live('lookup');
    if (key) this.put(this.keyAt, key, this.keySize, 'key', 'lookup');
    const r = this.#x.tp_map_lookup(this.id, this.keyAt, this.valueAt);
    if (r === -2) return undefined;
    this.check('lookup', r);
    return this.vm.bytes().slice(this.valueAt, this.valueAt + this.valueSize);
  }

  /** Throws VmMapError: EEXIST, ENOENT, E2BIG, EINVAL, ... as the kernel would. */
  update(key: Uint8Array | null, value: Uint8Array, flags: UpdateFlag = 'any'): void {
    this.live('update');
    if (key) this.put(this.keyAt, key, this.keySize, 'key', 'update');
    this.put(this.valueAt, value, this.valueSize, 'value', 'update');
    this.check('update', this.#x.tp_map_update(this.id, this.keyAt, this.valueAt, flagNumber(flags)));
  }

  /** Many updates in one call into the VM per chunk of BATCH_BYTES: keys[i] gets values[i], in
   * order. Stops at the first refusal and throws it (with `done`, the elements written before
   * it), as the kernel's BPF_MAP_UPDATE_BATCH does. */
  updateBatch(keys: readonly Uint8Array[], values: readonly Uint8Array[], flags: UpdateFlag = 'any'): void {
    this.live('updateBatch');
    if (keys.length !== values.length) throw new VmMapError('updateBatch', 22, this.name, `${keys.length} keys but ${values.length} values`);
    const per = this.keySize + this.valueSize;
    const chunk = Math.max(1, Math.floor(BATCH_BYTES / per));
    let done = 0;
    this.withBuffer(Math.min(keys.length, chunk) * per + 4, (buf) => {
      for (let at = 0; at < keys.length; at += chunk) {
        const n = Math.min(chunk, keys.length - at);
        const vals = buf + n * this.keySize;
        const mem = this.vm.bytes();
        for (let i = 0; i < n; i++) {
          const k = keys[at + i]!;
          const v = values[at + i]!;
          if (k.length !== this.keySize || v.length !== this.valueSize) {
            throw batchError(new VmMapError('updateBatch', 22, this.name,
              `element ${at + i}: keys are ${this.keySize} and values ${this.valueSize} bytes, got ${k.length} and ${v.length}`), done);
          }
          mem.set(k, buf + i * this.keySize);
          mem.set(v, vals + i * this.valueSize);
        }
        const doneAt = vals + n * this.valueSize;
        const r = this.#x.tp_map_update_batch(this.id, buf, vals, n, flagNumber(flags), doneAt);
        const wrote = new DataView(this.vm.bytes().buffer).getUint32(doneAt, true);
        if (r < 0) throw batchError(new VmMapError('updateBatch', -r, this.name, `element ${at + wrote}`), done + wrote);
        done += n;
      }
    });
  }

  /** ARRAY and PERCPU_ARRAY: `values` (a whole number of values, back to back) become the values
   * of indexes first, first + 1, ...; all or nothing (E2BIG past the end). */
  writeArray(first: number, values: Uint8Array): void {
    this.live('writeArray');
    if (values.length % this.valueSize !== 0) {
      throw new VmMapError('writeArray', 22, this.name, `${values.length} bytes are not a whole number of ${this.valueSize}-byte values`);
    }
    const count = values.length / this.valueSize;
    if (!Number.isInteger(first) || first < 0 || first > 0xffffffff || first + count > this.maxEntries) {
      throw new VmMapError('writeArray', 7, this.name, `indexes ${first}..${first + count - 1} of ${this.maxEntries}`);
    }
    const chunk = Math.max(1, Math.floor(BATCH_BYTES / this.valueSize));
    this.withBuffer(Math.min(count, chunk) * this.valueSize, (buf) => {
      for (let at = 0; at < count; at += chunk) {
        const n = Math.min(chunk, count - at);
        this.vm.bytes().set(values.subarray(at * this.valueSize, (at + n) * this.valueSize), buf);
        this.check('writeArray', this.#x.tp_map_array_write(this.id, first + at, buf, n));
      }
    });
  }

  private withBuffer(size: number, fn: (buf: number) => void): void {
    const buf = this.#x.tp_alloc(Math.max(size, 8));
    if (buf === 0) throw new TwinpathError('VM_OUT_OF_MEMORY', `no room for a ${size}-byte buffer for map ${this.name}`);
    try {
      fn(buf);
    } finally {
      this.#x.tp_free(buf);
    }
  }

  delete(key: Uint8Array): void {
    this.live('delete');
    this.put(this.keyAt, key, this.keySize, 'key', 'delete');
    this.check('delete', this.#x.tp_map_delete(this.id, this.keyAt));
  }

  /** The key after `key` (the first without one), undefined after the last. */
  nextKey(key?: Uint8Array | null): Uint8Array | undefined {
    this.live('nextKey');
    if (key) this.put(this.keyAt, key, this.keySize, 'key', 'nextKey');
    const r = this.#x.tp_map_next_key(this.id, key ? this.keyAt : 0, this.nextAt);
    if (r === -2) return undefined;
    this.check('nextKey', r);
    return this.vm.bytes().slice(this.nextAt, this.nextAt + this.keySize);
  }

  *keys(): Generator<Uint8Array> {
    let k = this.nextKey();
    while (k !== undefined) {
      yield k;
      k = this.nextKey(k);
    }
  }

  /** Every entry, in the map's iteration order. */
  entries(): Array<[Uint8Array, Uint8Array]> {
    const out: Array<[Uint8Array, Uint8Array]> = [];
    for (const k of this.keys()) {
      const v = this.lookup(k);
      if (v !== undefined) out.push([k, v]);
    }
    return out;
  }

  /** QUEUE and STACK. flags 'exist' overwrites the oldest value when the map is full. */
  push(value: Uint8Array, flags: UpdateFlag = 'any'): void {
    this.live('push');
    this.put(this.valueAt, value, this.valueSize, 'value', 'push');
    this.check('push', this.#x.tp_map_push(this.id, this.valueAt, flagNumber(flags)));
  }

  /** The oldest (QUEUE) or newest (STACK) value, removed; undefined when empty. */
  pop(): Uint8Array | undefined {
    return this.take('pop', (out) => this.#x.tp_map_pop(this.id, out));
  }

  peek(): Uint8Array | undefined {
    return this.take('peek', (out) => this.#x.tp_map_peek(this.id, out));
  }

  private take(op: string, fn: (out: number) => number): Uint8Array | undefined {
    this.live(op);
    const r = fn(this.valueAt);
    if (r === -2) return undefined;
    this.check(op, r);
    return this.vm.bytes().slice(this.valueAt, this.valueAt + this.valueSize);
  }

  /** RINGBUF and PERF_EVENT_ARRAY: the records waiting, oldest first, now consumed. */
  drain(): MapRecord[] {
    this.live('drain');
    const x = this.#x;
    const need = x.tp_map_records_pending(this.id);
    this.check('drain', need);
    if (need === 0) return [];
    // Small drains reuse one buffer; a rare large one gets its own, freed after.
    const keep = need <= DRAIN_KEEP_BYTES;
    if (keep && need > this.#drainCap) {
      if (this.#drainAt !== 0) x.tp_free(this.#drainAt);
      this.#drainCap = 0;
      this.#drainAt = x.tp_alloc(DRAIN_KEEP_BYTES);
      if (this.#drainAt !== 0) this.#drainCap = DRAIN_KEEP_BYTES;
    }
    const buf = keep && this.#drainAt !== 0 ? this.#drainAt : x.tp_alloc(need);
    if (buf === 0) throw new TwinpathError('VM_OUT_OF_MEMORY', `no room to drain ${need} bytes of map ${this.name}`);
    try {
      const got = x.tp_map_records_drain(this.id, buf, need);
      this.check('drain', got);
      const u8 = this.vm.bytes();
      const out: MapRecord[] = [];
      for (let o = 0; o < got; ) {
        const at = buf + o;
        const len = (u8[at]! | (u8[at + 1]! << 8) | (u8[at + 2]! << 16) | (u8[at + 3]! << 24)) >>> 0;
        const cpu = (u8[at + 4]! | (u8[at + 5]! << 8) | (u8[at + 6]! << 16) | (u8[at + 7]! << 24)) >>> 0;
        out.push({ data: this.vm.copyOut(at + 8, at + 8 + len), cpu });
        o += 8 + ((len + 7) & ~7);
      }
      return out;
    } finally {
      if (buf !== this.#drainAt) x.tp_free(buf);
    }
  }

  /** RINGBUF: bpf_ringbuf_output from outside a program (tests, tools). */
  ringbufOutput(data: Uint8Array, flags = 0): void {
    this.live('ringbufOutput');
    const x = this.#x;
    const buf = x.tp_alloc(Math.max(data.length, 1));
    if (buf === 0) throw new TwinpathError('VM_OUT_OF_MEMORY', `no room for a ${data.length}-byte record`);
    try {
      this.vm.bytes().set(data, buf);
      this.check('ringbufOutput', x.tp_ringbuf_output(this.id, buf, data.length, flags));
    } finally {
      x.tp_free(buf);
    }
  }

  /** RINGBUF: bpf_ringbuf_query (BPF_RB_AVAIL_DATA 0, RING_SIZE 1, CONS_POS 2, PROD_POS 3). */
  ringbufQuery(flags: number): bigint {
    this.live('ringbufQuery');
    return BigInt.asUintN(64, this.#x.tp_ringbuf_query(this.id, flags));
  }

  /** RINGBUF: bpf_ringbuf_reserve; the sample's address in VM memory, 0 when refused. */
  ringbufReserve(size: number, flags = 0): number {
    this.live('ringbufReserve');
    return this.#x.tp_ringbuf_reserve(this.id, size, flags);
  }

  ringbufSubmit(sample: number, flags = 0): void {
    this.#x.tp_ringbuf_submit(sample, flags);
  }

  ringbufDiscard(sample: number, flags = 0): void {
    this.#x.tp_ringbuf_discard(sample, flags);
  }

  /** PERF_EVENT_ARRAY: bpf_perf_event_output from outside a program (tests, tools). */
  perfEventOutput(data: Uint8Array, flags: bigint = 0xffffffffn): void {
    this.live('perfEventOutput');
    const x = this.#x;
    const buf = x.tp_alloc(Math.max(data.length, 1));
    if (buf === 0) throw new TwinpathError('VM_OUT_OF_MEMORY', `no room for a ${data.length}-byte record`);
    try {
      this.vm.bytes().set(data, buf);
      this.check('perfEventOutput', x.tp_perf_event_output(this.id, flags, buf, data.length));
    } finally {
      x.tp_free(buf);
    }
  }

  /** Whether a program may read (need 1) or write (need 2) [addr, addr + size). */
  regionOk(addr: number, size: number, need: number): boolean {
    return this.#x.tp_map_region_ok(addr, size, need) !== 0;
  }

  /** Frees the map; outer maps holding it as an inner map drop it. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#x.tp_map_destroy(this.id);
    this.#x.tp_free(this.#scratch);
    if (this.#drainAt !== 0) this.#x.tp_free(this.#drainAt);
    this.#drainAt = 0;
    this.#drainCap = 0;
  }
}

// The one interface both engines implement: open an object, fill and read its maps, run a
// program on a packet. Everything above the engines (run, replay, probe, labs) is written against
// this file only. The kernel engine is the oracle: for any program and packet the VM engine must
// give the same return value, output bytes, context fields and map contents.

import type { ObjectSpec } from '../elf/object.js';
import type { ExecStep, TraceOf } from '../vm/trace.js';

export type EngineKind = 'vm' | 'kernel';

/** Context fields a caller may set before a run (the rest are filled as the kernel fills them). */
export interface RunContext {
  /** tc: skb->mark, priority, ifindex of the device, cb[0..4], tc_index... */
  mark?: number;
  priority?: number;
  ifindex?: number;
  ingressIfindex?: number;
  cb?: number[];
  tcIndex?: number;
  tstamp?: bigint;
  /** xdp: rx_queue_index. */
  rxQueueIndex?: number;
  /** tc: skb->wire_len (0, or at least the packet length), gso_segs, gso_size, hwtstamp. */
  wireLen?: number;
  gsoSegs?: number;
  gsoSize?: number;
  hwtstamp?: bigint;
}

export interface RunInput {
  /** The packet, starting at the Ethernet header. */
  packet: Uint8Array;
  ctx?: RunContext;
  /** The program's clock for bpf_ktime_get_ns and friends (the VM follows it; the kernel cannot). */
  timeNs?: bigint;
}

/** A record a program emitted: a ring buffer sample, a perf event or a trace_printk line. */
export interface RunEvent {
  kind: 'ringbuf' | 'perf' | 'trace';
  map?: string;
  data: Uint8Array;
}

export interface RunOutput {
  /** r0 at exit, as the hook reads it (low 32 bits). */
  retval: number;
  /** The packet as the program left it (after head/tail adjustments). */
  packet: Uint8Array;
  /** XDP metadata in front of the packet (bpf_xdp_adjust_meta), when the engine can tell. */
  meta?: Uint8Array;
  /** Writable context fields after the run, by their UAPI names (mark, priority, cb[0], ...). */
  ctx: Record<string, number>;
  /** 64-bit context fields after the run (tstamp, hwtstamp), exactly; a number would round them. */
  ctx64?: Record<string, bigint>;
  events: RunEvent[];
  /** Where the packet goes when the verdict is a redirect (XDP_REDIRECT, TC_ACT_REDIRECT), by the
   * last bpf_redirect or bpf_redirect_map call of the run: the map and key, the device's ifindex
   * when there is one, and the flags beyond the fallback verdict (BPF_F_INGRESS, BPF_F_BROADCAST,
   * BPF_F_EXCLUDE_INGRESS). Only the VM can tell; a kernel test run reports the verdict alone. */
  redirect?: { map?: string; key?: number; ifindex?: number; flags: number };
}

/** One executed instruction of a traced run (EngineObject.runTraced), with what it did. */
export interface TraceRecord extends ExecStep {
  /** The program the instruction is in: the one run, or a tail call's target. */
  program: string;
  /** call: the callee's first instruction. */
  target?: number;
  /** tail_call: the program it went to. */
  tailCall?: string;
}

/** Oldest first; the last `limit` records of the run when it ran more. */
export type RunTrace = TraceOf<TraceRecord>;

export interface EngineMap {
  readonly name: string;
  readonly type: number;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  /** The value, or undefined when the key has none. */
  lookup(key: Uint8Array): Uint8Array | undefined;
  /** flags: 0 BPF_ANY, 1 BPF_NOEXIST, 2 BPF_EXIST. Throws a TwinpathError carrying the errno name. */
  update(key: Uint8Array, value: Uint8Array, flags?: number): void;
  delete(key: Uint8Array): void;
  /** Every entry, in the map's own iteration order. */
  entries(): Array<[Uint8Array, Uint8Array]>;
  push?(value: Uint8Array, flags?: number): void;
  pop?(): Uint8Array | undefined;
  /** Many updates at once (the kernel's BPF_MAP_UPDATE_BATCH, in chunks; one call into the VM
   * per chunk): keys[i] gets values[i], in order, all with `flags`. Stops at the first refusal and
   * throws it, the elements before it written (the error's `done` counts them), as the kernel
   * does. src/engine/bulk.ts falls back to update() where an engine lacks it. */
  updateBatch?(keys: readonly Uint8Array[], values: readonly Uint8Array[], flags?: number): void;
  /** ARRAY maps: the values of consecutive indexes first, first + 1, ..., given back to back in
   * one buffer (a whole number of values). Refused as a whole (E2BIG) when the range passes the
   * end. */
  writeArray?(first: number, values: Uint8Array): void;
}

export interface EngineObject {
  readonly engine: EngineKind;
  readonly spec: ObjectSpec;
  map(name: string): EngineMap;
  maps(): EngineMap[];
  /** Runs one program (by name) on one packet. */
  run(program: string, input: RunInput): RunOutput;
  /** run(), recording every instruction executed (the VM only: a kernel cannot trace a program).
   * `limit` bounds the records kept (the last ones; default 65,536). */
  runTraced?(program: string, input: RunInput, opts?: { limit?: number }): RunOutput & { trace: RunTrace };
  /** What names this program in a PROG_ARRAY slot of this engine (an fd, a VM handle). */
  programRef?(name: string): number;
  /** What names this map in an ARRAY_OF_MAPS / HASH_OF_MAPS slot of this engine. */
  mapRef?(name: string): number;
  close(): void;
}

export interface OpenOptions {
  /** Values for globals (`const volatile` and others) set before load, by variable name. */
  globals?: Record<string, Uint8Array>;
  /** max_entries set before load, by map name (libbpf's bpf_map__set_max_entries; the VM sizes
   * its map the same way). Global data sections and ring buffers (a power-of-two multiple of the
   * page size) are checked; an unknown map is refused. src/engine/sizes.ts has the rules. */
  maxEntries?: Record<string, number>;
}

export interface Engine {
  readonly kind: EngineKind;
  /** `bytes` is the object file as read (the kernel engine hands it to libbpf), `spec` its parse. */
  open(object: { bytes: Uint8Array; file?: string; spec: ObjectSpec }, opts?: OpenOptions): EngineObject;
}

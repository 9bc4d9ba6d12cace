// The TypeScript face of the wasm VM: load bytecode (validated once, in C), run it on a memory
// buffer, get r0 or a typed error. Layouts of the structures shared with C are fixed in
// wasm/vm.c by static assertions; the offsets below must match them.

import { TwinpathError, type ErrorCode } from '../errors.js';
import * as K from './constants.generated.js';
import { instantiateVm, type VmExports } from './wasm.js';
import { describeInsn } from './describe.js';
import { helperName } from './helper_names.generated.js';
import { MAP_TYPES } from './maps.js';
import { readExecTrace, traceLimit, type ExecTrace, type TraceOptions } from './trace.js';

export type { ExecKind, ExecRecord, ExecTrace, TraceOptions } from './trace.js';

export type HelperSet = 'none' | 'conformance' | 'xdp' | 'tc';

const HELPER_SETS: Record<HelperSet, number> = {
  none: K.VM_HELPERS_NONE,
  conformance: K.VM_HELPERS_CONFORMANCE,
  xdp: K.VM_HELPERS_XDP,
  tc: K.VM_HELPERS_TC,
};

export type Hook = 'xdp' | 'tc';

export interface PacketRunOptions {
  /** The context struct as a kernel test run's ctx_in takes it (struct xdp_md / __sk_buff). */
  ctxIn?: Uint8Array;
  budget?: number;
  /** The clock bpf_ktime_get_ns reads. */
  timeNs?: bigint;
  /** Record the instructions the run executes (src/vm/trace.ts). */
  trace?: TraceOptions;
}

export interface PacketRunResult {
  r0: bigint;
  retval: number;
  executed: number;
  /** The packet from data to data_end after the run. */
  packet: Uint8Array;
  /** Metadata in front of the packet (XDP data_meta to data). */
  meta: Uint8Array;
  /** The context struct after the run. */
  ctx: Uint8Array;
  /** trace_printk lines. */
  trace: string[];
  /** Where bpf_redirect (ifindex) or bpf_redirect_map (the VM map's id and the key, and the
   * entry's ifindex for a device map) sent the packet; the last such call of the run. */
  redirect?: { ifindex?: number; mapId?: number; key?: number; flags: number };
  /** The executed instructions, when the run was traced (`trace` above is trace_printk's). */
  execTrace?: ExecTrace;
}

export type RegionKind = 'stack' | 'input' | 'ctx' | 'packet' | 'map value' | 'global';

export interface Region {
  kind: RegionKind;
  lo: number;
  len: number;
  writable: boolean;
}

/** Statuses from wasm/vm_abi.h, by number, as the error codes of src/errors.ts. */
const STATUS_CODES: Record<number, ErrorCode> = {
  [K.VM_ERR_BAD_OPCODE]: 'VM_BAD_OPCODE',
  [K.VM_ERR_BAD_REGISTER]: 'VM_BAD_REGISTER',
  [K.VM_ERR_BAD_FIELD]: 'VM_BAD_FIELD',
  [K.VM_ERR_JUMP_OUT_OF_RANGE]: 'VM_JUMP_OUT_OF_RANGE',
  [K.VM_ERR_BAD_LDDW]: 'VM_BAD_LDDW',
  [K.VM_ERR_FALLTHROUGH]: 'VM_FALLTHROUGH',
  [K.VM_ERR_CALL_DEPTH]: 'VM_CALL_DEPTH',
  [K.VM_ERR_UNKNOWN_HELPER]: 'VM_UNKNOWN_HELPER',
  [K.VM_ERR_EMPTY_PROGRAM]: 'VM_EMPTY_PROGRAM',
  [K.VM_ERR_TOO_LARGE]: 'VM_TOO_LARGE',
  [K.VM_ERR_UNSUPPORTED]: 'VM_UNSUPPORTED',
  [K.VM_ERR_OOB_ACCESS]: 'VM_OOB_ACCESS',
  [K.VM_ERR_BUDGET_EXHAUSTED]: 'VM_BUDGET_EXHAUSTED',
  [K.VM_ERR_BAD_CALL_TARGET]: 'VM_BAD_CALL_TARGET',
  [K.VM_ERR_OUT_OF_MEMORY]: 'VM_OUT_OF_MEMORY',
  [K.VM_ERR_MAP_HELPER]: 'VM_UNSUPPORTED',
};


const REGION_KINDS: Record<number, RegionKind> = {
  [K.VM_REGION_STACK]: 'stack',
  [K.VM_REGION_INPUT]: 'input',
  [K.VM_REGION_CTX]: 'ctx',
  [K.VM_REGION_PACKET]: 'packet',
  [K.VM_REGION_MAP_VALUE]: 'map value',
  [K.VM_REGION_GLOBAL]: 'global',
};

const FIELD_NAMES: Record<number, string> = {
  [K.VM_FIELD_DST]: 'dst register',
  [K.VM_FIELD_SRC]: 'src register',
  [K.VM_FIELD_OFF]: 'offset',
  [K.VM_FIELD_IMM]: 'immediate',
};

const ACCESS_NAMES: Record<number, string> = {
  [K.VM_ACCESS_READ]: 'read',
  [K.VM_ACCESS_WRITE]: 'write',
  [K.VM_ACCESS_ATOMIC]: 'atomic read-modify-write',
};

/** A load or run failure, with the instruction index (in 8-byte slots) and the instruction. */
export class VmError extends TwinpathError {
  constructor(
    code: ErrorCode,
    detail: string,
    readonly insnIndex: number,
    readonly insnText: string,
    readonly access?: { addr: bigint; size: number; kind: string; allowed: Region[] },
    /** The handle of the program the failure is in: after a tail call, not the one that was run. */
    readonly programHandle?: number,
  ) {
    super(code, detail, { insn: insnIndex });
  }

  /** A traced run's instructions up to the failure (the failing one has no record). */
  trace?: ExecTrace;
}

export interface RunOptions {
  /** Input memory: a copy is passed in r1 with its length in r2; the copy is returned. */
  memory?: Uint8Array;
  /** Instructions that may execute before the run is stopped (default 1,000,000). */
  budget?: number;
  /** Record the instructions the run executes, in RunResult.trace (src/vm/trace.ts). */
  trace?: TraceOptions;
}

/**
 * The outcome of a run. r0 and the memory are read from the VM when first asked for (and so
 * must be read before the next run of the same Vm): most callers want one of them, and building
 * a BigInt and a copy for every run costs more than a short program does.
 */
export class RunResult {
  readonly executed: number;
  readonly #r0lo: number;
  readonly #r0hi: number;
  readonly #run: number;
  #memory?: Uint8Array;

  constructor(
    private readonly vm: Vm,
    w: Uint32Array,
    report: number,
    private readonly addr: number,
    private readonly len: number,
    /** The executed instructions, when the run was traced. */
    readonly trace?: ExecTrace,
  ) {
    this.#run = vm.runs;
    this.#r0lo = w[report + 10];
    this.#r0hi = w[report + 11];
    this.executed = w[report + 12] + w[report + 13] * 2 ** 32;
  }

  /** r0 at exit, all 64 bits. */
  get r0(): bigint {
    return (BigInt(this.#r0hi) << 32n) | BigInt(this.#r0lo);
  }

  /** The low 32 bits of r0, what tc and XDP read as the program's return code. */
  get retval(): number {
    return this.#r0lo;
  }

  /** The input memory as the program left it. */
  get memory(): Uint8Array {
    if (this.#memory === undefined) {
      if (this.vm.runs !== this.#run) {
        throw new TwinpathError('USAGE', 'the memory of a run must be read before the next run of the same Vm');
      }
      this.#memory = this.len ? this.vm.bytes().slice(this.addr, this.addr + this.len) : EMPTY;
    }
    return this.#memory;
  }
}

const DEFAULT_BUDGET = K.EBPF_DEFAULT_BUDGET;
/** Vm.copyOut: the slab size, and the largest copy taken from a slab. */
const SLAB_BYTES = 64 * 1024;
const SLAB_MAX_COPY = 4096;
const EMPTY = new Uint8Array(0);
const TEXT = new TextDecoder();

/** One VM instance: a wasm module instance holding loaded programs. */
export class Vm {
  readonly x: VmExports;
  private readonly reportAddr: number;
  private readonly configAddr: number;
  private readonly envAddr: number;
  private readonly execTraceAddr: number;
  private scratch = 0;
  /** Runs so far; a RunResult reads memory only while it is the latest run. */
  runs = 0;
  private scratchSize = 0;
  /** Loaded programs by handle, to name the instruction of a failure in a tail call's target. */
  private readonly loaded = new Map<number, Program>();

  constructor() {
    this.x = instantiateVm();
    this.reportAddr = this.x.vm_report_addr();
    this.configAddr = this.x.vm_config_addr();
    this.envAddr = this.x.vm_env_addr();
    this.execTraceAddr = this.x.vm_exec_trace_addr();
  }

  /** Validates and loads bytecode (8-byte slots); throws VmError naming the instruction. */
  load(code: Uint8Array, opts: { helpers?: HelperSet } = {}): Program {
    if (code.length % 8 !== 0) {
      throw new TwinpathError('HEX_BAD_INPUT', `program is ${code.length} bytes, not a multiple of 8`, {
        offset: code.length - (code.length % 8),
      });
    }
    const n = code.length / 8;
    const addr = this.alloc(Math.max(code.length, 8));
    new Uint8Array(this.x.memory.buffer, addr, code.length).set(code);
    const handle = this.x.vm_load(addr, n, HELPER_SETS[opts.helpers ?? 'none']);
    this.x.tp_free(addr);
    if (handle === 0) throw this.error(code);
    const p = new Program(this, handle, code.slice());
    this.loaded.set(handle, p);
    return p;
  }

  /** @internal Program.dispose */
  forget(handle: number): void {
    this.loaded.delete(handle);
  }

  /** Seeds bpf_get_prandom_u32 (the state carries on across runs). */
  seed(value: bigint): void {
    const dv = new DataView(this.x.memory.buffer);
    dv.setBigUint64(this.envAddr + 8, BigInt.asUintN(64, value) || 0x9e3779b97f4a7c15n, true);
  }

  /** Runs a tc or XDP program on a packet, with the context a kernel test run would give it. */
  runPacket(p: Program, hook: Hook, packet: Uint8Array, opts: PacketRunOptions = {}): PacketRunResult {
    const x = this.x;
    const hookNo = hook === 'xdp' ? K.VM_HOOK_XDP : K.VM_HOOK_TC;
    const at = x.vm_packet_buffer(hookNo, packet.length);
    if (at === 0) throw new TwinpathError('VM_OUT_OF_MEMORY', `no room for a ${packet.length}-byte packet`);
    this.bytes().set(packet, at);
    const ctxSize = x.vm_ctx_size(hookNo);
    if (opts.ctxIn) {
      if (opts.ctxIn.length > ctxSize) {
        throw new TwinpathError('USAGE', `context is ${opts.ctxIn.length} bytes; ${hook} takes ${ctxSize}`);
      }
      const ci = x.vm_ctx_in_addr();
      this.bytes().fill(0, ci, ci + ctxSize);
      this.bytes().set(opts.ctxIn, ci);
    }
    x.vm_set_ctx_in(opts.ctxIn ? 1 : 0);
    // The env is read and written through the cached 32-bit view: DataViews over memory.buffer
    // cost more than a short program's run. Offsets are fixed by static assertions in context.c.
    const e = this.envAddr >>> 2;
    let w = this.words();
    // The clock is stored as one 64-bit word (reduced modulo 2^64 as BigInt.asUintN would):
    // splitting a BigInt into halves costs more per run than the store.
    if ((this.envAddr & 7) === 0) {
      this.words64()[this.envAddr >>> 3] = opts.timeNs ?? 0n;
    } else {
      const t = BigInt.asUintN(64, opts.timeNs ?? 0n);
      w[e] = Number(t & 0xffffffffn);
      w[e + 1] = Number(t >> 32n);
    }
    if (w[e + 2] === 0 && w[e + 3] === 0) {
      w[e + 2] = 0x7f4a7c15;
      w[e + 3] = 0x9e3779b9;
    }
    const budget = budgetOf(opts.budget);
    const ring = opts.trace ? this.armTrace(opts.trace) : undefined;
    this.runs++;
    let status;
    try {
      status = x.vm_run_packet(p.handle, budget >>> 0, Math.floor(budget / 2 ** 32));
    } finally {
      if (ring) this.disarmTrace(ring);
    }
    if (status !== K.VM_OK) throw this.error(p.code, ring?.trace);
    w = this.words();
    const u8 = this.bytes();
    const r = this.reportAddr >>> 2;
    const ctxAddr = w[e + 5]!;
    const data = w[e + 8]!;
    const dataEnd = w[e + 9]!;
    const dataMeta = w[e + 10]!;
    const redirectIfindex = w[e + 11]!;
    const redirectMap = w[e + 16]!;
    const traceLen = w[e + 13]!;
    const r0lo = w[r + 10]!;
    const r0 = ((this.reportAddr + 40) & 7) === 0 ? this.words64()[(this.reportAddr + 40) >>> 3]! : (BigInt(w[r + 11]!) << 32n) | BigInt(r0lo);
    const trace = traceLen ? TEXT.decode(u8.subarray(this.envAddr + 72, this.envAddr + 72 + traceLen)).split('\n').slice(0, -1) : [];
    const result: PacketRunResult = {
      r0,
      retval: r0lo,
      executed: w[r + 12]! + w[r + 13]! * 2 ** 32,
      packet: this.copyOut(data, dataEnd),
      // Most runs leave no metadata: one shared empty array (it cannot be written to).
      meta: dataMeta === data ? EMPTY : u8.slice(dataMeta, data),
      ctx: this.copyOut(ctxAddr, ctxAddr + ctxSize),
      trace,
    };
    if (ring) result.execTrace = ring.trace!;
    if (redirectMap) {
      result.redirect = { mapId: redirectMap, key: w[e + 17]!, ...(redirectIfindex ? { ifindex: redirectIfindex } : {}), flags: w[e + 12]! };
    } else if (redirectIfindex) {
      result.redirect = { ifindex: redirectIfindex, flags: w[e + 12]! };
    }
    return result;
  }

  /** @internal Runs a loaded program. */
  runHandle(p: Program, opts: RunOptions): RunResult {
    const x = this.x;
    const mem = opts.memory ?? EMPTY;
    const addr = this.scratchFor(mem.length);
    const u8 = this.bytes();
    u8.set(mem, addr);
    // The config is written through 32-bit words: BigInt stores cost more than the run itself
    // for short programs. Offsets: regs[6] at 0, budget at 48, n_regions at 56, regions at 64.
    const w = this.words();
    const c = this.configAddr >>> 2;
    w[c] = w[c + 1] = 0; // r0
    w[c + 2] = mem.length ? addr : 0; // r1
    w[c + 3] = 0;
    w[c + 4] = mem.length; // r2
    w[c + 5] = w[c + 6] = w[c + 7] = w[c + 8] = w[c + 9] = w[c + 10] = w[c + 11] = 0; // r2 high, r3-r5
    const budget = budgetOf(opts.budget);
    w[c + 12] = budget >>> 0;
    w[c + 13] = Math.floor(budget / 2 ** 32);
    if (mem.length) {
      w[c + 14] = 1;
      w[c + 16] = addr;
      w[c + 17] = mem.length;
      w[c + 18] = K.VM_REGION_INPUT;
      w[c + 19] = K.VM_REGION_READ | K.VM_REGION_WRITE;
    } else {
      w[c + 14] = 0;
    }
    const ring = opts.trace ? this.armTrace(opts.trace) : undefined;
    this.runs++;
    let status;
    try {
      status = x.vm_run(p.handle);
    } finally {
      if (ring) this.disarmTrace(ring);
    }
    if (status !== K.VM_OK) throw this.error(p.code, ring?.trace);
    return new RunResult(this, this.words(), this.reportAddr >>> 2, addr, mem.length, ring?.trace);
  }

  /** Gives the next run a ring of records to write its instructions into (vm_exec_trace). The
   * ring is allocated per traced run and freed after it, so an untraced Vm holds no memory for
   * it; a traced run is for a person to read, where an allocation costs nothing that shows. */
  private armTrace(opts: TraceOptions): { buf: number; cap: number; trace?: ExecTrace } {
    const cap = traceLimit(opts);
    const buf = this.alloc(cap * K.VM_EXEC_RECORD_SIZE);
    const w = this.words();
    const t = this.execTraceAddr >>> 2;
    w[t] = buf;
    w[t + 1] = cap;
    w[t + 2] = 0;
    w[t + 4] = w[t + 5] = 0;
    return { buf, cap };
  }

  /** Reads the ring after the run, and turns tracing off again for the runs after it. */
  private disarmTrace(ring: { buf: number; cap: number; trace?: ExecTrace }): void {
    const w = this.words();
    const t = this.execTraceAddr >>> 2;
    const count = w[t + 4]! + w[t + 5]! * 2 ** 32;
    ring.trace = readExecTrace(this.x.memory.buffer, ring.buf, ring.cap, w[t + 2]!, count);
    w[t] = w[t + 1] = 0;
    this.x.tp_free(ring.buf);
  }

  /**
   * Views of linear memory. Growing the memory detaches the old buffer, which leaves the old
   * views with length 0; that is checked instead of reading memory.buffer, whose getter costs
   * more than a short run.
   */
  private u8view = new Uint8Array(0);
  private u32view = new Uint32Array(0);
  private u64view = new BigUint64Array(0);
  private slab = new ArrayBuffer(0);
  private slabUsed = SLAB_BYTES;
  bytes(): Uint8Array {
    if (this.u8view.length === 0) this.u8view = new Uint8Array(this.x.memory.buffer);
    return this.u8view;
  }
  /** @internal */
  words(): Uint32Array {
    if (this.u32view.length === 0) this.u32view = new Uint32Array(this.x.memory.buffer);
    return this.u32view;
  }

  /** @internal A copy of VM memory [start, end). Small copies are views into a shared slab
   * rather than arrays of their own: every run hands out a packet, a context and its ring buffer
   * records, and an ArrayBuffer apiece costs more (allocation and collection) than the copy.
   * A copy is still independent memory; a slab lives as long as some copy in it does. */
  copyOut(start: number, end: number): Uint8Array {
    const len = end - start;
    if (len > SLAB_MAX_COPY) return this.bytes().slice(start, end);
    if (this.slabUsed + len > SLAB_BYTES) {
      this.slab = new ArrayBuffer(SLAB_BYTES);
      this.slabUsed = 0;
    }
    const out = new Uint8Array(this.slab, this.slabUsed, len);
    out.set(this.bytes().subarray(start, end));
    // Keep copies 8-byte aligned, as fresh arrays are (a caller may view one as wider words).
    this.slabUsed += (len + 7) & ~7;
    return out;
  }

  /** @internal 64-bit words (little-endian, as wasm memory is). */
  words64(): BigUint64Array {
    if (this.u64view.length === 0) this.u64view = new BigUint64Array(this.x.memory.buffer);
    return this.u64view;
  }

  private alloc(size: number): number {
    const a = this.x.tp_alloc(size);
    if (a === 0) throw new TwinpathError('VM_OUT_OF_MEMORY', `cannot allocate ${size} bytes in the VM`);
    return a;
  }

  /** A buffer for run input, reused across runs so a run does not allocate. */
  private scratchFor(size: number): number {
    if (size > this.scratchSize || this.scratch === 0) {
      if (this.scratch) this.x.tp_free(this.scratch);
      this.scratchSize = Math.max(size, 4096);
      this.scratch = this.alloc(this.scratchSize);
    }
    return this.scratch;
  }

  /** Builds the error the last load or run left in the report. */
  private error(code: Uint8Array, trace?: ExecTrace): VmError {
    const e = this.errorOf(code);
    if (trace) e.trace = trace;
    return e;
  }

  private errorOf(code: Uint8Array): VmError {
    const dv = new DataView(this.x.memory.buffer);
    const r = this.reportAddr;
    const status = dv.getUint32(r, true);
    const pc = dv.getUint32(r + 4, true);
    const detail = dv.getUint32(r + 32, true);
    const errCode = STATUS_CODES[status] ?? 'VM_BAD_OPCODE';
    // A run's failure may lie in a tail call's target rather than in the program that was run.
    const handle = dv.getUint32(r + 64 + 16 * K.VM_MAX_REGIONS, true);
    const failed = this.loaded.get(handle);
    if (failed && failed.code !== code) code = failed.code;
    const text = code.length >= 8 && pc * 8 < code.length ? describeInsn(code, pc) : '';
    switch (status) {
      case K.VM_ERR_OOB_ACCESS: {
        const addr = dv.getBigUint64(r + 16, true);
        const size = dv.getUint32(r + 24, true);
        const kind = ACCESS_NAMES[dv.getUint32(r + 28, true)] ?? 'access';
        const allowed: Region[] = [
          { kind: 'stack', lo: dv.getUint32(r + 56, true), len: dv.getUint32(r + 60, true), writable: true },
        ];
        const n = dv.getUint32(r + 36, true);
        for (let k = 0; k < n; k++) {
          const o = r + 64 + 16 * k;
          allowed.push({
            kind: REGION_KINDS[dv.getUint32(o + 8, true)] ?? 'input',
            lo: dv.getUint32(o, true),
            len: dv.getUint32(o + 4, true),
            writable: (dv.getUint32(o + 12, true) & K.VM_REGION_WRITE) !== 0,
          });
        }
        const regions = allowed.map(formatRegion).join(', ');
        return new VmError(
          errCode,
          `${text}: out-of-bounds ${kind} of ${size} bytes at ${hexAddr(addr)}; allowed: ${regions}`,
          pc,
          text,
          { addr, size, kind, allowed },
          handle || undefined,
        );
      }
      case K.VM_ERR_BUDGET_EXHAUSTED:
        return new VmError(errCode, `${text}: instruction budget exhausted (program did not finish)`, pc, text, undefined, handle || undefined);
      default:
        return new VmError(errCode, `${text}: ${loadDetail(status, detail, pc)}`, pc, text, undefined, handle || undefined);
    }
  }
}

function loadDetail(status: number, detail: number, pc: number): string {
  switch (status) {
    case K.VM_ERR_BAD_OPCODE:
      return 'unknown opcode';
    case K.VM_ERR_BAD_REGISTER:
      return `invalid ${FIELD_NAMES[detail] ?? 'register'} (registers are r0-r10, and r10 is read-only)`;
    case K.VM_ERR_BAD_FIELD:
      return `invalid ${FIELD_NAMES[detail] ?? 'field'} for this opcode`;
    case K.VM_ERR_JUMP_OUT_OF_RANGE:
      return detail === 1 ? 'jump leaves its function' : 'jump or call target out of range';
    case K.VM_ERR_BAD_LDDW:
      return 'incomplete 64-bit immediate load (lddw needs a second slot with only imm set)';
    case K.VM_ERR_FALLTHROUGH:
      return 'execution falls through the end of the function (last instruction is not exit or goto)';
    case K.VM_ERR_CALL_DEPTH:
      return detail === 0
        ? 'recursive bpf-to-bpf call'
        : `call chain needs ${detail} frames; at most ${K.EBPF_MAX_CALL_FRAMES} are allowed`;
    case K.VM_ERR_UNKNOWN_HELPER:
      return `${helperName(detail)} is not available to this program (twinpath implements the helpers of issue 3 for tc and XDP)`;
    case K.VM_ERR_EMPTY_PROGRAM:
      return 'program has no instructions';
    case K.VM_ERR_TOO_LARGE:
      return `program has ${detail} instructions; at most ${K.EBPF_MAX_INSNS} are allowed`;
    case K.VM_ERR_UNSUPPORTED:
      return detail > 0
        ? `64-bit immediate load with src ${detail} needs an object loader to resolve it`
        : 'instruction not supported by the VM';
    case K.VM_ERR_BAD_CALL_TARGET:
      return `callx target ${detail} is not a helper`;
    case K.VM_ERR_OUT_OF_MEMORY:
      return 'the VM ran out of memory';
    case K.VM_ERR_MAP_HELPER: {
      const type = detail >>> 16;
      const map = Object.entries(MAP_TYPES).find(([, n]) => n === type)?.[0].toUpperCase() ?? `map type ${type}`;
      const helper = helperName(detail & 0xffff);
      return (detail & 0xffff) === 51
        ? `${helper} takes a DEVMAP, DEVMAP_HASH, CPUMAP or XSKMAP, not ${map} (the kernel's verifier refuses the program)`
        : `${helper} on a ${map}: the kernel's verifier refuses this helper on this map type`;
    }
    default:
      return `error status ${status} at insn ${pc}`;
  }
}

/** The instruction budget of a run: the default, or the caller's if it is a positive whole number. */
function budgetOf(budget: number | undefined): number {
  if (budget === undefined) return DEFAULT_BUDGET;
  if (!Number.isSafeInteger(budget) || budget <= 0) {
    throw new TwinpathError('USAGE', `instruction budget must be a positive whole number, not ${budget}`);
  }
  return budget;
}

function hexAddr(a: bigint | number): string {
  return '0x' + a.toString(16);
}

function formatRegion(r: Region): string {
  return `${r.kind} [${hexAddr(r.lo)}, ${hexAddr(r.lo + r.len)})${r.writable ? '' : ' read-only'}`;
}

/** A program loaded into a Vm. */
export class Program {
  constructor(
    readonly vm: Vm,
    readonly handle: number,
    readonly code: Uint8Array,
  ) {}

  run(opts: RunOptions = {}): RunResult {
    return this.vm.runHandle(this, opts);
  }

  dispose(): void {
    this.vm.forget(this.handle);
    this.vm.x.vm_unload(this.handle);
  }
}

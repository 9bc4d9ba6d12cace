// The execution trace of a traced run, as TypeScript reads it: the ring of records the VM's
// traced interpreter loop writes (wasm/interp.c, struct vm_exec_rec), decoded oldest first.
//
// A record is one completed instruction with what it did: the register it wrote and the value
// after it, the address and size of a memory access, whether a jump was taken, a helper's id and
// r0, the callee of a bpf-to-bpf call, the target of a tail call, the r0 of an exit. Full
// register files are not recorded: one register per instruction keeps a record at 32 bytes, and
// the registers an instruction reads were written by earlier records of the same trace.

import { TwinpathError } from '../errors.js';
import * as K from './constants.generated.js';

export type ExecKind = 'alu' | 'load' | 'store' | 'atomic' | 'jump' | 'helper' | 'call' | 'exit' | 'tail_call';

const KINDS: Record<number, ExecKind> = {
  [K.VM_EXEC_ALU]: 'alu',
  [K.VM_EXEC_LOAD]: 'load',
  [K.VM_EXEC_STORE]: 'store',
  [K.VM_EXEC_ATOMIC]: 'atomic',
  [K.VM_EXEC_JUMP]: 'jump',
  [K.VM_EXEC_HELPER]: 'helper',
  [K.VM_EXEC_CALL]: 'call',
  [K.VM_EXEC_EXIT]: 'exit',
  [K.VM_EXEC_TAIL_CALL]: 'tail_call',
};

/** What one executed instruction did. The VM names its program by handle (ExecRecord), an
 * engine by the object's name for it (TraceRecord in src/engine/engine.ts). */
export interface ExecStep {
  kind: ExecKind;
  /** Instruction index in 8-byte slots, as the disassembly numbers it (subprograms follow the
   * program). */
  insn: number;
  /** Frames below it: 0 in the entry function, 1 in a function it called, ... */
  depth: number;
  /** The register the instruction wrote (alu, load, the fetch forms of atomic; r0 for helper and exit). */
  reg?: number;
  /** That register's value after the instruction; for a store (and an atomic that writes no
   * register) the bytes in memory after it. */
  value?: bigint;
  /** load, store, atomic: the address accessed (a VM linear-memory address) and its size. */
  addr?: number;
  size?: number;
  /** jump: whether it was taken (always, for goto). */
  taken?: boolean;
  /** helper: the helper's id (bpf_map_lookup_elem is 1). */
  helper?: number;
}

/** One executed instruction, as the VM records it. */
export interface ExecRecord extends ExecStep {
  /** Handle of the program the instruction is in (after a tail call, the target's). */
  program: number;
  /** call: the callee's first instruction; tail_call: the target program's handle. */
  target?: number;
}

/** The records of a traced run. */
export interface TraceOf<R> {
  /** The last `limit` instructions of the run at most, oldest first. */
  records: R[];
  /** Instructions the run recorded in all. */
  total: number;
  /** The oldest records were dropped because the run had more than `limit`. */
  truncated: boolean;
  limit: number;
}

export type ExecTrace = TraceOf<ExecRecord>;

export interface TraceOptions {
  /** Records kept (the last ones of the run); default 65,536. */
  limit?: number;
}

export const DEFAULT_TRACE_LIMIT = 65_536;
/** 2^22 records are 128 MiB of VM memory: a larger ring is more likely a mistake than a need. */
export const MAX_TRACE_LIMIT = 1 << 22;

export function traceLimit(opts: TraceOptions): number {
  const limit = opts.limit ?? DEFAULT_TRACE_LIMIT;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_TRACE_LIMIT) {
    throw new TwinpathError('USAGE', `trace limit must be a whole number of records in 1..${MAX_TRACE_LIMIT}, not ${limit}`);
  }
  return limit;
}

/** Decodes the ring after a traced run: `buf` holds `cap` records, `next` is where the next one
 * would have gone and `count` how many were written. */
export function readExecTrace(mem: ArrayBuffer, buf: number, cap: number, next: number, count: number): ExecTrace {
  const n = Math.min(count, cap);
  const first = count > cap ? next : 0;
  const dv = new DataView(mem, buf, cap * K.VM_EXEC_RECORD_SIZE);
  const records: ExecRecord[] = new Array(n);
  for (let k = 0; k < n; k++) {
    const o = ((first + k) % cap) * K.VM_EXEC_RECORD_SIZE;
    records[k] = decode(dv, o);
  }
  return { records, total: count, truncated: count > cap, limit: cap };
}

function decode(dv: DataView, o: number): ExecRecord {
  const kind = KINDS[dv.getUint8(o + 8)] ?? 'alu';
  const r: ExecRecord = { kind, program: dv.getUint32(o, true), insn: dv.getUint32(o + 4, true), depth: dv.getUint8(o + 9) };
  const reg = dv.getUint8(o + 10);
  const size = dv.getUint8(o + 11);
  const aux = dv.getUint32(o + 12, true);
  const value = dv.getBigUint64(o + 16, true);
  const addr = dv.getUint32(o + 24, true); // accessed memory is in the 32-bit linear memory
  if (reg !== K.VM_EXEC_NO_REG) r.reg = reg;
  switch (kind) {
    case 'load':
    case 'store':
    case 'atomic':
      r.value = value;
      r.addr = addr;
      r.size = size;
      break;
    case 'jump':
      r.taken = value !== 0n;
      break;
    case 'helper':
      r.value = value;
      r.helper = aux;
      break;
    case 'call':
    case 'tail_call':
      r.target = aux;
      break;
    default: // alu, exit
      r.value = value;
  }
  return r;
}

// `explain --trace`: the instructions each program run executed, as data (model.ts's
// TraceRecordView, for JSON) and as text, with each instruction's disassembly as `twinpath
// disasm` prints it, the C source line it came from (.BTF.ext line info) whenever that line
// changes, and what the instruction did: the register it wrote and the value, a memory access's
// address, a jump taken or not, a helper by name with its r0, subprogram calls and returns
// (indented by frame depth), tail calls by the target's name.
//
// Instruction numbers count 8-byte slots from the start of the program as the engine loaded it
// (its subprograms appended), as VM errors do; `disasm` numbers them from the start of the ELF
// section instead.

import { basename } from 'node:path';
import type { ObjectSpec, ProgramSpec } from '../elf/object.js';
import type { RunTrace, TraceRecord } from '../engine/engine.js';
import { lineAt } from '../engine/source.js';
import { actionName } from '../engine/actions.js';
import { decodeInsns, type Insn } from '../asm/insn.js';
import { formatInsn } from '../asm/disassembler.js';
import { HELPER_NAMES } from '../vm/helper_names.generated.js';
import { TwinpathError } from '../errors.js';
import type { ProgramTraceView, TraceRecordView } from './model.js';

export interface TraceOptions {
  /** Records kept per program run (its last ones); default 65,536. */
  limit?: number;
}

export const KERNEL_CANNOT_TRACE = 'the kernel cannot trace a program; use --engine vm';

/** What the renderer needs of a program: its decoded instructions, functions, maps and lines. */
interface ProgramInfo {
  spec: ProgramSpec;
  insns: Insn[];
  /** Functions by first instruction, ascending. */
  functions: Array<{ name: string; insn: number }>;
  /** ld_imm64 slots that name a map or a global. */
  maps: Map<number, string>;
  texts: Map<number, string>;
}

const hex = (v: bigint | number): string => `0x${v.toString(16)}`;

/** Per-object cache of decoded programs: a trace visits the same instructions many times. */
class Programs {
  readonly #byName = new Map<string, ProgramInfo>();
  constructor(private readonly object: ObjectSpec) {}

  get(name: string): ProgramInfo | undefined {
    let p = this.#byName.get(name);
    if (p) return p;
    const spec = this.object.programs.find((x) => x.name === name);
    if (!spec) return undefined;
    const maps = new Map<number, string>();
    for (const r of spec.references) {
      const isData = this.object.maps.find((m) => m.name === r.map)?.data !== undefined;
      maps.set(r.insn, isData ? `${r.map}+${hex(r.offset)}` : `map ${r.map}`);
    }
    const functions = [...spec.functions].sort((a, b) => a.insn - b.insn).map((f) => ({ name: f.name, insn: f.insn }));
    p = { spec, insns: decodeInsns(spec.instructions), functions, maps, texts: new Map() };
    this.#byName.set(name, p);
    return p;
  }
}

function functionAt(p: ProgramInfo, insn: number): { name: string; insn: number } | undefined {
  let best: { name: string; insn: number } | undefined;
  for (const f of p.functions) if (f.insn <= insn) best = f;
  return best;
}

/** The disassembly of one instruction, with jump targets named as `<function+0xOFF>`. */
function textOf(p: ProgramInfo, insn: number): string {
  let t = p.texts.get(insn);
  if (t === undefined) {
    t = formatInsn(p.insns, insn, {
      target: (slot) => {
        const f = functionAt(p, slot);
        if (!f) return undefined;
        const off = (slot - f.insn) * 8;
        return off === 0 ? f.name : `${f.name}+${hex(off)}`;
      },
    });
    p.texts.set(insn, t);
  }
  return t;
}

/** One record as data: the engine's fields, the instruction's text and source line, names. */
function recordView(programs: Programs, r: TraceRecord): TraceRecordView {
  const p = programs.get(r.program);
  const v: TraceRecordView = { program: r.program, insn: r.insn, depth: r.depth, kind: r.kind, text: p ? textOf(p, r.insn) : '' };
  const line = p ? lineAt(p.spec.lineInfo, r.insn) : undefined;
  if (line) v.source = { file: basename(line.file), line: line.line, column: line.column, text: line.source.trim() };
  if (r.reg !== undefined) v.reg = r.reg;
  if (r.value !== undefined) v.value = hex(r.value);
  if (r.addr !== undefined) v.addr = hex(r.addr);
  if (r.size !== undefined) v.size = r.size;
  if (r.taken !== undefined) v.taken = r.taken;
  if (r.helper !== undefined) {
    v.helperId = r.helper;
    const n = HELPER_NAMES[r.helper];
    v.helper = n ? `bpf_${n}` : `helper ${r.helper}`;
  }
  if (r.target !== undefined) {
    v.target = r.target;
    const f = p ? functionAt(p, r.target) : undefined;
    if (f && f.insn === r.target) v.function = f.name;
  }
  if (r.tailCall !== undefined) v.tailCall = r.tailCall;
  const m = p?.maps.get(r.insn);
  if (m !== undefined) v.map = m;
  if (r.kind === 'exit' && r.depth === 0 && p) v.action = actionName(p.spec.hook, Number(r.value! & 0xffffffffn));
  return v;
}

/** The records of one program run as data. */
export function traceView(object: ObjectSpec, run: { program: string; node: string; endpoint: string }, t: RunTrace): ProgramTraceView {
  const programs = new Programs(object);
  return {
    program: run.program,
    node: run.node,
    endpoint: run.endpoint,
    total: t.total,
    truncated: t.truncated,
    limit: t.limit,
    records: markCallbacks(programs, t.records.map((r) => recordView(programs, r))),
  };
}

/** A helper that calls back into the program (bpf_loop, bpf_for_each_map_elem) runs the callback
 * one frame deeper with no call instruction of the program's own; its records come before the
 * helper's, which is recorded when the helper returns. The first record of each callback run is
 * marked with the callback's name, so that the deeper records do not seem to come from nowhere. */
function markCallbacks(programs: Programs, views: TraceRecordView[]): TraceRecordView[] {
  for (let k = 0; k < views.length; k++) {
    const v = views[k]!;
    const prev = views[k - 1];
    if (!prev) continue;
    // Deeper without a call; or right after an exit at the same depth (an exit otherwise returns
    // a frame up): the helper running its callback again.
    const entered = v.depth > prev.depth && prev.kind !== 'call';
    const again = v.depth === prev.depth && prev.kind === 'exit';
    if (entered || again) {
      const p = programs.get(v.program);
      const f = p ? functionAt(p, v.insn) : undefined;
      v.callback = f && f.insn === v.insn ? f.name : `insn ${v.insn}`;
    }
  }
  return views;
}


/** A value as hex, and when it reads as a small negative number (an errno from a helper, -1),
 * that number too: 0xfffffffffffffffe (-2). */
function valueText(hexValue: string | undefined): string {
  if (hexValue === undefined) return '';
  const v = BigInt(hexValue);
  const neg = BigInt.asIntN(64, v);
  return neg < 0n && neg >= -4096n ? `${hexValue} (${neg})` : hexValue;
}

/** What an instruction did, for the column after its text. Addresses of memory accesses are left
 * to the JSON: the disassembly already says which register and offset they came from. */
function effect(v: TraceRecordView): string {
  const reg = v.reg !== undefined ? `r${v.reg}` : '';
  switch (v.kind) {
    case 'alu':
      return `${reg} = ${valueText(v.value)}${v.map ? ` (${v.map})` : ''}`;
    case 'load':
      return `${reg} = ${valueText(v.value)}`;
    case 'store':
      return `stored ${valueText(v.value)}`;
    case 'atomic':
      return reg ? `${reg} = ${valueText(v.value)}` : `stored ${valueText(v.value)}`;
    case 'jump':
      return v.text.startsWith('goto') || v.text.startsWith('gotol') ? '' : v.taken ? 'taken' : 'not taken';
    case 'helper':
      return `${v.helper}: r0 = ${valueText(v.value)}`;
    case 'call':
      return `-> ${v.function ?? `insn ${v.target}`}`;
    case 'tail_call':
      return `bpf_tail_call -> ${v.tailCall}`;
    case 'exit':
      if (v.depth > 0) return `return r0 = ${valueText(v.value)}`;
      return `r0 = ${v.value}${v.action ? ` (${v.action})` : ''}`;
  }
}

const TEXT_WIDTH = 40;

/**
 * One program run's trace as lines of text, each starting with `indent`. A source line is shown
 * where it changes; after a tail call the target's name heads its instructions.
 */
export function formatTrace(v: ProgramTraceView, indent: string): string[] {
  const out: string[] = [];
  if (v.truncated) out.push(`${indent}... ${v.total - v.records.length} earlier instructions not kept (trace limit ${v.limit})`);
  let shown: { program: string; file: string; line: number } | undefined;
  let program = v.program;
  for (const r of v.records) {
    const pad = indent + '  '.repeat(r.depth);
    if (r.program !== program) {
      out.push(`${pad}${r.program}:`);
      program = r.program;
    }
    if (r.callback !== undefined) out.push(`${pad}callback ${r.callback}:`);
    const s = r.source;
    if (s && !(shown && shown.program === r.program && shown.file === s.file && shown.line === s.line)) {
      out.push(`${pad}; ${s.file}:${s.line}: ${s.text}`);
      shown = { program: r.program, file: s.file, line: s.line };
    }
    const what = effect(r);
    out.push(`${pad}${String(r.insn).padStart(5)}: ${what ? r.text.padEnd(TEXT_WIDTH) : r.text}${what ? ` ${what}` : ''}`);
  }
  return out;
}

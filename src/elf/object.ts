// readObject: a clang-compiled eBPF object as a plain, deterministic ObjectSpec — its xdp and tc
// programs (each with the subprograms it calls appended and bpf-to-bpf calls resolved, as libbpf
// lays them out), its map references as records, its maps and global data, its license. Nothing
// here depends on the running system or on an engine: the same bytes give the same spec.

import { TwinpathError, type ErrorLocation } from '../errors.js';
import { parseBtf, type Btf } from './btf.js';
import { parseBtfExt, type BtfExt, type LineInfo } from './btf_ext.js';
import { readElf, SHF_EXECINSTR, STT_FUNC, type ElfFile, type ElfRelocation, type ElfSection } from './elf.js';
import { isDataSection, readBtfMaps, readDataMaps, type MapSpec } from './maps.js';

export type { MapSpec, GlobalVariable, GlobalData, MapSlot } from './maps.js';
export type { LineInfo } from './btf_ext.js';

export type Hook = 'xdp' | 'tc';

/** A reference from an ld_imm64 to a map or to a byte in a global data section. */
export interface MapReference {
  /** Index (8-byte slots) of the ld_imm64 in the program's instructions. */
  insn: number;
  /** Map name; for global data, the section name (which names its map). */
  map: string;
  /** Byte offset into the value, for global data; 0 for maps. */
  offset: number;
}

export interface FunctionPlacement {
  name: string;
  /** First instruction in the program. */
  insn: number;
  /** Where the function came from. */
  section: string;
}

export interface ProgramSpec {
  name: string;
  section: string;
  hook: Hook;
  /** tc direction when the section name says it (tc/ingress, tcx/egress, ...). */
  attach?: 'ingress' | 'egress';
  /** xdp.frags: the program accepts multi-buffer packets. */
  frags?: boolean;
  /** 8-byte instruction slots: the program, then the subprograms it calls. */
  instructions: Uint8Array;
  functions: FunctionPlacement[];
  references: MapReference[];
  lineInfo: LineInfo[];
}

export interface UnsupportedProgram {
  name: string;
  section: string;
  reason: string;
}

export interface ObjectSpec {
  file?: string;
  license: string;
  programs: ProgramSpec[];
  unsupported: UnsupportedProgram[];
  maps: MapSpec[];
  btf?: Btf;
}

export interface ReadObjectOptions {
  /** Fail on executable sections whose program type twinpath does not run. */
  strictPrograms?: boolean;
}

const XDP_RE = /^xdp(\.frags)?(\/.*)?$/;
const TC_EXACT: Record<string, 'ingress' | 'egress' | undefined> = {
  tc: undefined, 'tc/ingress': 'ingress', 'tc/egress': 'egress', 'tcx/ingress': 'ingress', 'tcx/egress': 'egress',
  classifier: undefined, sched_cls: undefined, action: undefined,
};

/** The hook of a libbpf SEC name, or undefined for program types twinpath does not run. */
export function programKind(section: string): { hook: Hook; attach?: 'ingress' | 'egress'; frags?: boolean } | undefined {
  const x = XDP_RE.exec(section);
  if (x) return { hook: 'xdp', ...(x[1] ? { frags: true } : {}) };
  if (section in TC_EXACT) {
    const attach = TC_EXACT[section];
    return { hook: 'tc', ...(attach ? { attach } : {}) };
  }
  if (/^(classifier|action)\//.test(section)) return { hook: 'tc' };
  return undefined;
}

const BPF_LD_IMM64 = 0x18;
const BPF_CALL = 0x85;
const BPF_PSEUDO_CALL = 1;
const BPF_PSEUDO_FUNC = 4;

interface Func { name: string; section: ElfSection; start: number; len: number }

interface Ctx {
  elf: ElfFile;
  file?: string;
  ext?: BtfExt;
  funcs: Map<number, Func[]>;
  relocs: Map<number, Map<number, ElfRelocation>>;
  mapsIndex: number;
}

function loc(ctx: Ctx, section: string, offset: number, program?: string): ErrorLocation {
  const l: ErrorLocation = {};
  if (ctx.file !== undefined) l.file = ctx.file;
  if (program !== undefined) l.program = program;
  l.section = section;
  l.offset = offset;
  return l;
}

/** Functions of an executable section, from its STT_FUNC symbols (or the whole section). */
function sectionFunctions(ctx: Ctx, s: ElfSection): Func[] {
  if (s.data.length !== s.size) throw new TwinpathError('ELF_BAD_SECTION', 'executable section without contents (not SHT_PROGBITS)', loc(ctx, s.name, 0));
  if (s.size % 8 !== 0) throw new TwinpathError('ELF_BAD_SECTION', `code size ${s.size} is not a multiple of 8`, loc(ctx, s.name, 0));
  const syms = ctx.elf.symbols.filter((y) => y.shndx === s.index && y.type === STT_FUNC)
    .sort((a, b) => (a.value < b.value ? -1 : a.value > b.value ? 1 : a.name < b.name ? -1 : 1));
  if (syms.length === 0) return [{ name: s.name, section: s, start: 0, len: s.size / 8 }];
  return syms.map((y, i) => {
    const v = Number(y.value);
    const size = y.size > 0n ? Number(y.size) : Number(syms[i + 1]?.value ?? BigInt(s.size)) - v;
    if (y.value % 8n !== 0n || size % 8 !== 0 || v + size > s.size || size <= 0) {
      throw new TwinpathError('ELF_BAD_SYMBOL', `function "${y.name}" (${size} bytes at ${y.value}) does not fit the section`, loc(ctx, s.name, v));
    }
    return { name: y.name, section: s, start: v / 8, len: size / 8 };
  });
}

function relocsOf(ctx: Ctx, s: ElfSection): Map<number, ElfRelocation> {
  let m = ctx.relocs.get(s.index);
  if (!m) {
    m = new Map();
    for (const r of ctx.elf.relocations.get(s.index) ?? []) {
      const off = Number(r.offset);
      if (off % 8 !== 0) throw new TwinpathError('ELF_BAD_RELOC', `relocation at ${off} is not on an instruction boundary`, loc(ctx, s.name, off));
      if (m.has(off)) throw new TwinpathError('ELF_BAD_RELOC', `two relocations at ${off}`, loc(ctx, s.name, off));
      m.set(off, r);
    }
    ctx.relocs.set(s.index, m);
  }
  return m;
}

function functionAt(ctx: Ctx, sectionIndex: number, insn: number): Func | undefined {
  return ctx.funcs.get(sectionIndex)?.find((f) => insn >= f.start && insn < f.start + f.len);
}

/** Lays out one program as libbpf does: entry function first, callees appended on first use. */
function buildProgram(ctx: Ctx, entry: Func, kind: NonNullable<ReturnType<typeof programKind>>): ProgramSpec {
  const placed: { f: Func; pos: number }[] = [{ f: entry, pos: 0 }];
  const posOf = new Map<Func, number>([[entry, 0]]);
  let total = entry.len;
  const place = (f: Func): number => {
    let p = posOf.get(f);
    if (p === undefined) {
      p = total;
      total += f.len;
      posOf.set(f, p);
      placed.push({ f, pos: p });
    }
    return p;
  };
  const patches: { pos: number; imm: number; src?: number }[] = [];
  const references: MapReference[] = [];

  for (let k = 0; k < placed.length; k++) {
    const { f, pos } = placed[k]!;
    const code = f.section.data;
    const rels = relocsOf(ctx, f.section);
    for (let i = 0; i < f.len; i++) {
      const byteOff = (f.start + i) * 8;
      const at = loc(ctx, f.section.name, byteOff, entry.name);
      const op = code[byteOff]!;
      const src = code[byteOff + 1]! >> 4;
      const imm = new DataView(code.buffer, code.byteOffset + byteOff + 4, 4).getInt32(0, true);
      const rel = rels.get(byteOff);
      const jumpTo = (sec: number, target: number, asFunc: boolean): void => {
        const g = functionAt(ctx, sec, target);
        if (!g) throw new TwinpathError('ELF_BAD_RELOC', `call target ${target} in section ${sec} is not in a function`, at);
        const tpos = place(g) + (target - g.start);
        patches.push({ pos: pos + i, imm: tpos - (pos + i + 1), ...(asFunc ? { src: BPF_PSEUDO_FUNC } : {}) });
      };
      if (rel) {
        const sym = ctx.elf.symbols[rel.symbol]!;
        const target = ctx.elf.sections[sym.shndx];
        const isCode = target !== undefined && sym.shndx !== 0 && (target.flags & SHF_EXECINSTR) !== 0n;
        if (op === BPF_CALL) {
          if (src !== BPF_PSEUDO_CALL) throw new TwinpathError('ELF_BAD_RELOC', `relocation against "${sym.name}" on a call that is not a bpf-to-bpf call (kfuncs are not supported)`, at);
          if (!isCode) throw new TwinpathError('ELF_BAD_RELOC', `call relocation against "${sym.name}", which is not code`, at);
          if (sym.value % 8n !== 0n) throw new TwinpathError('ELF_BAD_RELOC', `call target "${sym.name}" is not instruction-aligned`, at);
          jumpTo(sym.shndx, Number(sym.value) / 8 + imm + 1, false);
        } else if (op === BPF_LD_IMM64) {
          if (i + 1 >= f.len) throw new TwinpathError('ELF_BAD_RELOC', 'ld_imm64 is cut off by the end of its function', at);
          if (sym.shndx === 0) throw new TwinpathError('ELF_BAD_RELOC', `"${sym.name}" is an extern (kconfig/ksym externs are not supported)`, at);
          if (sym.shndx === ctx.mapsIndex) {
            references.push({ insn: pos + i, map: sym.name, offset: 0 });
          } else if (target && isDataSection(target)) {
            references.push({ insn: pos + i, map: target.name, offset: Number(sym.value) + imm });
          } else if (isCode) {
            const byteTarget = Number(sym.value) + imm;
            if (byteTarget % 8 !== 0) throw new TwinpathError('ELF_BAD_RELOC', `function pointer to "${sym.name}" is not instruction-aligned`, at);
            jumpTo(sym.shndx, byteTarget / 8, true);
          } else {
            throw new TwinpathError('ELF_BAD_RELOC', `ld_imm64 relocation against "${sym.name}" in section "${target?.name ?? sym.shndx}", which is neither a map nor global data`, at);
          }
        } else {
          throw new TwinpathError('ELF_BAD_RELOC', `relocation against "${sym.name}" on opcode 0x${op.toString(16).padStart(2, '0')}, which is neither ld_imm64 nor call`, at);
        }
      } else if (op === BPF_CALL && src === BPF_PSEUDO_CALL) {
        // A call clang resolved itself: relative to the calling section.
        jumpTo(f.section.index, f.start + i + imm + 1, false);
      }
      if (op === BPF_LD_IMM64) i++; // the second slot of ld_imm64 is data, never an instruction
    }
  }

  const instructions = new Uint8Array(total * 8);
  for (const { f, pos } of placed) instructions.set(f.section.data.subarray(f.start * 8, (f.start + f.len) * 8), pos * 8);
  const view = new DataView(instructions.buffer);
  for (const p of patches) {
    view.setInt32(p.pos * 8 + 4, p.imm, true);
    if (p.src !== undefined) instructions[p.pos * 8 + 1] = (instructions[p.pos * 8 + 1]! & 0x0f) | (p.src << 4);
  }

  const lineInfo: LineInfo[] = [];
  for (const { f, pos } of placed) {
    const sec = ctx.ext?.sections.find((s) => s.section === f.section.name);
    for (const l of sec?.lines ?? []) {
      if (l.insn >= f.start && l.insn < f.start + f.len) lineInfo.push({ ...l, insn: l.insn - f.start + pos });
    }
  }
  lineInfo.sort((a, b) => a.insn - b.insn);
  references.sort((a, b) => a.insn - b.insn);
  return {
    name: entry.name, section: entry.section.name, ...kind, instructions,
    functions: placed.map(({ f, pos }) => ({ name: f.name, insn: pos, section: f.section.name })),
    references, lineInfo,
  };
}

function readLicense(elf: ElfFile): string {
  const s = elf.sections.find((x) => x.name === 'license');
  if (!s) return '';
  const z = s.data.indexOf(0);
  return new TextDecoder().decode(s.data.subarray(0, z < 0 ? s.data.length : z));
}

export function readObject(bytes: Uint8Array, file?: string, options: ReadObjectOptions = {}): ObjectSpec {
  const elf = readElf(bytes, file);
  const within = <T>(section: string, f: () => T): T => {
    try {
      return f();
    } catch (e) {
      if (e instanceof TwinpathError) throw e.within({ ...(file !== undefined ? { file } : {}), section });
      throw e;
    }
  };
  const btfSec = elf.sections.find((s) => s.name === '.BTF');
  const btf = btfSec ? within('.BTF', () => parseBtf(btfSec.data, file)) : undefined;
  const extSec = elf.sections.find((s) => s.name === '.BTF.ext');
  const ext = btf && extSec ? within('.BTF.ext', () => parseBtfExt(extSec.data, btf, file)) : undefined;

  const legacy = elf.sections.find((s) => s.name === 'maps' || s.name.startsWith('maps/'));
  if (legacy) {
    throw new TwinpathError('ELF_BAD_MAP', 'legacy "maps" section (struct bpf_map_def) is not supported; use BTF-defined maps in ".maps"',
      { ...(file !== undefined ? { file } : {}), section: legacy.name, offset: 0 });
  }
  const maps = [...readBtfMaps(elf, btf, file), ...readDataMaps(elf, btf)];

  const ctx: Ctx = {
    elf, ...(file !== undefined ? { file } : {}), ...(ext ? { ext } : {}),
    funcs: new Map(), relocs: new Map(),
    mapsIndex: elf.sections.find((s) => s.name === '.maps')?.index ?? -1,
  };
  const code = elf.sections.filter((s) => (s.flags & SHF_EXECINSTR) !== 0n && s.size > 0);
  for (const s of code) ctx.funcs.set(s.index, sectionFunctions(ctx, s));

  const programs: ProgramSpec[] = [];
  const unsupported: UnsupportedProgram[] = [];
  for (const s of code) {
    if (s.name === '.text') continue;
    const kind = programKind(s.name);
    for (const f of ctx.funcs.get(s.index)!) {
      if (!kind) {
        const reason = `section "${s.name}" is not an xdp or tc program type`;
        if (options.strictPrograms) throw new TwinpathError('ELF_BAD_SECTION', reason, loc(ctx, s.name, f.start * 8, f.name));
        unsupported.push({ name: f.name, section: s.name, reason });
        continue;
      }
      programs.push(buildProgram(ctx, f, kind));
    }
  }
  return {
    ...(file !== undefined ? { file } : {}),
    license: readLicense(elf), programs, unsupported, maps, ...(btf ? { btf } : {}),
  };
}

/** The program called `name` (or in section `name`); without a name, the only program. */
export function findProgram(spec: ObjectSpec, name?: string): ProgramSpec {
  const where: ErrorLocation = spec.file !== undefined ? { file: spec.file } : {};
  if (name === undefined) {
    if (spec.programs.length === 1) return spec.programs[0]!;
    throw new TwinpathError('ELF_NO_PROGRAM', spec.programs.length === 0
      ? 'the object has no xdp or tc program'
      : `the object has ${spec.programs.length} programs (${spec.programs.map((p) => p.name).join(', ')}); name one`, where);
  }
  const p = spec.programs.find((x) => x.name === name) ?? spec.programs.find((x) => x.section === name);
  if (!p) throw new TwinpathError('ELF_NO_PROGRAM', `no program named "${name}"`, where);
  return p;
}

/**
 * Sets a global variable's initial value by name before load, as libbpf skeletons let a caller
 * set `const volatile` configuration. Writes into the spec's data map contents.
 */
export function setGlobal(spec: ObjectSpec, name: string, bytes: Uint8Array): void {
  for (const m of spec.maps) {
    const v = m.data?.variables.find((x) => x.name === name);
    if (!m.data || !v) continue;
    if (bytes.length !== v.size) {
      throw new TwinpathError('USAGE', `global "${name}" is ${v.size} bytes, got ${bytes.length}`,
        { ...(spec.file !== undefined ? { file: spec.file } : {}), section: m.data.section, offset: v.offset });
    }
    m.data.contents.set(bytes, v.offset);
    return;
  }
  throw new TwinpathError('USAGE', `no global variable named "${name}"`, spec.file !== undefined ? { file: spec.file } : {});
}

// Disassembly of a whole ELF object in llvm-objdump -d's layout: one block per executable
// section, one listing per symbol, jump targets named after the nearest symbol at or before
// them (`<count+0xa0>`). The rules for which symbols head a listing follow llvm-objdump 19, so
// the output can be compared with it byte for byte (test/golden/disasm).
//
// With `source`, C source lines are interleaved as `; <line>` comments before the instructions
// they produced, as llvm-objdump -S does; the lines come from the object's .BTF.ext line info
// (what the kernel and bpftool's `linum` use), not from DWARF and the source files, so only the
// lines clang recorded for BTF appear.

import { type ElfFile, type ElfSymbol, readElf, SHF_EXECINSTR, SHT_NOBITS, STT_SECTION } from '../elf/elf.js';
import { parseBtf } from '../elf/btf.js';
import { parseBtfExt, type LineInfo } from '../elf/btf_ext.js';
import { TwinpathError } from '../errors.js';
import { EBPF_OP_LDDW } from '../vm/constants.generated.js';
import { type FormatOptions, UNKNOWN, formatInsn } from './disassembler.js';
import { type Insn, INSN_SIZE, decodeInsnAt, hexColumn } from './insn.js';

const LDDW = EBPF_OP_LDDW;

export interface ObjdumpOptions {
  /** Only this section (by name); an unknown name is an error. */
  section?: string;
  /** See FormatOptions.strict; defaults to true here, since this output mimics llvm-objdump. */
  strict?: boolean;
  /** Interleave C source lines from .BTF.ext line info (`; <line>`), like llvm-objdump -S. */
  source?: boolean;
}

interface Label {
  name: string;
  addr: bigint;
}

const U64 = (1n << 64n) - 1n;

/**
 * Symbols that name places in a section, in llvm-objdump's order: by address, then by name.
 * Section symbols are left out; where several symbols share an address llvm shows only the
 * last of them in this order, for listing headers and jump targets alike.
 */
function sectionLabels(symbols: readonly ElfSymbol[], shndx: number, sectionName: string): Label[] {
  const labels = symbols
    .filter((s) => s.shndx === shndx && s.type !== STT_SECTION && s.name !== '')
    .map((s) => ({ name: s.name, addr: s.value }))
    .sort((a, b) => (a.addr !== b.addr ? (a.addr < b.addr ? -1 : 1) : a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  // Like llvm-objdump, code before the first symbol is listed under the section's own name.
  if (labels.length === 0 || labels[0]!.addr !== 0n) labels.unshift({ name: sectionName, addr: 0n });
  return labels.filter((l, i) => i + 1 === labels.length || labels[i + 1]!.addr !== l.addr);
}

function targetName(labels: readonly Label[], target: bigint): string {
  let best = labels[0]!;
  for (const l of labels) if (l.addr <= target) best = l;
  const disp = target - best.addr;
  return disp === 0n ? best.name : `${best.name}+0x${disp.toString(16)}`;
}

/** The listing of one executable ELF section, beginning with its `Disassembly of section` line. */
function disassembleSection(elf: ElfFile, index: number, opts: FormatOptions, lines?: Map<number, LineInfo>): string {
  const sec = elf.sections[index]!;
  const labels = sectionLabels(elf.symbols, index, sec.name);
  let out = `Disassembly of section ${sec.name}:\n`;
  for (let li = 0; li < labels.length; li++) {
    const label = labels[li]!;
    const start = Number(label.addr);
    const end = li + 1 < labels.length ? Number(labels[li + 1]!.addr) : sec.data.length;
    if (start > sec.data.length) continue;
    out += `\n${label.addr.toString(16).padStart(16, '0')} <${label.name}>:\n`;
    out += listRange(sec.data, start, Math.min(end, sec.data.length), labels, opts, lines);
  }
  return out;
}

function listRange(data: Uint8Array, start: number, end: number, labels: readonly Label[], opts: FormatOptions, lines?: Map<number, LineInfo>): string {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let out = '';
  let at = start;
  let shown: LineInfo | undefined;
  while (at < end) {
    // A line is shown where its record starts, unless the previous record shown was the same line.
    const line = at % INSN_SIZE === 0 ? lines?.get(at / INSN_SIZE) : undefined;
    if (line && !(shown && shown.file === line.file && shown.line === line.line)) {
      out += `; ${line.source}\n`;
      shown = line;
    }
    const col = String(Math.floor(at / INSN_SIZE)).padStart(8);
    // Decoding sees only this symbol's bytes: an lddw cut short by the next symbol or the
    // section end does not decode, and llvm-objdump then moves on by a single byte.
    const room = end - at;
    const first = room >= INSN_SIZE ? decodeInsnAt(view, at) : undefined;
    const wide = first !== undefined && first.opcode === LDDW && first.off === 0;
    if (first === undefined || (wide && room < 2 * INSN_SIZE)) {
      out += `${col}:\t${hexColumn(data.subarray(at, at + 1))}\t${UNKNOWN}\n`;
      at += 1;
      continue;
    }
    const insns: Insn[] = wide ? [first, decodeInsnAt(view, at + INSN_SIZE)] : [first];
    const slot = at / INSN_SIZE;
    const text = formatInsn(insns, 0, {
      ...opts,
      target: (t) => targetName(labels, (BigInt(Math.floor(slot) + t) * BigInt(INSN_SIZE) + BigInt(at % INSN_SIZE)) & U64),
    });
    const n = text === UNKNOWN ? 1 : insns.length;
    out += `${col}:\t${hexColumn(data.subarray(at, at + n * INSN_SIZE))}\t${text}\n`;
    at += n * INSN_SIZE;
  }
  return out;
}

/**
 * An object's code as llvm-objdump -d prints it, from the first `Disassembly of section` line
 * on (the file-format banner is left to the caller).
 */
export function disassembleObject(object: Uint8Array | ElfFile, opts: ObjdumpOptions & { file?: string } = {}): string {
  const elf = object instanceof Uint8Array ? readElf(object, opts.file) : object;
  const fmt: FormatOptions = { strict: opts.strict ?? true };
  const lines = opts.source ? lineInfoBySection(elf, opts.file) : new Map<string, Map<number, LineInfo>>();
  const blocks: string[] = [];
  let found = false;
  for (const sec of elf.sections) {
    if (opts.section !== undefined) {
      if (sec.name !== opts.section) continue;
      found = true;
    }
    if ((sec.flags & SHF_EXECINSTR) === 0n || sec.type === SHT_NOBITS || sec.data.length === 0) continue;
    blocks.push(disassembleSection(elf, sec.index, fmt, lines.get(sec.name)));
  }
  if (opts.section !== undefined && !found) {
    const loc: { file?: string; section: string } = { section: opts.section };
    if (opts.file ?? elf.file) loc.file = (opts.file ?? elf.file)!;
    throw new TwinpathError('ELF_BAD_SECTION', `no section named "${opts.section}"`, loc);
  }
  return blocks.join('\n');
}

/** .BTF.ext line records by section name, then by instruction index (empty without BTF). */
function lineInfoBySection(elf: ElfFile, file?: string): Map<string, Map<number, LineInfo>> {
  const out = new Map<string, Map<number, LineInfo>>();
  const btfSec = elf.sections.find((s) => s.name === '.BTF');
  const extSec = elf.sections.find((s) => s.name === '.BTF.ext');
  if (!btfSec || !extSec) return out;
  const where = file ?? elf.file;
  const ext = parseBtfExt(extSec.data, parseBtf(btfSec.data, where), where);
  for (const sec of ext.sections) out.set(sec.section, new Map(sec.lines.map((l) => [l.insn, l])));
  return out;
}

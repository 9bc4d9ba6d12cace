// Disassembly of a whole ELF object in llvm-objdump -d's layout: one block per executable
// section, one listing per symbol, jump targets named after the nearest symbol at or before
// them (`<count+0xa0>`). The rules for which symbols head a listing follow llvm-objdump 19, so
// the output can be compared with it byte for byte (test/golden/disasm).

import { type ElfFile, type ElfSymbol, readElf, SHF_EXECINSTR, SHT_NOBITS, STT_SECTION } from '../elf/elf.js';
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
function disassembleSection(elf: ElfFile, index: number, opts: FormatOptions): string {
  const sec = elf.sections[index]!;
  const labels = sectionLabels(elf.symbols, index, sec.name);
  let out = `Disassembly of section ${sec.name}:\n`;
  for (let li = 0; li < labels.length; li++) {
    const label = labels[li]!;
    const start = Number(label.addr);
    const end = li + 1 < labels.length ? Number(labels[li + 1]!.addr) : sec.data.length;
    if (start > sec.data.length) continue;
    out += `\n${label.addr.toString(16).padStart(16, '0')} <${label.name}>:\n`;
    out += listRange(sec.data, start, Math.min(end, sec.data.length), labels, opts);
  }
  return out;
}

function listRange(data: Uint8Array, start: number, end: number, labels: readonly Label[], opts: FormatOptions): string {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let out = '';
  let at = start;
  while (at < end) {
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
  const blocks: string[] = [];
  let found = false;
  for (const sec of elf.sections) {
    if (opts.section !== undefined) {
      if (sec.name !== opts.section) continue;
      found = true;
    }
    if ((sec.flags & SHF_EXECINSTR) === 0n || sec.type === SHT_NOBITS || sec.data.length === 0) continue;
    blocks.push(disassembleSection(elf, sec.index, fmt));
  }
  if (opts.section !== undefined && !found) {
    const loc: { file?: string; section: string } = { section: opts.section };
    if (opts.file ?? elf.file) loc.file = (opts.file ?? elf.file)!;
    throw new TwinpathError('ELF_BAD_SECTION', `no section named "${opts.section}"`, loc);
  }
  return blocks.join('\n');
}

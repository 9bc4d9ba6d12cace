// The raw ELF64 reader: sections, symbols and relocations of a relocatable eBPF object, nothing
// more. It knows no eBPF semantics (programs, maps, BTF live in object.ts and btf.ts), and it
// trusts no byte: every offset and size is checked against the buffer before it is used, so a
// truncated or garbled file ends in a TwinpathError with a location, never an exception from a
// typed array or an endless loop. An error's offset is relative to its `section` when it names
// one, else it is a file offset (headers, and section contents before names are known).

import { TwinpathError, type ErrorCode } from '../errors.js';

export const EM_BPF = 247;
export const ET_REL = 1;

export const SHT_NULL = 0;
export const SHT_PROGBITS = 1;
export const SHT_SYMTAB = 2;
export const SHT_STRTAB = 3;
export const SHT_RELA = 4;
export const SHT_NOBITS = 8;
export const SHT_REL = 9;

export const SHF_WRITE = 0x1n;
export const SHF_ALLOC = 0x2n;
export const SHF_EXECINSTR = 0x4n;

export const STB_LOCAL = 0;
export const STB_GLOBAL = 1;
export const STB_WEAK = 2;
export const STT_NOTYPE = 0;
export const STT_OBJECT = 1;
export const STT_FUNC = 2;
export const STT_SECTION = 3;

export const SHN_UNDEF = 0;
export const SHN_LORESERVE = 0xff00;
export const SHN_ABS = 0xfff1;
export const SHN_COMMON = 0xfff2;
export const SHN_XINDEX = 0xffff;

const EHDR_SIZE = 64;
const SHDR_SIZE = 64;
const SYM_SIZE = 24;
const REL_SIZE = 16;
const RELA_SIZE = 24;

export interface ElfSection {
  index: number;
  name: string;
  type: number;
  flags: bigint;
  offset: number;
  size: number;
  link: number;
  info: number;
  entsize: number;
  /** The section's bytes (a view into the input); empty for SHT_NOBITS. */
  data: Uint8Array;
}

export interface ElfSymbol {
  /** Index in the symbol table; relocations refer to symbols by this number. */
  index: number;
  name: string;
  value: bigint;
  size: bigint;
  type: number;
  bind: number;
  shndx: number;
}

export interface ElfRelocation {
  offset: bigint;
  symbol: number;
  type: number;
  /** Only for SHT_RELA entries. */
  addend?: bigint;
}

export interface ElfFile {
  file?: string;
  machine: number;
  sections: ElfSection[];
  symbols: ElfSymbol[];
  /** Keyed by the index of the section the relocations apply to. */
  relocations: Map<number, ElfRelocation[]>;
}

export interface ReadElfOptions {
  /** Accept any e_machine (tests use this to read non-BPF objects); default only EM_BPF. */
  anyMachine?: boolean;
}

/** Bounds-checked little-endian reads over one buffer, failing with a located error. */
class Reader {
  private readonly view: DataView;
  constructor(
    readonly bytes: Uint8Array,
    private readonly file: string | undefined,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  fail(code: ErrorCode, detail: string, offset: number, section?: string): never {
    const loc: { file?: string; section?: string; offset: number } = { offset };
    if (this.file !== undefined) loc.file = this.file;
    if (section !== undefined) loc.section = section;
    throw new TwinpathError(code, detail, loc);
  }

  need(offset: number, size: number, what: string, section?: string): void {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(size) || offset < 0 || size < 0 ||
        offset + size > this.bytes.length) {
      this.fail('ELF_TRUNCATED', `${what} (${size} bytes at ${offset}) extends past the end of the file (${this.bytes.length} bytes)`, offset, section);
    }
  }

  u8(o: number): number { return this.view.getUint8(o); }
  u16(o: number): number { return this.view.getUint16(o, true); }
  u32(o: number): number { return this.view.getUint32(o, true); }
  u64(o: number): bigint { return this.view.getBigUint64(o, true); }
  i64(o: number): bigint { return this.view.getBigInt64(o, true); }
}

/** A u64 file offset or size as a number, or a located error when it cannot be one. */
function toNumber(r: Reader, v: bigint, what: string, at: number, section?: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) r.fail('ELF_TRUNCATED', `${what} ${v} is beyond any file`, at, section);
  return Number(v);
}

function cstring(r: Reader, table: ElfSection, at: number, code: ErrorCode, where: number, what: string): string {
  if (at >= table.data.length) {
    r.fail(code, `${what}: name offset ${at} is outside string table "${table.name}" (${table.data.length} bytes)`, where);
  }
  const end = table.data.indexOf(0, at);
  if (end < 0) r.fail(code, `${what}: name at ${at} in "${table.name}" is not NUL-terminated`, where);
  return DECODER.decode(table.data.subarray(at, end));
}

const DECODER = new TextDecoder('utf-8', { fatal: false });

export function readElf(bytes: Uint8Array, file?: string, options: ReadElfOptions = {}): ElfFile {
  const r = new Reader(bytes, file);
  r.need(0, 4, 'ELF identification');
  if (r.u8(0) !== 0x7f || r.u8(1) !== 0x45 || r.u8(2) !== 0x4c || r.u8(3) !== 0x46) {
    r.fail('ELF_BAD_MAGIC', 'not an ELF file (bad magic)', 0);
  }
  r.need(0, EHDR_SIZE, 'ELF header');
  if (r.u8(4) !== 2) r.fail('ELF_BAD_CLASS', `ELF class ${r.u8(4)} is not ELFCLASS64`, 4);
  if (r.u8(5) !== 1) r.fail('ELF_BAD_CLASS', `ELF data encoding ${r.u8(5)} is not little-endian`, 5);
  const type = r.u16(16);
  if (type !== ET_REL) r.fail('ELF_BAD_CLASS', `ELF type ${type} is not a relocatable object (ET_REL)`, 16);
  const machine = r.u16(18);
  if (machine !== EM_BPF && !options.anyMachine) {
    r.fail('ELF_BAD_MACHINE', `machine ${machine} is not EM_BPF (${EM_BPF})`, 18);
  }

  const shoff = toNumber(r, r.u64(40), 'section header offset', 40);
  const shentsize = r.u16(58);
  let shnum = r.u16(60);
  let shstrndx = r.u16(62);
  if (shoff === 0) {
    // No section header table at all: nothing to read, but still a well-formed (empty) object.
    return { ...(file !== undefined ? { file } : {}), machine, sections: [], symbols: [], relocations: new Map() };
  }
  if (shentsize !== SHDR_SIZE) r.fail('ELF_BAD_SECTION', `section header size ${shentsize} is not ${SHDR_SIZE}`, 58);
  r.need(shoff, SHDR_SIZE, 'section header 0');
  // Extended numbering: counts that do not fit in 16 bits live in section header 0.
  if (shnum === 0) shnum = toNumber(r, r.u64(shoff + 32), 'section count', shoff + 32);
  if (shstrndx === SHN_XINDEX) shstrndx = r.u32(shoff + 40);
  r.need(shoff, shnum * SHDR_SIZE, `section header table (${shnum} entries)`);

  const sections: ElfSection[] = [];
  for (let i = 0; i < shnum; i++) {
    const h = shoff + i * SHDR_SIZE;
    const stype = r.u32(h + 4);
    const offset = toNumber(r, r.u64(h + 24), `section ${i} offset`, h + 24);
    const size = toNumber(r, r.u64(h + 32), `section ${i} size`, h + 32);
    let data: Uint8Array = new Uint8Array(0);
    if (stype !== SHT_NOBITS && stype !== SHT_NULL) {
      r.need(offset, size, `section ${i} contents`);
      data = bytes.subarray(offset, offset + size);
    }
    sections.push({
      index: i, name: '', type: stype, flags: r.u64(h + 8), offset, size,
      link: r.u32(h + 40), info: r.u32(h + 44),
      entsize: toNumber(r, r.u64(h + 56), `section ${i} entsize`, h + 56), data,
    });
  }

  if (shnum > 0) {
    const strtab = sections[shstrndx];
    if (strtab === undefined || strtab.type !== SHT_STRTAB) {
      r.fail('ELF_BAD_SECTION', `section name table index ${shstrndx} is not a string table`, 62);
    }
    for (const s of sections) {
      s.name = cstring(r, strtab, r.u32(shoff + s.index * SHDR_SIZE), 'ELF_BAD_SECTION',
        shoff + s.index * SHDR_SIZE, `section ${s.index}`);
    }
  }

  const symbols = readSymbols(r, sections);
  const relocations = readRelocations(r, sections, symbols.length);
  return { ...(file !== undefined ? { file } : {}), machine, sections, symbols, relocations };
}

function readSymbols(r: Reader, sections: ElfSection[]): ElfSymbol[] {
  const symtabs = sections.filter((s) => s.type === SHT_SYMTAB);
  if (symtabs.length === 0) return [];
  const symtab = symtabs[0]!;
  if (symtabs.length > 1) r.fail('ELF_BAD_SECTION', 'more than one symbol table', 0, symtabs[1]!.name);
  if (symtab.entsize !== SYM_SIZE || symtab.size % SYM_SIZE !== 0) {
    r.fail('ELF_BAD_SECTION', `symbol table entry size ${symtab.entsize} / size ${symtab.size} do not fit ${SYM_SIZE}-byte symbols`, 0, symtab.name);
  }
  const strtab = sections[symtab.link];
  if (strtab === undefined || strtab.type !== SHT_STRTAB) {
    r.fail('ELF_BAD_SECTION', `symbol table links to section ${symtab.link}, which is not a string table`, 0, symtab.name);
  }
  const out: ElfSymbol[] = [];
  for (let i = 0; i < symtab.size / SYM_SIZE; i++) {
    const at = symtab.offset + i * SYM_SIZE;
    const info = r.u8(at + 4);
    const shndx = r.u16(at + 6);
    if (shndx !== SHN_UNDEF && shndx < SHN_LORESERVE && shndx >= sections.length) {
      r.fail('ELF_BAD_SYMBOL', `symbol ${i} refers to section ${shndx}, but there are ${sections.length}`, i * SYM_SIZE + 6, symtab.name);
    }
    let name: string;
    try {
      name = cstring(r, strtab, r.u32(at), 'ELF_BAD_SYMBOL', i * SYM_SIZE, `symbol ${i}`);
    } catch (e) {
      if (e instanceof TwinpathError) throw e.within({ section: symtab.name });
      throw e;
    }
    out.push({
      index: i, name, value: r.u64(at + 8), size: r.u64(at + 16),
      type: info & 0xf, bind: info >> 4, shndx,
    });
  }
  return out;
}

function readRelocations(r: Reader, sections: ElfSection[], nsyms: number): Map<number, ElfRelocation[]> {
  const out = new Map<number, ElfRelocation[]>();
  for (const s of sections) {
    if (s.type !== SHT_REL && s.type !== SHT_RELA) continue;
    const rela = s.type === SHT_RELA;
    const esize = rela ? RELA_SIZE : REL_SIZE;
    if (s.size % esize !== 0) {
      r.fail('ELF_BAD_SECTION', `relocation section size ${s.size} is not a multiple of ${esize}`, 0, s.name);
    }
    const target = sections[s.info];
    if (target === undefined || s.info === 0) {
      r.fail('ELF_BAD_RELOC', `relocations apply to section ${s.info}, which does not exist`, 0, s.name);
    }
    const list = out.get(s.info) ?? [];
    for (let i = 0; i < s.size / esize; i++) {
      const at = s.offset + i * esize;
      const offset = r.u64(at);
      const info = r.u64(at + 8);
      const symbol = Number(info >> 32n);
      const type = Number(info & 0xffffffffn);
      if (symbol >= nsyms) {
        r.fail('ELF_BAD_RELOC', `relocation ${i} names symbol ${symbol}, but there are ${nsyms}`, i * esize + 8, s.name);
      }
      if (offset >= BigInt(target.size)) {
        r.fail('ELF_BAD_RELOC', `relocation ${i} at offset ${offset} is outside "${target.name}" (${target.size} bytes)`, i * esize, s.name);
      }
      list.push(rela ? { offset, symbol, type, addend: r.i64(at + 16) } : { offset, symbol, type });
    }
    out.set(s.info, list);
  }
  return out;
}

/** The section with this name, if any (first match: names are unique in clang's output). */
export function sectionByName(elf: ElfFile, name: string): ElfSection | undefined {
  return elf.sections.find((s) => s.name === name);
}

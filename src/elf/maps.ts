// Map specs of an object: BTF-defined maps in `.maps` (read from the BTF layout libbpf's
// __uint/__type/__array macros produce), their initial slots for map-in-map and prog arrays
// (relocations in `.maps`), and global data sections as single-entry array maps with their
// initial bytes and their variables. Only what the object says: creating maps, names in the
// kernel, BPF_F_MMAPABLE and the like are decided at load.

import { TwinpathError, type ErrorLocation } from '../errors.js';
import { findType, resolveType, typeName, typeSize, type Btf, type BtfType } from './btf.js';
import { SHF_ALLOC, SHT_NOBITS, SHT_PROGBITS, STT_FUNC, type ElfFile, type ElfSection } from './elf.js';
import {
  BPF_F_RDONLY_PROG, BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_PROG_ARRAY, isMapInMap, mapTypeInfo, mapTypeName,
} from './map_types.js';

export interface GlobalVariable {
  name: string;
  /** Byte offset in the section's value. */
  offset: number;
  size: number;
  /** BTF type id (0 when the object has no BTF for the section). */
  typeId: number;
  typeName: string;
}

export interface MapSlot {
  index: number;
  /** The inner map (map-in-map) or program (prog array) put in this slot. */
  name: string;
}

export interface MapSpec {
  name: string;
  /** UAPI enum bpf_map_type value. */
  type: number;
  typeName: string;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  /** libbpf pinning: 0 none, 1 by name. */
  pinning: number;
  numaNode?: number;
  mapExtra?: bigint;
  /** BTF ids of key and value when the definition gives types (0 otherwise). */
  keyTypeId: number;
  valueTypeId: number;
  /** The template for inner maps of ARRAY_OF_MAPS / HASH_OF_MAPS. */
  inner?: MapSpec;
  /** Initial slots of a map-in-map or prog array, by index. */
  initial?: MapSlot[];
  /** Set for a global data section. */
  data?: GlobalData;
}

export interface GlobalData {
  section: string;
  readOnly: boolean;
  /** The initial value (zeros for .bss); setGlobal writes into it. */
  contents: Uint8Array;
  variables: GlobalVariable[];
}

const INT_FIELDS = new Set(['type', 'max_entries', 'map_flags', 'numa_node', 'key_size', 'value_size', 'pinning', 'map_extra']);

interface Ctx { elf: ElfFile; btf: Btf; file?: string }

function mapError(ctx: Ctx, detail: string, offset: number, section = '.maps'): never {
  const loc: ErrorLocation = { section, offset };
  if (ctx.file !== undefined) loc.file = ctx.file;
  throw new TwinpathError('ELF_BAD_MAP', detail, loc);
}

/** `int (*name)[N]` encodes N; libbpf's __ulong uses a one-value enum instead. */
function intField(ctx: Ctx, mapName: string, field: string, t: BtfType, at: number): number | bigint {
  if (t.kind === 'ptr') {
    const arr = resolveType(ctx.btf, t.type ?? 0);
    if (arr.kind === 'array') return arr.nelems ?? 0;
  } else if ((t.kind === 'enum' || t.kind === 'enum64') && t.values?.length === 1) {
    return t.values[0]!.value;
  }
  return mapError(ctx, `map "${mapName}": field "${field}" is not an __uint() value`, at);
}

/** Reads one map definition struct. `at` is its offset in `.maps`, for errors. */
function readDefinition(ctx: Ctx, name: string, structId: number, at: number, inner: boolean): { spec: MapSpec; valuesOffset?: number } {
  const st = resolveType(ctx.btf, structId);
  if (st.kind !== 'struct') mapError(ctx, `map "${name}": definition is a ${st.kind}, not a struct`, at);
  const spec: MapSpec = {
    name, type: 0, typeName: '', keySize: 0, valueSize: 0, maxEntries: 0, flags: 0, pinning: 0,
    keyTypeId: 0, valueTypeId: 0,
  };
  let valuesOffset: number | undefined;
  let keySize: number | undefined, valueSize: number | undefined;
  for (const m of st.members ?? []) {
    const mt = resolveType(ctx.btf, m.type);
    if (INT_FIELDS.has(m.name)) {
      const v = intField(ctx, name, m.name, mt, at);
      const n = Number(v);
      switch (m.name) {
        case 'type': spec.type = n; break;
        case 'max_entries': spec.maxEntries = n; break;
        case 'map_flags': spec.flags = n; break;
        case 'numa_node': spec.numaNode = n; break;
        case 'pinning': spec.pinning = n; break;
        case 'map_extra': spec.mapExtra = BigInt(v); break;
        case 'key_size': keySize = n; break;
        case 'value_size': valueSize = n; break;
      }
    } else if (m.name === 'key' || m.name === 'value') {
      if (mt.kind !== 'ptr') mapError(ctx, `map "${name}": ${m.name} is not a __type() pointer`, at);
      const target = mt.type ?? 0;
      let size: number;
      try {
        size = typeSize(ctx.btf, target);
      } catch {
        return mapError(ctx, `map "${name}": ${m.name} type ${typeName(ctx.btf, target)} has no size`, at);
      }
      if (m.name === 'key') { spec.keyTypeId = target; spec.keySize = size; } else { spec.valueTypeId = target; spec.valueSize = size; }
    } else if (m.name === 'values') {
      if (mt.kind !== 'array') mapError(ctx, `map "${name}": values is not an __array()`, at);
      if (m.bitOffset % 64 !== 0) mapError(ctx, `map "${name}": values is not 8-byte aligned`, at);
      valuesOffset = m.bitOffset / 8;
      const ptr = resolveType(ctx.btf, mt.type ?? 0);
      if (ptr.kind !== 'ptr') mapError(ctx, `map "${name}": values elements are not pointers`, at);
      if (inner) mapError(ctx, `map "${name}": an inner map cannot itself have values`, at);
      const def = resolveType(ctx.btf, ptr.type ?? 0);
      if (def.kind === 'struct') spec.inner = readDefinition(ctx, `${name}.inner`, def.id, at, true).spec;
    } else {
      mapError(ctx, `map "${name}": unknown field "${m.name}"`, at);
    }
  }
  const info = mapTypeInfo(spec.type);
  if (!info) mapError(ctx, `map "${name}": unknown map type ${spec.type}`, at);
  spec.typeName = info.name;
  for (const [what, given, fromType] of [['key', keySize, spec.keyTypeId], ['value', valueSize, spec.valueTypeId]] as const) {
    if (given === undefined) continue;
    const have = what === 'key' ? spec.keySize : spec.valueSize;
    if (fromType !== 0 && have !== given) mapError(ctx, `map "${name}": ${what}_size ${given} disagrees with its type's size ${have}`, at);
    if (what === 'key') spec.keySize = given; else spec.valueSize = given;
  }
  if (isMapInMap(spec.type)) {
    if (!spec.inner) mapError(ctx, `map "${name}": ${spec.typeName} needs __array(values, ...) describing its inner map`, at);
    // The value of an outer map is an inner map's id or fd: always 4 bytes.
    if (spec.valueSize === 0) spec.valueSize = 4;
  } else if (spec.inner) {
    delete spec.inner;
  }
  if (spec.type === BPF_MAP_TYPE_PROG_ARRAY && spec.valueSize === 0) spec.valueSize = 4;
  return { spec, ...(valuesOffset !== undefined ? { valuesOffset } : {}) };
}

/** BTF-defined maps from `.maps`, in the order of their offsets in the section. */
export function readBtfMaps(elf: ElfFile, btf: Btf | undefined, file?: string): MapSpec[] {
  const sec = elf.sections.find((s) => s.name === '.maps');
  if (!sec) return [];
  const loc: ErrorLocation = { section: '.maps', offset: 0 };
  if (file !== undefined) loc.file = file;
  if (!btf) throw new TwinpathError('BTF_MISSING', 'BTF-defined maps in ".maps" need a .BTF section', loc);
  const ctx: Ctx = { elf, btf, ...(file !== undefined ? { file } : {}) };
  const datasec = findType(btf, 'datasec', '.maps');
  if (!datasec) throw new TwinpathError('BTF_MISSING', 'no BTF DATASEC describes ".maps"', loc);

  const placed: { spec: MapSpec; offset: number; size: number; valuesOffset?: number }[] = [];
  for (const v of datasec.vars ?? []) {
    const varType = btf.types[v.type]!;
    // clang leaves DATASEC offsets for libbpf to fix up from the symbol table; do the same.
    const sym = elf.symbols.find((s) => s.shndx === sec.index && s.name === varType.name);
    const offset = sym ? Number(sym.value) : v.offset;
    v.offset = offset;
    // A definition with initial values is larger than its type: the flexible `values` array
    // takes room only in the symbol's size.
    const size = Math.max(typeSize(btf, varType.id), sym ? Number(sym.size) : 0);
    if (offset + size > sec.size) mapError(ctx, `map "${varType.name}" (${size} bytes at ${offset}) lies outside ".maps"`, offset);
    const def = readDefinition(ctx, varType.name, varType.type ?? 0, offset, false);
    placed.push({ spec: def.spec, offset, size, ...(def.valuesOffset !== undefined ? { valuesOffset: def.valuesOffset } : {}) });
  }
  placed.sort((a, b) => a.offset - b.offset || (a.spec.name < b.spec.name ? -1 : 1));

  for (const r of elf.relocations.get(sec.index) ?? []) {
    const off = Number(r.offset);
    const relLoc: ErrorLocation = { section: '.maps', offset: off };
    if (file !== undefined) relLoc.file = file;
    const bad = (d: string): never => { throw new TwinpathError('ELF_BAD_RELOC', d, relLoc); };
    const owner = placed.find((p) => off >= p.offset && off < p.offset + p.size);
    if (!owner || owner.valuesOffset === undefined) return bad('relocation in ".maps" outside any map\'s values');
    const rel = off - owner.offset - owner.valuesOffset;
    if (rel < 0 || rel % 8 !== 0) bad(`relocation in map "${owner.spec.name}" is not on a values slot`);
    const sym = elf.symbols[r.symbol]!;
    const spec = owner.spec;
    if (isMapInMap(spec.type)) {
      if (sym.shndx !== sec.index) bad(`map "${spec.name}": slot ${rel / 8} refers to "${sym.name}", which is not a map`);
    } else if (spec.type === BPF_MAP_TYPE_PROG_ARRAY) {
      if (sym.type !== STT_FUNC) bad(`map "${spec.name}": slot ${rel / 8} refers to "${sym.name}", which is not a program`);
    } else {
      bad(`map "${spec.name}" (${spec.typeName}) cannot have initial values`);
    }
    (spec.initial ??= []).push({ index: rel / 8, name: sym.name });
  }
  for (const p of placed) {
    p.spec.initial?.sort((a, b) => a.index - b.index);
    if (p.spec.initial && p.spec.maxEntries > 0 && p.spec.initial.some((s) => s.index >= p.spec.maxEntries)) {
      mapError(ctx, `map "${p.spec.name}": initial values exceed max_entries ${p.spec.maxEntries}`, p.offset);
    }
  }
  return placed.map((p) => p.spec);
}

/** A .bss size is not bounded by the file; a garbled one must not allocate gigabytes. */
const MAX_DATA_SIZE = 64 << 20;

const DATA_SECTION = /^\.(rodata|data|bss)(\..+)?$/;

export function isDataSection(s: ElfSection): boolean {
  return DATA_SECTION.test(s.name) && (s.flags & SHF_ALLOC) !== 0n && (s.type === SHT_PROGBITS || s.type === SHT_NOBITS);
}

/** Global data sections as one-entry arrays, with their variables from BTF (or symbols). */
export function readDataMaps(elf: ElfFile, btf: Btf | undefined): MapSpec[] {
  const out: MapSpec[] = [];
  for (const s of elf.sections) {
    if (!isDataSection(s) || s.size === 0) continue;
    const readOnly = s.name.startsWith('.rodata');
    const variables: GlobalVariable[] = [];
    const datasec = btf ? findType(btf, 'datasec', s.name) : undefined;
    if (btf && datasec) {
      datasec.size = s.size;
      for (const v of datasec.vars ?? []) {
        const vt = btf.types[v.type]!;
        const sym = elf.symbols.find((y) => y.shndx === s.index && y.name === vt.name);
        // As libbpf does: clang leaves DATASEC offsets and size for the loader to fill in from
        // the symbol table, and formatValue needs them right.
        if (sym) v.offset = Number(sym.value);
        variables.push({
          name: vt.name, offset: sym ? Number(sym.value) : v.offset, size: v.size || typeSize(btf, vt.id),
          typeId: vt.type ?? 0, typeName: typeName(btf, vt.type ?? 0),
        });
      }
    } else {
      for (const y of elf.symbols) {
        if (y.shndx !== s.index || y.type !== 1 /* STT_OBJECT */) continue;
        variables.push({ name: y.name, offset: Number(y.value), size: Number(y.size), typeId: 0, typeName: '' });
      }
    }
    variables.sort((a, b) => a.offset - b.offset || (a.name < b.name ? -1 : 1));
    for (const v of variables) {
      if (v.offset + v.size > s.size) {
        throw new TwinpathError('ELF_BAD_SYMBOL', `variable "${v.name}" (${v.size} bytes at ${v.offset}) lies outside the section`,
          { ...(elf.file !== undefined ? { file: elf.file } : {}), section: s.name, offset: v.offset });
      }
    }
    if (s.size > MAX_DATA_SIZE) {
      throw new TwinpathError('ELF_BAD_SECTION', `global data of ${s.size} bytes is more than twinpath supports (${MAX_DATA_SIZE})`,
        { ...(elf.file !== undefined ? { file: elf.file } : {}), section: s.name, offset: 0 });
    }
    const contents = s.type === SHT_NOBITS ? new Uint8Array(s.size) : s.data.slice();
    out.push({
      name: s.name, type: BPF_MAP_TYPE_ARRAY, typeName: mapTypeName(BPF_MAP_TYPE_ARRAY),
      keySize: 4, valueSize: s.size, maxEntries: 1, flags: readOnly ? BPF_F_RDONLY_PROG : 0, pinning: 0,
      keyTypeId: 0, valueTypeId: datasec?.id ?? 0,
      data: { section: s.name, readOnly, contents, variables },
    });
  }
  return out;
}

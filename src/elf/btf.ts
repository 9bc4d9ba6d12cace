// The .BTF reader: header, string table and every type kind the kernel defines (through enum64,
// decl_tag and type_tag), parsed into plain records indexed by type id; plus the few queries the
// loader and the tools need (resolve through modifiers, size of a type, a readable type name) and
// a generic pretty-printer for values. Every offset and every type reference is checked here, at
// parse time, so the queries can trust the table and a garbled section fails with BTF_BAD and the
// byte offset in the section.

import { TwinpathError } from '../errors.js';

export const BTF_MAGIC = 0xeb9f;

export const BTF_KIND = {
  UNKN: 0, INT: 1, PTR: 2, ARRAY: 3, STRUCT: 4, UNION: 5, ENUM: 6, FWD: 7, TYPEDEF: 8,
  VOLATILE: 9, CONST: 10, RESTRICT: 11, FUNC: 12, FUNC_PROTO: 13, VAR: 14, DATASEC: 15,
  FLOAT: 16, DECL_TAG: 17, TYPE_TAG: 18, ENUM64: 19,
} as const;

const KIND_NAMES = ['void', 'int', 'ptr', 'array', 'struct', 'union', 'enum', 'fwd', 'typedef',
  'volatile', 'const', 'restrict', 'func', 'func_proto', 'var', 'datasec', 'float', 'decl_tag',
  'type_tag', 'enum64'] as const;
export type BtfKindName = (typeof KIND_NAMES)[number];

export const BTF_INT_SIGNED = 1;
export const BTF_INT_CHAR = 2;
export const BTF_INT_BOOL = 4;

export interface BtfMember { name: string; type: number; /** in bits */ bitOffset: number; /** 0 unless a bitfield */ bitSize: number }
export interface BtfEnumValue { name: string; value: bigint }
export interface BtfParam { name: string; type: number }
export interface BtfVarSecInfo { type: number; offset: number; size: number }

/** One BTF type. `type` is the referenced type id where the kind has one (0 = void). */
export interface BtfType {
  id: number;
  kind: BtfKindName;
  name: string;
  /** Byte offset of this type's record in the .BTF section, for error messages. */
  offset: number;
  size?: number;
  type?: number;
  /** int: encoding flags (BTF_INT_*), bit offset and width. */
  encoding?: number;
  bitOffset?: number;
  bits?: number;
  /** array */
  indexType?: number;
  nelems?: number;
  members?: BtfMember[];
  values?: BtfEnumValue[];
  signed?: boolean;
  params?: BtfParam[];
  /** func and var linkage (static, global, extern). */
  linkage?: number;
  vars?: BtfVarSecInfo[];
  /** decl_tag: -1 for the declaration itself, else the member/param index. */
  componentIdx?: number;
  /** fwd: true when it declares a union. */
  union?: boolean;
}

export interface Btf {
  /** types[0] is void; ids index this array directly. */
  types: BtfType[];
  /** The raw string section, for readers of .BTF.ext which point into it. */
  strings: Uint8Array;
}

const DECODER = new TextDecoder('utf-8', { fatal: false });
const HEADER_MIN = 24;

function bad(detail: string, offset: number, file?: string): never {
  throw new TwinpathError('BTF_BAD', detail, { ...(file !== undefined ? { file } : {}), section: '.BTF', offset });
}

/** A string from the BTF string table; `at` is where the reference sits, for the error. */
export function btfString(strings: Uint8Array, off: number, at: number, file?: string, section = '.BTF'): string {
  if (off >= strings.length) {
    if (off === 0) return '';
    throw new TwinpathError('BTF_BAD', `string offset ${off} is outside the string table (${strings.length} bytes)`,
      { ...(file !== undefined ? { file } : {}), section, offset: at });
  }
  const end = strings.indexOf(0, off);
  if (end < 0) {
    throw new TwinpathError('BTF_BAD', `string at ${off} is not NUL-terminated`, { ...(file !== undefined ? { file } : {}), section, offset: at });
  }
  return DECODER.decode(strings.subarray(off, end));
}

export function parseBtf(data: Uint8Array, file?: string): Btf {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (data.length < HEADER_MIN) bad(`header needs ${HEADER_MIN} bytes, section has ${data.length}`, 0, file);
  const magic = view.getUint16(0, true);
  if (magic !== BTF_MAGIC) bad(`bad magic 0x${magic.toString(16)} (big-endian BTF is not supported)`, 0, file);
  if (view.getUint8(2) !== 1) bad(`unsupported BTF version ${view.getUint8(2)}`, 2, file);
  const hdrLen = view.getUint32(4, true);
  if (hdrLen < HEADER_MIN || hdrLen > data.length) bad(`header length ${hdrLen} is out of range`, 4, file);
  const typeOff = view.getUint32(8, true), typeLen = view.getUint32(12, true);
  const strOff = view.getUint32(16, true), strLen = view.getUint32(20, true);
  const tStart = hdrLen + typeOff, sStart = hdrLen + strOff;
  if (tStart + typeLen > data.length) bad(`type section (${typeLen} bytes at ${tStart}) is past the end`, 8, file);
  if (sStart + strLen > data.length) bad(`string section (${strLen} bytes at ${sStart}) is past the end`, 16, file);
  const strings = data.subarray(sStart, sStart + strLen);
  if (strLen > 0 && strings[strLen - 1] !== 0) bad('string section does not end with NUL', sStart + strLen - 1, file);

  const str = (off: number, at: number): string => btfString(strings, off, at, file);
  const types: BtfType[] = [{ id: 0, kind: 'void', name: '', offset: 0 }];
  const end = tStart + typeLen;
  let p = tStart;
  const need = (n: number, what: string): void => {
    if (p + n > end) bad(`${what} needs ${n} bytes, ${end - p} left in the type section`, p, file);
  };
  while (p < end) {
    need(12, 'type record');
    const at = p;
    const nameOff = view.getUint32(p, true), info = view.getUint32(p + 4, true), sizeOrType = view.getUint32(p + 8, true);
    p += 12;
    const vlen = info & 0xffff, kindNum = (info >>> 24) & 0x1f, kflag = (info >>> 31) === 1;
    const kind = KIND_NAMES[kindNum];
    if (kind === undefined || kindNum === 0) bad(`type ${types.length}: unknown kind ${kindNum}`, at + 4, file);
    const t: BtfType = { id: types.length, kind, name: str(nameOff, at), offset: at };
    switch (kindNum) {
      case BTF_KIND.INT: {
        need(4, 'int encoding');
        const enc = view.getUint32(p, true); p += 4;
        t.size = sizeOrType; t.encoding = (enc >>> 24) & 0xf; t.bitOffset = (enc >>> 16) & 0xff; t.bits = enc & 0xff;
        if (t.bits > 128 || t.bits + t.bitOffset > sizeOrType * 8 || sizeOrType > 16) bad(`type ${t.id}: bad int encoding`, at, file);
        break;
      }
      case BTF_KIND.PTR: case BTF_KIND.TYPEDEF: case BTF_KIND.VOLATILE: case BTF_KIND.CONST:
      case BTF_KIND.RESTRICT: case BTF_KIND.TYPE_TAG: case BTF_KIND.FUNC:
        t.type = sizeOrType;
        if (kindNum === BTF_KIND.FUNC) t.linkage = vlen;
        break;
      case BTF_KIND.FWD:
        t.union = kflag;
        break;
      case BTF_KIND.ARRAY:
        need(12, 'array record');
        t.type = view.getUint32(p, true); t.indexType = view.getUint32(p + 4, true); t.nelems = view.getUint32(p + 8, true);
        p += 12;
        break;
      case BTF_KIND.STRUCT: case BTF_KIND.UNION:
        need(12 * vlen, 'members');
        t.size = sizeOrType; t.members = [];
        for (let i = 0; i < vlen; i++, p += 12) {
          const off = view.getUint32(p + 8, true);
          t.members.push({
            name: str(view.getUint32(p, true), p), type: view.getUint32(p + 4, true),
            bitOffset: kflag ? off & 0xffffff : off, bitSize: kflag ? off >>> 24 : 0,
          });
        }
        break;
      case BTF_KIND.ENUM:
        need(8 * vlen, 'enum values');
        t.size = sizeOrType; t.signed = kflag; t.values = [];
        for (let i = 0; i < vlen; i++, p += 8) {
          const v = kflag ? view.getInt32(p + 4, true) : view.getUint32(p + 4, true);
          t.values.push({ name: str(view.getUint32(p, true), p), value: BigInt(v) });
        }
        break;
      case BTF_KIND.ENUM64:
        need(12 * vlen, 'enum64 values');
        t.size = sizeOrType; t.signed = kflag; t.values = [];
        for (let i = 0; i < vlen; i++, p += 12) {
          let v = (BigInt(view.getUint32(p + 8, true)) << 32n) | BigInt(view.getUint32(p + 4, true));
          if (kflag) v = BigInt.asIntN(64, v);
          t.values.push({ name: str(view.getUint32(p, true), p), value: v });
        }
        break;
      case BTF_KIND.FUNC_PROTO:
        need(8 * vlen, 'parameters');
        t.type = sizeOrType; t.params = [];
        for (let i = 0; i < vlen; i++, p += 8) t.params.push({ name: str(view.getUint32(p, true), p), type: view.getUint32(p + 4, true) });
        break;
      case BTF_KIND.VAR:
        need(4, 'var linkage');
        t.type = sizeOrType; t.linkage = view.getUint32(p, true); p += 4;
        break;
      case BTF_KIND.DATASEC:
        need(12 * vlen, 'datasec variables');
        t.size = sizeOrType; t.vars = [];
        for (let i = 0; i < vlen; i++, p += 12) {
          t.vars.push({ type: view.getUint32(p, true), offset: view.getUint32(p + 4, true), size: view.getUint32(p + 8, true) });
        }
        break;
      case BTF_KIND.FLOAT:
        t.size = sizeOrType;
        if (![2, 4, 8, 12, 16].includes(sizeOrType)) bad(`type ${t.id}: float of size ${sizeOrType}`, at, file);
        break;
      case BTF_KIND.DECL_TAG:
        need(4, 'decl_tag component');
        t.type = sizeOrType; t.componentIdx = view.getInt32(p, true); p += 4;
        break;
    }
    types.push(t);
  }
  checkReferences(types, file);
  return { types, strings };
}

/** Every reference must name an existing type, so that later walks need no checks. */
function checkReferences(types: BtfType[], file?: string): void {
  const n = types.length;
  const check = (t: BtfType, id: number | undefined, what: string): void => {
    if (id !== undefined && id >= n) bad(`type ${t.id} (${t.kind} "${t.name}"): ${what} refers to type ${id}, but the last is ${n - 1}`, t.offset, file);
  };
  for (const t of types) {
    check(t, t.type, 'type');
    check(t, t.indexType, 'index type');
    for (const m of t.members ?? []) check(t, m.type, `member "${m.name}"`);
    for (const a of t.params ?? []) check(t, a.type, `parameter "${a.name}"`);
    for (const v of t.vars ?? []) {
      check(t, v.type, 'variable');
      if (types[v.type]?.kind !== 'var' && types[v.type]?.kind !== 'func') bad(`type ${t.id}: datasec entry ${v.type} is not a variable`, t.offset, file);
    }
  }
}

const MODIFIERS = new Set<BtfKindName>(['typedef', 'volatile', 'const', 'restrict', 'type_tag']);

/** Follows typedefs and qualifiers; a chain longer than the table is a loop. */
export function resolveType(btf: Btf, id: number): BtfType {
  let t = btf.types[id];
  for (let steps = 0; t !== undefined && MODIFIERS.has(t.kind); steps++) {
    if (steps > btf.types.length) bad(`type ${id}: modifier loop`, t.offset);
    t = btf.types[t.type ?? 0];
  }
  if (t === undefined) bad(`type ${id} does not exist`, 0);
  return t;
}

/** Size in bytes of a value of this type, as the kernel computes it. */
export function typeSize(btf: Btf, id: number, depth = 0): number {
  if (depth > 64) bad(`type ${id}: nested too deeply`, btf.types[id]?.offset ?? 0);
  const t = resolveType(btf, id);
  switch (t.kind) {
    case 'int': case 'struct': case 'union': case 'enum': case 'enum64': case 'float': case 'datasec':
      return t.size ?? 0;
    case 'ptr':
      return 8;
    case 'array':
      return (t.nelems ?? 0) * typeSize(btf, t.type ?? 0, depth + 1);
    case 'var':
      return typeSize(btf, t.type ?? 0, depth + 1);
    default:
      bad(`type ${id} (${t.kind}) has no size`, t.offset);
  }
}

/** A C-like spelling of a type, for people: `struct flow_key`, `__u32`, `__u8[4]`, `void *`. */
export function typeName(btf: Btf, id: number, depth = 0): string {
  const t = btf.types[id];
  if (t === undefined) return `<type ${id}>`;
  if (depth > 16) return '...';
  switch (t.kind) {
    case 'void': return 'void';
    case 'struct': case 'union': case 'enum': case 'enum64':
      return `${t.kind === 'enum64' ? 'enum' : t.kind} ${t.name || '(anon)'}`;
    case 'fwd': return `${t.union ? 'union' : 'struct'} ${t.name}`;
    case 'ptr': return `${typeName(btf, t.type ?? 0, depth + 1)} *`;
    case 'array': return `${typeName(btf, t.type ?? 0, depth + 1)}[${t.nelems}]`;
    case 'const': case 'volatile': case 'restrict':
      return `${t.kind} ${typeName(btf, t.type ?? 0, depth + 1)}`;
    case 'type_tag': return typeName(btf, t.type ?? 0, depth + 1);
    case 'func_proto': return 'func_proto';
    default: return t.name || t.kind;
  }
}

/** The first named type of a kind, e.g. findType(btf, 'datasec', '.rodata'). */
export function findType(btf: Btf, kind: BtfKindName, name: string): BtfType | undefined {
  return btf.types.find((t) => t.kind === kind && t.name === name);
}

function readUint(bytes: Uint8Array, off: number, size: number): bigint {
  let v = 0n;
  for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[off + i] ?? 0);
  return v;
}

function hex(v: bigint): string {
  return `0x${v.toString(16)}`;
}

/**
 * Renders the bytes of a value of type `id`, generically and deterministically: integers in
 * decimal except 64-bit unsigned ones and pointers (hex, as addresses and cookies usually are),
 * enums by name, structs as `{ .a = 1, .b = 2 }`, arrays as `[1, 2]`, char arrays as strings.
 */
export function formatValue(btf: Btf, id: number, bytes: Uint8Array): string {
  const size = typeSize(btf, id);
  if (bytes.length < size) bad(`value of ${typeName(btf, id)} needs ${size} bytes, got ${bytes.length}`, btf.types[id]?.offset ?? 0);
  return fmt(btf, id, bytes, 0, 0, { left: FORMAT_BUDGET });
}

/**
 * Garbled BTF can describe values whose rendering explodes (a struct of 65535 members, each a
 * struct of 65535 members at offset 0); a budget of rendered parts keeps that from hanging.
 */
const FORMAT_BUDGET = 1 << 20;

function fmt(btf: Btf, id: number, b: Uint8Array, off: number, depth: number, budget: { left: number }): string {
  if (depth > 32) return '...';
  if (--budget.left < 0) bad('value is too complex to format', btf.types[id]?.offset ?? 0);
  const t = resolveType(btf, id);
  switch (t.kind) {
    case 'int': return fmtInt(t, b, off, 0, 0);
    case 'ptr': return hex(readUint(b, off, 8));
    case 'float': {
      const size = t.size ?? 0;
      // A garbled DATASEC may place a variable past the value; read nothing outside it.
      if (off + size > b.length) return hex(readUint(b, off, size));
      const dv = new DataView(b.buffer, b.byteOffset + off, size);
      return t.size === 4 ? String(dv.getFloat32(0, true)) : t.size === 8 ? String(dv.getFloat64(0, true)) : hex(readUint(b, off, t.size ?? 0));
    }
    case 'enum': case 'enum64': {
      let v = readUint(b, off, t.size ?? 4);
      if (t.signed) v = BigInt.asIntN((t.size ?? 4) * 8, v);
      const named = t.values?.find((e) => e.value === v || BigInt.asUintN((t.size ?? 4) * 8, e.value) === v);
      return named ? named.name : String(v);
    }
    case 'array': {
      const elem = resolveType(btf, t.type ?? 0);
      const n = t.nelems ?? 0;
      const esz = typeSize(btf, t.type ?? 0);
      if (elem.kind === 'int' && esz === 1 && ((elem.encoding ?? 0) & BTF_INT_CHAR || elem.name === 'char')) {
        const s = b.subarray(off, off + n);
        const z = s.indexOf(0);
        const text = s.subarray(0, z < 0 ? n : z);
        if (text.every((c) => c >= 0x20 && c < 0x7f) && (z < 0 || s.subarray(z).every((c) => c === 0))) {
          return JSON.stringify(DECODER.decode(text));
        }
      }
      if (esz === 0) return '[]';
      const parts: string[] = [];
      for (let i = 0; i < n; i++) parts.push(fmt(btf, t.type ?? 0, b, off + i * esz, depth + 1, budget));
      return `[${parts.join(', ')}]`;
    }
    case 'struct': case 'union': {
      const parts: string[] = [];
      for (const m of t.members ?? []) {
        const byteOff = off + Math.floor(m.bitOffset / 8);
        const mt = resolveType(btf, m.type);
        let text: string;
        if (m.bitSize > 0 || m.bitOffset % 8 !== 0) {
          text = fmtBits(mt, b, off, m.bitOffset, m.bitSize || (mt.bits ?? (mt.size ?? 0) * 8));
        } else {
          text = fmt(btf, m.type, b, byteOff, depth + 1, budget);
        }
        parts.push(m.name ? `.${m.name} = ${text}` : text);
      }
      return parts.length ? `{ ${parts.join(', ')} }` : '{}';
    }
    case 'datasec': {
      const parts = (t.vars ?? []).map((v) => `.${btf.types[v.type]?.name} = ${fmt(btf, v.type, b, off + v.offset, depth + 1, budget)}`);
      return parts.length ? `{ ${parts.join(', ')} }` : '{}';
    }
    case 'var': return fmt(btf, t.type ?? 0, b, off, depth + 1, budget);
    default: return `<${t.kind}>`;
  }
}

function fmtInt(t: BtfType, b: Uint8Array, off: number, _bitOff: number, _bits: number): string {
  const size = t.size ?? 0;
  const bits = t.bits ?? size * 8;
  let v = readUint(b, off, size) >> BigInt(t.bitOffset ?? 0);
  v = BigInt.asUintN(bits, v);
  const enc = t.encoding ?? 0;
  if (enc & BTF_INT_BOOL) return v === 0n ? 'false' : 'true';
  if (enc & BTF_INT_SIGNED) return String(BigInt.asIntN(bits, v));
  if (bits === 64) return hex(v);
  return String(v);
}

/** A bitfield: `bits` bits starting `bitOff` bits into the containing struct at `off`. */
function fmtBits(t: BtfType, b: Uint8Array, off: number, bitOff: number, bits: number): string {
  const first = off + Math.floor(bitOff / 8);
  const span = Math.ceil(((bitOff % 8) + bits) / 8);
  let v = readUint(b, first, span) >> BigInt(bitOff % 8);
  v = BigInt.asUintN(bits, v);
  if (t.kind === 'int' && (t.encoding ?? 0) & BTF_INT_SIGNED) return String(BigInt.asIntN(bits, v));
  if (t.kind === 'enum' || t.kind === 'enum64') return t.values?.find((e) => e.value === v)?.name ?? String(v);
  return String(v);
}

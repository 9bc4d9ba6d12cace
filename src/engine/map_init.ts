// Map contents written before the first packet (`twinpath run --map-init FILE`), the same in
// every engine: a JSON object from map name to a list of entries `{ "key": K, "value": V }`.
// Owns the file's shape, turning keys and values into bytes against the object's map specs and
// BTF, and writing them into an EngineObject; bad input is refused as a whole, before anything is
// written, with the file and the JSON path of the bad part.
//
// A key or value is one of:
//   - a number (or a decimal/0x string of one) for a 1, 2, 4 or 8-byte key or value: little-endian
//     as the BPF target stores it;
//   - hex bytes of exactly the size ("0a000001", spaces allowed), as bpftool prints them (a
//     string of digits exactly twice the size long is read as hex, not as a decimal number);
//   - an object of fields, for a struct (or union) key or value described by BTF: each member a
//     number, hex bytes of its size, an array for an array member, or a nested object; members
//     not named are zero;
//   - for a PROG_ARRAY value `{ "program": NAME }`, for an ARRAY_OF_MAPS / HASH_OF_MAPS value
//     `{ "map": NAME }`: what the engine uses to name that program or map (fd or VM handle).
// QUEUE and STACK entries have no key: their values are pushed in order.

import { readInputText } from '../util/files.js';
import { TwinpathError } from '../errors.js';
import { resolveType, typeSize, type Btf } from '../elf/btf.js';
import type { MapSpec, ObjectSpec } from '../elf/object.js';
import type { EngineObject } from './engine.js';

const PROG_ARRAY = 3;
const ARRAY_OF_MAPS = 12;
const HASH_OF_MAPS = 13;
const QUEUE = 22;
const STACK = 23;

/** A value that an engine resolves: bytes, or a reference to a program or map of the object. */
export type InitValue = Uint8Array | { program: string } | { map: string };

export interface MapInitEntry {
  map: string;
  /** undefined for QUEUE and STACK (push). */
  key?: Uint8Array;
  value: InitValue;
  /** The JSON path of the entry, for errors when writing it. */
  path: string;
}

export interface MapInit {
  file: string;
  entries: MapInitEntry[];
}

/** Reads and checks a map-init file against the object. */
export function readMapInit(file: string, spec: ObjectSpec): MapInit {
  return parseMapInit(readInputText(file), file, spec);
}

export function parseMapInit(text: string, file: string, spec: ObjectSpec): MapInit {
  const bad = (path: string, detail: string): never => {
    throw new TwinpathError('MAP_INIT_BAD', detail, { file, path });
  };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    bad('$', `not JSON: ${(e as Error).message}`);
  }
  if (!isObject(json)) bad('$', 'expected an object from map name to a list of entries');
  const entries: MapInitEntry[] = [];
  for (const [name, list] of Object.entries(json as Record<string, unknown>)) {
    const at = `$${pathKey(name)}`;
    const m = spec.maps.find((x) => x.name === name);
    if (!m) bad(at, `no map "${name}" in the object (maps: ${spec.maps.map((x) => x.name).join(', ') || 'none'})`);
    if (!Array.isArray(list)) bad(at, 'expected a list of entries');
    (list as unknown[]).forEach((entry, i) => {
      const path = `${at}[${i}]`;
      if (!isObject(entry)) bad(path, 'expected an object { "key": ..., "value": ... }');
      const e = entry as Record<string, unknown>;
      for (const k of Object.keys(e)) if (k !== 'key' && k !== 'value') bad(`${path}.${k}`, 'unknown field (an entry has "key" and "value")');
      if (!('value' in e)) bad(path, 'missing "value"');
      const keyless = m!.type === QUEUE || m!.type === STACK;
      if (keyless && 'key' in e) bad(`${path}.key`, `${m!.typeName} entries have no key (values are pushed in order)`);
      if (!keyless && !('key' in e)) bad(path, 'missing "key"');
      const key = keyless ? undefined : encode(e.key, m!.keySize, m!.keyTypeId, spec.btf, `${path}.key`, bad);
      const value = initValue(e.value, m!, spec, `${path}.value`, bad);
      entries.push({ map: name, ...(key ? { key } : {}), value, path });
    });
  }
  return { file, entries };
}

function initValue(v: unknown, m: MapSpec, spec: ObjectSpec, path: string, bad: (p: string, d: string) => never): InitValue {
  if (m.type === PROG_ARRAY) {
    if (!isObject(v) || typeof (v as { program?: unknown }).program !== 'string' || Object.keys(v as object).length !== 1) {
      bad(path, 'a PROG_ARRAY value is { "program": NAME }');
    }
    const name = (v as { program: string }).program;
    if (!spec.programs.some((p) => p.name === name)) bad(`${path}.program`, `no program "${name}" (programs: ${spec.programs.map((p) => p.name).join(', ')})`);
    return { program: name };
  }
  if (m.type === ARRAY_OF_MAPS || m.type === HASH_OF_MAPS) {
    if (!isObject(v) || typeof (v as { map?: unknown }).map !== 'string' || Object.keys(v as object).length !== 1) {
      bad(path, `a ${m.typeName} value is { "map": NAME }`);
    }
    const name = (v as { map: string }).map;
    if (!spec.maps.some((x) => x.name === name)) bad(`${path}.map`, `no map "${name}"`);
    return { map: name };
  }
  return encode(v, m.valueSize, m.valueTypeId, spec.btf, path, bad);
}

/** A JSON key or value as `size` bytes, by the rules in the header. */
function encode(v: unknown, size: number, typeId: number, btf: Btf | undefined, path: string, bad: (p: string, d: string) => never): Uint8Array {
  const out = new Uint8Array(size);
  put(out, 0, size, v, typeId, btf, path, bad);
  return out;
}

function put(out: Uint8Array, at: number, size: number, v: unknown, typeId: number, btf: Btf | undefined,
  path: string, bad: (p: string, d: string) => never): void {
  if (typeof v === 'number' || (typeof v === 'string' && /^-?(0x[0-9a-f]+|\d+)$/i.test(v.trim()) && !isHexOfSize(v, size))) {
    const n = integer(v, path, bad);
    if (![1, 2, 4, 8].includes(size)) bad(path, `a number fits keys and values of 1, 2, 4 or 8 bytes; this one is ${size} (give hex bytes or fields)`);
    const limit = 1n << BigInt(size * 8);
    if (n >= limit || n < -(limit >> 1n)) bad(path, `${String(v)} does not fit ${size} bytes`);
    const u = BigInt.asUintN(size * 8, n);
    for (let i = 0; i < size; i++) out[at + i] = Number((u >> BigInt(8 * i)) & 0xffn);
    return;
  }
  if (typeof v === 'string') {
    const hex = v.replace(/\s+/g, '');
    if (!/^([0-9a-f]{2})*$/i.test(hex)) bad(path, `"${v}" is neither a number nor hex bytes`);
    if (hex.length / 2 !== size) bad(path, `hex gives ${hex.length / 2} bytes, ${size} are needed`);
    out.set(Buffer.from(hex, 'hex'), at);
    return;
  }
  if (Array.isArray(v)) {
    const t = btf && typeId ? resolveType(btf, typeId) : undefined;
    if (!t || t.kind !== 'array') bad(path, 'a list fits only an array (by BTF)');
    const n = t!.nelems ?? 0;
    if (v.length > n) bad(path, `${v.length} elements for an array of ${n}`);
    const esz = typeSize(btf!, t!.type ?? 0);
    v.forEach((x, i) => put(out, at + i * esz, esz, x, t!.type ?? 0, btf, `${path}[${i}]`, bad));
    return;
  }
  if (isObject(v)) {
    const t = btf && typeId ? resolveType(btf, typeId) : undefined;
    if (!t || (t.kind !== 'struct' && t.kind !== 'union')) bad(path, 'fields fit only a struct or union key or value (described by BTF)');
    for (const [name, x] of Object.entries(v as Record<string, unknown>)) {
      const mem = t!.members?.find((mm) => mm.name === name);
      if (!mem) bad(`${path}${pathKey(name)}`, `no member "${name}" (members: ${t!.members?.map((mm) => mm.name).join(', ')})`);
      if (mem!.bitSize || mem!.bitOffset % 8) bad(`${path}${pathKey(name)}`, 'bitfield members cannot be set');
      const msz = typeSize(btf!, mem!.type);
      put(out, at + mem!.bitOffset / 8, msz, x, mem!.type, btf, `${path}${pathKey(name)}`, bad);
    }
    return;
  }
  bad(path, 'expected a number, hex bytes, a list or an object of fields');
}

function isHexOfSize(v: string, size: number): boolean {
  // "01000000" for a 4-byte key is hex, not the decimal 1000000.
  const t = v.trim();
  return /^[0-9a-f]+$/i.test(t) && t.length === size * 2 && size > 1;
}

function integer(v: unknown, path: string, bad: (p: string, d: string) => never): bigint {
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) bad(path, `${v} is not a whole number (write large values as a string)`);
    return BigInt(v);
  }
  const t = (v as string).trim();
  return t.startsWith('-') ? -BigInt(t.slice(1)) : BigInt(t);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function pathKey(name: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(name) ? `.${name}` : `[${JSON.stringify(name)}]`;
}

/** Writes the entries into an opened object, in file order. The engine resolves references. */
export function applyMapInit(o: EngineObject, init: MapInit): void {
  for (const e of init.entries) {
    let value: Uint8Array;
    if (e.value instanceof Uint8Array) {
      value = e.value;
    } else {
      const ref = 'program' in e.value ? o.programRef?.(e.value.program) : o.mapRef?.(e.value.map);
      if (ref === undefined) {
        throw new TwinpathError('MAP_INIT_BAD', `the ${o.engine} engine cannot name ${'program' in e.value ? `program "${e.value.program}"` : `map "${e.value.map}"`} in a map`, { file: init.file, path: `${e.path}.value` });
      }
      value = new Uint8Array(4);
      new DataView(value.buffer).setUint32(0, ref, true);
    }
    const m = o.map(e.map);
    try {
      if (e.key === undefined) {
        if (!m.push) throw new TwinpathError('MAP_INIT_BAD', 'this engine cannot push into the map', { file: init.file, path: e.path });
        m.push(value);
      } else {
        m.update(e.key, value);
      }
    } catch (err) {
      if (err instanceof TwinpathError && err.code === 'MAP_INIT_BAD') throw err;
      const why = err instanceof Error ? (err as { detail?: string }).detail ?? err.message : String(err);
      throw new TwinpathError('MAP_INIT_BAD', `${o.engine} engine refused the entry: ${why}`, { file: init.file, path: e.path }, { cause: err });
    }
  }
}

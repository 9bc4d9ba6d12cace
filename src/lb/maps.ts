// The load-balancer model as bytes in the maps of bpf/lib/lb.h: pure encoders (lbSmallEntries,
// maglevRows; lbMapEntries for everything as single entries) and the writers that put them into
// an opened object of either engine in bulk (writeLbContents for a fresh object, writeLbMaps to
// replace a model). Layouts
// are lb.h's structs; numbers are host order (little-endian, as BPF and wasm32 run here) except
// addresses and ports, which stay in network order as the packet carries them.
//
// The conntrack and affinity maps are runtime state and are never written here, so flows keep
// their backends when a new model replaces an old one.

import type { EngineObject } from '../engine/engine.js';
import { updateEntries, writeArrayValues, type BulkMap } from '../engine/bulk.js';
import { TwinpathError } from '../errors.js';
import { parseAddr } from './addr.js';
import { maglevTable } from './maglev.js';
import { LB_PROTO, type LbBackend, type LbModel } from './model.js';

/** Map names, as lb.h defines them. */
export const LB_MAPS = {
  services4: 'lb4_services',
  services6: 'lb6_services',
  maglev: 'lb_maglev',
  backends4: 'lb4_backends',
  backends6: 'lb6_backends',
  revNat4: 'lb4_reverse_nat',
  revNat6: 'lb6_reverse_nat',
  affinity4: 'lb4_affinity',
  affinity6: 'lb6_affinity',
  affinityMatch: 'lb_aff_match',
  ct4: 'lb4_ct',
  ct6: 'lb6_ct',
} as const;

/** The global holding the Maglev table size (lb.h `lb_maglev_table_size`). */
export const LB_TABLE_SIZE_GLOBAL = 'lb_maglev_table_size';

/** Key and value sizes of the maps this module writes (struct sizes in lb.h). */
export const LB_MAP_LAYOUT: Record<string, { key: number; value: number }> = {
  [LB_MAPS.services4]: { key: 8, value: 16 },
  [LB_MAPS.services6]: { key: 20, value: 16 },
  [LB_MAPS.maglev]: { key: 4, value: 4 },
  [LB_MAPS.backends4]: { key: 4, value: 8 },
  [LB_MAPS.backends6]: { key: 4, value: 20 },
  [LB_MAPS.revNat4]: { key: 2, value: 8 },
  [LB_MAPS.revNat6]: { key: 2, value: 20 },
  [LB_MAPS.affinityMatch]: { key: 8, value: 1 },
};

export type Entry = [Uint8Array, Uint8Array];
export type LbEntries = Record<string, Entry[]>;

function addrBytes(a: string): Uint8Array {
  const b = parseAddr(a);
  if (!b) throw new TwinpathError('LB_ERROR', `"${a}" is not an IP address`);
  return b;
}

function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n >>> 0, true);
  return b;
}

function u16(n: number): Uint8Array {
  const b = new Uint8Array(2);
  new DataView(b.buffer).setUint16(0, n, true);
  return b;
}

/** struct lb4_key / lb6_key. */
export function encodeServiceKey(address: string, port: number, proto: number): Uint8Array {
  const a = addrBytes(address);
  const b = new Uint8Array(a.length + 4);
  b.set(a, 0);
  new DataView(b.buffer).setUint16(a.length, port); // network order
  b[a.length + 2] = proto;
  return b;
}

/** struct lb_service. */
export function encodeService(v: { serviceId: number; affinityTimeout: number; count: number; flags: number; revNat: number }): Uint8Array {
  const b = new Uint8Array(16);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, v.serviceId, true);
  dv.setUint32(4, v.affinityTimeout, true);
  dv.setUint16(8, v.count, true);
  dv.setUint16(10, v.flags, true);
  dv.setUint16(12, v.revNat, true);
  return b;
}

/** struct lb4_backend / lb6_backend. */
export function encodeBackend(be: Pick<LbBackend, 'address' | 'port' | 'protocol'>): Uint8Array {
  const a = addrBytes(be.address);
  const b = new Uint8Array(a.length + 4);
  b.set(a, 0);
  new DataView(b.buffer).setUint16(a.length, be.port);
  b[a.length + 2] = LB_PROTO[be.protocol];
  return b;
}

/** struct lb4_rev_nat / lb6_rev_nat. */
export function encodeRevNat(address: string, port: number): Uint8Array {
  const a = addrBytes(address);
  const b = new Uint8Array(a.length + 4);
  b.set(a, 0);
  new DataView(b.buffer).setUint16(a.length, port);
  return b;
}

/** struct lb_affinity_match. */
export function encodeAffinityMatch(backendId: number, serviceId: number): Uint8Array {
  const b = new Uint8Array(8);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, backendId, true);
  dv.setUint32(4, serviceId, true);
  return b;
}

/** The Maglev array's contents for a model: rows 0 .. rows - 1 (a row per service group id, in
 * id order), `tableSize` backend ids each, row-major; a group without backends has a row of
 * zeros (no frontend of it ever reads one: its count is 0). */
export interface MaglevRows {
  tableSize: number;
  rows: number;
  slots: Uint32Array;
}

export function maglevRows(model: LbModel): MaglevRows {
  const size = model.maglevTableSize;
  const rows = model.services.reduce((mx, s) => Math.max(mx, s.id + 1), 0);
  const slots = new Uint32Array(rows * size);
  const backends = new Map(model.backends.map((b) => [b.id, b]));
  for (const s of model.services) {
    if (s.backendIds.length === 0) continue;
    const keys = s.backendIds.map((id) => {
      const b = backends.get(id);
      if (!b) throw new TwinpathError('LB_ERROR', `service group ${s.id} names backend ${id}, which the model does not have`);
      return b.key;
    });
    const table = maglevTable(keys, size);
    const base = s.id * size;
    for (let slot = 0; slot < size; slot++) slots[base + slot] = s.backendIds[table[slot]!]!;
  }
  return { tableSize: size, rows, slots };
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The rows as the array's values, back to back (u32, little-endian as BPF here stores them). */
export function maglevBytes(m: MaglevRows): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(m.slots.buffer, m.slots.byteOffset, m.slots.byteLength);
  const out = new Uint8Array(m.slots.length * 4);
  const dv = new DataView(out.buffer);
  m.slots.forEach((v, i) => dv.setUint32(4 * i, v, true));
  return out;
}

/** The entries of every lb.h map this module writes except the Maglev array (maglevRows). */
export function lbSmallEntries(model: LbModel): LbEntries {
  const out: LbEntries = Object.fromEntries(Object.keys(LB_MAP_LAYOUT).filter((k) => k !== LB_MAPS.maglev).map((k) => [k, [] as Entry[]]));
  const services = new Map(model.services.map((s) => [s.id, s]));
  for (const b of model.backends) {
    out[b.address.includes(':') ? LB_MAPS.backends6 : LB_MAPS.backends4]!.push([u32(b.id), encodeBackend(b)]);
  }
  for (const s of model.services) {
    if (s.backendIds.length === 0 || s.affinityTimeoutSeconds <= 0) continue;
    for (const id of s.backendIds) out[LB_MAPS.affinityMatch]!.push([encodeAffinityMatch(id, s.id), new Uint8Array([1])]);
  }
  for (const f of model.frontends) {
    const s = services.get(f.serviceId);
    if (!s) throw new TwinpathError('LB_ERROR', `frontend ${f.address}:${f.port} names service group ${f.serviceId}, which the model does not have`);
    const v6 = f.address.includes(':');
    const proto = LB_PROTO[f.protocol];
    out[v6 ? LB_MAPS.services6 : LB_MAPS.services4]!.push([
      encodeServiceKey(f.address, f.port, proto),
      encodeService({ serviceId: s.id, affinityTimeout: s.affinityTimeoutSeconds, count: s.backendIds.length, flags: f.flags, revNat: f.revNatIndex }),
    ]);
    out[v6 ? LB_MAPS.revNat6 : LB_MAPS.revNat4]!.push([u16(f.revNatIndex), encodeRevNat(f.address, f.port)]);
  }
  return out;
}

/** Every entry the model puts in each map, Maglev slots as single entries (only the rows of
 * groups with backends). Writers use lbSmallEntries and maglevRows, which cost far less. */
export function lbMapEntries(model: LbModel): LbEntries {
  const small = lbSmallEntries(model);
  const m = maglevRows(model);
  const maglev: Entry[] = [];
  const withBackends = model.services.filter((s) => s.backendIds.length > 0).map((s) => s.id);
  for (const row of withBackends) {
    for (let slot = 0; slot < m.tableSize; slot++) {
      const i = row * m.tableSize + slot;
      maglev.push([u32(i), u32(m.slots[i]!)]);
    }
  }
  const out: LbEntries = {};
  for (const name of Object.keys(LB_MAP_LAYOUT)) out[name] = name === LB_MAPS.maglev ? maglev : small[name]!;
  return out;
}

/** Globals to pass when opening an object that includes lb.h, so its table size is the model's. */
export function lbGlobals(model: Pick<LbModel, 'maglevTableSize'>): Record<string, Uint8Array> {
  return { [LB_TABLE_SIZE_GLOBAL]: u32(model.maglevTableSize) };
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** Where the lb.h maps are written: an engine object, or anything whose maps can be filled. */
export interface LbTarget {
  map(name: string): BulkMap;
}

/** Maps in write order: a frontend never points at a table or backend not yet written. */
export const LB_WRITE_ORDER = [
  LB_MAPS.backends4, LB_MAPS.backends6, LB_MAPS.maglev, LB_MAPS.affinityMatch,
  LB_MAPS.revNat4, LB_MAPS.revNat6, LB_MAPS.services4, LB_MAPS.services6,
] as const;

/** Writes a model's contents in LB_WRITE_ORDER, each map in one bulk write (the Maglev rows as
 * one run of consecutive array values). Nothing is removed: see writeLbMaps. */
export function writeLbContents(obj: LbTarget, small: LbEntries, maglev: MaglevRows): void {
  for (const name of LB_WRITE_ORDER) {
    const m = obj.map(name);
    if (name === LB_MAPS.maglev) writeArrayValues(m, 0, maglevBytes(maglev), 4);
    else updateEntries(m, small[name]!);
  }
}

/**
 * Writes the model into `obj`'s lb.h maps, replacing an earlier model: every check (map layouts,
 * capacities, the object's table size) runs before the first write, and writes go in an order
 * that never lets a frontend point at a table or backend not yet written (backends, Maglev rows,
 * frontends, then the removal of what the new model no longer has).
 */
export function writeLbMaps(obj: EngineObject, model: LbModel): void {
  const small = lbSmallEntries(model);
  const rows = maglevRows(model);
  for (const [name, layout] of Object.entries(LB_MAP_LAYOUT)) {
    let m;
    try {
      m = obj.map(name);
    } catch (e) {
      throw new TwinpathError('LB_ERROR', `the object has no map "${name}" (does it include bpf/lib/lb.h?)`, {}, { cause: e });
    }
    if (m.keySize !== layout.key || m.valueSize !== layout.value) {
      throw new TwinpathError('LB_ERROR', `map "${name}" has key/value sizes ${m.keySize}/${m.valueSize}, lb.h says ${layout.key}/${layout.value}`);
    }
    const limit = m.maxEntries;
    if (name === LB_MAPS.maglev) {
      if (rows.slots.length > limit) {
        throw new TwinpathError('LB_ERROR', `${rows.rows} service groups x ${model.maglevTableSize} Maglev slots exceed map "${name}" (${limit} entries)`);
      }
    } else if (small[name]!.length > limit) {
      throw new TwinpathError('LB_ERROR', `${small[name]!.length} entries exceed map "${name}" (${limit} entries)`);
    }
  }
  const size = objectTableSize(obj);
  if (size !== undefined && size !== model.maglevTableSize) {
    throw new TwinpathError('LB_ERROR', `the object's Maglev table size is ${size}, the model's ${model.maglevTableSize} (open it with lbGlobals(model))`);
  }

  writeLbContents(obj, small, rows);
  // Stale entries: frontends first, so nothing left points at what goes next. Maglev rows of
  // groups that are gone stay: no frontend reaches them, and the array cannot shrink anyway.
  for (const name of [LB_MAPS.services4, LB_MAPS.services6, LB_MAPS.revNat4, LB_MAPS.revNat6, LB_MAPS.affinityMatch, LB_MAPS.backends4, LB_MAPS.backends6]) {
    const m = obj.map(name);
    const keep = new Set(small[name]!.map(([k]) => hex(k)));
    for (const [k] of m.entries()) if (!keep.has(hex(k))) m.delete(k);
  }
}

/** The object's lb_maglev_table_size as loaded, or undefined when it cannot be read back. */
function objectTableSize(obj: EngineObject): number | undefined {
  const spec = obj.spec.maps.find((m) => m.data?.variables.some((v) => v.name === LB_TABLE_SIZE_GLOBAL));
  const v = spec?.data?.variables.find((x) => x.name === LB_TABLE_SIZE_GLOBAL);
  if (!spec || !v) return undefined;
  let value: Uint8Array | undefined;
  try {
    value = obj.map(spec.name).lookup(new Uint8Array(4));
  } catch {
    return undefined;
  }
  if (!value || value.length < v.offset + 4) return undefined;
  return new DataView(value.buffer, value.byteOffset, value.length).getUint32(v.offset, true);
}

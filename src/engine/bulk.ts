// Filling a map with many entries through whatever the map offers: a batch update, a write of
// consecutive array values, or, for maps without either (a pinned kernel map, a test double),
// one update per entry. Callers that fill whole tables (the datapath's node fill, the load
// balancer's Maglev rows) go through here so that they never need to know which engine or map
// object they hold.

import { TwinpathError } from '../errors.js';

/** The least a map must offer to be filled: update, plus the bulk paths when it has them. Both
 * EngineMap and src/kernel's KernelMap fit. */
export interface BulkMap {
  update(key: Uint8Array, value: Uint8Array, flags?: number): void;
  updateBatch?(keys: readonly Uint8Array[], values: readonly Uint8Array[], flags?: number): void;
  writeArray?(first: number, values: Uint8Array): void;
}

/** keys[i] gets values[i], in order; stops at the first refusal and throws it. */
export function updateMany(m: BulkMap, keys: readonly Uint8Array[], values: readonly Uint8Array[], flags = 0): void {
  if (keys.length === 0) return;
  if (m.updateBatch) {
    m.updateBatch(keys, values, flags);
    return;
  }
  for (let i = 0; i < keys.length; i++) m.update(keys[i]!, values[i]!, flags);
}

/** [key, value] pairs, as updateMany writes them. */
export function updateEntries(m: BulkMap, entries: ReadonlyArray<readonly [Uint8Array, Uint8Array]>, flags = 0): void {
  updateMany(m, entries.map((e) => e[0]), entries.map((e) => e[1]), flags);
}

/** An ARRAY map's indexes first, first + 1, ... get `values` (`valueSize` bytes each, back to
 * back): one write where the map has writeArray, a batch of u32 keys where it has updateBatch. */
export function writeArrayValues(m: BulkMap, first: number, values: Uint8Array, valueSize: number): void {
  if (values.length % valueSize !== 0) {
    throw new TwinpathError('USAGE', `writeArrayValues: ${values.length} bytes are not a whole number of ${valueSize}-byte values`);
  }
  if (values.length === 0) return;
  if (m.writeArray) {
    m.writeArray(first, values);
    return;
  }
  const count = Math.floor(values.length / valueSize);
  const kb = new Uint8Array(4 * count);
  const dv = new DataView(kb.buffer);
  const keys: Uint8Array[] = new Array(count);
  const vals: Uint8Array[] = new Array(count);
  for (let i = 0; i < count; i++) {
    dv.setUint32(4 * i, first + i, true);
    keys[i] = kb.subarray(4 * i, 4 * i + 4);
    vals[i] = values.subarray(i * valueSize, (i + 1) * valueSize);
  }
  updateMany(m, keys, vals);
}

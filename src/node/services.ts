// Services on a real node: the load balancer's model compiled for this node
// (compileServices(cluster, { node }), as the simulated datapath compiles each node's), the
// bytes it puts in the lb.h maps of the pinned endpoint object, and the map operations that take
// a node from one model to the next, only where entries differ.
//
// Why the model is kept (in the attachment's state): a recompile given the previous model keeps
// the ids of what stayed (backend ids, service groups, rev-NAT indexes), and the conntrack's
// service entries name backends by id, so established flows keep their backends across an
// update. It is also what the Maglev rows are compared against: reading the flat Maglev array
// back (16381 slots per group) would cost far more than the update itself.
//
// Order of an update (writeLbMaps' order, as a diff): backends, Maglev rows, affinity matches
// and rev-NAT entries are written before the frontends that reach them; frontends are removed
// before what only they reached. A frontend is never seen pointing at a row or backend that is
// not there yet or no longer there.

import { TwinpathError, isTwinpathError } from '../errors.js';
import { compileServices } from '../lb/compile.js';
import { LB_MAPS, LB_MAP_LAYOUT, lbMapEntries } from '../lb/maps.js';
import { DEFAULT_MAGLEV_TABLE_SIZE, type LbModel } from '../lb/model.js';
import type { Cluster } from '../policy/ast.js';
import { hex, readTable, type RawMap, type Table } from './tables.js';

/** What a node attachment records about its services. */
export interface NodeServices {
  maglevTableSize: number;
  /** Service groups the Maglev array has room for (its max_entries / table size). */
  maglevRows: number;
  model: LbModel;
  /** Set while an update writes the maps: the next one then rewrites every Maglev row rather
   * than trusting `model` to say what the array holds. */
  pending?: boolean;
}

/** Groups beyond the attach's own that the Maglev array keeps room for, so services added by
 * later updates fit without a new attach. */
export const MAGLEV_SPARE_ROWS = 16;

const SET_ORDER = [
  LB_MAPS.backends4, LB_MAPS.backends6, LB_MAPS.maglev, LB_MAPS.affinityMatch,
  LB_MAPS.revNat4, LB_MAPS.revNat6, LB_MAPS.services4, LB_MAPS.services6,
];
// Maglev rows are never removed: no frontend reaches a gone group's row, and an array cannot
// shrink anyway.
const DELETE_ORDER = [
  LB_MAPS.services4, LB_MAPS.services6, LB_MAPS.revNat4, LB_MAPS.revNat6, LB_MAPS.affinityMatch,
  LB_MAPS.backends4, LB_MAPS.backends6,
];

/** The lb.h maps small enough to read back and compare entry by entry. */
export const LB_SMALL_MAPS = DELETE_ORDER;

/** This node's services. A node the cluster has no Node object for is compiled for no node:
 * its Local ClusterIP and externalIP scopes are empty (as src/datapath does for such a node). */
export function compileNodeServices(cluster: Cluster, node: string, opts: { maglevTableSize?: number; previous?: LbModel } = {}): LbModel {
  const known = cluster.nodes.some((n) => n.name === node);
  try {
    return compileServices(cluster, {
      maglevTableSize: opts.maglevTableSize ?? DEFAULT_MAGLEV_TABLE_SIZE,
      ...(known ? { node } : {}),
      ...(opts.previous !== undefined ? { previous: opts.previous } : {}),
    });
  } catch (e) {
    if (isTwinpathError(e)) throw new TwinpathError(e.code, `services of node "${node}": ${e.detail}`, e.location, { cause: e });
    throw e;
  }
}

/** Rows of the Maglev array a model uses (its highest group id + 1). */
export function maglevRowsUsed(model: LbModel): number {
  return model.services.reduce((mx, s) => Math.max(mx, s.id + 1), 0);
}

/** The Maglev array's size for an attach: the object's own, or larger when the model and its
 * spare rows need more. */
export function maglevCapacity(model: LbModel, objectEntries: number): number {
  const need = (maglevRowsUsed(model) + MAGLEV_SPARE_ROWS) * model.maglevTableSize;
  return Math.max(objectEntries, need);
}

/** A model's entries per lb.h map, keyed by hex. */
export function lbTables(model: LbModel): Record<string, Table> {
  const out: Record<string, Table> = {};
  for (const [name, list] of Object.entries(lbMapEntries(model))) out[name] = new Map(list.map(([k, v]) => [hex(k), v]));
  return out;
}

export interface LbStep {
  map: string;
  op: 'set' | 'delete';
  key: string;
  value?: Uint8Array;
}

/**
 * The operations that take the lb.h maps to `next`: the small maps compared with what they hold
 * now (`current`), the Maglev rows with `previousModel` (all of them written when there is none).
 */
export function planServices(current: Record<string, Table>, previousModel: LbModel | undefined, next: LbModel): LbStep[] {
  const want = lbTables(next);
  const have: Record<string, Table> = { ...current, [LB_MAPS.maglev]: previousModel !== undefined ? lbTables(previousModel)[LB_MAPS.maglev]! : new Map() };
  const steps: LbStep[] = [];
  for (const map of SET_ORDER) {
    const old = have[map] ?? new Map();
    for (const [k, v] of want[map]!) {
      const o = old.get(k);
      if (o === undefined || hex(o) !== hex(v)) steps.push({ map, op: 'set', key: k, value: v });
    }
  }
  for (const map of DELETE_ORDER) {
    const keep = want[map]!;
    for (const k of (have[map] ?? new Map()).keys()) if (!keep.has(k)) steps.push({ map, op: 'delete', key: k });
  }
  return steps;
}

/** Reads the small lb.h maps. */
export function currentServiceTables(open: (map: string) => RawMap): Record<string, Table> {
  const out: Record<string, Table> = {};
  for (const m of LB_SMALL_MAPS) out[m] = readTable(open(m));
  return out;
}

export interface MapShape {
  name: string;
  keySize: number;
  valueSize: number;
  maxEntries: number;
}

/** Checks, before anything is written, that the object's lb.h maps have lb.h's layouts and that
 * the model fits them (`maglevRows`: groups the Maglev array has room for). */
export function checkServicesFit(model: LbModel, maps: MapShape[], maglevRows: number): void {
  const byName = new Map(maps.map((m) => [m.name, m]));
  const entries = lbMapEntries(model);
  for (const [name, layout] of Object.entries(LB_MAP_LAYOUT)) {
    const m = byName.get(name);
    if (m === undefined) throw new TwinpathError('LB_ERROR', `the datapath object has no map "${name}": it does not load balance services`);
    if (m.keySize !== layout.key || m.valueSize !== layout.value) {
      throw new TwinpathError('LB_ERROR', `map "${name}" has key/value sizes ${m.keySize}/${m.valueSize}, lb.h says ${layout.key}/${layout.value}`);
    }
    if (name !== LB_MAPS.maglev && entries[name]!.length > m.maxEntries) {
      throw new TwinpathError('LB_ERROR', `${entries[name]!.length} entries exceed map "${name}" (${m.maxEntries} entries)`);
    }
  }
  const rows = maglevRowsUsed(model);
  if (rows > maglevRows) {
    throw new TwinpathError('LB_ERROR', `${rows} service groups exceed the ${maglevRows} rows the Maglev array was made with: attach again`);
  }
}

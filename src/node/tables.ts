// What a node's maps should hold, as bytes, for the pods on this node keyed by the real ifindex
// of each pod's host-side interface: src/datapath/tables.ts's nodeTables (the one definition of
// a node's fill, which the simulated datapath uses too) given this node's real interfaces and
// every node's addresses (a sandbox's synthetic ones included). Also the tables read back from
// live maps, so `update` can compare the two key by key.
//
// Keys and values are the exact bytes of the maps, indexed by the key's hex: two tables are
// equal exactly when the maps would be.

import { TwinpathError, isTwinpathError } from '../errors.js';
import { parsePrefix } from '../datapath/maps.js';
import { formatIp } from '../datapath/flow.js';
import { hex, nodeTables, unhex, type LocalEndpoint, type NodeTables, type Table } from '../datapath/tables.js';
import type { CompiledPolicy } from '../policy/model.js';

export { hex, unhex, type LocalEndpoint, type Table };

/** The three tables whose update order src/node/plan.ts decides. */
export interface Tables {
  endpoints: Table;
  ipcache: Table;
  policy: Table;
}

/** The canonical text of a prefix (RFC 5952 for IPv6), as the map's key decodes to. */
export function canonicalPrefix(prefix: string): string {
  const p = parsePrefix(prefix);
  return `${formatIp(p.addr.subarray(0, p.family === 4 ? 4 : 16))}/${p.len}`;
}

/** Every table of node `node` (endpoints, cilium_lxc, ipcache, policy) for its local endpoints;
 * a bad endpoint is a NODE_ERROR. */
export function nodeMapTables(compiled: CompiledPolicy, node: string, local: LocalEndpoint[], nodeAddresses: Map<string, string[]>): NodeTables {
  try {
    return nodeTables(compiled, node, { endpoints: local, nodeAddresses });
  } catch (e) {
    if (isTwinpathError(e) && e.code === 'DATAPATH_ERROR') throw new TwinpathError('NODE_ERROR', e.detail, e.location, { cause: e });
    throw e;
  }
}

/** The endpoints, ipcache and policy tables of node `node` (see nodeMapTables). */
export function desiredTables(compiled: CompiledPolicy, node: string, local: LocalEndpoint[], nodeAddresses: Map<string, string[]>): Tables {
  const t = nodeMapTables(compiled, node, local, nodeAddresses);
  return { endpoints: t.endpoints, ipcache: t.ipcache, policy: t.policy };
}

/** Node name -> addresses: the compiled nodes', plus extras (a sandbox's synthetic ones). */
export function nodeAddressMap(compiled: CompiledPolicy, extra: Record<string, string[]> = {}): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const n of compiled.nodes) m.set(n.name, [...n.addresses]);
  for (const [name, addrs] of Object.entries(extra)) {
    const list = m.get(name) ?? [];
    for (const a of addrs) if (!list.includes(a)) list.push(a);
    m.set(name, list);
  }
  return m;
}

/** The minimal map interface the tables are read from and written to (EngineMap or KernelMap). */
export interface RawMap {
  entries(): Iterable<[Uint8Array, Uint8Array | Uint8Array[]]>;
  update(key: Uint8Array, value: Uint8Array): void;
  delete(key: Uint8Array): void;
}

export function readTable(m: RawMap): Table {
  const t: Table = new Map();
  for (const [k, v] of m.entries()) t.set(hex(new Uint8Array(k)), new Uint8Array(Array.isArray(v) ? v[0]! : v));
  return t;
}

// What one node's endpoint datapath maps hold, computed once, as bytes: the one definition of a
// node's fill, used by Datapath (simulated nodes) and meant for node attach (real ones).
//
//   endpoints  interface index -> endpoint (the pods scheduled on the node)
//   lxc        endpoint address -> interface index (how cil_from_netdev finds a local pod)
//   ipcache    the compiled prefixes, then every node's addresses: this node's as `host`, the
//              others' as `remote-node` (a prefix the compiler already maps keeps its identity;
//              between two nodes claiming one address, this node wins)
//   policy     the policy entries of the node's endpoints
//   services   the node's load-balancer model, when services are load balanced: the small lb.h
//              maps as tables, the Maglev array as dense rows
//
// Tables are keyed by the hex of the key bytes, so two tables are equal exactly when the maps
// would be, and a diff is a walk over two Maps. nodeMapSizes says how many entries each map
// must hold (what OpenOptions.maxEntries must allow); fillNode writes a freshly loaded object
// in bulk, in an order that never lets a packet find a reference to something not yet written.

import { TwinpathError } from '../errors.js';
import { updateMany, type BulkMap } from '../engine/bulk.js';
import { LB_MAPS, lbSmallEntries, maglevRows, writeLbContents, type LbEntries, type MaglevRows } from '../lb/maps.js';
import type { LbModel } from '../lb/model.js';
import { RESERVED, type CompiledPolicy, type EndpointInfo } from '../policy/model.js';
import {
  encodeEndpoint, encodeEndpointKey, encodeIpcacheKey, encodePolicyKey, encodePolicyValue, LAYOUTS,
  MAP_ENDPOINTS, MAP_IPCACHE, MAP_LXC, MAP_POLICY,
} from './maps.js';

/** hex(key) -> value bytes. */
export type Table = Map<string, Uint8Array>;

/** A pod of the node and the interface its programs see it on. */
export interface LocalEndpoint {
  ifindex: number;
  endpoint: EndpointInfo;
}

export interface ServiceTables {
  model: LbModel;
  /** lb4_services, lb6_services, lb4_backends, lb6_backends, lb4_reverse_nat, lb6_reverse_nat,
   * lb_aff_match, by map name. */
  maps: Record<string, Table>;
  /** lb_maglev: rows 0 .. rows - 1 of tableSize backend ids. */
  maglev: MaglevRows;
}

export interface NodeTables {
  node: string;
  endpoints: Table;
  lxc: Table;
  ipcache: Table;
  policy: Table;
  services?: ServiceTables;
}

export interface NodeTablesOptions {
  /** The node's pods and their interfaces (default: the compiled endpoints whose node is `node`,
   * IMPLICIT_NODE for pods without one, on interface IFINDEX_BASE + id, as Datapath simulates
   * them). */
  endpoints?: LocalEndpoint[];
  /** Node name -> addresses, every node of the cluster (default: the compiled nodes'). */
  nodeAddresses?: ReadonlyMap<string, readonly string[]>;
  /** The node's services (compileServices(cluster, { node })); none when absent. */
  services?: LbModel;
}

/** Simulated interfaces are numbered from here: endpoint id 5 runs on interface 105. */
export const IFINDEX_BASE = 100;

/** The node that pods without spec.nodeName share. Parentheses cannot occur in a Kubernetes
 * node name, so it never collides with a real one. */
export const IMPLICIT_NODE = '(no node)';

/** The node an endpoint lives on (IMPLICIT_NODE for a pod without one). */
export function endpointNode(ep: EndpointInfo): string {
  return ep.node === '' ? IMPLICIT_NODE : ep.node;
}

export function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

export function unhex(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'hex'));
}

function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
}

function hostPrefix(a: string): string {
  return `${a}/${a.includes(':') ? 128 : 32}`;
}

function toTables(entries: LbEntries): Record<string, Table> {
  const out: Record<string, Table> = {};
  for (const [name, list] of Object.entries(entries)) out[name] = new Map(list.map(([k, v]) => [hex(k), v]));
  return out;
}

/** What node `node`'s maps hold under `compiled` (see the header). Throws DATAPATH_ERROR for an
 * endpoint that cannot be encoded or two endpoints on one interface. */
export function nodeTables(compiled: CompiledPolicy, node: string, opts: NodeTablesOptions = {}): NodeTables {
  const local = opts.endpoints ?? compiled.endpoints.filter((ep) => endpointNode(ep) === node).map((endpoint) => ({ ifindex: IFINDEX_BASE + endpoint.id, endpoint }));
  const endpoints: Table = new Map();
  const lxc: Table = new Map();
  const ids = new Set<number>();
  for (const { ifindex, endpoint } of local) {
    const where = `endpoint ${endpoint.namespace}/${endpoint.pod}`;
    if (!Number.isInteger(ifindex) || ifindex < 1 || ifindex > 0xffffffff) {
      throw new TwinpathError('DATAPATH_ERROR', `${where}: interface index ${ifindex} is not an integer in 1..4294967295`);
    }
    const ref = u32(ifindex);
    const k = hex(ref);
    if (endpoints.has(k)) throw new TwinpathError('DATAPATH_ERROR', `${where}: interface index ${ifindex} already has an endpoint`);
    endpoints.set(k, encodeEndpoint(endpoint));
    // An address two pods claim leads to the later one, as writing them in turn would.
    for (const ip of endpoint.ips) lxc.set(hex(encodeEndpointKey(ip)), ref);
    ids.add(endpoint.id);
  }

  const ipcache: Table = new Map();
  const identityValue = (identity: number): Uint8Array => {
    const v = new Uint8Array(LAYOUTS.ipcache_value.size);
    new DataView(v.buffer).setUint32(LAYOUTS.ipcache_value.fields.identity, identity, true);
    return v;
  };
  for (const e of compiled.ipcache) ipcache.set(hex(encodeIpcacheKey(e.prefix)), identityValue(e.identity));
  const compiledKeys = new Set(ipcache.keys());
  const addrs = opts.nodeAddresses ?? new Map(compiled.nodes.map((n) => [n.name, n.addresses]));
  for (const [other, list] of [...addrs].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) {
    const identity = other === node ? RESERVED.host : RESERVED['remote-node'];
    for (const a of list) {
      const k = hex(encodeIpcacheKey(hostPrefix(a)));
      if (compiledKeys.has(k)) continue;
      if (ipcache.has(k) && identity !== RESERVED.host) continue;
      ipcache.set(k, identityValue(identity));
    }
  }

  const policy: Table = new Map();
  for (const e of compiled.entries) if (ids.has(e.endpointId)) policy.set(hex(encodePolicyKey(e)), encodePolicyValue(e));

  const out: NodeTables = { node, endpoints, lxc, ipcache, policy };
  if (opts.services) out.services = { model: opts.services, maps: toTables(lbSmallEntries(opts.services)), maglev: maglevRows(opts.services) };
  return out;
}

/** Entries each map must have room for, by map name (the Maglev array: rows x table size). */
export function nodeMapSizes(t: NodeTables): Record<string, number> {
  const out: Record<string, number> = {
    [MAP_ENDPOINTS]: t.endpoints.size,
    [MAP_LXC]: t.lxc.size,
    [MAP_IPCACHE]: t.ipcache.size,
    [MAP_POLICY]: t.policy.size,
  };
  if (t.services) {
    for (const [name, table] of Object.entries(t.services.maps)) out[name] = table.size;
    out[LB_MAPS.maglev] = t.services.maglev.slots.length;
  }
  return out;
}

/** Where a node is filled: an EngineObject, a KernelObject, anything that names its maps. */
export interface FillTarget {
  map(name: string): BulkMap & { readonly maxEntries?: number };
}

/**
 * Writes the tables into a freshly loaded object, each map in bulk: endpoints before the
 * addresses that lead to them, ipcache and policy, then the services (backends and Maglev rows
 * before the frontends that reach them). Maps that say how large they are (EngineMap) are
 * checked against nodeMapSizes before the first write; nothing is removed (a fresh object holds
 * nothing; node update diffs tables instead).
 */
export function fillNode(obj: FillTarget, t: NodeTables): void {
  const sizes = nodeMapSizes(t);
  for (const [name, need] of Object.entries(sizes)) {
    const have = obj.map(name).maxEntries;
    if (have !== undefined && need > have) {
      throw new TwinpathError(name === LB_MAPS.maglev || name.startsWith('lb') ? 'LB_ERROR' : 'DATAPATH_ERROR',
        `node "${t.node}": ${need} entries exceed map "${name}" (${have} entries); open the object with nodeMapSizes(tables) as maxEntries`);
    }
  }
  const put = (name: string, table: Table): void => {
    const keys: Uint8Array[] = [];
    const values: Uint8Array[] = [];
    for (const [k, v] of table) {
      keys.push(unhex(k));
      values.push(v);
    }
    updateMany(obj.map(name), keys, values);
  };
  put(MAP_ENDPOINTS, t.endpoints);
  put(MAP_LXC, t.lxc);
  put(MAP_IPCACHE, t.ipcache);
  put(MAP_POLICY, t.policy);
  if (t.services) {
    const small: LbEntries = {};
    for (const [name, table] of Object.entries(t.services.maps)) small[name] = [...table].map(([k, v]) => [unhex(k), v]);
    writeLbContents(obj, small, t.services.maglev);
  }
}

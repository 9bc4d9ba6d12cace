// What a node's maps should hold, as bytes: the endpoints of the pods on this node (keyed by the
// real ifindex of each pod's host-side interface) and their addresses (cilium_lxc), the ipcache (the compiled prefixes, then the
// node addresses: this node's as `host`, the others' as `remote-node`, as src/datapath/datapath.ts
// fills a simulated node), and the policy entries of those endpoints. Also the same three tables
// read back from live maps, so `update` can compare the two key by key.
//
// Keys and values are the exact bytes of the maps (encoded by src/datapath/maps.ts), indexed by
// the key's hex: two tables are equal exactly when the maps would be.

import { TwinpathError } from '../errors.js';
import { encodeEndpoint, encodeEndpointKey, encodeIpcacheKey, encodePolicyKey, encodePolicyValue, LAYOUTS, parsePrefix } from '../datapath/maps.js';
import { formatIp } from '../datapath/flow.js';
import { RESERVED, type CompiledPolicy, type EndpointInfo } from '../policy/model.js';

/** hex(key) -> value bytes. */
export type Table = Map<string, Uint8Array>;

export interface Tables {
  endpoints: Table;
  ipcache: Table;
  policy: Table;
}

/** A pod of this node and where it is attached. */
export interface LocalEndpoint {
  ifindex: number;
  endpoint: EndpointInfo;
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

/** The canonical text of a prefix (RFC 5952 for IPv6), as the map's key decodes to. */
export function canonicalPrefix(prefix: string): string {
  const p = parsePrefix(prefix);
  return `${formatIp(p.addr.subarray(0, p.family === 4 ? 4 : 16))}/${p.len}`;
}

/**
 * The tables for node `node`: its endpoints, the compiled ipcache plus every node's addresses
 * (`nodeAddresses`: node name -> addresses, this node's are `host`, others `remote-node`; a
 * prefix the compiler already maps keeps the compiler's identity), and the policy entries of
 * the local endpoints.
 */
export function desiredTables(compiled: CompiledPolicy, node: string, local: LocalEndpoint[], nodeAddresses: Map<string, string[]>): Tables {
  const endpoints: Table = new Map();
  const ids = new Set<number>();
  for (const { ifindex, endpoint } of local) {
    if (!Number.isInteger(ifindex) || ifindex < 1 || ifindex > 0xffffffff) {
      throw new TwinpathError('NODE_ERROR', `endpoint ${endpoint.namespace}/${endpoint.pod}: interface index ${ifindex} is not 1..4294967295`);
    }
    const k = hex(u32(ifindex));
    if (endpoints.has(k)) throw new TwinpathError('NODE_ERROR', `two endpoints on interface index ${ifindex}`);
    endpoints.set(k, encodeEndpoint(endpoint));
    ids.add(endpoint.id);
  }
  const ipcache: Table = new Map();
  const setIp = (prefix: string, identity: number): void => {
    const v = new Uint8Array(LAYOUTS.ipcache_value.size);
    new DataView(v.buffer).setUint32(LAYOUTS.ipcache_value.fields.identity, identity, true);
    ipcache.set(hex(encodeIpcacheKey(prefix)), v);
  };
  for (const e of compiled.ipcache) setIp(e.prefix, e.identity);
  const compiledKeys = new Set(ipcache.keys());
  for (const [other, addrs] of [...nodeAddresses].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) {
    const identity = other === node ? RESERVED.host : RESERVED['remote-node'];
    for (const a of addrs) {
      const k = hex(encodeIpcacheKey(hostPrefix(a)));
      // The compiler's decision for a node's exact address stands; between two nodes claiming
      // one address, this node wins (it is `host` here whatever the other says).
      if (compiledKeys.has(k)) continue;
      if (ipcache.has(k) && identity !== RESERVED.host) continue;
      setIp(hostPrefix(a), identity);
    }
  }
  const policy: Table = new Map();
  for (const e of compiled.entries) {
    if (!ids.has(e.endpointId)) continue;
    policy.set(hex(encodePolicyKey(e)), encodePolicyValue(e));
  }
  return { endpoints, ipcache, policy };
}

/** cilium_lxc: each local endpoint's addresses -> its interface (how cil_from_netdev finds the
 * pod a packet from outside is for). An address two pods claim leads to the later one. */
export function lxcTable(local: LocalEndpoint[]): Table {
  const out: Table = new Map();
  for (const { ifindex, endpoint } of local) for (const ip of endpoint.ips) out.set(hex(encodeEndpointKey(ip)), u32(ifindex));
  return out;
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

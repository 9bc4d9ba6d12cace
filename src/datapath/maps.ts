// The TypeScript side of the endpoint datapath's maps (bpf/datapath/endpoint.bpf.c): where the
// object is, the names of its programs, and DatapathMaps, which writes endpoints (by interface and
// by address), ipcache and policy entries into either engine's maps and reads conntrack (flow
// entries and the service entries that keep a flow's backend) and counters back, decoded. The
// service maps themselves (bpf/lib/lb.h) are src/lb's. Whole nodes are filled by tables.ts;
// DatapathMaps changes single entries (an endpoint write costs its own addresses: the address map
// is indexed by interface once, on the first endpoint write, then kept in step).
//
// The byte layouts mirror the structs in bpf/lib/*.h. They are written down once more here
// (LAYOUTS) and test/datapath/maps.test.ts checks every offset and size against the object's BTF,
// so the two cannot drift apart silently.

import { fileURLToPath } from 'node:url';
import { TwinpathError } from '../errors.js';
import type { EngineMap, EngineObject, RunContext } from '../engine/engine.js';
import type { Direction, EndpointInfo, IpcacheEntry, PolicyEntry } from '../policy/model.js';
import { formatIp } from './flow.js';
import { parseIPv4, parseIPv6 } from '../util/ip.js';

/** The compiled endpoint datapath, committed next to its source. */
export const DATAPATH_OBJECT: string = fileURLToPath(new URL('../../bpf/datapath/endpoint.bpf.o', import.meta.url));

/** Traffic leaving a pod (tc ingress of the host-side veth): the endpoint's egress policy. */
export const PROG_FROM_ENDPOINT = 'cil_from_container';
/** Traffic arriving at a pod (tc egress of the host-side veth): the endpoint's ingress policy. */
export const PROG_TO_ENDPOINT = 'cil_to_container';
/** Traffic arriving at the node from outside (tc ingress of its external interface): NodePort and
 * externalIP translation, then the destination endpoint's ingress policy. */
export const PROG_FROM_NETDEV = 'cil_from_netdev';

/** Map names in the object. */
export const MAP_ENDPOINTS = 'cilium_endpoints';
/** Endpoint addresses -> interface index (how cil_from_netdev finds the destination endpoint). */
export const MAP_LXC = 'cilium_lxc';
export const MAP_IPCACHE = 'cilium_ipcache';
export const MAP_POLICY = 'cilium_policy_v2';
export const MAP_CONNTRACK = 'cilium_ct_global';
export const MAP_FRAGMENTS = 'cilium_frag_datagrams';
export const MAP_METRICS = 'cilium_metrics';
export const MAP_EVENTS = 'cilium_events';

/** cb[1] value that tells the programs cb[0] names the interface (bpf/lib/endpoint.h). */
export const ENDPOINT_SIM_MARKER = 0x74706966;

const EP_F_INGRESS_ENFORCED = 0x1;
const EP_F_EGRESS_ENFORCED = 0x2;
const POLICY_F_DENY = 0x1;
const IPCACHE_STATIC_PREFIX = 32;
/** Bits of a policy key always matched: endpoint id, direction, pad, identity, pad. */
export const POLICY_STATIC_PREFIX = 72;
const DIR: Record<Direction, number> = { ingress: 0, egress: 1 };
const CT_S_SEEN_NON_SYN = 0x1;
const CT_S_CLOSING = 0x2;
/** tuple.direction of a service entry (bpf/lib/common.h CT_DIR_SERVICE). */
const CT_DIR_SERVICE = 2;

/** Struct layouts (byte offsets and sizes) as bpf/lib/*.h defines them; checked against BTF. */
export const LAYOUTS = {
  endpoint_info: { size: 32, fields: { endpoint_id: 0, identity: 4, flags: 8, ipv4: 12, ipv6: 16 } },
  ipcache_key: { size: 24, fields: { prefixlen: 0, family: 4, pad: 5, addr: 8 } },
  ipcache_value: { size: 4, fields: { identity: 0 } },
  policy_key: { size: 16, fields: { prefixlen: 0, endpoint_id: 4, direction: 6, pad0: 7, identity: 8, pad1: 12, protocol: 13, dport: 14 } },
  policy_entry: { size: 8, fields: { rule_id: 0, proxy_port: 4, flags: 6, l4_prefix: 7 } },
  tuple: { size: 40, fields: { saddr: 0, daddr: 16, sport: 32, dport: 34, protocol: 36, family: 37, direction: 38, pad: 39 } },
  ct_entry: {
    size: 56,
    fields: {
      expires: 0, packets_fwd: 8, bytes_fwd: 16, packets_rev: 24, bytes_rev: 32, rule_id: 40, proxy_port: 44,
      tcp_flags_fwd: 46, tcp_flags_rev: 47, state: 48, pad: 49, rev_nat: 50, backend_id: 52,
    },
  },
  endpoint_key: { size: 20, fields: { family: 0, pad: 1, addr: 4 } },
  endpoint_ref: { size: 4, fields: { ifindex: 0 } },
  frag_key: { size: 40, fields: { saddr: 0, daddr: 16, id: 32, protocol: 36, family: 37, pad: 38 } },
  frag_l4: { size: 8, fields: { sport: 0, dport: 2, icmp_type: 4, icmp_code: 5, pad: 6 } },
  metrics_value: { size: 16, fields: { packets: 0, bytes: 8 } },
} as const;

/** A RunContext that makes a simulated run happen on interface `ifindex` (cb[0], marked in cb[1]). */
export function endpointContext(ifindex: number): RunContext {
  if (!Number.isInteger(ifindex) || ifindex < 1 || ifindex > 0xffffffff) {
    throw new TwinpathError('DATAPATH_ERROR', `interface index ${ifindex} is not an integer in 1..4294967295`);
  }
  return { cb: [ifindex, ENDPOINT_SIM_MARKER] };
}

/** A parsed address prefix: family, 16 address bytes (IPv4 in the first four), prefix length. */
export interface ParsedPrefix {
  family: 4 | 6;
  addr: Uint8Array;
  len: number;
}

/** '10.0.0.0/8', 'fd00::1/128', or a bare address (a host prefix). Host bits must be zero. */
export function parsePrefix(prefix: string): ParsedPrefix {
  const bad = (why: string): never => {
    throw new TwinpathError('DATAPATH_ERROR', `prefix "${prefix}": ${why}`);
  };
  const slash = prefix.indexOf('/');
  const text = slash < 0 ? prefix : prefix.slice(0, slash);
  const family: 4 | 6 = text.includes(':') ? 6 : 4;
  const max = family === 4 ? 32 : 128;
  let len = max;
  if (slash >= 0) {
    const l = prefix.slice(slash + 1);
    if (!/^\d{1,3}$/.test(l) || Number(l) > max) bad(`prefix length must be 0..${max}`);
    len = Number(l);
  }
  const raw = family === 4 ? parseIPv4(text) : parseIPv6(text);
  if (!raw) bad(`not an IPv${family} address`);
  const addr = new Uint8Array(16);
  addr.set(raw!, 0);
  for (let bit = len; bit < max; bit++) {
    if (addr[bit >> 3]! & (0x80 >> (bit & 7))) bad('bits set past the prefix length');
  }
  return { family, addr, len };
}

/** A conntrack entry, decoded. Addresses and ports are those of the connection's first packet. */
export interface ConntrackEntry {
  family: 4 | 6;
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  protocol: number;
  /** The program that created it: egress (cil_from_container) or ingress (cil_to_container). */
  direction: Direction;
  /** bpf_ktime_get_ns() deadline. */
  expiresNs: bigint;
  packetsFwd: bigint;
  bytesFwd: bigint;
  packetsRev: bigint;
  bytesRev: bigint;
  ruleId: number;
  proxyPort: number;
  tcpFlagsFwd: number;
  tcpFlagsRev: number;
  /** TCP: 'syn' until a segment without SYN, then 'established', 'closing' after RST or both
   * FINs. Other protocols: 'open'. */
  state: 'syn' | 'established' | 'closing' | 'open';
  /** A service flow (its first packet was DNATed to a backend): the frontend's reverse-NAT index,
   * by which replies are rewritten back, and the backend's id; 0 otherwise. */
  revNat: number;
  backendId: number;
}

/** A service entry: the backend a flow to a frontend keeps (keyed by the flow as the client sent
 * it, to the frontend). Replies never touch it, so its counters are the client's packets. */
export interface ServiceConntrackEntry {
  family: 4 | 6;
  client: string;
  clientPort: number;
  frontend: string;
  frontendPort: number;
  protocol: number;
  backendId: number;
  revNat: number;
  expiresNs: bigint;
  packets: bigint;
  bytes: bigint;
  state: ConntrackEntry['state'];
}

/** A connection's tuple, to look its conntrack entry up: as its first packet carried it (after
 * service translation: to the backend), and the program that made the entry. */
export interface ConntrackTuple {
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  protocol: number;
  direction: Direction;
}

export interface Counter {
  reason: number;
  direction: Direction;
  packets: bigint;
  bytes: bigint;
}

function u8(n: number): Uint8Array {
  return new Uint8Array(n);
}

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

function checkU32(what: string, v: number, max = 0xffffffff): void {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new TwinpathError('DATAPATH_ERROR', `${what} ${v} is not an integer in 0..${max}`);
}

function directionOf(d: string, what: string): number {
  const v = DIR[d as Direction];
  if (v === undefined) throw new TwinpathError('DATAPATH_ERROR', `${what}: direction "${d}" is not ingress or egress`);
  return v;
}

function policyWhere(e: PolicyEntry): string {
  return `policy entry (endpoint ${e.endpointId}, ${e.direction}, identity ${e.identity}, protocol ${e.protocol}, port ${e.port}/${e.portPrefixLen})`;
}

/** The LPM key of a policy entry. Port bits beyond the prefix must be zero; a port needs a protocol
 * (the protocol comes first in the key, so "any protocol, port 80" has no prefix). */
export function encodePolicyKey(e: PolicyEntry): Uint8Array {
  const where = policyWhere(e);
  checkU32(`${where}: endpoint id`, e.endpointId, 0xffff);
  checkU32(`${where}: identity`, e.identity);
  checkU32(`${where}: protocol`, e.protocol, 0xff);
  checkU32(`${where}: port`, e.port, 0xffff);
  checkU32(`${where}: port prefix length`, e.portPrefixLen, 16);
  if (e.protocol === 0 && e.portPrefixLen > 0) {
    throw new TwinpathError('DATAPATH_ERROR', `${where}: a port needs a protocol (list each protocol as its own entry)`);
  }
  if (e.portPrefixLen < 16 && (e.port & (0xffff >> e.portPrefixLen)) !== 0) {
    throw new TwinpathError('DATAPATH_ERROR', `${where}: port bits set past the prefix length`);
  }
  const k = u8(LAYOUTS.policy_key.size);
  const dv = view(k);
  const f = LAYOUTS.policy_key.fields;
  dv.setUint32(f.prefixlen, POLICY_STATIC_PREFIX + l4Prefix(e), true);
  dv.setUint16(f.endpoint_id, e.endpointId, true);
  k[f.direction] = directionOf(e.direction, where);
  dv.setUint32(f.identity, e.identity, true);
  k[f.protocol] = e.protocol;
  dv.setUint16(f.dport, e.port, false);
  return k;
}

function l4Prefix(e: Pick<PolicyEntry, 'protocol' | 'portPrefixLen'>): number {
  return e.protocol === 0 ? 0 : 8 + e.portPrefixLen;
}

export function encodePolicyValue(e: PolicyEntry): Uint8Array {
  const where = policyWhere(e);
  checkU32(`${where}: rule id`, e.ruleId);
  checkU32(`${where}: proxy port`, e.proxyPort, 0xffff);
  const v = u8(LAYOUTS.policy_entry.size);
  const dv = view(v);
  const f = LAYOUTS.policy_entry.fields;
  dv.setUint32(f.rule_id, e.ruleId, true);
  dv.setUint16(f.proxy_port, e.proxyPort, true);
  v[f.flags] = e.deny ? POLICY_F_DENY : 0;
  v[f.l4_prefix] = l4Prefix(e);
  return v;
}

export function decodePolicyEntry(key: Uint8Array, value: Uint8Array): PolicyEntry {
  const kd = view(key);
  const vd = view(value);
  const kf = LAYOUTS.policy_key.fields;
  const vf = LAYOUTS.policy_entry.fields;
  const l4 = kd.getUint32(kf.prefixlen, true) - POLICY_STATIC_PREFIX;
  return {
    endpointId: kd.getUint16(kf.endpoint_id, true),
    direction: key[kf.direction] === DIR.egress ? 'egress' : 'ingress',
    identity: kd.getUint32(kf.identity, true),
    protocol: l4 >= 8 ? key[kf.protocol]! : 0,
    port: l4 > 8 ? kd.getUint16(kf.dport, false) : 0,
    portPrefixLen: l4 > 8 ? l4 - 8 : 0,
    deny: (value[vf.flags]! & POLICY_F_DENY) !== 0,
    ruleId: vd.getUint32(vf.rule_id, true),
    proxyPort: vd.getUint16(vf.proxy_port, true),
  };
}

export function encodeIpcacheKey(prefix: string): Uint8Array {
  const p = parsePrefix(prefix);
  const k = u8(LAYOUTS.ipcache_key.size);
  const f = LAYOUTS.ipcache_key.fields;
  view(k).setUint32(f.prefixlen, IPCACHE_STATIC_PREFIX + p.len, true);
  k[f.family] = p.family;
  k.set(p.addr, f.addr);
  return k;
}

export function decodeIpcacheEntry(key: Uint8Array, value: Uint8Array): IpcacheEntry {
  const f = LAYOUTS.ipcache_key.fields;
  const family = key[f.family] === 6 ? 6 : 4;
  const len = view(key).getUint32(f.prefixlen, true) - IPCACHE_STATIC_PREFIX;
  return {
    prefix: `${formatIp(key.subarray(f.addr, f.addr + (family === 4 ? 4 : 16)))}/${len}`,
    identity: view(value).getUint32(LAYOUTS.ipcache_value.fields.identity, true),
  };
}

export function encodeEndpoint(ep: EndpointInfo): Uint8Array {
  const where = `endpoint ${ep.namespace}/${ep.pod}`;
  checkU32(`${where}: id`, ep.id, 0xffff);
  if (ep.id === 0) throw new TwinpathError('DATAPATH_ERROR', `${where}: endpoint id 0 is reserved (ids are 1..65535)`);
  checkU32(`${where}: identity`, ep.identity);
  const v = u8(LAYOUTS.endpoint_info.size);
  const dv = view(v);
  const f = LAYOUTS.endpoint_info.fields;
  dv.setUint32(f.endpoint_id, ep.id, true);
  dv.setUint32(f.identity, ep.identity, true);
  dv.setUint32(f.flags, (ep.ingressEnforced ? EP_F_INGRESS_ENFORCED : 0) | (ep.egressEnforced ? EP_F_EGRESS_ENFORCED : 0), true);
  let v4 = false;
  let v6 = false;
  for (const ip of ep.ips) {
    const p = parsePrefix(ip);
    if (p.len !== (p.family === 4 ? 32 : 128)) throw new TwinpathError('DATAPATH_ERROR', `${where}: "${ip}" is not a single address`);
    // The struct has room for one address per family (informational: policy works on identities).
    if (p.family === 4 && !v4) {
      v.set(p.addr.subarray(0, 4), f.ipv4);
      v4 = true;
    } else if (p.family === 6 && !v6) {
      v.set(p.addr, f.ipv6);
      v6 = true;
    }
  }
  return v;
}

/** struct tuple: the conntrack key of a connection (direction: 0 ingress, 1 egress, 2 service). */
export function encodeTuple(t: { src: string; dst: string; srcPort: number; dstPort: number; protocol: number }, direction: number): Uint8Array {
  const where = `tuple ${t.src}:${t.srcPort} -> ${t.dst}:${t.dstPort}/${t.protocol}`;
  const a = parsePrefix(t.src);
  const b = parsePrefix(t.dst);
  const host = (p: ParsedPrefix) => p.len === (p.family === 4 ? 32 : 128);
  if (!host(a) || !host(b)) throw new TwinpathError('DATAPATH_ERROR', `${where}: the addresses must be single addresses`);
  if (a.family !== b.family) throw new TwinpathError('DATAPATH_ERROR', `${where}: the addresses are of different families`);
  checkU32(`${where}: source port`, t.srcPort, 0xffff);
  checkU32(`${where}: destination port`, t.dstPort, 0xffff);
  checkU32(`${where}: protocol`, t.protocol, 0xff);
  const f = LAYOUTS.tuple.fields;
  const k = u8(LAYOUTS.tuple.size);
  const dv = view(k);
  k.set(a.family === 4 ? a.addr.subarray(0, 4) : a.addr, f.saddr);
  k.set(b.family === 4 ? b.addr.subarray(0, 4) : b.addr, f.daddr);
  dv.setUint16(f.sport, t.srcPort, false);
  dv.setUint16(f.dport, t.dstPort, false);
  k[f.protocol] = t.protocol;
  k[f.family] = a.family;
  k[f.direction] = direction;
  return k;
}

function ctState(protocol: number, st: number): ConntrackEntry['state'] {
  return protocol !== 6 ? 'open' : st & CT_S_CLOSING ? 'closing' : st & CT_S_SEEN_NON_SYN ? 'established' : 'syn';
}

export function decodeServiceConntrack(key: Uint8Array, value: Uint8Array): ServiceConntrackEntry {
  const e = decodeConntrack(key, value);
  return {
    family: e.family, client: e.src, clientPort: e.srcPort, frontend: e.dst, frontendPort: e.dstPort, protocol: e.protocol,
    backendId: e.backendId, revNat: e.revNat, expiresNs: e.expiresNs, packets: e.packetsFwd, bytes: e.bytesFwd, state: e.state,
  };
}

export function decodeConntrack(key: Uint8Array, value: Uint8Array): ConntrackEntry {
  const kf = LAYOUTS.tuple.fields;
  const vf = LAYOUTS.ct_entry.fields;
  const kd = view(key);
  const vd = view(value);
  const family = key[kf.family] === 6 ? 6 : 4;
  const alen = family === 4 ? 4 : 16;
  const protocol = key[kf.protocol]!;
  const st = value[vf.state]!;
  return {
    family,
    src: formatIp(key.subarray(kf.saddr, kf.saddr + alen)),
    dst: formatIp(key.subarray(kf.daddr, kf.daddr + alen)),
    srcPort: kd.getUint16(kf.sport, false),
    dstPort: kd.getUint16(kf.dport, false),
    protocol,
    direction: key[kf.direction] === DIR.egress ? 'egress' : 'ingress',
    expiresNs: vd.getBigUint64(vf.expires, true),
    packetsFwd: vd.getBigUint64(vf.packets_fwd, true),
    bytesFwd: vd.getBigUint64(vf.bytes_fwd, true),
    packetsRev: vd.getBigUint64(vf.packets_rev, true),
    bytesRev: vd.getBigUint64(vf.bytes_rev, true),
    ruleId: vd.getUint32(vf.rule_id, true),
    proxyPort: vd.getUint16(vf.proxy_port, true),
    tcpFlagsFwd: value[vf.tcp_flags_fwd]!,
    tcpFlagsRev: value[vf.tcp_flags_rev]!,
    state: ctState(protocol, st),
    revNat: vd.getUint16(vf.rev_nat, true),
    backendId: vd.getUint32(vf.backend_id, true),
  };
}

/** struct endpoint_key: one address of a local endpoint (cilium_lxc). */
export function encodeEndpointKey(ip: string): Uint8Array {
  const p = parsePrefix(ip);
  if (p.len !== (p.family === 4 ? 32 : 128)) throw new TwinpathError('DATAPATH_ERROR', `"${ip}" is not a single address`);
  const f = LAYOUTS.endpoint_key.fields;
  const k = u8(LAYOUTS.endpoint_key.size);
  k[f.family] = p.family;
  k.set(p.family === 4 ? p.addr.subarray(0, 4) : p.addr, f.addr);
  return k;
}

function u32Key(n: number): Uint8Array {
  const k = u8(4);
  view(k).setUint32(0, n, true);
  return k;
}

/** Compare two byte strings (for a stable order of map entries, whatever the engine's order). */
function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

function sortedEntries(m: EngineMap): Array<[Uint8Array, Uint8Array]> {
  return m.entries().sort((x, y) => compareBytes(x[0], y[0]));
}

/** The endpoint datapath's maps in one opened object (either engine). */
export class DatapathMaps {
  readonly obj: EngineObject;
  readonly #endpoints: EngineMap;
  readonly #lxc: EngineMap;
  readonly #ipcache: EngineMap;
  readonly #policy: EngineMap;
  readonly #ct: EngineMap;
  readonly #metrics: EngineMap;

  constructor(obj: EngineObject) {
    this.obj = obj;
    const need = (name: string): EngineMap => {
      const m = obj.maps().find((x) => x.name === name);
      if (!m) throw new TwinpathError('DATAPATH_ERROR', `the object has no map "${name}": not the endpoint datapath (${DATAPATH_OBJECT})`);
      return m;
    };
    this.#endpoints = need(MAP_ENDPOINTS);
    this.#lxc = need(MAP_LXC);
    this.#ipcache = need(MAP_IPCACHE);
    this.#policy = need(MAP_POLICY);
    this.#ct = need(MAP_CONNTRACK);
    this.#metrics = need(MAP_METRICS);
  }

  /** The addresses cilium_lxc holds, by the interface they lead to, and the other way round:
   * read from the map once, on the first endpoint write, then kept in step with this object's
   * writes, so a write costs the endpoint's own addresses, not a scan of every node's pod. */
  #lxcIndex: LxcIndex | undefined;

  private lxcIndex(): LxcIndex {
    if (this.#lxcIndex) return this.#lxcIndex;
    const index: LxcIndex = { byIfindex: new Map(), byKey: new Map() };
    for (const [k, v] of this.#lxc.entries()) indexAddress(index, hex(k), view(v).getUint32(0, true));
    this.#lxcIndex = index;
    return index;
  }

  setEndpoint(ifindex: number, ep: EndpointInfo): void {
    // No packet runs on ifindex 0 (and cb[0] = 0 means "use skb->ifindex").
    if (ifindex === 0) throw new TwinpathError('DATAPATH_ERROR', `endpoint ${ep.namespace}/${ep.pod}: interface index 0 names no interface`);
    checkU32('interface index', ifindex);
    const value = encodeEndpoint(ep);
    const keys = ep.ips.map(encodeEndpointKey);
    const index = this.lxcIndex();
    // Every check is done: now the writes. The endpoint first, so an address never leads to an
    // interface the endpoints map lacks; an address the endpoint no longer has is dropped.
    const ref = u32Key(ifindex);
    this.#endpoints.update(ref, value);
    const mine = new Set(keys.map(hex));
    for (const k of [...(index.byIfindex.get(ifindex) ?? [])]) {
      if (mine.has(k)) continue;
      deleteIfPresent(this.#lxc, unhexKey(k));
      unindexAddress(index, k);
    }
    for (const k of keys) {
      this.#lxc.update(k, ref);
      indexAddress(index, hex(k), ifindex);
    }
  }

  deleteEndpoint(ifindex: number): void {
    checkU32('interface index', ifindex);
    const index = this.lxcIndex();
    for (const k of [...(index.byIfindex.get(ifindex) ?? [])]) {
      deleteIfPresent(this.#lxc, unhexKey(k));
      unindexAddress(index, k);
    }
    deleteIfPresent(this.#endpoints, u32Key(ifindex));
  }

  /** Endpoint addresses and the interface each leads to (cilium_lxc), sorted by address bytes. */
  endpointAddresses(): Array<{ ip: string; ifindex: number }> {
    const f = LAYOUTS.endpoint_key.fields;
    return sortedEntries(this.#lxc).map(([k, v]) => ({
      ip: formatIp(k.subarray(f.addr, f.addr + (k[f.family] === 6 ? 16 : 4))),
      ifindex: view(v).getUint32(0, true),
    }));
  }

  setIpcache(prefix: string, identity: number): void {
    checkU32(`ipcache ${prefix}: identity`, identity);
    const v = u8(LAYOUTS.ipcache_value.size);
    view(v).setUint32(LAYOUTS.ipcache_value.fields.identity, identity, true);
    this.#ipcache.update(encodeIpcacheKey(prefix), v);
  }

  deleteIpcache(prefix: string): void {
    deleteIfPresent(this.#ipcache, encodeIpcacheKey(prefix));
  }

  setPolicy(e: PolicyEntry): void {
    const k = encodePolicyKey(e);
    this.#policy.update(k, encodePolicyValue(e));
  }

  deletePolicy(e: PolicyEntry): void {
    deleteIfPresent(this.#policy, encodePolicyKey(e));
  }

  policyEntries(): PolicyEntry[] {
    return sortedEntries(this.#policy).map(([k, v]) => decodePolicyEntry(k, v));
  }

  ipcacheEntries(): IpcacheEntry[] {
    return sortedEntries(this.#ipcache).map(([k, v]) => decodeIpcacheEntry(k, v));
  }

  /** Endpoints by interface index. */
  endpoints(): Array<{ ifindex: number; id: number; identity: number; ingressEnforced: boolean; egressEnforced: boolean }> {
    const f = LAYOUTS.endpoint_info.fields;
    return sortedEntries(this.#endpoints)
      .map(([k, v]) => {
        const flags = view(v).getUint32(f.flags, true);
        return {
          ifindex: view(k).getUint32(0, true),
          id: view(v).getUint32(f.endpoint_id, true),
          identity: view(v).getUint32(f.identity, true),
          ingressEnforced: (flags & EP_F_INGRESS_ENFORCED) !== 0,
          egressEnforced: (flags & EP_F_EGRESS_ENFORCED) !== 0,
        };
      })
      .sort((a, b) => a.ifindex - b.ifindex);
  }

  clearConntrack(): void {
    for (const [k] of this.#ct.entries()) deleteIfPresent(this.#ct, k);
  }

  /** Every live or expired-but-not-yet-collected connection entry, in key byte order (service
   * entries apart: serviceConntrack()). */
  conntrack(): ConntrackEntry[] {
    const dir = LAYOUTS.tuple.fields.direction;
    return sortedEntries(this.#ct).filter(([k]) => k[dir] !== CT_DIR_SERVICE).map(([k, v]) => decodeConntrack(k, v));
  }

  /** The entries that keep service flows on their backends, in key byte order. */
  serviceConntrack(): ServiceConntrackEntry[] {
    const dir = LAYOUTS.tuple.fields.direction;
    return sortedEntries(this.#ct).filter(([k]) => k[dir] === CT_DIR_SERVICE).map(([k, v]) => decodeServiceConntrack(k, v));
  }

  /** The entry of one connection, or undefined (the tuple as its first packet carried it after
   * service translation, and the program that made it). */
  conntrackEntry(t: ConntrackTuple): ConntrackEntry | undefined {
    const key = encodeTuple(t, directionOf(t.direction, 'conntrack lookup'));
    const v = this.#ct.lookup(key);
    return v ? decodeConntrack(key, v) : undefined;
  }

  /** The service entry of a flow from a client to a frontend, or undefined. */
  serviceConntrackEntry(t: { client: string; clientPort: number; frontend: string; frontendPort: number; protocol: number }): ServiceConntrackEntry | undefined {
    const key = encodeTuple({ src: t.client, dst: t.frontend, srcPort: t.clientPort, dstPort: t.frontendPort, protocol: t.protocol }, CT_DIR_SERVICE);
    const v = this.#ct.lookup(key);
    return v ? decodeServiceConntrack(key, v) : undefined;
  }

  /** Non-zero counters, by reason then direction (ingress first); reason 0 is forwarded. */
  counters(): Counter[] {
    const out: Counter[] = [];
    const f = LAYOUTS.metrics_value.fields;
    for (const [k, v] of this.#metrics.entries()) {
      const idx = view(k).getUint32(0, true);
      const packets = view(v).getBigUint64(f.packets, true);
      const bytes = view(v).getBigUint64(f.bytes, true);
      if (packets === 0n && bytes === 0n) continue;
      out.push({ reason: idx >> 1, direction: idx & 1 ? 'egress' : 'ingress', packets, bytes });
    }
    return out.sort((a, b) => a.reason - b.reason || (a.direction === b.direction ? 0 : a.direction === 'ingress' ? -1 : 1));
  }
}

type LxcIndex = { byIfindex: Map<number, Set<string>>; byKey: Map<string, number> };

/** Records that address key `k` leads to `ifindex` (taking it from whichever interface had it). */
function indexAddress(index: LxcIndex, k: string, ifindex: number): void {
  unindexAddress(index, k);
  index.byKey.set(k, ifindex);
  let set = index.byIfindex.get(ifindex);
  if (!set) index.byIfindex.set(ifindex, (set = new Set()));
  set.add(k);
}

function unindexAddress(index: LxcIndex, k: string): void {
  const was = index.byKey.get(k);
  if (was === undefined) return;
  index.byKey.delete(k);
  const set = index.byIfindex.get(was);
  set?.delete(k);
  if (set?.size === 0) index.byIfindex.delete(was);
}

function unhexKey(k: string): Uint8Array {
  return new Uint8Array(Buffer.from(k, 'hex'));
}

/** Deletes a key; a key that is not there is not an error (the caller wants it gone). Both
 * engines report a missing key as ENOENT. (A lookup first would not do: an LPM lookup finds the
 * longest matching prefix, not the exact key.) */
function deleteIfPresent(m: EngineMap, key: Uint8Array): void {
  try {
    m.delete(key);
  } catch (e) {
    if ((e as { errnoName?: string }).errnoName !== 'ENOENT') throw e;
  }
}

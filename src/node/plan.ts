// The order in which `node update` changes a live node's maps, so that no packet is let through
// that neither the old nor the new policy lets through. Pure: tables in, a list of steps out.
//
// The verdict of a new flow at endpoint E in direction d for remote address R: I = ipcache(R)
// (longest prefix; a miss is world), then two policy lookups, (E, d, I, proto, port) and
// (E, d, 0, proto, port), each returning its longest matching prefix. A deny from either wins;
// else an allow from either; else deny if E is enforced in d, allow if not. Three facts about one
// map operation follow from that, whatever the LPM shadowing:
//   - adding a deny entry never turns a denied packet into an allowed one;
//   - removing an allow entry never does either (the lookup falls back to a shorter entry, or
//     to nothing, and the packet was allowed before);
//   - turning enforcement on never does.
// Call these operations "tightening". A state reached from the old one by tightening allows
// nothing the old state denies, and the same holds relative to the new state.
//
// Identity numbers are the trouble: the compiler numbers identity classes afresh, so an entry
// for identity 300 can mean one class before and another after, and while the ipcache changes an
// address resolves to its old identity or its new one. So the update runs in four phases:
//
//  1. ipcache old. Tighten the old state into T: enforcement on where either policy (or the
//     rule below) wants it; every new deny added; every allow removed unless the same key is an
//     allow in both policies, for an identity no address changes to or from, and (when the
//     key's identity is 0, "any") the endpoint/direction has no deny for a changing identity.
//     Each step tightens the old state: every hop allows at most what the old policy allows.
//  2. ipcache old -> new, entry by entry: inserts and changes longest prefix first, then
//     removals shortest prefix first. Then every address resolves, at every instant, to its old
//     identity or its new one (see `ipcacheSteps`). T is built so that either way a hop allows
//     only what BOTH policies allow: an allow left in T is the same entry in both policies for an
//     identity whose set of addresses does not change (so the entry means the same thing to
//     both), and a changing address finds no allow for its identity, and a wildcard allow only
//     where neither policy has a deny that the changing identity would have to see. T also is
//     the new state tightened (allows removed, old denies and enforcement added) for addresses
//     that do not change.
//     The phase is held for a grace period, so a packet that passed one hop before phase 2
//     reaches its next hop (on another node, or another endpoint of this one) before phase 3.
//  3. ipcache new. Add the new allows (T is the new state tightened; adding back allows the new
//     state has keeps every hop within what the new policy allows).
//  4. Remove the old denies, turn old-only enforcement off, write the final endpoint values:
//     each step removes only something the new state lacks, down to the new state itself.
//
// Conntrack: a flow that passed one hop under the old policy and was dropped at the next left an
// entry at the first hop, and its next packet there would skip policy as "established". Under
// the new policy that packet must be decided again, or a flow both policies deny (the old one at
// the second hop, the new one at the first) gets through. So after phase 1 the update removes
// every conntrack entry that has not seen a reply (src/node/update.ts); entries made from then
// on come from states within both policies, and flows that saw a reply were let through end to
// end and stay open.
//
// A connection crosses at most two hops with policy (the client's egress, the server's
// ingress; replies are conntrack). Nodes updated together run each phase on every node before
// the next phase starts, so the two hops of one packet see phases p <= q with q <= p + 1 (the
// grace period covers a packet in flight across phase 2): both hops within the old policy
// (phases 1-2), or both within the new one (phases 2-4). Hence no connection that both policies
// deny gets through. Connections already open are not cut: established flows skip policy, as
// in Cilium.

import { TwinpathError } from '../errors.js';
import { decodeIpcacheEntry, decodePolicyEntry, LAYOUTS, parsePrefix, encodeIpcacheKey } from '../datapath/maps.js';
import { RESERVED } from '../policy/model.js';
import { hex, unhex, type Table, type Tables } from './tables.js';

export type MapName = keyof Tables;

export interface PlanStep {
  phase: 1 | 2 | 3 | 4;
  map: MapName;
  op: 'set' | 'delete';
  key: string;
  value?: Uint8Array;
}

export interface UpdateCounts {
  added: number;
  removed: number;
  changed: number;
}

export interface UpdatePlan {
  steps: PlanStep[];
  /** What differs between the old and the new tables (the steps also hold temporary ones). */
  counts: Record<MapName, UpdateCounts>;
  /** Identities some address resolves to before or after but not both. */
  changedIdentities: number[];
}

const EP = LAYOUTS.endpoint_info.fields;
const F_INGRESS = 0x1;
const F_EGRESS = 0x2;

function epFlags(v: Uint8Array): number {
  return new DataView(v.buffer, v.byteOffset, v.byteLength).getUint32(EP.flags, true);
}

function withFlags(v: Uint8Array, flags: number): Uint8Array {
  const out = new Uint8Array(v);
  new DataView(out.buffer).setUint32(EP.flags, flags, true);
  return out;
}

function epId(v: Uint8Array): number {
  return new DataView(v.buffer, v.byteOffset, v.byteLength).getUint32(EP.endpoint_id, true);
}

function same(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function identityOf(v: Uint8Array): number {
  return new DataView(v.buffer, v.byteOffset, v.byteLength).getUint32(LAYOUTS.ipcache_value.fields.identity, true);
}

/** The identity a prefix's addresses fall back to without it: the longest strictly shorter
 * prefix of the table that covers it, or world. */
function parentIdentity(t: Table, prefix: string): number {
  const p = parsePrefix(prefix);
  const max = p.family === 4 ? 32 : 128;
  for (let len = p.len - 1; len >= 0; len--) {
    const addr = new Uint8Array(p.addr);
    for (let bit = len; bit < max; bit++) addr[bit >> 3]! &= ~(0x80 >> (bit & 7));
    const text = p.family === 4 ? Array.from(addr.subarray(0, 4)).join('.') : ipv6Text(addr);
    const v = t.get(hex(encodeIpcacheKey(`${text}/${len}`)));
    if (v !== undefined) return identityOf(v);
  }
  return RESERVED.world;
}

function ipv6Text(a: Uint8Array): string {
  const g: string[] = [];
  for (let i = 0; i < 16; i += 2) g.push(((a[i]! << 8) | a[i + 1]!).toString(16));
  return g.join(':');
}

/**
 * Identities that some address resolves to in one table and not in the other. For every prefix
 * whose identity differs (or that exists on one side only), the identities its addresses have on
 * each side: the prefix's own, or, where it is missing, that of its longest covering prefix.
 * Every address whose identity changes is covered (its longest prefix on the longer side is
 * such a prefix, and the other side's identity for it is the parent's), so this is a superset.
 */
export function changedIdentities(oldIp: Table, newIp: Table): Set<number> {
  const out = new Set<number>();
  for (const k of new Set([...oldIp.keys(), ...newIp.keys()])) {
    const o = oldIp.get(k);
    const n = newIp.get(k);
    if (same(o, n)) continue;
    const prefix = decodeIpcacheEntry(unhex(k), o ?? n!).prefix;
    const a = o !== undefined ? identityOf(o) : parentIdentity(oldIp, prefix);
    const b = n !== undefined ? identityOf(n) : parentIdentity(newIp, prefix);
    if (a !== b) {
      out.add(a);
      out.add(b);
    }
  }
  return out;
}

/** ipcache changes in an order that keeps every address on its old or its new identity:
 * inserts and changes longest prefix first, then removals shortest prefix first. */
export function ipcacheSteps(oldIp: Table, newIp: Table): PlanStep[] {
  const len = (k: string): number => new DataView(unhex(k).buffer).getUint32(LAYOUTS.ipcache_key.fields.prefixlen, true);
  const upserts = [...newIp].filter(([k, v]) => !same(oldIp.get(k), v)).sort((a, b) => len(b[0]) - len(a[0]) || (a[0] < b[0] ? -1 : 1));
  const removals = [...oldIp.keys()].filter((k) => !newIp.has(k)).sort((a, b) => len(a) - len(b) || (a < b ? -1 : 1));
  return [
    ...upserts.map(([key, value]): PlanStep => ({ phase: 2, map: 'ipcache', op: 'set', key, value })),
    ...removals.map((key): PlanStep => ({ phase: 2, map: 'ipcache', op: 'delete', key })),
  ];
}

function counts(o: Table, n: Table): UpdateCounts {
  let added = 0;
  let removed = 0;
  let changed = 0;
  for (const [k, v] of n) {
    const was = o.get(k);
    if (was === undefined) added++;
    else if (!same(was, v)) changed++;
  }
  for (const k of o.keys()) if (!n.has(k)) removed++;
  return { added, removed, changed };
}

/** The steps that take a node's maps from `old` to `next`, safe in the sense of the header. */
export function planUpdate(old: Tables, next: Tables): UpdatePlan {
  // Endpoints are bound to interfaces by `attach`; an update changes what they hold, not
  // which interfaces have programs.
  for (const k of new Set([...old.endpoints.keys(), ...next.endpoints.keys()])) {
    const o = old.endpoints.get(k);
    const n = next.endpoints.get(k);
    const ifindex = new DataView(unhex(k).buffer).getUint32(0, true);
    if (o === undefined || n === undefined) {
      throw new TwinpathError('NODE_ERROR', `the pods of this node changed (interface index ${ifindex} ${o === undefined ? 'gains' : 'loses'} an endpoint): run node attach again`);
    }
    if (epId(o) !== epId(n)) {
      throw new TwinpathError('NODE_ERROR', `interface index ${ifindex}: endpoint id ${epId(o)} becomes ${epId(n)}: run node attach again`);
    }
  }
  const changed = changedIdentities(old.ipcache, next.ipcache);
  const decode = (k: string, v: Uint8Array) => decodePolicyEntry(unhex(k), v);
  const isDeny = (v: Uint8Array | undefined): boolean => v !== undefined && (v[LAYOUTS.policy_entry.fields.flags]! & 1) !== 0;
  const isAllow = (v: Uint8Array | undefined): boolean => v !== undefined && !isDeny(v);

  // Endpoint/direction pairs with a deny (either side) for an identity that changes.
  const risky = new Set<string>();
  for (const t of [old.policy, next.policy]) {
    for (const [k, v] of t) {
      if (!isDeny(v)) continue;
      const e = decode(k, v);
      if (changed.has(e.identity)) risky.add(`${e.endpointId}/${e.direction}`);
    }
  }
  const keepAllow = (k: string): boolean => {
    const o = old.policy.get(k);
    const n = next.policy.get(k);
    if (!isAllow(o) || !isAllow(n)) return false;
    const e = decode(k, o!);
    if (e.identity === 0) return !risky.has(`${e.endpointId}/${e.direction}`);
    return !changed.has(e.identity);
  };

  const steps: PlanStep[] = [];
  const riskyFlags = (id: number): number =>
    (risky.has(`${id}/ingress`) ? F_INGRESS : 0) | (risky.has(`${id}/egress`) ? F_EGRESS : 0);

  // Phase 1: tighten the old state into T.
  const transitional = new Map<string, number>();
  for (const [k, o] of old.endpoints) {
    const n = next.endpoints.get(k)!;
    const flags = epFlags(o) | epFlags(n) | riskyFlags(epId(o));
    transitional.set(k, flags);
    if (flags !== epFlags(o)) steps.push({ phase: 1, map: 'endpoints', op: 'set', key: k, value: withFlags(o, flags) });
  }
  for (const [k, n] of next.policy) {
    if (isDeny(n) && !same(old.policy.get(k), n)) steps.push({ phase: 1, map: 'policy', op: 'set', key: k, value: n });
  }
  for (const [k, o] of old.policy) {
    if (isAllow(o) && !keepAllow(k) && !isDeny(next.policy.get(k))) steps.push({ phase: 1, map: 'policy', op: 'delete', key: k });
  }

  // Phase 2: the ipcache, then the endpoints' own identities (the flags stay transitional).
  steps.push(...ipcacheSteps(old.ipcache, next.ipcache));
  for (const [k, n] of next.endpoints) {
    const flags = transitional.get(k)!;
    const v = withFlags(n, flags);
    if (!same(withFlags(old.endpoints.get(k)!, flags), v)) steps.push({ phase: 2, map: 'endpoints', op: 'set', key: k, value: v });
  }

  // Phase 3: the new allows (where no old deny holds the key: that one flips in phase 4).
  for (const [k, n] of next.policy) {
    if (!isAllow(n) || isDeny(old.policy.get(k))) continue;
    const cur = keepAllow(k) ? old.policy.get(k) : undefined;
    if (!same(cur, n)) steps.push({ phase: 3, map: 'policy', op: 'set', key: k, value: n });
  }

  // Phase 4: old denies go (or flip to the new allow), then the final endpoint flags.
  for (const [k, o] of old.policy) {
    if (!isDeny(o)) continue;
    const n = next.policy.get(k);
    if (n === undefined) steps.push({ phase: 4, map: 'policy', op: 'delete', key: k });
    else if (isAllow(n)) steps.push({ phase: 4, map: 'policy', op: 'set', key: k, value: n });
  }
  for (const [k, n] of next.endpoints) {
    if (transitional.get(k) !== epFlags(n)) steps.push({ phase: 4, map: 'endpoints', op: 'set', key: k, value: n });
  }

  return {
    steps,
    counts: {
      endpoints: counts(old.endpoints, next.endpoints),
      ipcache: counts(old.ipcache, next.ipcache),
      policy: counts(old.policy, next.policy),
    },
    changedIdentities: [...changed].sort((a, b) => a - b),
  };
}

/** Applies a plan's steps to a copy of `old`, one by one in phase order, calling `visit` after
 * each: what tests use to check every intermediate state. */
export function replay(old: Tables, steps: PlanStep[], visit?: (t: Tables, step: PlanStep, i: number) => void): Tables {
  const t: Tables = { endpoints: new Map(old.endpoints), ipcache: new Map(old.ipcache), policy: new Map(old.policy) };
  // In phase order, as updateNodes applies them (a plan lists them so already).
  const ordered = steps.map((s, i) => ({ s, i })).sort((a, b) => a.s.phase - b.s.phase || a.i - b.i).map((x) => x.s);
  ordered.forEach((s, i) => {
    if (s.op === 'set') t[s.map].set(s.key, s.value!);
    else t[s.map].delete(s.key);
    visit?.(t, s, i);
  });
  return t;
}

// `node update`: recompile, compare with what the pinned maps hold now, and change only the
// entries that differ, in the phases of src/node/plan.ts (read its header for why that order
// lets nothing through that both policies deny). Several attachments updated together (the
// nodes of one cluster) run each phase on all of them before the next phase starts.
//
// The maps are reached through their pins, so an update needs no process to have stayed
// around since `attach`.
//
// After the four policy phases come the services (src/node/services.ts: recompiled from the
// cluster keeping ids, only the entries that differ, backends before the frontends that reach
// them) and the prefilter's deny list (added before removed). Services go last so that a new
// backend is only offered once the policy and ipcache for its identity are in place.

import { setTimeout as sleep } from 'node:timers/promises';
import { TwinpathError } from '../errors.js';
import { KernelMap } from '../kernel/bpf.js';
import { decodeConntrack, LAYOUTS, MAP_CONNTRACK, MAP_LXC, MAP_ENDPOINTS, MAP_IPCACHE, MAP_POLICY } from '../datapath/maps.js';
import { compile } from '../policy/compile.js';
import { loadFiles } from '../policy/load.js';
import type { Cluster } from '../policy/ast.js';
import type { CompiledPolicy } from '../policy/model.js';
import { mapPinPath } from './attach.js';
import { applyPrefilter, parsePrefilterCidrs, PREFILTER_MAPS } from './prefilter.js';
import { checkServicesFit, compileNodeServices, currentServiceTables, LB_SMALL_MAPS, planServices, type LbStep } from './services.js';
import { LB_MAPS } from '../lb/maps.js';
import type { LbModel } from '../lb/model.js';
import { planUpdate, type MapName, type UpdateCounts, type UpdatePlan } from './plan.js';
import { readNodeState, writeNodeState, type NodeState } from './state.js';
import { hex, nodeAddressMap, nodeMapTables, readTable, unhex, type LocalEndpoint, type Table, type Tables } from './tables.js';
import type { NodeTables } from '../datapath/tables.js';

/** Time phase 2 is held so a packet between two hops never sees phase 1 and then phase 3. */
export const DEFAULT_GRACE_MS = 5;

const MAP_OF: Record<MapName, string> = { endpoints: MAP_ENDPOINTS, ipcache: MAP_IPCACHE, policy: MAP_POLICY };

export interface UpdateOptions {
  /** New policy files (default: the attachment's current ones). */
  policyFiles?: string[];
  /** New cluster files (default: the attachment's). The node's pods must stay the same. */
  clusterFiles?: string[];
  /** Use this compiled policy instead of compiling the files (the files are still recorded). */
  compiled?: CompiledPolicy;
  /** With `compiled`: the cluster its services come from (without it, services stay as they are). */
  cluster?: Cluster;
  /** A new deny list for the XDP prefilter (the attachment must have one). */
  prefilter?: string[];
  graceMs?: number;
}

export interface UpdateResult {
  name: string;
  counts: Record<MapName, UpdateCounts>;
  /** Map operations made (temporary ones included). */
  operations: number;
  changedIdentities: number[];
  /** Conntrack entries of flows that never saw a reply, removed after phase 1. */
  halfOpenRemoved: number;
  /** Load-balancer map entries written and removed (absent when services were not updated). */
  services?: { set: number; removed: number };
  /** Prefixes added to and removed from the prefilter's deny list (absent when not changed). */
  prefilter?: { added: string[]; removed: string[] };
}

export interface UpdateReport {
  nodes: UpdateResult[];
  /** From the first map operation to the last, grace period included. */
  applyMs: number;
  /** The time spent in map operations alone (the update's cost to the datapath). */
  opsMs: number;
  graceMs: number;
}

export function requireNodeState(name: string): NodeState {
  const s = readNodeState(name);
  if (s === undefined) throw new TwinpathError('NODE_ERROR', `no node attachment "${name}": make one with "twinpath node attach"`);
  if (s.status !== 'attached') throw new TwinpathError('NODE_ERROR', `attachment "${name}" is incomplete (its attach did not finish): run "twinpath node detach ${name}" or attach again`);
  return s;
}

/** A pinned map of an attachment, opened by its pin. */
export function openPinned(state: NodeState, map: string): KernelMap {
  const path = mapPinPath(state.pinDir, map);
  try {
    return KernelMap.fromPin(path);
  } catch (e) {
    throw new TwinpathError('NODE_ERROR', `attachment "${state.name}": cannot open its map ${map} (${path}): attach again`, { file: path }, { cause: e });
  }
}

/** The tables an attachment's maps hold now. */
export function currentTables(state: NodeState): Tables {
  const out = {} as Tables;
  for (const m of Object.keys(MAP_OF) as MapName[]) {
    const km = openPinned(state, MAP_OF[m]);
    try {
      out[m] = readTable(km);
    } finally {
      km.close();
    }
  }
  return out;
}

/** The attachment's endpoints under `compiled`. */
function localOf(state: NodeState, compiled: CompiledPolicy): LocalEndpoint[] {
  const byPod = new Map(compiled.endpoints.map((e) => [`${e.namespace}/${e.pod}`, e]));
  return state.endpoints.map((r) => {
    const ep = byPod.get(r.pod);
    if (ep === undefined) throw new TwinpathError('NODE_ERROR', `attachment "${state.name}": pod ${r.pod} is no longer an endpoint of the cluster: run node attach again`);
    return { ifindex: r.ifindex, endpoint: ep };
  });
}

/** What the attachment's maps should hold under `compiled` (cilium_lxc included). */
function targetNodeTables(state: NodeState, compiled: CompiledPolicy): NodeTables {
  return nodeMapTables(compiled, state.node, localOf(state, compiled), nodeAddressMap(compiled, state.extraNodeAddresses));
}

/** The tables whose order src/node/plan.ts decides, as the attachment's maps should hold them. */
export function targetTables(state: NodeState, compiled: CompiledPolicy): Tables {
  const t = targetNodeTables(state, compiled);
  return { endpoints: t.endpoints, ipcache: t.ipcache, policy: t.policy };
}

/** Sets, then deletes, that take `have` to `want`. */
function syncSteps(have: Table, want: Table): Array<{ op: 'set' | 'delete'; key: string; value?: Uint8Array }> {
  const out: Array<{ op: 'set' | 'delete'; key: string; value?: Uint8Array }> = [];
  for (const [k, v] of want) {
    const o = have.get(k);
    if (o === undefined || hex(o) !== hex(v)) out.push({ op: 'set', key: k, value: v });
  }
  for (const k of have.keys()) if (!want.has(k)) out.push({ op: 'delete', key: k });
  return out;
}

/** Updates attachments together; see the header. */
export async function updateNodes(names: string[], opts: UpdateOptions = {}): Promise<UpdateReport> {
  const graceMs = opts.graceMs ?? DEFAULT_GRACE_MS;
  const work: Work[] = [];
  const prefilter = opts.prefilter !== undefined ? parsePrefilterCidrs(opts.prefilter) : undefined;
  try {
    for (const name of names) {
      const state = requireNodeState(name);
      if (prefilter !== undefined && state.prefilter === undefined) {
        throw new TwinpathError('NODE_ERROR', `attachment "${name}" has no XDP prefilter: attach it with --xdp IFACE first`);
      }
      const clusterFiles = opts.clusterFiles ?? state.clusterFiles;
      const policyFiles = opts.policyFiles ?? state.policyFiles;
      const inputs = opts.compiled === undefined ? loadFiles([...clusterFiles, ...policyFiles]) : undefined;
      const compiled = opts.compiled ?? compile(inputs!);
      const cluster = opts.cluster ?? inputs?.cluster;
      const target = targetNodeTables(state, compiled);
      const plan = planUpdate(currentTables(state), { endpoints: target.endpoints, ipcache: target.ipcache, policy: target.policy });
      const w: Work = { state: { ...state, clusterFiles, policyFiles }, plan, maps: {} as Record<MapName, KernelMap>, ct: undefined, halfOpen: 0, lb: new Map(), lxc: [] };
      work.push(w);
      for (const m of Object.keys(MAP_OF) as MapName[]) w.maps[m] = openPinned(state, MAP_OF[m]);
      w.ct = openPinned(state, MAP_CONNTRACK);
      // cilium_lxc follows the endpoints' addresses (written with the services, after phase 4).
      w.lb.set(MAP_LXC, openPinned(state, MAP_LXC));
      w.lxc = syncSteps(readTable(w.lb.get(MAP_LXC)!), target.lxc);
      if (state.services !== undefined && cluster !== undefined) {
        const svc = state.services;
        const next = compileNodeServices(cluster, state.node, { maglevTableSize: svc.maglevTableSize, previous: svc.model });
        for (const m of [...LB_SMALL_MAPS, LB_MAPS.maglev]) w.lb.set(m, openPinned(state, m));
        checkServicesFit(next, [...w.lb.entries()].map(([n, km]) => ({ ...km.info(), name: n })), svc.maglevRows);
        const steps = planServices(currentServiceTables((m) => w.lb.get(m)!), svc.pending === true ? undefined : svc.model, next);
        w.services = { next, steps };
      }
      if (prefilter !== undefined) {
        for (const m of [PREFILTER_MAPS.v4, PREFILTER_MAPS.v6]) w.lb.set(m, openPinned(state, m));
      }
    }
    const t0 = performance.now();
    let opsMs = 0;
    for (const phase of [1, 2, 3, 4] as const) {
      const p0 = performance.now();
      for (const w of work) {
        for (const s of w.plan.steps) {
          if (s.phase !== phase) continue;
          const key = unhex(s.key);
          if (s.op === 'set') w.maps[s.map].update(key, s.value!);
          else {
            try {
              w.maps[s.map].delete(key);
            } catch (e) {
              if ((e as { errnoName?: string }).errnoName !== 'ENOENT') throw e;
            }
          }
        }
      }
      // See src/node/plan.ts: after phase 1 every hop allows at most what both policies allow,
      // so flows that half-passed an old hop must be decided again from here on.
      if (phase === 1) for (const w of work) w.halfOpen = removeHalfOpen(w.ct!);
      opsMs += performance.now() - p0;
      if (phase === 2 && graceMs > 0) await sleep(graceMs);
    }
    const p5 = performance.now();
    for (const w of work) {
      const lxc = w.lb.get(MAP_LXC)!;
      for (const s of w.lxc) {
        if (s.op === 'set') lxc.update(unhex(s.key), s.value!);
        else deleteIfThere(lxc, unhex(s.key));
      }
      if (w.services !== undefined) {
        // Marked first: a crash in the middle leaves the next update rewriting every Maglev row.
        w.state = { ...w.state, services: { ...w.state.services!, pending: true } };
        writeNodeState(w.state);
        for (const s of w.services.steps) {
          const m = w.lb.get(s.map)!;
          if (s.op === 'set') m.update(unhex(s.key), s.value!);
          else deleteIfThere(m, unhex(s.key));
        }
        w.state = { ...w.state, services: { maglevTableSize: w.state.services!.maglevTableSize, maglevRows: w.state.services!.maglevRows, model: w.services.next } };
      }
      if (prefilter !== undefined) {
        w.prefilter = applyPrefilter({ v4: w.lb.get(PREFILTER_MAPS.v4)!, v6: w.lb.get(PREFILTER_MAPS.v6)! }, prefilter);
        w.state = { ...w.state, prefilter: { cidrs: prefilter } };
      }
    }
    opsMs += performance.now() - p5;
    const applyMs = performance.now() - t0;
    const at = new Date().toISOString();
    for (const w of work) {
      const sum = (k: keyof UpdateCounts) => Object.values(w.plan.counts).reduce((a, c) => a + c[k], 0);
      writeNodeState({ ...w.state, lastUpdate: { at, applyMs, added: sum('added'), removed: sum('removed'), changed: sum('changed') } });
    }
    return {
      applyMs,
      opsMs,
      graceMs,
      nodes: work.map((w) => ({
        name: w.state.name, counts: w.plan.counts, operations: w.plan.steps.length, changedIdentities: w.plan.changedIdentities, halfOpenRemoved: w.halfOpen,
        ...(w.services !== undefined ? { services: { set: w.services.steps.filter((s) => s.op === 'set').length, removed: w.services.steps.filter((s) => s.op === 'delete').length } } : {}),
        ...(w.prefilter !== undefined ? { prefilter: w.prefilter } : {}),
      })),
    };
  } finally {
    for (const w of work) {
      for (const m of [...Object.values(w.maps), ...w.lb.values()]) m.close();
      w.ct?.close();
    }
  }
}

interface Work {
  state: NodeState;
  plan: UpdatePlan;
  maps: Record<MapName, KernelMap>;
  ct: KernelMap | undefined;
  halfOpen: number;
  /** Pinned load-balancer and prefilter maps, by name. */
  lb: Map<string, KernelMap>;
  services?: { next: LbModel; steps: LbStep[] };
  lxc: Array<{ op: 'set' | 'delete'; key: string; value?: Uint8Array }>;
  prefilter?: { added: string[]; removed: string[] };
}

/** tuple.direction of a service entry (bpf/lib/common.h CT_DIR_SERVICE). */
const CT_DIR_SERVICE = 2;

/** Removes the conntrack entries that never saw a reply packet; returns how many. Service
 * entries are kept: they never count replies (the flow's own entry does), decide no policy, and
 * are what keeps an established flow on its backend. */
function removeHalfOpen(ct: KernelMap): number {
  let n = 0;
  for (const [k, v] of [...ct.entries()]) {
    if (k[LAYOUTS.tuple.fields.direction] === CT_DIR_SERVICE) continue;
    const value = new Uint8Array(Array.isArray(v) ? v[0]! : v);
    if (decodeConntrack(new Uint8Array(k), value).packetsRev !== 0n) continue;
    try {
      ct.delete(k);
      n++;
    } catch (e) {
      if ((e as { errnoName?: string }).errnoName !== 'ENOENT') throw e;
    }
  }
  return n;
}

/** Forgets every connection the attachments' programs track: the next packet of each is new. */
export function clearConntrack(names: string[]): void {
  for (const name of names) {
    const m = openPinned(requireNodeState(name), MAP_CONNTRACK);
    try {
      for (const k of [...m.keys()]) {
        try {
          m.delete(k);
        } catch (e) {
          if ((e as { errnoName?: string }).errnoName !== 'ENOENT') throw e;
        }
      }
    } finally {
      m.close();
    }
  }
}

function deleteIfThere(m: KernelMap, key: Uint8Array): void {
  try {
    m.delete(key);
  } catch (e) {
    if ((e as { errnoName?: string }).errnoName !== 'ENOENT') throw e;
  }
}

// `node attach` and `node detach`: the endpoint datapath loaded through libbpf, its maps filled
// from the compiled policy and pinned, its programs on every local pod's host-side interface
// (tc ingress: cil_from_container, tc egress: cil_to_container), the cluster's services as this
// node sees them in the load balancer's maps, and optionally the XDP prefilter
// (bpf/datapath/prefilter.bpf.o, its own object) or the netdev program on given interfaces. Everything that outlives the process (pins, tc
// filters, XDP programs, clsact qdiscs made here) is recorded in the state file before it is
// made, so `detach`, or the next `attach` of the same name, removes it after a crash.
//
// A second attach of the same name replaces the first in place: tc filters sit at a fixed
// handle and priority and are attached with replace, so an interface never holds two of them
// and traffic is never without a program during the swap.

import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { TwinpathError, isTwinpathError } from '../errors.js';
import { rawAddon, kernelAvailability } from '../kernel/addon.js';
import { attachTc, attachXdp, destroyClsact, detachTc, detachXdp, queryTc, queryXdp, unpin, type XdpMode } from '../kernel/attach.js';
import { KernelMap, KernelObject, type KernelProgram } from '../kernel/bpf.js';
import { isKernelError } from '../kernel/error.js';
import { interfaceIndex } from '../kernel/netns.js';
import { DATAPATH_OBJECT, MAP_LXC, PROG_FROM_ENDPOINT, PROG_TO_ENDPOINT } from '../datapath/maps.js';
import { LB_MAPS, LB_TABLE_SIZE_GLOBAL } from '../lb/maps.js';
import type { LbModel } from '../lb/model.js';
import type { Cluster } from '../policy/ast.js';
import type { CompiledPolicy } from '../policy/model.js';
import { ifindexIn, inNetns } from './interfaces.js';
import { BPFFS, checkNodeName } from './names.js';
import { pidAlive, recordedSteps } from '../util/statefile.js';
import { listNodeStates, readNodeState, removeNodeState, writeNodeState, NODE_STATE_VERSION, type EndpointRecord, type HookRecord, type NodeState } from './state.js';
import { nodeAddressMap, nodeMapTables, unhex, type LocalEndpoint } from './tables.js';
import { nodeMapSizes, type NodeTables } from '../datapath/tables.js';
import { applyPrefilter, parsePrefilterCidrs, PREFILTER_MAPS, PREFILTER_OBJECT, PROG_XDP_PREFILTER, readPrefilter, readPrefilterCounters, type PrefilterCounters } from './prefilter.js';
import { checkServicesFit, compileNodeServices, maglevCapacity, planServices, type NodeServices } from './services.js';

/** tc filters go here (Cilium's choice too), so a replacing attach swaps them in place. */
export const TC_HANDLE = 1;
export const TC_PRIORITY = 1;

/** The program for packets from outside the node, attached with --netdev when the object has it. */
export const PROG_FROM_NETDEV = 'cil_from_netdev';

export interface AttachOptions {
  name: string;
  compiled: CompiledPolicy;
  /** The cluster node this machine is. */
  node: string;
  /** Pods of this node and their interfaces (already checked to exist). */
  endpoints: Array<{ pod: string; ifname: string }>;
  netns?: string;
  sandbox?: string;
  pinDir: string;
  object?: string;
  /** Interfaces for the XDP prefilter, and the mode. */
  xdp?: string[];
  xdpMode?: XdpMode;
  /** The prefilter's deny list of source CIDRs (needs `xdp`). */
  prefilter?: string[];
  /** The cluster the policy was compiled from: its Services, as this node sees them, go into
   * the load balancer's maps (unless `services` is false). */
  cluster?: Cluster;
  services?: boolean;
  /** Maglev table size, a prime (default 16381). */
  maglevTableSize?: number;
  /** Interfaces for cil_from_netdev (tc ingress). */
  netdev?: string[];
  clusterFiles: string[];
  policyFiles: string[];
  extraNodeAddresses?: Record<string, string[]>;
  /** Mount bpffs at /sys/fs/bpf when it is not there. */
  mountBpffs?: boolean;
}

export interface AttachResult {
  state: NodeState;
  /** Whether an attachment of that name was there before (and was replaced). */
  replaced: boolean;
  tables: { endpoints: number; ipcache: number; policy: number; frontends: number; backends: number; prefilter: number };
}

/** What attaching needs from the machine: the kernel engine (root, libbpf), BTF, bpffs. */
export function checkNodePrerequisites(opts: { mountBpffs?: boolean; pinDir: string }): void {
  const a = kernelAvailability();
  if (!a.ok) throw new TwinpathError('KERNEL_UNAVAILABLE', a.reason);
  if (!existsSync('/sys/kernel/btf/vmlinux')) {
    throw new TwinpathError('NODE_ERROR', 'this kernel exposes no BTF (/sys/kernel/btf/vmlinux is missing): the datapath needs a kernel built with CONFIG_DEBUG_INFO_BTF');
  }
  const root = bpffsRootOf(opts.pinDir);
  if (!isBpffs(root)) {
    if (opts.mountBpffs !== true) {
      throw new TwinpathError('NODE_ERROR', `no bpf filesystem is mounted at ${root}: mount it (mount -t bpf bpf ${root}) or pass --mount-bpffs`);
    }
    mkdirSync(root, { recursive: true });
    const r = spawnMount(root);
    if (r !== undefined || !isBpffs(root)) throw new TwinpathError('NODE_ERROR', `cannot mount a bpf filesystem at ${root}: ${r ?? 'still not bpffs'}`);
  }
}

function bpffsRootOf(pinDir: string): string {
  return pinDir.startsWith(`${BPFFS}/`) ? BPFFS : dirname(dirname(pinDir));
}

/** Whether `dir` is the root of a bpf filesystem mount (by /proc/self/mounts). */
export function isBpffs(dir: string): boolean {
  let mounts: string;
  try {
    mounts = readFileSync('/proc/self/mounts', 'utf8');
  } catch {
    return false;
  }
  return mounts.split('\n').some((l) => {
    const f = l.split(' ');
    return f[1] === dir && f[2] === 'bpf';
  });
}

function spawnMount(dir: string): string | undefined {
  const r = spawnSync('mount', ['-t', 'bpf', 'bpf', dir], { encoding: 'utf8' });
  if (r.error) return r.error.message;
  if (r.status !== 0) return (r.stderr || `mount exited with status ${r.status}`).trim();
  return undefined;
}

/** Other attachments holding an interface in the same namespace, to refuse clobbering them. */
function holders(name: string, netns: string | undefined, ifindex: number): string[] {
  const out: string[] = [];
  for (const other of listNodeStates()) {
    if (other === name) continue;
    let s: NodeState | undefined;
    try {
      s = readNodeState(other);
    } catch {
      continue;
    }
    if (s === undefined || s.netns !== netns) continue;
    if (s.hooks.some((h) => h.ifindex === ifindex)) out.push(other);
  }
  return out;
}

interface Hook {
  ifname: string;
  ifindex: number;
  hook: HookRecord['hook'];
  program: string;
}

/** Loads, fills, pins and attaches; see the header. Throws with nothing new left on failure
 * before the first pin; after that, a failure runs `detach` for what this call made. */
export function attachNode(opts: AttachOptions): AttachResult {
  const name = checkNodeName(opts.name);
  const netns = opts.netns;
  if (netns !== undefined && !existsSync(`/run/netns/${netns}`)) {
    throw new TwinpathError('NODE_ERROR', `no network namespace "${netns}" (/run/netns/${netns} is missing)`);
  }
  checkNodePrerequisites({ mountBpffs: opts.mountBpffs, pinDir: opts.pinDir });

  // Resolve every interface first: a missing one stops here, before anything is made.
  const byPod = new Map(opts.compiled.endpoints.map((e) => [`${e.namespace}/${e.pod}`, e]));
  const local: LocalEndpoint[] = [];
  const records: EndpointRecord[] = [];
  const hooks: Hook[] = [];
  for (const { pod, ifname } of opts.endpoints) {
    const ep = byPod.get(pod);
    if (ep === undefined) throw new TwinpathError('NODE_ERROR', `pod ${pod} is not an endpoint of the cluster (no such pod, or it uses the host network)`);
    const ifindex = ifindexIn(ifname, netns, `pod ${pod}`);
    local.push({ ifindex, endpoint: ep });
    records.push({ pod, ifname, ifindex, endpointId: ep.id });
    hooks.push({ ifname, ifindex, hook: 'tc-ingress', program: PROG_FROM_ENDPOINT }, { ifname, ifindex, hook: 'tc-egress', program: PROG_TO_ENDPOINT });
  }
  for (const ifname of opts.netdev ?? []) hooks.push({ ifname, ifindex: ifindexIn(ifname, netns, '--netdev'), hook: 'tc-ingress', program: PROG_FROM_NETDEV });
  const xdpIfs = (opts.xdp ?? []).map((ifname) => ({ ifname, ifindex: ifindexIn(ifname, netns, '--xdp') }));
  const prefilter = parsePrefilterCidrs(opts.prefilter ?? []);
  if (opts.prefilter !== undefined && xdpIfs.length === 0) {
    throw new TwinpathError('NODE_ERROR', '--prefilter needs --xdp: name the interfaces the prefilter runs on');
  }
  const seen = new Set<string>();
  for (const h of [...hooks, ...xdpIfs.map((x) => ({ ...x, hook: 'xdp' as const, program: PROG_XDP_PREFILTER }))]) {
    const k = `${h.ifindex} ${h.hook}`;
    if (seen.has(k)) throw new TwinpathError('NODE_ERROR', `interface ${h.ifname} is named twice for ${h.hook}`);
    seen.add(k);
    const others = holders(name, netns, h.ifindex);
    if (others.length > 0) throw new TwinpathError('NODE_ERROR', `interface ${h.ifname} already carries the programs of attachment "${others[0]}": detach it first`);
  }
  const nodeAddrs = nodeAddressMap(opts.compiled, opts.extraNodeAddresses);
  const tables = nodeMapTables(opts.compiled, opts.node, local, nodeAddrs);
  const model = opts.cluster !== undefined && opts.services !== false
    ? compileNodeServices(opts.cluster, opts.node, opts.maglevTableSize !== undefined ? { maglevTableSize: opts.maglevTableSize } : {})
    : undefined;

  const prev = readNodeState(name);
  if (prev !== undefined && prev.status === 'attaching' && prev.pid !== process.pid && pidAlive(prev.pid)) {
    throw new TwinpathError('NODE_ERROR', `attachment "${name}" is being made by process ${prev.pid}`);
  }
  if (prev !== undefined && (prev.netns !== netns || prev.pinDir !== opts.pinDir)) {
    // Somewhere else entirely: nothing to replace in place.
    detachNode(name);
  }
  const base = prev !== undefined && prev.netns === netns && prev.pinDir === opts.pinDir ? prev : undefined;

  const file = opts.object ?? DATAPATH_OBJECT;
  const { obj, services } = loadObject(file, model, nodeMapSizes(tables));
  let pf: KernelObject | undefined;
  try {
    const programs = new Map<string, KernelProgram>();
    const progFor = (prog: string, what: string): KernelProgram => {
      let p = programs.get(prog);
      if (p === undefined) {
        if (!obj.info().programs.some((x) => x.name === prog)) {
          throw new TwinpathError('NODE_ERROR', `${what}: the datapath object has no program "${prog}" (${file})`);
        }
        p = obj.program(prog);
        programs.set(prog, p);
      }
      return p;
    };
    for (const h of hooks) progFor(h.program, h.hook === 'tc-ingress' && h.program === PROG_FROM_NETDEV ? '--netdev' : `interface ${h.ifname}`);
    writeTables(obj, tables);
    if (services !== undefined) writeServices(obj, services.model);
    if (xdpIfs.length > 0) {
      pf = loadObject(PREFILTER_OBJECT).obj;
      applyPrefilter({ v4: pf.map(PREFILTER_MAPS.v4), v6: pf.map(PREFILTER_MAPS.v6) }, prefilter);
    }

    const state: NodeState = {
      version: NODE_STATE_VERSION,
      name,
      status: 'attaching',
      pid: process.pid,
      attachedAt: new Date().toISOString(),
      steps: 0,
      node: opts.node,
      ...(netns !== undefined ? { netns } : {}),
      ...(opts.sandbox !== undefined ? { sandbox: opts.sandbox } : {}),
      object: file,
      pinDir: opts.pinDir,
      pins: [...(base?.pins ?? [])],
      clsact: [...(base?.clsact ?? [])],
      hooks: [...(base?.hooks ?? [])],
      endpoints: records,
      clusterFiles: opts.clusterFiles,
      policyFiles: opts.policyFiles,
      ...(opts.extraNodeAddresses !== undefined ? { extraNodeAddresses: opts.extraNodeAddresses } : {}),
      ...(services !== undefined ? { services } : {}),
      ...(pf !== undefined ? { prefilter: { cidrs: prefilter } } : {}),
    };
    writeNodeState(state);
    try {
      runSteps(state, obj, hooks, xdpIfs, pf, opts.xdpMode ?? 'auto');
    } catch (e) {
      if (base === undefined) {
        try {
          detachNode(name);
        } catch {
          // the original failure is the one to report; detach can be run again by hand
        }
      }
      throw e;
    }
    return {
      state,
      replaced: prev !== undefined,
      tables: {
        endpoints: tables.endpoints.size, ipcache: tables.ipcache.size, policy: tables.policy.size,
        frontends: services?.model.frontends.length ?? 0, backends: services?.model.backends.length ?? 0, prefilter: prefilter.length,
      },
    };
  } finally {
    // Pins and attachments keep maps and programs alive; the process's fds are not needed.
    obj.close();
    pf?.close();
  }
}

/** Opens and loads an object with nothing pinned by libbpf (pins are made by hand, at recorded
 * paths), program types set where libbpf cannot tell them from the section. With services, the
 * Maglev table size is set and the Maglev array sized for the model (with room to grow), after
 * checking that the model fits the object's maps. */
function loadObject(file: string, model?: LbModel, sizes: Record<string, number> = {}): { obj: KernelObject; services?: NodeServices } {
  const obj = KernelObject.openFile(file);
  try {
    for (const m of obj.info().maps) {
      if (m.pinPath !== null) obj.setPinPath(m.name, null);
      // A node larger than the object's defaults gets maps its size.
      const need = sizes[m.name];
      if (need !== undefined && need > m.maxEntries) obj.setMaxEntries(m.name, need);
    }
    for (const p of obj.info().programs) {
      if (p.typeName === 'unspec') obj.setProgramType(p.name, p.section.startsWith('xdp') ? 'xdp' : 'sched_cls');
    }
    let services: NodeServices | undefined;
    if (model !== undefined) {
      const maps = obj.info().maps;
      const maglev = maps.find((m) => m.name === LB_MAPS.maglev);
      if (maglev === undefined) throw new TwinpathError('LB_ERROR', `the datapath object has no map "${LB_MAPS.maglev}": it does not load balance services (${file})`);
      const entries = maglevCapacity(model, maglev.maxEntries);
      const rows = Math.floor(entries / model.maglevTableSize);
      checkServicesFit(model, maps, rows);
      if (entries !== maglev.maxEntries) obj.setMaxEntries(LB_MAPS.maglev, entries);
      const size = new Uint8Array(4);
      new DataView(size.buffer).setUint32(0, model.maglevTableSize, true);
      obj.setGlobal(LB_TABLE_SIZE_GLOBAL, size);
      services = { maglevTableSize: model.maglevTableSize, maglevRows: rows, model };
    }
    obj.load();
    return services !== undefined ? { obj, services } : { obj };
  } catch (e) {
    obj.close();
    throw e;
  }
}

/** The model into the freshly loaded object's lb.h maps, in planServices' order. */
function writeServices(obj: KernelObject, model: LbModel): void {
  for (const s of planServices({}, undefined, model)) obj.map(s.map).update(unhex(s.key), s.value!);
}

function writeTables(obj: KernelObject, t: NodeTables): void {
  const put = (map: string, table: Map<string, Uint8Array>): void => {
    const m = obj.map(map);
    for (const [k, v] of table) m.update(unhex(k), v);
  };
  // Endpoints before the addresses that lead to them.
  put('cilium_endpoints', t.endpoints);
  put(MAP_LXC, t.lxc);
  put('cilium_ipcache', t.ipcache);
  put('cilium_policy_v2', t.policy);
}

/** The maps that get pinned: the object's own, not libbpf's internal .rodata/.bss. */
export function pinnedMapNames(obj: KernelObject): string[] {
  return obj.info().maps.filter((m) => !m.internal).map((m) => m.name);
}

export function mapPinPath(pinDir: string, map: string): string {
  return `${pinDir}/maps/${map}`;
}

export function progPinPath(pinDir: string, prog: string): string {
  return `${pinDir}/progs/${prog}`;
}

function runSteps(state: NodeState, obj: KernelObject, hooks: Hook[], xdpIfs: Array<{ ifname: string; ifindex: number }>, pf: KernelObject | undefined, xdpMode: XdpMode): void {
  const step = recordedSteps({ state, save: () => writeNodeState(state), crashAfter: 'TWINPATH_NODE_CRASH_AFTER' });
  const netns = state.netns;

  // Old pins go first (the old programs stay attached, and keep their maps, until replaced).
  for (const p of [...state.pins].reverse()) {
    step(() => {}, () => {
      removePin(p);
      state.pins = state.pins.filter((x) => x !== p);
    });
  }
  mkdirSync(`${state.pinDir}/maps`, { recursive: true });
  mkdirSync(`${state.pinDir}/progs`, { recursive: true });
  for (const o of pf !== undefined ? [obj, pf] : [obj]) {
    for (const m of pinnedMapNames(o)) {
      const path = mapPinPath(state.pinDir, m);
      step(() => state.pins.push(path), () => o.map(m).pin(path));
    }
  }
  for (const p of new Set(hooks.map((h) => h.program))) {
    const path = progPinPath(state.pinDir, p);
    step(() => state.pins.push(path), () => obj.program(p).pin(path));
  }
  const xdpProg = pf?.program(PROG_XDP_PREFILTER);
  if (xdpProg !== undefined) {
    const path = progPinPath(state.pinDir, PROG_XDP_PREFILTER);
    step(() => state.pins.push(path), () => xdpProg.pin(path));
  }

  for (const h of hooks) {
    const prog = obj.program(h.program);
    // The clsact qdisc: made here (and so removed by detach) unless it was already there.
    if (!state.clsact.some((c) => c.ifindex === h.ifindex)) {
      const made = inNetns(netns, () => {
        try {
          rawAddon().tcHookCreate(h.ifindex, 1 | 2);
          return true;
        } catch (e) {
          if ((e as { errnoName?: string }).errnoName === 'EEXIST') return false;
          throw e;
        }
      });
      // Recorded after the fact: the only window is between the netlink call and this write.
      if (made) step(() => state.clsact.push({ ifname: h.ifname, ifindex: h.ifindex }), () => {});
    }
    const rec: HookRecord = { ifname: h.ifname, ifindex: h.ifindex, hook: h.hook, program: h.program, handle: TC_HANDLE, priority: TC_PRIORITY };
    const existing = state.hooks.findIndex((x) => x.ifindex === h.ifindex && x.hook === h.hook);
    step(
      () => {
        if (existing >= 0) state.hooks[existing] = rec;
        else state.hooks.push(rec);
      },
      () => inNetns(netns, () => attachTc(h.ifindex, h.hook === 'tc-ingress' ? 'ingress' : 'egress', prog, { handle: TC_HANDLE, priority: TC_PRIORITY, replace: true })),
    );
  }
  for (const x of xdpIfs) {
    const rec: HookRecord = { ifname: x.ifname, ifindex: x.ifindex, hook: 'xdp', program: xdpProg!.name, xdpMode };
    const existing = state.hooks.findIndex((h) => h.ifindex === x.ifindex && h.hook === 'xdp');
    step(
      () => {
        if (existing >= 0) state.hooks[existing] = rec;
        else state.hooks.push(rec);
      },
      () => inNetns(netns, () => attachXdp(x.ifindex, xdpProg!, { mode: xdpMode })),
    );
  }

  // A NodePort reply is rev-NATed at the backend's cil_from_container, so it leaves the pod's
  // veth with the node's own address as its source; Linux forwards a packet with a local source
  // only from an interface that accepts local sources. With services, turn that on for every
  // endpoint interface (IPv6 has no such check), and remember the old value for detach.
  if (state.services !== undefined) {
    state.sysctls ??= [];
    for (const e of state.endpoints) {
      const path = `/proc/sys/net/ipv4/conf/${e.ifname}/accept_local`;
      if (state.sysctls.some((x) => x.path === path)) continue;
      const previous = inNetns(netns, () => readFileSync(path, 'utf8').trim());
      if (previous === '1') continue;
      step(() => state.sysctls!.push({ path, previous }), () => inNetns(netns, () => writeFileSync(path, '1')));
    }
  }

  // Hooks of the replaced attachment that this one does not use.
  const wanted = new Set([...hooks.map((h) => `${h.ifindex} ${h.hook}`), ...xdpIfs.map((x) => `${x.ifindex} xdp`)]);
  for (const h of [...state.hooks]) {
    if (wanted.has(`${h.ifindex} ${h.hook}`)) continue;
    step(() => {}, () => {
      removeHook(h, netns);
      state.hooks = state.hooks.filter((x) => x !== h);
    });
  }
  for (const c of [...state.clsact]) {
    if (state.hooks.some((h) => h.ifindex === c.ifindex && h.hook !== 'xdp')) continue;
    step(() => {}, () => {
      removeClsact(c, netns);
      state.clsact = state.clsact.filter((x) => x !== c);
    });
  }
  state.status = 'attached';
  writeNodeState(state);
}

function removePin(path: string): void {
  try {
    unpin(path);
  } catch (e) {
    if (!isKernelError(e, 'ENOENT')) throw e;
  }
}

/** Whether `ifname` still names `ifindex` (an interface deleted and made again is another one). */
function sameInterface(ifname: string, ifindex: number): boolean {
  try {
    return interfaceIndex(ifname) === ifindex;
  } catch {
    return false;
  }
}

function removeHook(h: HookRecord, netns: string | undefined): void {
  inNetns(netns, () => {
    if (!sameInterface(h.ifname, h.ifindex)) return; // gone, and its programs with it
    try {
      if (h.hook === 'xdp') detachXdp(h.ifindex, h.xdpMode ?? 'auto');
      else detachTc({ ifindex: h.ifindex, direction: h.hook === 'tc-ingress' ? 'ingress' : 'egress', handle: h.handle ?? TC_HANDLE, priority: h.priority ?? TC_PRIORITY });
    } catch (e) {
      if (!isKernelError(e, 'ENOENT') && !isKernelError(e, 'EINVAL') && !isKernelError(e, 'ENODEV')) throw e;
    }
  });
}

function removeClsact(c: { ifname: string; ifindex: number }, netns: string | undefined): void {
  inNetns(netns, () => {
    if (sameInterface(c.ifname, c.ifindex)) destroyClsact(c.ifindex);
  });
}

export interface DetachResult {
  name: string;
  /** Whether a state file was there. */
  hadState: boolean;
  hooks: number;
  pins: number;
}

/** Removes attachment `name`: its hooks, the clsact qdiscs it made, its pins and pin directory,
 * its state file. Works from the state of a crashed attach too; nothing to remove is fine. */
export function detachNode(name: string): DetachResult {
  checkNodeName(name);
  const state = readNodeState(name);
  if (state === undefined) return { name, hadState: false, hooks: 0, pins: 0 };
  if (state.status === 'attaching' && state.pid !== process.pid && pidAlive(state.pid)) {
    throw new TwinpathError('NODE_ERROR', `attachment "${name}" is being made by process ${state.pid}`);
  }
  const netns = state.netns;
  // A namespace that is gone took its interfaces, and their programs, with it.
  const nsGone = netns !== undefined && !existsSync(`/run/netns/${netns}`);
  const errors: string[] = [];
  let hooks = 0;
  if (!nsGone) {
    for (const h of [...state.hooks].reverse()) {
      try {
        removeHook(h, netns);
        hooks++;
      } catch (e) {
        errors.push(`${h.ifname} ${h.hook}: ${(e as Error).message}`);
      }
    }
    for (const c of state.clsact) {
      try {
        removeClsact(c, netns);
      } catch (e) {
        errors.push(`${c.ifname} clsact: ${(e as Error).message}`);
      }
    }
    for (const x of state.sysctls ?? []) {
      // An interface that is gone took its setting with it.
      inNetns(netns, () => {
        if (existsSync(x.path)) writeFileSync(x.path, x.previous);
      });
    }
  }
  let pins = 0;
  for (const p of [...state.pins].reverse()) {
    try {
      if (existsSync(p)) {
        removePin(p);
        pins++;
      }
    } catch (e) {
      errors.push(`${p}: ${(e as Error).message}`);
    }
  }
  rmSync(state.pinDir, { recursive: true, force: true });
  if (errors.length > 0) {
    throw new TwinpathError('NODE_ERROR', `attachment "${name}" not fully removed: ${errors.join('; ')}`);
  }
  removeNodeState(name);
  return { name, hadState: true, hooks, pins };
}

export interface HookStatus extends HookRecord {
  /** The program id on the hook now (tc: at our handle/priority), undefined when none. */
  progId?: number;
}

export interface NodeStatus {
  name: string;
  status: 'attached' | 'attaching' | 'crashed';
  pid: number;
  node: string;
  netns?: string;
  sandbox?: string;
  pinDir: string;
  pins: Array<{ path: string; exists: boolean }>;
  hooks: HookStatus[];
  endpoints: EndpointRecord[];
  policyFiles: string[];
  lastUpdate?: NodeState['lastUpdate'];
  /** Service frontends, backend groups and backends loaded. */
  services?: { frontends: number; groups: number; backends: number; maglevTableSize: number };
  /** The prefilter's deny list and counters, read from its pinned maps (undefined values when
   * they cannot be read). */
  prefilter?: { cidrs?: string[]; counters?: PrefilterCounters };
}

/** What attachment `name` has: from its state, checked against the kernel. */
export function nodeStatus(name: string): NodeStatus | undefined {
  const s = readNodeState(checkNodeName(name));
  if (s === undefined) return undefined;
  const status: NodeStatus['status'] = s.status === 'attached' ? 'attached' : s.pid !== process.pid && !pidAlive(s.pid) ? 'crashed' : 'attaching';
  const nsThere = s.netns === undefined || existsSync(`/run/netns/${s.netns}`);
  const hooks: HookStatus[] = s.hooks.map((h) => {
    if (!nsThere) return { ...h };
    try {
      const id = inNetns(s.netns, () => {
        if (!sameInterface(h.ifname, h.ifindex)) return undefined;
        if (h.hook === 'xdp') {
          const q = queryXdp(h.ifindex);
          return q.progId || q.skbProgId || q.drvProgId || undefined;
        }
        return queryTc({ ifindex: h.ifindex, direction: h.hook === 'tc-ingress' ? 'ingress' : 'egress', handle: h.handle ?? TC_HANDLE, priority: h.priority ?? TC_PRIORITY });
      });
      return id !== undefined ? { ...h, progId: id } : { ...h };
    } catch (e) {
      if (isTwinpathError(e)) return { ...h };
      throw e;
    }
  });
  const out: NodeStatus = {
    name: s.name,
    status,
    pid: s.pid,
    node: s.node,
    pinDir: s.pinDir,
    pins: s.pins.map((path) => ({ path, exists: existsSync(path) })),
    hooks,
    endpoints: s.endpoints,
    policyFiles: s.policyFiles,
  };
  if (s.netns !== undefined) out.netns = s.netns;
  if (s.sandbox !== undefined) out.sandbox = s.sandbox;
  if (s.lastUpdate !== undefined) out.lastUpdate = s.lastUpdate;
  if (s.services !== undefined) {
    const m = s.services.model;
    out.services = { frontends: m.frontends.length, groups: m.services.length, backends: m.backends.length, maglevTableSize: s.services.maglevTableSize };
  }
  if (s.prefilter !== undefined) out.prefilter = pinnedPrefilter(s.pinDir);
  return out;
}

/** The deny list and counters of an attachment's pinned prefilter maps. */
function pinnedPrefilter(pinDir: string): { cidrs?: string[]; counters?: PrefilterCounters } {
  const open = (name: string): KernelMap | undefined => {
    try {
      return KernelMap.fromPin(mapPinPath(pinDir, name));
    } catch {
      return undefined;
    }
  };
  const v4 = open(PREFILTER_MAPS.v4);
  const v6 = open(PREFILTER_MAPS.v6);
  const metrics = open(PREFILTER_MAPS.metrics);
  try {
    return {
      ...(v4 && v6 ? { cidrs: readPrefilter({ v4, v6 }) } : {}),
      ...(metrics ? { counters: readPrefilterCounters(metrics) } : {}),
    };
  } finally {
    for (const m of [v4, v6, metrics]) m?.close();
  }
}

// The cluster's datapath in one engine. Each node of the cluster runs its own copy of the
// endpoint object with its own maps, as a real Cilium node does: the endpoints of the pods
// scheduled there, an ipcache (the compiled prefixes plus the node addresses, which are `host`
// on their own node and `remote-node` everywhere else), the policy entries of its endpoints, and,
// when the cluster's Services are load balanced, the services as that node sees them (its own
// Local scopes; compileServices(cluster, { node })). A node's object is opened the first time
// something runs on it, so a probe between two pods costs two objects however large the cluster
// is.
//
// This module owns which node an endpoint lives on, which simulated interface it has, and how
// each node's object is sized and opened; what goes into its maps is src/datapath/tables.ts's
// (nodeTables, written by fillNode in bulk), the same definition node attach uses. What a
// packet's journey through the nodes looks like is the caller's business (src/datapath/probe.ts,
// replay).

import { readFileSync } from 'node:fs';
import { TwinpathError, isTwinpathError } from '../errors.js';
import { readObject, type ObjectSpec } from '../elf/object.js';
import { getEngine } from '../engine/index.js';
import type { EngineKind, EngineObject, OpenOptions } from '../engine/engine.js';
import { compileServices } from '../lb/compile.js';
import { canonicalAddr } from '../lb/addr.js';
import { LB_MAPS, lbGlobals, writeLbMaps } from '../lb/maps.js';
import { DEFAULT_MAGLEV_TABLE_SIZE, type LbBackend, type LbFrontend, type LbModel, type LbService } from '../lb/model.js';
import type { Cluster, Protocol } from '../policy/ast.js';
import { type CompiledPolicy, type EndpointInfo } from '../policy/model.js';
import {
  DATAPATH_OBJECT, DatapathMaps, endpointContext, PROG_FROM_ENDPOINT, PROG_FROM_NETDEV, PROG_TO_ENDPOINT,
  type ConntrackEntry, type ConntrackTuple, type ServiceConntrackEntry,
} from './maps.js';
import { VM_MAP_MAX_ARENA } from '../vm/constants.generated.js';
import { flowEvents, type FlowEvent } from './flow.js';
import { endpointNode, fillNode, IFINDEX_BASE, IMPLICIT_NODE, nodeMapSizes, nodeTables, type NodeTables } from './tables.js';

export type DatapathProgram = typeof PROG_FROM_ENDPOINT | typeof PROG_TO_ENDPOINT | typeof PROG_FROM_NETDEV;

/** How Datapath.open loads a cluster. */
export interface DatapathOptions {
  engine: EngineKind;
  /** The endpoint object (default: the committed bpf/datapath/endpoint.bpf.o). */
  object?: string;
  /** The cluster the policy was compiled from; its Services and EndpointSlices are what the
   * nodes load balance. */
  cluster?: Cluster;
  /** Service load balancing: `true` (the default when `cluster` is given) compiles the cluster's
   * services for each node; an LbModel is loaded on every node as it is; `false` turns it off. */
  services?: LbModel | boolean;
  /** The Maglev table size when compiling services: a prime, default 16381. */
  maglevTableSize?: number;
}

/** A service frontend as one node's datapath knows it, with its backend group. */
export interface FrontendInfo {
  frontend: LbFrontend;
  service: LbService;
  /** In Maglev input order (the group's order). */
  backends: LbBackend[];
}

export { IFINDEX_BASE, IMPLICIT_NODE };

/** The simulated interface of a node's external network device (cil_from_netdev runs there). */
export const NETDEV_IFINDEX = 2;

const TC_ACT_SHOT = 2;

/** The VM's clock starts here and advances a microsecond per run, so conntrack timestamps are
 * reproducible (the kernel engine uses its own clock; nothing here depends on its value). */
const CLOCK_START_NS = 1_000_000_000n;
const CLOCK_STEP_NS = 1_000n;

export interface DatapathRun {
  verdict: 'FORWARDED' | 'DROPPED';
  retval: number;
  flows: FlowEvent[];
  /** The packet as the program left it: the input of whatever comes next on the path. */
  packet: Uint8Array;
}

interface LoadedNode {
  obj: EngineObject;
  maps: DatapathMaps;
}

export class Datapath {
  readonly compiled: CompiledPolicy;
  readonly engine: EngineKind;
  private readonly open_: (opts: OpenOptions) => EngineObject;
  private readonly spec: ObjectSpec;
  private readonly loaded = new Map<string, LoadedNode>();
  /** Nodes that ran a packet since the last resetConntrack(). */
  private readonly touched = new Set<string>();
  private readonly nodeAddrs = new Map<string, string[]>();
  private readonly endpointsByNode = new Map<string, EndpointInfo[]>();
  /** Each node's service model, when services are load balanced. */
  private readonly lbModels = new Map<string, LbModel>();
  private readonly lbGlobals_: OpenOptions['globals'] | undefined;
  private readonly lbMode: 'off' | 'cluster' | 'model';
  private readonly tableSize: number;
  private clock = CLOCK_START_NS;
  private closed = false;

  private constructor(
    compiled: CompiledPolicy,
    engine: EngineKind,
    spec: ObjectSpec,
    open: (opts: OpenOptions) => EngineObject,
    lb: { mode: 'off' | 'cluster' | 'model'; tableSize: number; models?: Map<string, LbModel> },
  ) {
    this.compiled = compiled;
    this.engine = engine;
    this.open_ = open;
    this.spec = spec;
    this.lbMode = lb.mode;
    this.tableSize = lb.tableSize;
    for (const n of compiled.nodes) this.nodeAddrs.set(n.name, n.addresses);
    for (const ep of compiled.endpoints) {
      const node = nodeOf(ep);
      // A pod may name a node no Node object describes: it still gets a node, one without addresses.
      if (!this.nodeAddrs.has(node)) this.nodeAddrs.set(node, []);
      let list = this.endpointsByNode.get(node);
      if (!list) this.endpointsByNode.set(node, (list = []));
      list.push(ep);
    }
    if (lb.models) for (const [node, m] of lb.models) this.lbModels.set(node, m);
    this.lbGlobals_ = lb.mode === 'off' ? undefined : lbGlobals({ maglevTableSize: lb.tableSize });
  }

  /** Reads the endpoint object once and, with services, compiles them for every node (so bad
   * input fails here, before anything runs); nodes open their copies of the object lazily. */
  static async open(compiled: CompiledPolicy, opts: DatapathOptions): Promise<Datapath> {
    const file = opts.object ?? DATAPATH_OBJECT;
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(readFileSync(file));
    } catch (e) {
      throw new TwinpathError('IO_ERROR', `cannot read the datapath object: ${(e as Error).message}`, { file }, { cause: e });
    }
    const spec: ObjectSpec = readObject(bytes, file);
    const lb = planServices(compiled, opts, spec);
    const engine = await getEngine(opts.engine);
    return new Datapath(compiled, opts.engine, spec, (o) => engine.open({ bytes, file, spec }, o), lb);
  }

  /** Whether the nodes load balance services. */
  servicesEnabled(): boolean {
    return this.lbMode !== 'off';
  }

  /** The service model a node's datapath holds (undefined without services). */
  services(node: string): LbModel | undefined {
    this.nodeAddresses(node);
    return this.lbModels.get(node);
  }

  /** A frontend of a node's services, with its backend group, or undefined. */
  frontend(node: string, address: string, port: number, protocol: Protocol): FrontendInfo | undefined {
    const model = this.services(node);
    if (!model) return undefined;
    const addr = canonicalAddr(address);
    const fe = model.frontends.find((f) => f.address === addr && f.port === port && f.protocol === protocol);
    if (!fe) return undefined;
    const service = model.services.find((x) => x.id === fe.serviceId)!;
    const byId = new Map(model.backends.map((b) => [b.id, b]));
    return { frontend: fe, service, backends: service.backendIds.map((id) => byId.get(id)!) };
  }

  /** A backend of a node's services by id (as a flow event or conntrack entry names it). */
  backend(node: string, id: number): LbBackend | undefined {
    return this.services(node)?.backends.find((b) => b.id === id);
  }

  /** A connection's conntrack entry on a node, or undefined (see DatapathMaps.conntrackEntry). */
  conntrackEntry(node: string, tuple: ConntrackTuple): ConntrackEntry | undefined {
    return this.maps(node).conntrackEntry(tuple);
  }

  /** The service entry that keeps a client's flow to a frontend on its backend, or undefined. */
  serviceConntrackEntry(
    node: string,
    t: { client: string; clientPort: number; frontend: string; frontendPort: number; protocol: number },
  ): ServiceConntrackEntry | undefined {
    return this.maps(node).serviceConntrackEntry(t);
  }

  /**
   * Replaces the services after the cluster changed (backends added or removed, services edited):
   * each node's model is recompiled from `cluster` keeping the ids of what stayed, and written
   * into the nodes already open, so established flows keep their backends (their service
   * entries name backend ids). Every node is compiled before anything is written.
   */
  updateServices(cluster: Cluster): void {
    if (this.closed) throw new TwinpathError('DATAPATH_ERROR', 'the datapath is closed');
    if (this.lbMode !== 'cluster') {
      throw new TwinpathError('DATAPATH_ERROR', 'services were not compiled from a cluster here; open the datapath with { cluster } to update them');
    }
    const next = new Map<string, LbModel>();
    for (const node of this.nodes()) {
      const prev = this.lbModels.get(node);
      next.set(node, compileForNode(cluster, node, this.tableSize, prev));
    }
    for (const [node, model] of next) {
      const n = this.loaded.get(node);
      if (n) {
        try {
          writeLbMaps(n.obj, model);
        } catch (e) {
          if (isTwinpathError(e)) throw new TwinpathError(e.code, `node "${node}": ${e.detail}`, e.location, { cause: e });
          throw e;
        }
      }
      this.lbModels.set(node, model);
    }
  }

  /** Every node, in name order: the cluster's nodes, any a pod names, and the implicit one. */
  nodes(): string[] {
    return [...this.nodeAddrs.keys()].sort();
  }

  /** The node's InternalIP/ExternalIP addresses (none for the implicit node). */
  nodeAddresses(node: string): string[] {
    const a = this.nodeAddrs.get(node);
    if (a === undefined) throw new TwinpathError('DATAPATH_ERROR', `no node "${node}" in the cluster`);
    return a;
  }

  /** The node whose addresses include `ip`, if any. */
  nodeByAddress(ip: string): string | undefined {
    for (const [name, addrs] of this.nodeAddrs) if (addrs.includes(ip)) return name;
    return undefined;
  }

  nodeOf(ep: EndpointInfo): string {
    return nodeOf(ep);
  }

  ifindexOf(ep: EndpointInfo): number {
    return IFINDEX_BASE + ep.id;
  }

  /** The maps of a node (opening its object if nothing has run there yet). */
  maps(node: string): DatapathMaps {
    return this.load(node).maps;
  }

  /** Nodes whose objects are open. */
  loadedNodes(): string[] {
    return [...this.loaded.keys()].sort();
  }

  /** Runs cil_from_netdev on a node: a packet arriving at the node from outside (NodePort and
   * externalIP translation, then the destination endpoint's ingress policy; a packet for no local
   * endpoint passes). */
  runFromNetdev(node: string, packet: Uint8Array): DatapathRun {
    return this.run(node, PROG_FROM_NETDEV, NETDEV_IFINDEX, packet);
  }

  /** Runs one program on one packet on a node, as if it arrived on simulated interface `ifindex`. */
  run(node: string, program: DatapathProgram, ifindex: number, packet: Uint8Array): DatapathRun {
    const n = this.load(node);
    this.touched.add(node);
    const timeNs = this.clock;
    this.clock += CLOCK_STEP_NS;
    let out;
    try {
      out = n.obj.run(program, { packet, ctx: endpointContext(ifindex), timeNs });
    } catch (e) {
      if (isTwinpathError(e)) throw e.within({ program });
      throw e;
    }
    return {
      verdict: out.retval === TC_ACT_SHOT ? 'DROPPED' : 'FORWARDED',
      retval: out.retval,
      flows: flowEvents(out),
      packet: out.packet,
    };
  }

  /** Forgets every connection the nodes have seen since the last reset (and, with services, the
   * backends flows and clients were kept on): the next run starts a fresh connection. Only nodes
   * that ran something are touched, which keeps the kernel cheap. */
  resetConntrack(): void {
    for (const node of this.touched) {
      const n = this.loaded.get(node);
      if (!n) continue;
      n.maps.clearConntrack();
      if (this.lbMode !== 'off') {
        for (const name of [LB_MAPS.affinity4, LB_MAPS.affinity6]) {
          const m = n.obj.map(name);
          for (const [k] of m.entries()) m.delete(k);
        }
      }
    }
    this.touched.clear();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    const errors: unknown[] = [];
    for (const n of this.loaded.values()) {
      try {
        n.obj.close();
      } catch (e) {
        errors.push(e);
      }
    }
    this.loaded.clear();
    if (errors.length) throw errors[0];
  }

  /** What a node's maps hold: its endpoints on their simulated interfaces, the ipcache with
   * every node's addresses, its endpoints' policy entries and its services (src/datapath/tables.ts). */
  tables(node: string): NodeTables {
    this.nodeAddresses(node);
    const eps = this.endpointsByNode.get(node) ?? [];
    const model = this.lbModels.get(node);
    return nodeTables(this.compiled, node, {
      endpoints: eps.map((endpoint) => ({ ifindex: this.ifindexOf(endpoint), endpoint })),
      nodeAddresses: this.nodeAddrs,
      ...(model ? { services: model } : {}),
    });
  }

  private load(node: string): LoadedNode {
    if (this.closed) throw new TwinpathError('DATAPATH_ERROR', 'the datapath is closed');
    const have = this.loaded.get(node);
    if (have) return have;
    let obj: EngineObject | undefined;
    try {
      const tables = this.tables(node);
      const maxEntries = grownSizes(this.spec, nodeMapSizes(tables), this.tableSize);
      obj = this.open_({ ...(this.lbGlobals_ ? { globals: this.lbGlobals_ } : {}), ...(Object.keys(maxEntries).length ? { maxEntries } : {}) });
      const maps = new DatapathMaps(obj);
      fillNode(obj, tables);
      const n = { obj, maps };
      this.loaded.set(node, n);
      return n;
    } catch (e) {
      obj?.close();
      if (isTwinpathError(e)) throw new TwinpathError(e.code, `node "${node}": ${e.detail}`, e.location, { cause: e });
      throw e;
    }
  }
}

/** Room a grown map keeps beyond what the node needs at open, so that updateServices can add
 * services (and Maglev rows) without reopening the node: a quarter more. */
function withHeadroom(n: number): number {
  return n + Math.ceil(n / 4);
}

/** maxEntries for a node's object: every map the tables overflow, grown (with headroom) past
 * what they need; maps whose declared size suffices keep it. */
export function grownSizes(spec: ObjectSpec, need: Record<string, number>, maglevTableSize: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of spec.maps) {
    const n = need[m.name];
    if (n === undefined || n <= m.maxEntries) continue;
    if (m.name === LB_MAPS.maglev) {
      // Whole rows; the headroom gives way before the array outgrows what the VM holds.
      const rows = Math.ceil(n / maglevTableSize);
      const roomy = withHeadroom(rows) * maglevTableSize;
      out[m.name] = roomy * 8 <= VM_MAP_MAX_ARENA ? roomy : Math.max(n, Math.floor(VM_MAP_MAX_ARENA / 8 / maglevTableSize) * maglevTableSize);
    } else {
      out[m.name] = withHeadroom(n);
    }
  }
  return out;
}

function nodeOf(ep: EndpointInfo): string {
  return endpointNode(ep);
}

/** A node's services. A node the cluster has no Node object for (the implicit node, a node only a
 * pod names) is compiled for no node: its Local ClusterIP/externalIP scopes are empty. */
function compileForNode(cluster: Cluster, node: string, tableSize: number, previous?: LbModel): LbModel {
  const known = cluster.nodes.some((n) => n.name === node);
  try {
    return compileServices(cluster, { maglevTableSize: tableSize, ...(known ? { node } : {}), ...(previous ? { previous } : {}) });
  } catch (e) {
    if (isTwinpathError(e)) throw new TwinpathError(e.code, `services of node "${node}": ${e.detail}`, e.location, { cause: e });
    throw e;
  }
}

/** What Datapath.open loads as services, checked against the object before any node opens. */
function planServices(
  compiled: CompiledPolicy,
  opts: DatapathOptions,
  spec: ObjectSpec,
): { mode: 'off' | 'cluster' | 'model'; tableSize: number; models?: Map<string, LbModel> } {
  const want = opts.services ?? opts.cluster !== undefined;
  if (want === false) {
    if (opts.maglevTableSize !== undefined) throw new TwinpathError('DATAPATH_ERROR', 'maglevTableSize is given but services are off');
    return { mode: 'off', tableSize: DEFAULT_MAGLEV_TABLE_SIZE };
  }
  const nodes = new Set<string>(compiled.nodes.map((n) => n.name));
  for (const ep of compiled.endpoints) nodes.add(nodeOf(ep));
  const models = new Map<string, LbModel>();
  let tableSize: number;
  let mode: 'cluster' | 'model';
  if (want === true) {
    if (!opts.cluster) throw new TwinpathError('DATAPATH_ERROR', 'services: true needs the cluster (open the datapath with { cluster })');
    tableSize = opts.maglevTableSize ?? DEFAULT_MAGLEV_TABLE_SIZE;
    for (const node of [...nodes].sort()) models.set(node, compileForNode(opts.cluster, node, tableSize));
    mode = 'cluster';
  } else {
    if (opts.maglevTableSize !== undefined && opts.maglevTableSize !== want.maglevTableSize) {
      throw new TwinpathError('DATAPATH_ERROR', `maglevTableSize ${opts.maglevTableSize} differs from the given model's ${want.maglevTableSize}`);
    }
    tableSize = want.maglevTableSize;
    for (const node of nodes) models.set(node, want);
    mode = 'model';
  }
  // The Maglev array is sized at each node's open (rows x table size, 8 bytes a slot as arrays
  // round values up); a size the engine cannot hold is said now rather than at a node's load.
  const maglev = spec.maps.find((m) => m.name === LB_MAPS.maglev);
  if (!maglev) throw new TwinpathError('DATAPATH_ERROR', `the object has no map "${LB_MAPS.maglev}": it does not load balance services`);
  for (const [node, m] of models) {
    const rows = m.services.reduce((mx, x) => Math.max(mx, x.id + 1), 0);
    const bytes = rows * tableSize * 8;
    const limit = opts.engine === 'vm' ? VM_MAP_MAX_ARENA : 0xffffffff;
    if (rows * tableSize > maglev.maxEntries && bytes > limit) {
      throw new TwinpathError(
        'LB_ERROR',
        `node "${node}": ${rows} service groups x ${tableSize} Maglev slots need ${Math.ceil(bytes / 2 ** 20)} MiB, more than the ${opts.engine === 'vm' ? 'VM holds in one map' : 'largest array map'} (${Math.floor(limit / 2 ** 20)} MiB): use a smaller prime maglevTableSize`,
      );
    }
  }
  return { mode, tableSize, models };
}

// The cluster's datapath in one engine. Each node of the cluster runs its own copy of the
// endpoint object with its own maps, as a real Cilium node does: the endpoints of the pods
// scheduled there, an ipcache (the compiled prefixes plus the node addresses, which are `host`
// on their own node and `remote-node` everywhere else), and the policy entries of its endpoints.
// A node's object is opened the first time something runs on it, so a probe between two pods
// costs two objects however large the cluster is.
//
// This module owns which node an endpoint lives on, which simulated interface it has, and
// what goes into each node's maps. What a packet's journey through the nodes looks like is
// the caller's business (src/datapath/probe.ts).

import { readFileSync } from 'node:fs';
import { TwinpathError, isTwinpathError } from '../errors.js';
import { readObject, type ObjectSpec } from '../elf/object.js';
import { getEngine } from '../engine/index.js';
import type { EngineKind, EngineObject } from '../engine/engine.js';
import { RESERVED, type CompiledPolicy, type EndpointInfo } from '../policy/model.js';
import { DATAPATH_OBJECT, DatapathMaps, endpointContext, PROG_FROM_ENDPOINT, PROG_TO_ENDPOINT } from './maps.js';
import { flowEvents, type FlowEvent } from './flow.js';

export type DatapathProgram = typeof PROG_FROM_ENDPOINT | typeof PROG_TO_ENDPOINT;

/** The node that pods without spec.nodeName share. Parentheses cannot occur in a Kubernetes
 * node name, so it never collides with a real one. */
export const IMPLICIT_NODE = '(no node)';

/** Simulated interfaces are numbered from here: endpoint id 5 runs on interface 105. */
export const IFINDEX_BASE = 100;

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
  private readonly open_: () => EngineObject;
  private readonly loaded = new Map<string, LoadedNode>();
  /** Nodes that ran a packet since the last resetConntrack(). */
  private readonly touched = new Set<string>();
  private readonly nodeAddrs = new Map<string, string[]>();
  private readonly endpointsByNode = new Map<string, EndpointInfo[]>();
  private clock = CLOCK_START_NS;
  private closed = false;

  private constructor(compiled: CompiledPolicy, engine: EngineKind, open: () => EngineObject) {
    this.compiled = compiled;
    this.engine = engine;
    this.open_ = open;
    for (const n of compiled.nodes) this.nodeAddrs.set(n.name, n.addresses);
    for (const ep of compiled.endpoints) {
      const node = nodeOf(ep);
      // A pod may name a node no Node object describes: it still gets a node, one without addresses.
      if (!this.nodeAddrs.has(node)) this.nodeAddrs.set(node, []);
      let list = this.endpointsByNode.get(node);
      if (!list) this.endpointsByNode.set(node, (list = []));
      list.push(ep);
    }
  }

  /** Reads the endpoint object once; nodes open their copies of it lazily. */
  static async open(compiled: CompiledPolicy, opts: { engine: EngineKind; object?: string }): Promise<Datapath> {
    const file = opts.object ?? DATAPATH_OBJECT;
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(readFileSync(file));
    } catch (e) {
      throw new TwinpathError('IO_ERROR', `cannot read the datapath object: ${(e as Error).message}`, { file }, { cause: e });
    }
    const spec: ObjectSpec = readObject(bytes, file);
    const engine = await getEngine(opts.engine);
    return new Datapath(compiled, opts.engine, () => engine.open({ bytes, file, spec }));
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

  /** Forgets every connection the nodes have seen since the last reset: the next run starts a
   * fresh connection. Only nodes that ran something are touched, which keeps the kernel cheap. */
  resetConntrack(): void {
    for (const node of this.touched) this.loaded.get(node)?.maps.clearConntrack();
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

  private load(node: string): LoadedNode {
    if (this.closed) throw new TwinpathError('DATAPATH_ERROR', 'the datapath is closed');
    const have = this.loaded.get(node);
    if (have) return have;
    const addrs = this.nodeAddresses(node);
    const obj = this.open_();
    try {
      const maps = new DatapathMaps(obj);
      this.fill(node, addrs, maps);
      const n = { obj, maps };
      this.loaded.set(node, n);
      return n;
    } catch (e) {
      obj.close();
      if (isTwinpathError(e)) throw new TwinpathError(e.code, `node "${node}": ${e.detail}`, e.location, { cause: e });
      throw e;
    }
  }

  private fill(node: string, addrs: string[], maps: DatapathMaps): void {
    const eps = this.endpointsByNode.get(node) ?? [];
    for (const ep of eps) maps.setEndpoint(this.ifindexOf(ep), ep);
    const prefixes = new Set<string>();
    for (const e of this.compiled.ipcache) {
      maps.setIpcache(e.prefix, e.identity);
      prefixes.add(e.prefix);
    }
    // Node addresses: this node is `host`, the others `remote-node`. A compiled prefix for the
    // same exact address (a policy naming a node's /32) stays: the compiler decided it.
    for (const [other, list] of this.nodeAddrs) {
      const identity = other === node ? RESERVED.host : RESERVED['remote-node'];
      for (const a of list) {
        const prefix = `${a}/${a.includes(':') ? 128 : 32}`;
        if (!prefixes.has(prefix)) maps.setIpcache(prefix, identity);
      }
    }
    const ids = new Set(eps.map((ep) => ep.id));
    for (const e of this.compiled.entries) if (ids.has(e.endpointId)) maps.setPolicy(e);
  }
}

function nodeOf(ep: EndpointInfo): string {
  return ep.node === '' ? IMPLICIT_NODE : ep.node;
}

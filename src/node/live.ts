// `probe --engine live`: the probe file answered by real connections inside a sandbox, with the
// compiled policy attached to every sandbox node through node attachments. `allowed` is what
// the connection did; the details (drop reason, where, the rule) come from the flow events the
// programs emitted for that connection, read from the ring buffers while the probes ran.
//
// Without a sandbox name, a throwaway sandbox is built from the cluster (its outside namespace
// holding every `ip:` address the probes name that no pod or node has) and removed at the end.
// With one, the attachments made here replace any the sandbox had and are removed at the end.

import { isIP } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { TwinpathError } from '../errors.js';
import { RingBufferReader, type KernelMap } from '../kernel/bpf.js';
import { decodeFlowEvent, DROP_REASONS, type FlowEvent } from '../datapath/flow.js';
import { MAP_EVENTS } from '../datapath/maps.js';
import { checkProbe, type ProbeLocator, type ProbeResult, type ProbeSpec } from '../datapath/probe.js';
import type { Cluster } from '../policy/ast.js';
import type { CompiledPolicy } from '../policy/model.js';
import { DEFAULT_EXTERNALS } from '../sandbox/layout.js';
import { LiveProber, type LiveProbeResult } from '../sandbox/live.js';
import { openSandbox, sandboxDown, sandboxUp } from '../sandbox/sandbox.js';
import type { SandboxState } from '../sandbox/state.js';
import { detachNode } from './attach.js';
import { attachSandbox } from './sandbox.js';
import { openPinned, requireNodeState } from './update.js';

export interface LiveProbeOptions {
  compiled: CompiledPolicy;
  cluster: Cluster;
  clusterFiles: string[];
  policyFiles: string[];
  probes: ProbeSpec[];
  /** An existing sandbox; default a throwaway one. */
  sandbox?: string;
  timeoutMs?: number;
  locate?: ProbeLocator;
  object?: string;
}

/** A live probe's answer in the shape of the VM engine's, plus what the connection did. */
export interface LiveResult extends ProbeResult {
  detail: string;
  src?: string;
  dst?: string;
}

/** The `ip:` addresses of probes that belong to no pod or node: the outside must hold them. */
export function outsideAddresses(cluster: Cluster, probes: ProbeSpec[]): string[] {
  const owned = new Set([...cluster.pods.flatMap((p) => p.ips), ...cluster.nodes.flatMap((n) => n.addresses)]);
  const out: string[] = [];
  for (const p of probes) {
    for (const ep of [p.from, p.to]) {
      if (!ep.startsWith('ip:')) continue;
      const a = ep.slice(3);
      if (isIP(a) !== 0 && !owned.has(a) && !out.includes(a)) out.push(a);
    }
  }
  return out.length > 0 ? out : [...DEFAULT_EXTERNALS];
}

/** Collects flow events from attachments' ring buffers until stopped. */
export class EventCollector {
  private readonly open: Array<{ map: KernelMap; reader: RingBufferReader }> = [];
  readonly events: FlowEvent[] = [];
  private running = false;
  private loop: Promise<void> | undefined;

  constructor(names: string[]) {
    try {
      for (const n of names) {
        const map = openPinned(requireNodeState(n), MAP_EVENTS);
        this.open.push({ map, reader: new RingBufferReader(map) });
      }
    } catch (e) {
      this.close();
      throw e;
    }
  }

  /** Reads what is there now. */
  drain(): FlowEvent[] {
    const got: FlowEvent[] = [];
    for (const o of this.open) for (const rec of o.reader.poll(0)) got.push(decodeFlowEvent(new Uint8Array(rec)));
    this.events.push(...got);
    return got;
  }

  /** Discards what is there now (events from before the probes). */
  skip(): void {
    for (const o of this.open) o.reader.poll(0);
  }

  start(everyMs = 5): void {
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        this.drain();
        await sleep(everyMs);
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    this.drain();
  }

  close(): void {
    this.running = false;
    for (const o of this.open.splice(0)) {
      o.reader.close();
      o.map.close();
    }
  }
}

const PROTO_NUM = { TCP: 6, UDP: 17, SCTP: 132 } as const;

/** Live results in the VM engine's shape, details from the events of each connection. */
export function withDetails(compiled: CompiledPolicy, live: LiveProbeResult[], events: FlowEvent[]): LiveResult[] {
  return live.map((r) => {
    const proto = PROTO_NUM[r.protocol];
    const request = events.filter((e) => e.protocol === proto && e.src === r.src && e.dst === r.dst && e.dstPort === r.port);
    const reply = events.filter((e) => e.protocol === proto && e.src === r.dst && e.dst === r.src && e.srcPort === r.port);
    const flows = [...request, ...reply];
    const out: LiveResult = { from: r.from, to: r.to, port: r.port, protocol: r.protocol, allowed: r.allowed, verdict: r.allowed ? 'FORWARDED' : 'DROPPED', flows, detail: r.detail };
    if (r.src !== undefined) out.src = r.src;
    if (r.dst !== undefined) out.dst = r.dst;
    const rule = (id: number): void => {
      out.ruleId = id;
      const ri = compiled.rules.find((x) => x.id === id);
      if (ri) {
        out.rule = ri.text;
        out.policy = `${ri.policy.kind} ${ri.policy.namespace === '' ? '' : `${ri.policy.namespace}/`}${ri.policy.name}`;
      }
    };
    if (!r.allowed) {
      const drop = request.find((e) => e.verdict === 'DROPPED') ?? reply.find((e) => e.verdict === 'DROPPED');
      if (drop) {
        out.dropReason = drop.dropReasonName ?? DROP_REASONS[drop.dropReason] ?? `drop reason ${drop.dropReason}`;
        out.dropReasonCode = drop.dropReason;
        out.deniedAt = drop.direction;
        if (drop.ruleId !== 0) rule(drop.ruleId);
        if (reply.includes(drop)) out.reply = false;
      }
      return out;
    }
    // As the VM engine reports it: the server's ingress rule, else the client's egress rule.
    const decisions = request.filter((e) => e.ctState === 'new' && e.ruleId !== 0);
    const decided = decisions.find((e) => e.direction === 'ingress') ?? decisions.find((e) => e.direction === 'egress');
    if (decided) rule(decided.ruleId);
    out.reply = true;
    return out;
  });
}

/** Attaches the policy to every node of the sandbox, probes, detaches. */
export async function probeSandbox(sb: SandboxState, o: Omit<LiveProbeOptions, 'sandbox' | 'cluster'>): Promise<LiveResult[]> {
  const attached = attachSandbox(sb, {
    compiled: o.compiled, clusterFiles: o.clusterFiles, policyFiles: o.policyFiles,
    ...(o.object !== undefined ? { object: o.object } : {}),
  });
  const names = attached.map((r) => r.state.name);
  let prober: LiveProber | undefined;
  let collector: EventCollector | undefined;
  try {
    collector = new EventCollector(names);
    collector.skip();
    prober = new LiveProber(sb);
    collector.start();
    const live = await prober.probe(o.probes, o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {});
    await collector.stop();
    return withDetails(o.compiled, live, collector.events);
  } finally {
    prober?.close();
    collector?.close();
    for (const n of names) detachNode(n);
  }
}

export async function liveProbes(o: LiveProbeOptions): Promise<LiveResult[]> {
  o.probes.forEach((p, i) => checkProbe(p, i, o.locate));
  if (o.sandbox !== undefined) return probeSandbox(openSandbox(o.sandbox), o);
  const name = `lp${process.pid}`;
  const sb = sandboxUp(o.cluster, { name, externals: outsideAddresses(o.cluster, o.probes), replace: true });
  try {
    return await probeSandbox(sb, o);
  } finally {
    sandboxDown(name);
  }
}


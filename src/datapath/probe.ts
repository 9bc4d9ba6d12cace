// Probes: "can A open a connection to B on this port?", answered by running the connection's
// first packet and its reply through the eBPF programs of the nodes involved, never by a
// separate evaluator. The request leaves the client pod (cil_from_container on the client's
// node: its egress policy) and arrives at the server pod (cil_to_container on the server's
// node: its ingress policy); the reply then makes the way back. A connection is allowed iff
// every program on that path forwards it.
//
// Endpoints are `namespace/pod`, `host` (the node of the other endpoint) or `ip:ADDRESS`. An
// address that belongs to a pod or a node is that pod or node's host, since a packet from it
// would come from there; any other address is outside the cluster (its identity comes from the
// ipcache, world when no policy names it). Each probe is a fresh connection: conntrack is
// cleared before it and its source port comes from a counter, so results are reproducible.

import { TwinpathError, isTwinpathError, type ErrorLocation } from '../errors.js';
import type { EngineKind } from '../engine/engine.js';
import type { CompiledPolicy, EndpointInfo } from '../policy/model.js';
import { parseIp } from '../pcap/build.js';
import { Datapath, type DatapathProgram } from './datapath.js';
import { DROP_REASONS, type FlowEvent } from './flow.js';
import { PROG_FROM_ENDPOINT, PROG_TO_ENDPOINT } from './maps.js';
import { connectionPackets, SourcePorts } from './packets.js';

export type ProbeProtocol = 'TCP' | 'UDP' | 'SCTP';
export const PROBE_PROTOCOLS: readonly ProbeProtocol[] = ['TCP', 'UDP', 'SCTP'];

export interface ProbeSpec {
  from: string;
  to: string;
  port: number;
  protocol: ProbeProtocol;
}

export interface ProbeResult extends ProbeSpec {
  allowed: boolean;
  verdict: 'FORWARDED' | 'DROPPED';
  /** Why the packet was dropped, by Cilium's name for the reason (`Policy denied`). */
  dropReason?: string;
  dropReasonCode?: number;
  /** The policy direction that dropped it (the dropping endpoint's egress or ingress). */
  deniedAt?: 'egress' | 'ingress';
  /** The rule behind the decision: the deny rule that dropped it, or for an allowed connection
   * the rule that let it in (the server's ingress rule, else the client's egress rule). Absent
   * when no rule decided: default deny, or an endpoint no policy isolates. */
  ruleId?: number;
  rule?: string;
  /** The policy the rule belongs to: `NetworkPolicy x/allow-web`, `CiliumClusterwideNetworkPolicy lockdown`. */
  policy?: string;
  /** Whether the reply came back: absent when the request was already dropped. */
  reply?: boolean;
  /** Every flow event of the connection, in path order. */
  flows: FlowEvent[];
}

/** Where a probe's fields came from, for error locations (the CLI supplies file positions). */
export type ProbeLocator = (index: number, field: keyof ProbeSpec) => ErrorLocation;

const defaultLocator: ProbeLocator = (index, field) => ({ path: `[${index}].${field}` });

type Family = 4 | 6;

type Side =
  | { kind: 'pod'; ep: EndpointInfo; node: string; fixed?: string }
  | { kind: 'host'; node?: string; fixed?: string }
  | { kind: 'external'; addr: string };

interface Stage {
  node: string;
  program: DatapathProgram;
  ifindex: number;
  reply: boolean;
}

/** A probe checked against the cluster, ready to run. */
export interface ProbePlan {
  spec: ProbeSpec;
  client: string;
  server: string;
  stages: Stage[];
}

/** Runs probes over one Datapath, reusing each node's object across probes. */
export class Prober {
  readonly datapath: Datapath;
  private readonly ports = new SourcePorts();
  private readonly pods = new Map<string, EndpointInfo>();

  constructor(datapath: Datapath) {
    this.datapath = datapath;
    for (const ep of datapath.compiled.endpoints) this.pods.set(`${ep.namespace}/${ep.pod}`, ep);
  }

  static async open(compiled: CompiledPolicy, engine: EngineKind): Promise<Prober> {
    return new Prober(await Datapath.open(compiled, { engine }));
  }

  close(): void {
    this.datapath.close();
  }

  /** Checks a probe and works out its path; throws PROBE_BAD_FILE or PROBE_UNKNOWN_ENDPOINT. */
  plan(spec: ProbeSpec, index: number, locate: ProbeLocator = defaultLocator): ProbePlan {
    checkProbe(spec, index, locate);
    const where = (field: keyof ProbeSpec): ErrorLocation => locate(index, field);
    const fail = (field: keyof ProbeSpec, detail: string): never => {
      throw new TwinpathError('PROBE_UNKNOWN_ENDPOINT', `probe ${index}: ${detail}`, where(field));
    };
    const from = this.side(spec.from, () => where('from'), index);
    const to = this.side(spec.to, () => where('to'), index);
    // `host` is the node of the other endpoint.
    for (const [me, other, field] of [[from, to, 'from'], [to, from, 'to']] as const) {
      if (me.kind !== 'host' || me.node !== undefined) continue;
      if (other.kind === 'external' || (other.kind === 'host' && other.node === undefined)) {
        fail(field, `"host" means the node of the other endpoint, and ${spec[field === 'from' ? 'to' : 'from']} is on no node`);
      }
      me.node = (other as { node: string }).node;
    }
    if (from.kind !== 'pod' && to.kind !== 'pod') {
      fail('from', `neither ${spec.from} nor ${spec.to} is a pod: no endpoint program sees this connection`);
    }
    const family = this.family(from, to, spec, index, locate);
    const client = this.address(from, family);
    const server = this.address(to, family);
    const stages: Stage[] = [];
    const fromPod = from.kind === 'pod' ? from : undefined;
    const toPod = to.kind === 'pod' ? to : undefined;
    const dp = this.datapath;
    if (fromPod) stages.push({ node: fromPod.node, program: PROG_FROM_ENDPOINT, ifindex: dp.ifindexOf(fromPod.ep), reply: false });
    if (toPod) stages.push({ node: toPod.node, program: PROG_TO_ENDPOINT, ifindex: dp.ifindexOf(toPod.ep), reply: false });
    if (toPod) stages.push({ node: toPod.node, program: PROG_FROM_ENDPOINT, ifindex: dp.ifindexOf(toPod.ep), reply: true });
    if (fromPod) stages.push({ node: fromPod.node, program: PROG_TO_ENDPOINT, ifindex: dp.ifindexOf(fromPod.ep), reply: true });
    return { spec, client, server, stages };
  }

  /** Runs one planned probe as a fresh connection. */
  run(plan: ProbePlan): ProbeResult {
    const dp = this.datapath;
    dp.resetConntrack();
    const { spec } = plan;
    const conn = connectionPackets({ protocol: spec.protocol, client: plan.client, server: plan.server, clientPort: this.ports.next(), serverPort: spec.port });
    const flows: FlowEvent[] = [];
    let packet = conn.request;
    let replying = false;
    const decisions: FlowEvent[] = [];
    for (const stage of plan.stages) {
      if (stage.reply && !replying) {
        replying = true;
        packet = conn.reply;
      }
      const r = dp.run(stage.node, stage.program, stage.ifindex, packet);
      flows.push(...r.flows);
      if (r.verdict === 'DROPPED') return this.dropped(spec, stage, r.flows, flows);
      if (!stage.reply) decisions.push(...r.flows);
      packet = r.packet;
    }
    const result: ProbeResult = { ...spec, allowed: true, verdict: 'FORWARDED', flows: [] };
    // The server's ingress decision names the rule that let the connection in; if that was no
    // rule (an endpoint nobody isolates), the client's egress rule.
    const decided = [...decisions].reverse().find((f) => f.ruleId !== 0);
    if (decided) this.withRule(result, decided.ruleId);
    result.reply = true;
    result.flows = flows;
    return result;
  }

  private dropped(spec: ProbeSpec, stage: Stage, stageFlows: FlowEvent[], flows: FlowEvent[]): ProbeResult {
    const drop = stageFlows.find((f) => f.verdict === 'DROPPED');
    const result: ProbeResult = { ...spec, allowed: false, verdict: 'DROPPED', flows: [] };
    if (drop) {
      result.dropReason = drop.dropReasonName ?? DROP_REASONS[drop.dropReason] ?? `drop reason ${drop.dropReason}`;
      result.dropReasonCode = drop.dropReason;
    }
    result.deniedAt = drop?.direction ?? (stage.program === PROG_FROM_ENDPOINT ? 'egress' : 'ingress');
    if (drop && drop.ruleId !== 0) this.withRule(result, drop.ruleId);
    if (stage.reply) result.reply = false;
    result.flows = flows;
    return result;
  }

  private withRule(result: ProbeResult, ruleId: number): void {
    result.ruleId = ruleId;
    const rule = this.datapath.compiled.rules.find((r) => r.id === ruleId);
    if (rule) {
      result.rule = rule.text;
      const { kind, namespace, name } = rule.policy;
      result.policy = `${kind} ${namespace === '' ? '' : `${namespace}/`}${name}`;
    }
  }

  private side(ref: string, where: () => ErrorLocation, index: number): Side {
    const unknown = (detail: string): never => {
      throw new TwinpathError('PROBE_UNKNOWN_ENDPOINT', `probe ${index}: ${detail}`, where());
    };
    if (ref === 'host') return { kind: 'host' };
    if (ref.startsWith('ip:')) {
      const addr = ref.slice(3);
      let bytes: Uint8Array;
      try {
        bytes = parseIp(addr);
      } catch {
        return unknown(`"${ref}": "${addr}" is not an IPv4 or IPv6 address`);
      }
      const same = (a: string): boolean => sameAddress(a, bytes);
      const ep = this.datapath.compiled.endpoints.find((e) => e.ips.some(same));
      if (ep) return { kind: 'pod', ep, node: this.datapath.nodeOf(ep), fixed: ep.ips.find(same)! };
      for (const node of this.datapath.nodes()) {
        const a = this.datapath.nodeAddresses(node).find(same);
        if (a !== undefined) return { kind: 'host', node, fixed: a };
      }
      return { kind: 'external', addr };
    }
    const ep = this.pods.get(ref);
    if (ep) return { kind: 'pod', ep, node: this.datapath.nodeOf(ep) };
    if (!ref.includes('/')) return unknown(`"${ref}" is not namespace/pod, host or ip:ADDRESS`);
    return unknown(`no pod "${ref}" in the cluster (or it uses the host network, and so is not an endpoint)`);
  }

  private addresses(s: Side): string[] {
    if (s.kind === 'external') return [s.addr];
    if (s.fixed !== undefined) return [s.fixed];
    if (s.kind === 'pod') return s.ep.ips;
    return this.datapath.nodeAddresses(s.node!);
  }

  /** IPv4 unless some endpoint has only IPv6; an explicit address decides by itself. */
  private family(from: Side, to: Side, spec: ProbeSpec, index: number, locate: ProbeLocator): Family {
    const lists = [this.addresses(from), this.addresses(to)];
    const has = (f: Family) => lists.every((l) => l.some((a) => familyOf(a) === f));
    if (has(4)) return 4;
    if (has(6)) return 6;
    for (const [i, field] of [[0, 'from'], [1, 'to']] as const) {
      if (lists[i]!.length === 0) {
        throw new TwinpathError('PROBE_UNKNOWN_ENDPOINT', `probe ${index}: ${spec[field]} has no address${spec[field] === 'host' ? ' (its node lists none)' : ''}`, locate(index, field));
      }
    }
    throw new TwinpathError('PROBE_UNKNOWN_ENDPOINT', `probe ${index}: ${spec.from} (${lists[0]!.join(', ')}) and ${spec.to} (${lists[1]!.join(', ')}) share no address family`, locate(index, 'to'));
  }

  private address(s: Side, family: Family): string {
    return this.addresses(s).find((a) => familyOf(a) === family)!;
  }
}

function familyOf(addr: string): Family {
  return addr.includes(':') ? 6 : 4;
}

function sameAddress(a: string, bytes: Uint8Array): boolean {
  try {
    const b = parseIp(a);
    return b.length === bytes.length && b.every((x, i) => x === bytes[i]);
  } catch {
    return false;
  }
}

/** Shape checks for probes given through the API (a probe file gets them with positions). */
export function checkProbe(p: ProbeSpec, index: number, locate: ProbeLocator = defaultLocator): void {
  const bad = (field: keyof ProbeSpec, detail: string): never => {
    throw new TwinpathError('PROBE_BAD_FILE', `probe ${index}: ${detail}`, locate(index, field));
  };
  if (typeof p.from !== 'string' || p.from === '') bad('from', '"from" must be a non-empty string');
  if (typeof p.to !== 'string' || p.to === '') bad('to', '"to" must be a non-empty string');
  if (!Number.isInteger(p.port) || p.port < 1 || p.port > 65535) bad('port', `port ${String(p.port)} is not an integer in 1..65535`);
  if (!PROBE_PROTOCOLS.includes(p.protocol)) bad('protocol', `protocol ${String(p.protocol)} is not one of ${PROBE_PROTOCOLS.join(', ')}`);
}

/** Runs probes in order. Every probe is checked before the first one runs, so a bad probe
 * anywhere in the list gives an error and no results. */
export async function runProbes(opts: { compiled: CompiledPolicy; probes: ProbeSpec[]; engine: EngineKind; locate?: ProbeLocator }): Promise<ProbeResult[]> {
  const prober = await Prober.open(opts.compiled, opts.engine);
  try {
    const plans = opts.probes.map((p, i) => prober.plan(p, i, opts.locate));
    return plans.map((p, i) => {
      try {
        return prober.run(p);
      } catch (e) {
        if (isTwinpathError(e)) throw new TwinpathError(e.code, `probe ${i} (${p.spec.from} -> ${p.spec.to} ${p.spec.protocol}/${p.spec.port}): ${e.detail}`, e.location, { cause: e });
        throw e;
      }
    });
  } finally {
    prober.close();
  }
}

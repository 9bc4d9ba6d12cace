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
//
// A TCP probe may carry an HTTP request (`http`). Then the whole conversation runs: handshake,
// request segments, the answer, the close, every frame through the programs of its way. When
// the entry that allowed the connection carries a proxy port, the L7 stage plays the proxy
// (src/l7/probe.ts) and the request's verdict is the probe's. A probe without a request to such
// a port is allowed at L4 and says it was redirected.

import { TwinpathError, isTwinpathError, type ErrorLocation } from '../errors.js';
import type { EngineKind } from '../engine/engine.js';
import type { CompiledPolicy, EndpointInfo } from '../policy/model.js';
import { parseIp } from '../pcap/build.js';
import { Datapath, type DatapathProgram } from './datapath.js';
import { DROP_REASONS, type FlowEvent } from './flow.js';
import { PROG_FROM_ENDPOINT, PROG_TO_ENDPOINT } from './maps.js';
import { CLIENT_MAC, connectionPackets, SERVER_MAC, SourcePorts } from './packets.js';
import type { Cluster, Policy } from '../policy/ast.js';
import { L7Policy } from '../l7/resolve.js';
import { httpProblem, L7_NO_REQUEST, L7_NOT_REDIRECTED, L7ProbeSession, probeConversation, type ProbeHttp, type ProbeL7Verdict } from '../l7/probe.js';

export type ProbeProtocol = 'TCP' | 'UDP' | 'SCTP';
export const PROBE_PROTOCOLS: readonly ProbeProtocol[] = ['TCP', 'UDP', 'SCTP'];

export interface ProbeSpec {
  from: string;
  to: string;
  port: number;
  protocol: ProbeProtocol;
  /** TCP only: an HTTP request sent once the connection is open. */
  http?: ProbeHttp;
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
  /** When the connection was redirected to the proxy: the request's verdict, the HTTP rule that
   * allowed it and the answer's code; or a sentence when there was no request to judge
   * (L7_NO_REQUEST) or a request was given and nothing redirected it (L7_NOT_REDIRECTED). */
  l7?: ProbeL7Verdict | string;
  /** Every flow event of the connection, in path order. */
  flows: FlowEvent[];
}

/** The inputs the policy was compiled from: HTTP rules are read from the policies themselves. */
export interface ProbeInputs {
  policies: Policy[];
  cluster: Cluster;
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
  private readonly inputs: ProbeInputs | undefined;
  private l7: L7Policy | undefined;

  /** `inputs` (the parsed policies and cluster) are needed for probes with an HTTP request. */
  constructor(datapath: Datapath, inputs?: ProbeInputs) {
    this.datapath = datapath;
    this.inputs = inputs;
    for (const ep of datapath.compiled.endpoints) this.pods.set(`${ep.namespace}/${ep.pod}`, ep);
  }

  static async open(compiled: CompiledPolicy, engine: EngineKind, inputs?: ProbeInputs): Promise<Prober> {
    return new Prober(await Datapath.open(compiled, { engine }), inputs);
  }

  /** The HTTP rules behind the compiled policy, compiled once; a regular expression the proxy
   * would refuse is POLICY_BAD_VALUE at its source. */
  l7Policy(): L7Policy {
    if (!this.l7) {
      if (!this.inputs) throw new TwinpathError('USAGE', 'probes with an HTTP request need the parsed policies and cluster (Prober inputs)');
      this.l7 = new L7Policy(this.datapath.compiled, this.inputs);
    }
    return this.l7;
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
    const clientPort = this.ports.next();
    if (spec.http) return this.runHttp(plan, spec.http, clientPort);
    const conn = connectionPackets({ protocol: spec.protocol, client: plan.client, server: plan.server, clientPort, serverPort: spec.port });
    const flows: FlowEvent[] = [];
    const decisions: FlowEvent[] = [];
    for (const [reply, frame] of [[false, conn.request], [true, conn.reply]] as const) {
      const r = this.through(plan, reply, frame, flows);
      if (r.dropped) return this.dropped(spec, r.dropped.stage, r.dropped.flows, flows);
      if (!reply) decisions.push(...r.events.map((e) => e.event));
    }
    const result = this.allowedResult(spec, decisions, flows);
    if (decisions.some((f) => f.proxyPort !== 0 && f.verdict === 'FORWARDED')) result.l7 = L7_NO_REQUEST;
    return result;
  }

  /** A probe with an HTTP request: the whole conversation through the datapath, the forwarded
   * frames through the proxy's L7 stage when the datapath redirected the connection. */
  private runHttp(plan: ProbePlan, http: ProbeHttp, clientPort: number): ProbeResult {
    const { spec } = plan;
    const session = new L7ProbeSession(this.l7Policy(), plan.stages[0]?.node ?? '');
    const frames = probeConversation({ client: plan.client, server: plan.server, clientPort, serverPort: spec.port, http, clientMac: CLIENT_MAC, serverMac: SERVER_MAC });
    const flows: FlowEvent[] = [];
    const decisions: FlowEvent[] = [];
    // The handshake's first two frames decide the connection, as for any TCP probe.
    let opened = 0;
    for (const f of frames) {
      const reply = f.way === 'reply';
      const r = this.through(plan, reply, f.frame, flows);
      if (r.dropped) return this.dropped(spec, r.dropped.stage, r.dropped.flows, flows);
      if (opened < 2) {
        opened++;
        if (!reply) decisions.push(...r.events.map((e) => e.event));
      }
      // The server's interface sees a request as the last program left it, an answer as sent.
      session.frame(reply ? f.frame : r.packet, PROBE_CLOCK_NS + f.offsetNs, r.events);
    }
    const result = this.allowedResult(spec, decisions, flows);
    const v = session.isRedirected ? session.verdict() : undefined;
    if (!v) {
      result.l7 = L7_NOT_REDIRECTED;
      return result;
    }
    result.l7 = v;
    if (v.verdict === 'DROPPED') {
      // The connection opened; the proxy refused the request. No rule decided that: no HTTP
      // rule allows it (the L7 default deny), so the L4 rule is not reported as the cause.
      const redirect = decisions.filter((f) => f.proxyPort !== 0).at(-1);
      const denied: ProbeResult = { ...spec, allowed: false, verdict: 'DROPPED', dropReason: L7_DROP_REASON, reply: true, flows };
      if (redirect) denied.deniedAt = redirect.direction;
      denied.l7 = v;
      return denied;
    }
    if (v.ruleId !== undefined) this.withRule(result, v.ruleId);
    return result;
  }

  /** One frame through the programs of its way (request or reply), stopping at a drop. */
  private through(plan: ProbePlan, reply: boolean, frame: Uint8Array, flows: FlowEvent[]): {
    packet: Uint8Array;
    events: Array<{ event: FlowEvent; node: string }>;
    dropped?: { stage: Stage; flows: FlowEvent[] };
  } {
    let packet = frame;
    const events: Array<{ event: FlowEvent; node: string }> = [];
    for (const stage of plan.stages) {
      if (stage.reply !== reply) continue;
      const r = this.datapath.run(stage.node, stage.program, stage.ifindex, packet);
      flows.push(...r.flows);
      for (const event of r.flows) events.push({ event, node: stage.node });
      if (r.verdict === 'DROPPED') return { packet, events, dropped: { stage, flows: r.flows } };
      packet = r.packet;
    }
    return { packet, events };
  }

  private allowedResult(spec: ProbeSpec, decisions: FlowEvent[], flows: FlowEvent[]): ProbeResult {
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

/** The clock of a probe's L7 stage: only differences matter (the answer's latency). */
const PROBE_CLOCK_NS = 1_000_000_000n;

/** What a probe reports as the drop reason of a request the proxy refused (no datapath code). */
export const L7_DROP_REASON = 'L7 policy denied (the proxy answered the request itself)';

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
  if (p.http !== undefined) {
    const problem = httpProblem(p.http);
    if (problem) bad('http', `${problem[1]}`);
    if (p.protocol !== 'TCP') bad('http', `an HTTP request needs protocol TCP, not ${p.protocol}`);
  }
}

/** Runs probes in order. Every probe is checked before the first one runs, so a bad probe
 * anywhere in the list gives an error and no results. */
export async function runProbes(opts: { compiled: CompiledPolicy; probes: ProbeSpec[]; engine: EngineKind; locate?: ProbeLocator; inputs?: ProbeInputs }): Promise<ProbeResult[]> {
  const prober = await Prober.open(opts.compiled, opts.engine, opts.inputs);
  try {
    const plans = opts.probes.map((p, i) => prober.plan(p, i, opts.locate));
    // A bad HTTP rule fails before the first probe runs, as a bad probe does.
    if (opts.probes.some((p) => p.http !== undefined)) prober.l7Policy();
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

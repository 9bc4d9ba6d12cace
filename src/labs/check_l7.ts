// The check of an L7 lab: as a policy lab (the learner's policies compiled, the lab's capture
// replayed through the endpoint programs), with the proxy's stage behind the replay
// (src/l7/replay.ts). A flow whose connection the datapath redirects to the proxy is judged
// by what the proxy did with its HTTP request; any other flow by its packets, as a policy lab
// judges them. So `verdict: DROPPED` on a request means the proxy refused it (403), or the
// datapath dropped the connection before any request was sent.
//
// Expectations: verdict, rule (the policy whose rule allowed the request or the connection;
// `default-deny` when nothing allowed it: no rule at L3/L4, or no HTTP rule at the proxy),
// dropReason (L3/L4 drops only: the proxy's refusal has no datapath reason), mustStayBlocked,
// noUnexpectedDrops. Measures are a policy lab's.

import { DROP_POLICY } from '../datapath/flow.js';
import type { PacketResult } from '../datapath/replay.js';
import { dropReasonText } from '../flows/build.js';
import { l7CompactLine, type L7Flow } from '../l7/flow.js';
import { L7Replay } from '../l7/replay.js';
import { toEthernet } from '../pcap/linktype.js';
import { compile } from '../policy/compile.js';
import type { CompiledPolicy, RuleInfo } from '../policy/model.js';
import type { Expectation, FlowSelector, Lab } from './lab.js';
import { compiledNote, LabCheck, OrderedJudge, replayLabCapture } from './check_replay.js';
import type { CheckResult, Failure } from './result.js';
import { describeFlow, selectFlows } from './select.js';
import type { Traffic, TrafficFlow } from './traffic.js';

/** What became of one flow of the traffic. */
interface FlowOutcome {
  verdict: 'FORWARDED' | 'DROPPED';
  /** `l7`: the proxy judged its request; `l4`: its packets decided. */
  layer: 'l4' | 'l7';
  /** The packet that shows it (the dropped one, the request's, or the last client packet). */
  packet?: number;
  /** The compiled rule that decided (0: none). */
  ruleId: number;
  /** L3/L4 drops: Cilium's reason. */
  dropReason?: number;
  request?: L7Flow;
  /** The packet's L3/L4 result, for its flows. */
  result?: PacketResult;
}

export async function checkL7Lab(lab: Lab, dir: string, opts: { engine: 'vm' | 'kernel' }): Promise<CheckResult> {
  const check = new LabCheck(lab, opts.engine);
  const { result, traffic } = check;
  const loaded = check.load(() => {
    const { files, inputs } = check.learnerInputs(dir);
    const compiled = compile(inputs);
    // Before any packet: an HTTP rule the proxy would refuse is the learner's error.
    const l7 = new L7Replay({ compiled, inputs });
    result.notes.push(compiledNote(files.length, inputs.policies.length, compiled.rules.length));
    return { compiled, l7 };
  });
  if (loaded === undefined) return check.done();
  const { compiled, l7 } = loaded;

  const packets: PacketResult[] = [];
  const requests: L7Flow[] = [];
  let last = 0n;
  await replayLabCapture(lab, { compiled, engine: opts.engine }, (record, replayer) => {
    const r = replayer.packet(record);
    packets.push(r);
    const eth = toEthernet(record);
    requests.push(...l7.packet(r, 'frame' in eth ? eth.frame : undefined).flows);
    last = r.timeNs;
  });
  requests.push(...l7.finish(last).flows);
  result.packets = packets.length;
  const requestCount = requests.filter((f) => f.flow.l7.type === 'REQUEST').length;
  result.notes.push(`the L7 proxy judged ${requestCount} HTTP request${requestCount === 1 ? '' : 's'}`);
  check.judge(new Judge(traffic, packets, requests, compiled));
  return check.done();
}

class Judge extends OrderedJudge {
  private readonly flowOfPacket = new Map<number, TrafficFlow>();
  private readonly outcomes = new Map<string, FlowOutcome>();

  constructor(private readonly traffic: Traffic, private readonly results: PacketResult[], private readonly l7: L7Flow[], private readonly compiled: CompiledPolicy) {
    super();
    for (const f of traffic.flows) for (const p of [...f.requests, ...f.replies]) this.flowOfPacket.set(p, f);
    for (const f of traffic.flows) this.outcomes.set(f.name, this.outcome(f));
  }

  /** A flow's fate: a drop of any of its packets first (the connection never carried the
   * request), else its request's verdict at the proxy, else forwarded. */
  private outcome(f: TrafficFlow): FlowOutcome {
    for (const n of [...f.requests, ...f.replies].sort((a, b) => a - b)) {
      const r = this.results[n - 1];
      if (r && (r.outcome === 'dropped' || r.outcome === 'consequence')) {
        const drop = r.flows.filter((x) => x.flow.verdict === 'DROPPED').at(-1);
        return { verdict: 'DROPPED', layer: 'l4', packet: n, ruleId: drop?.twinpath.rule_id ?? 0, ...(r.dropReason !== undefined ? { dropReason: r.dropReason } : {}), result: r };
      }
    }
    const request = this.l7.find((x) => x.flow.l7.type === 'REQUEST' && x.twinpath.packet !== undefined && this.flowOfPacket.get(x.twinpath.packet) === f);
    if (request) {
      const n = request.twinpath.packet!;
      return { verdict: request.flow.verdict, layer: 'l7', packet: n, ruleId: request.twinpath.rule_id ?? request.twinpath.allowed_by_l4_rule ?? 0, request, result: this.results[n - 1]! };
    }
    const n = f.requests.at(-1);
    const r = n !== undefined ? this.results[n - 1] : undefined;
    const ids = (r?.flows ?? []).map((x) => x.twinpath.rule_id ?? 0).filter((id) => id !== 0);
    const first = f.requests[0] !== undefined ? this.results[f.requests[0] - 1] : undefined;
    const opened = (first?.flows ?? []).map((x) => x.twinpath.rule_id ?? 0).filter((id) => id !== 0);
    return { verdict: 'FORWARDED', layer: 'l4', ...(n !== undefined ? { packet: n } : {}), ruleId: opened.at(-1) ?? ids.at(-1) ?? 0, ...(r ? { result: r } : {}) };
  }

  protected unexpectedDrops(expected: Set<string>): Failure | undefined {
    for (const f of this.traffic.flows) {
      const o = this.outcomes.get(f.name)!;
      if (o.verdict === 'DROPPED' && !expected.has(f.name)) return this.fail(o, 'no other traffic is dropped', `flow ${describeFlow(f)} was DROPPED (${this.how(o)})`);
    }
    return undefined;
  }

  protected expectation(e: Expectation): Failure | undefined {
    for (const s of selectFlows(e.select, this.traffic)) {
      const o = this.outcomes.get(s.flow.name)!;
      const what = `flow ${describeFlow(s.flow)}`;
      if (e.verdict !== undefined && o.verdict !== e.verdict) return this.fail(o, `${what} is ${e.verdict}`, this.got(o));
      if (e.dropReason !== undefined && (o.layer !== 'l4' || o.dropReason !== e.dropReason)) {
        return this.fail(o, `${what} is dropped with ${dropReasonText(e.dropReason)} (${e.dropReason})`, this.got(o));
      }
      if (e.rule !== undefined) {
        const names = this.decidedBy(o);
        if (!names.includes(e.rule)) {
          return this.fail(o, `${what} is decided by ${e.rule === 'default-deny' ? 'default deny' : `policy ${e.rule}`}`, `${this.got(o)}, decided by ${names.length === 0 ? 'no policy rule' : names[0]}`);
        }
      }
    }
    return undefined;
  }

  protected blocked(sel: FlowSelector): Failure | undefined {
    for (const s of selectFlows(sel, this.traffic)) {
      const o = this.outcomes.get(s.flow.name)!;
      if (o.verdict === 'DROPPED') continue;
      return this.fail(o, `flow ${describeFlow(s.flow)} stays blocked`, `${this.got(o)}: the policy is too broad`);
    }
    return undefined;
  }

  /** `its request PUT http://... was FORWARDED by the L7 proxy (...)`, or the packet's fate. */
  private got(o: FlowOutcome): string {
    if (o.layer === 'l7') {
      const h = o.request!.flow.l7.http;
      return `its request ${h.method} ${h.url} (packet #${o.packet}) was ${o.verdict} by the L7 proxy (${this.how(o)})`;
    }
    const redirect = o.result?.flows.some((x) => (x.flow.proxy_port ?? 0) !== 0);
    const note = o.verdict === 'FORWARDED' && !redirect ? '; the connection is not redirected to the L7 proxy: no HTTP rule applies to it' : '';
    return `packet #${o.packet ?? '?'} was ${o.verdict} (${this.how(o)})${note}`;
  }

  private how(o: FlowOutcome): string {
    const rule = this.rule(o.ruleId);
    if (o.layer === 'l7') {
      const x = o.request!.twinpath;
      if (o.verdict === 'DROPPED') return x.parse_error !== undefined ? `malformed request: ${x.parse_error}, answered 400` : 'no HTTP rule allows it, answered 403 Access denied';
      if (x.http_rule !== undefined) return `allowed by ${rule ? `${rule.policy.name} ` : ''}${x.http_rule}`;
      return `allowed by ${rule ? `${rule.policy.name}: ${rule.text}` : `rule ${o.ruleId}`}, which has no HTTP rules`;
    }
    if (o.verdict === 'DROPPED') return `${dropReasonText(o.dropReason ?? 0)}${rule ? ` by ${rule.policy.name}` : o.dropReason === DROP_POLICY ? ', no rule allows it' : ''}`;
    return rule ? `allowed by ${rule.policy.name}: ${rule.text}` : 'no rule decided';
  }

  private rule(id: number): RuleInfo | undefined {
    return id === 0 ? undefined : this.compiled.rules.find((r) => r.id === id);
  }

  /** The names an expectation's `rule` may use for what decided. */
  private decidedBy(o: FlowOutcome): string[] {
    const r = this.rule(o.ruleId);
    if (r) return r.policy.namespace ? [r.policy.name, `${r.policy.namespace}/${r.policy.name}`] : [r.policy.name];
    if (o.verdict === 'DROPPED' && (o.layer === 'l7' || o.dropReason === DROP_POLICY)) return ['default-deny'];
    return [];
  }

  private fail(o: FlowOutcome, expected: string, got: string): Failure {
    const f: Failure = { expected, got, flows: o.result?.flows ?? [] };
    if (o.packet !== undefined) f.packet = o.packet;
    if (o.request) {
      const lines = this.l7.filter((x) => x.twinpath.connection === o.request!.twinpath.connection).map((x) => l7CompactLine(x).trimEnd());
      f.detail = lines;
    }
    return f;
  }
}

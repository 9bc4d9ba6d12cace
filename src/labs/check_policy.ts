// The check of a policy lab: the learner's policy files and the lab's cluster compiled, the
// lab's capture replayed through the endpoint programs (src/datapath/replay.ts) in the VM or the
// kernel, and every task's expectations judged against what the programs decided: verdicts, drop
// reasons, the policy that decided, traffic that must stay blocked (over-broad policies), drops
// nobody expected, and (lab 7) identities and policy-map sizes.
//
// Tasks are judged in order; within a task, the first failing expectation is the one reported.
// Files that do not load or compile fail the first task with the error and its position.

import { join } from 'node:path';
import { DROP_POLICY } from '../datapath/flow.js';
import type { PacketResult } from '../datapath/replay.js';
import { compile } from '../policy/compile.js';
import type { CompiledPolicy, RuleInfo } from '../policy/model.js';
import { dropReasonText } from '../flows/build.js';
import type { Expectation, FlowSelector, Lab, Task } from './lab.js';
import type { CheckResult, Failure, Measurements, TaskResult } from './result.js';
import { compiledNote, LabCheck, OrderedJudge, replayLabCapture } from './check_replay.js';
import { describeFlow, selectFlows } from './select.js';
import type { Traffic, TrafficFlow } from './traffic.js';
import { applyLabelFilter, measure, readIdentityLabels } from './identity_labels.js';

export interface PolicyCheckOptions {
  engine: 'vm' | 'kernel';
}

/** What decided a packet: the policies whose rules allowed or denied it, or `default-deny`. */
interface Decided {
  names: string[];
  rules: RuleInfo[];
}

export async function checkPolicyLab(lab: Lab, dir: string, opts: PolicyCheckOptions): Promise<CheckResult> {
  const check = new LabCheck(lab, opts.engine);
  const { result, traffic } = check;

  // The learner's files: a YAML or policy error fails the first task with its position.
  const compiled = check.load(() => {
    const learner = check.learnerInputs(dir, lab.identityLabels ? [lab.identityLabels] : []);
    const files = learner.files;
    let inputs = learner.inputs;
    if (lab.identityLabels) inputs = applyLabelFilter(inputs, readIdentityLabels(join(dir, lab.identityLabels)));
    const c = compile(inputs);
    result.notes.push(compiledNote(files.length, inputs.policies.length, c.rules.length));
    return c;
  });
  if (compiled === undefined) return check.done();

  let m: Measurements | undefined;
  if (lab.tasks.some((t) => t.measure)) {
    m = measure(compiled);
    result.measurements = m;
    result.notes.push(`identities: ${m.identities}; largest policy map: ${m.maxEntries.toLocaleString('en-US')} entries (${m.maxEntriesAt}); limit ${m.limit.toLocaleString('en-US')}`);
  }

  // A policy map over the limit cannot be loaded: judge the measures, skip the replay.
  const overflow = m !== undefined && m.maxEntries > m.limit;
  const packets: PacketResult[] = [];
  if (!overflow) {
    await replayLabCapture(lab, { compiled, engine: opts.engine }, (record, replayer) => packets.push(replayer.packet(record)));
    result.packets = packets.length;
  }

  check.judge(new Judge(traffic, packets, compiled), (task): TaskResult | undefined => {
    const needsReplay = task.expect.length > 0 || task.mustStayBlocked.length > 0 || task.noUnexpectedDrops;
    const measured = task.measure && m ? judgeMeasure(task, m) : undefined;
    if (measured) return { task, status: 'fail', failure: measured };
    if (needsReplay && overflow) return { task, status: 'not-checked', reason: 'a policy map is over its limit, so the traffic was not replayed' };
    return undefined;
  });
  return check.done();
}

function judgeMeasure(task: Task, m: Measurements): Failure | undefined {
  const want = task.measure!;
  if (want.maxEntriesPerEndpoint !== undefined && m.maxEntries > want.maxEntriesPerEndpoint) {
    return {
      expected: `every endpoint's policy map holds at most ${want.maxEntriesPerEndpoint.toLocaleString('en-US')} entries per direction`,
      got: `${m.maxEntriesAt} needs ${m.maxEntries.toLocaleString('en-US')} entries (${m.identities} identities)`,
      flows: [],
    };
  }
  if (want.maxIdentities !== undefined && m.identities > want.maxIdentities) {
    return { expected: `the pods make at most ${want.maxIdentities} identities`, got: `they make ${m.identities}`, flows: [] };
  }
  return undefined;
}

class Judge extends OrderedJudge {
  private readonly flowOfPacket = new Map<number, TrafficFlow>();

  constructor(private readonly traffic: Traffic, private readonly results: PacketResult[], private readonly compiled: CompiledPolicy) {
    super();
    for (const f of traffic.flows) for (const p of [...f.requests, ...f.replies]) this.flowOfPacket.set(p, f);
  }

  private packet(n: number): PacketResult | undefined {
    return this.results[n - 1];
  }

  private verdictOf(r: PacketResult | undefined): string {
    if (!r) return 'not in the capture';
    if (r.outcome === 'forwarded') return 'FORWARDED';
    if (r.outcome === 'dropped') return 'DROPPED';
    return r.outcome;
  }

  protected expectation(e: Expectation): Failure | undefined {
    for (const s of selectFlows(e.select, this.traffic)) {
      for (const n of s.packets) {
        const r = this.packet(n);
        const verdict = this.verdictOf(r);
        const what = `flow ${describeFlow(s.flow)}`;
        const fail = (expected: string, got: string): Failure => ({ expected, got, packet: n, flows: r?.flows ?? [] });
        if (verdict !== e.verdict) {
          const why = r?.outcome === 'dropped' ? ` (${this.dropText(r)})` : r?.outcome === 'forwarded' ? this.allowedText(r) : '';
          return fail(`${what} is ${e.verdict}`, `packet #${n} was ${verdict}${why}`);
        }
        if (e.dropReason !== undefined && r!.dropReason !== e.dropReason) {
          return fail(`${what} is dropped with ${dropReasonText(e.dropReason)} (${e.dropReason})`, `packet #${n} was dropped with ${this.dropText(r!)}`);
        }
        if (e.rule !== undefined) {
          const d = this.decided(r!);
          if (!d.names.includes(e.rule)) {
            const by = d.names.length === 0 ? 'no policy rule' : d.names.join(', ');
            return fail(`${what} is decided by ${e.rule === 'default-deny' ? 'default deny' : `policy ${e.rule}`}`, `packet #${n} was decided by ${by}`);
          }
        }
      }
    }
    return undefined;
  }

  protected blocked(sel: FlowSelector): Failure | undefined {
    for (const s of selectFlows(sel, this.traffic)) {
      for (const n of s.packets) {
        const r = this.packet(n);
        if (r?.outcome === 'dropped') continue;
        return {
          expected: `flow ${describeFlow(s.flow)} stays blocked`,
          got: `packet #${n} was ${this.verdictOf(r)}${r?.outcome === 'forwarded' ? this.allowedText(r) : ''}: the policy is too broad`,
          packet: n,
          flows: r?.flows ?? [],
        };
      }
    }
    return undefined;
  }

  protected unexpectedDrops(expected: Set<string>): Failure | undefined {
    for (const r of this.results) {
      if (r.outcome !== 'dropped') continue;
      const f = this.flowOfPacket.get(r.packet);
      if (f && expected.has(f.name)) continue;
      return {
        expected: 'no other traffic is dropped',
        got: `packet #${r.packet}${f ? ` of flow ${describeFlow(f)}` : ''} was DROPPED (${this.dropText(r)})`,
        packet: r.packet,
        flows: r.flows,
      };
    }
    return undefined;
  }

  private dropText(r: PacketResult): string {
    const reason = r.dropReason ?? 0;
    const at = r.droppedAt ? ` at ${r.droppedAt.pod ?? r.droppedAt.node} ${r.droppedAt.direction}` : '';
    const d = this.decided(r);
    const by = d.rules.length > 0 ? ` by ${d.names[0]}` : reason === DROP_POLICY ? ', no rule allows it' : '';
    return `${dropReasonText(reason)}${at}${by}`;
  }

  private allowedText(r: PacketResult): string {
    const d = this.decided(r);
    return d.rules.length === 0 ? '' : ` (allowed by ${d.rules.map((x) => `${x.policy.name}: ${x.text}`).join('; ')})`;
  }

  /** The policies whose rules decided a packet (a drop: the dropping rule; forwarded: every rule
   * that allowed it on its way), or `default-deny` for a policy drop without a rule. */
  private decided(r: PacketResult): Decided {
    const ids = new Set<number>();
    for (const f of r.flows) if (f.twinpath.rule_id !== undefined && f.twinpath.rule_id !== 0) ids.add(f.twinpath.rule_id);
    if (r.outcome === 'dropped') {
      const drop = r.flows.filter((f) => f.flow.verdict === 'DROPPED').at(-1);
      ids.clear();
      if (drop?.twinpath.rule_id) ids.add(drop.twinpath.rule_id);
    }
    const rules = [...ids].map((id) => this.compiled.rules.find((x) => x.id === id)).filter((x): x is RuleInfo => x !== undefined);
    const names = rules.flatMap((x) => (x.policy.namespace ? [x.policy.name, `${x.policy.namespace}/${x.policy.name}`] : [x.policy.name]));
    if (r.outcome === 'dropped' && rules.length === 0 && r.dropReason === DROP_POLICY) names.push('default-deny');
    return { names, rules };
  }
}

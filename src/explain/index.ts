// `explain` for one flow: runs it through the endpoint programs of one engine (after the capture
// packets before it, for a capture), then gathers the decision and where it was made, both
// identities, conntrack, load balancing, the policy-map lookups, the rule behind it or the
// policies behind a default deny, and the smallest verified change that flips it.

import { readFileSync } from 'node:fs';
import type { EngineKind } from '../engine/engine.js';
import type { Inputs } from '../policy/ast.js';
import { compile } from '../policy/compile.js';
import { Datapath } from '../datapath/datapath.js';
import { DROP_POLICY } from '../datapath/flow.js';
import { decisionOf, flowOf, isolatingPolicies, programOf, responsibleRuleId, ruleView, sideOf, type SourceReader } from './analyze.js';
import type { Explanation, LoadBalancingView } from './model.js';
import { plan, runPlan, type FlowSpec } from './scenario.js';
import { suggest } from './suggest.js';
import { explainL7 } from './l7.js';
import { KERNEL_CANNOT_TRACE, runPlanTraced, type TraceOptions } from './trace.js';
import { TwinpathError } from '../errors.js';

export type { Explanation } from './model.js';
export type { FlowSpec, ConnectionFlowSpec, CaptureFlowSpec } from './scenario.js';
export { formatExplanation } from './format.js';

export interface ExplainOptions {
  inputs: Inputs;
  spec: FlowSpec;
  engine: EngineKind;
  /** Reads policy files for printing rules (default: the file system). */
  read?: SourceReader;
  /** The endpoint datapath object (default: the committed one). */
  object?: string;
  /** Record the instructions of the explained packet's program runs (VM engine only). */
  trace?: TraceOptions;
}

export const readSourceFile: SourceReader = (file) => {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
};

export async function explain(opts: ExplainOptions): Promise<Explanation> {
  const read = opts.read ?? readSourceFile;
  if (opts.trace && opts.engine !== 'vm') throw new TwinpathError('USAGE', KERNEL_CANNOT_TRACE);
  if (opts.spec.kind === 'connection' && opts.spec.http && opts.spec.protocol !== 'TCP') {
    throw new TwinpathError('USAGE', `an HTTP request needs --protocol TCP, not ${opts.spec.protocol}`);
  }
  const compiled = compile(opts.inputs);
  const dp = await Datapath.open(compiled, { engine: opts.engine, object: opts.object });
  try {
    const p = plan(dp, opts.spec);
    const traced = opts.trace ? runPlanTraced(dp, p, opts.trace) : undefined;
    const runs = traced ? traced.runs : runPlan(dp, p);
    const last = runs.at(-1)!;
    const e = last.event;
    const given =
      opts.spec.kind === 'connection'
        ? `${opts.spec.from} -> ${opts.spec.to} ${opts.spec.protocol}/${opts.spec.port}`
        : `${opts.spec.file} packet ${opts.spec.index}`;
    const x: Explanation = {
      engine: opts.engine,
      flow: flowOf(given, runs[0]!.event, opts.spec.kind === 'capture' ? p.before.length : undefined),
      decision: decisionOf(runs),
      source: sideOf(dp, e.src, e.srcIdentity, last.node),
      destination: sideOf(dp, e.dst, e.dstIdentity, last.node),
      programs: runs.map((r) => programOf(dp, r)),
      loadBalancing: loadBalancing(opts.inputs, e.dst),
      suggestions: [],
    };
    const ruleId = responsibleRuleId(runs);
    const rule = compiled.rules.find((r) => r.id === ruleId);
    if (ruleId !== 0 && rule) x.rule = ruleView(rule, read);
    if (last.verdict === 'DROPPED' && e.dropReason === DROP_POLICY) {
      x.defaultDeny = isolatingPolicies(opts.inputs, compiled, last.endpoint.id, x.decision.direction);
    }
    const s = await suggest({ inputs: opts.inputs, compiled, spec: opts.spec, dp, runs, read, object: opts.object });
    x.suggestions = s.suggestions;
    if (s.none !== undefined) x.noSuggestion = s.none;
    if (traced) x.trace = traced.views;
    const probe = opts.spec.kind === 'connection' ? { from: opts.spec.from, to: opts.spec.to, port: opts.spec.port, protocol: opts.spec.protocol, ...(opts.spec.http ? { http: opts.spec.http } : {}) } : undefined;
    const l7 = await explainL7({ inputs: opts.inputs, compiled, dp, runs, ...(probe ? { probe } : {}) });
    if (l7) x.l7 = l7;
    return x;
  } finally {
    dp.close();
  }
}

/** The endpoint programs translate no service addresses: a packet to a service address reaches
 * them untranslated. Say which service an address belongs to, so that is not a surprise. */
function loadBalancing(inputs: Inputs, dst: string): LoadBalancingView {
  const svc = inputs.cluster.services.find((s) => s.clusterIPs.includes(dst) || s.externalIPs.includes(dst));
  if (!svc) return { translated: false, note: 'no service' };
  return { translated: false, note: `no translation: ${dst} is an address of service ${svc.namespace}/${svc.name}, and the endpoint programs do not load-balance` };
}

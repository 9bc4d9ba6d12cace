// `explain` for one flow: runs it through the cluster's datapath in one engine the way `twinpath
// replay` does (for a capture, after the packets before it, through the same Replayer), then
// gathers the decision and where it was made, both identities, conntrack, the service
// translation, the policy-map lookups, the rule behind it or the policies behind a default deny,
// and the smallest verified change that flips it. A capture packet the replay does not run (an
// answer to a dropped opening, a duplicate) is explained through the packet that decided it; one
// no endpoint program sees says so.

import { readFileSync } from 'node:fs';
import type { EngineKind } from '../engine/engine.js';
import type { Inputs } from '../policy/ast.js';
import { compile } from '../policy/compile.js';
import type { Datapath } from '../datapath/datapath.js';
import { DROP_POLICY } from '../datapath/flow.js';
import { packetFacts, type PacketFacts } from '../datapath/replay_packet.js';
import { decisionOf, flowOf, isolatingPolicies, programOf, responsibleRuleId, ruleView, sideFromIpcache, sideOf, type SourceReader } from './analyze.js';
import type { Decision, Explanation, ReplayView, SideView } from './model.js';
import { openReplay, runSpec, type FlowRuns, type FlowSpec, type RunOptions } from './scenario.js';
import { suggest } from './suggest.js';
import { explainL7 } from './l7.js';
import { loadBalancingOf } from './services.js';
import { KERNEL_CANNOT_TRACE, traceView, type TraceOptions } from './trace.js';
import { podName } from './analyze.js';
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
  /** `false`: leave out the suggested changes (each is verified by a replay of its own). */
  suggestions?: boolean;
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
  if (opts.spec.kind === 'connection' && opts.spec.http && opts.spec.protocol !== undefined && opts.spec.protocol !== 'TCP') {
    throw new TwinpathError('USAGE', `an HTTP request needs --protocol TCP, not ${opts.spec.protocol}`);
  }
  const compiled = compile(opts.inputs);
  const ro: RunOptions = {
    compiled,
    cluster: opts.inputs.cluster,
    engine: opts.engine,
    ...(opts.object === undefined ? {} : { object: opts.object }),
    ...(opts.trace ? { trace: opts.trace } : {}),
  };
  const replayer = await openReplay(ro);
  try {
    const dp = replayer.datapath;
    const fr = await runSpec(replayer, opts.spec, ro);
    const given = givenText(opts.spec, fr);
    const facts = fr.target.input ? packetFacts(fr.target.input) : null;
    const decider = fr.decider;
    const replay = replayView(opts.spec, fr);
    if (!decider || decider.runs.length === 0 || !facts) return unhandled(dp, opts, given, fr, facts, replay);

    const runs = decider.runs;
    const last = runs.at(-1)!;
    const e = last.event;
    // A consequence answers the opening that decided it: its addresses are the opening's, swapped.
    const swapped = fr.target.result.outcome === 'consequence';
    const src = sideOf(dp, e.src, e.srcIdentity, last.node);
    const dst = sideOf(dp, e.dst, e.dstIdentity, last.node);
    const x: Explanation = {
      engine: opts.engine,
      flow: flowOf(given, facts, fr.before ? fr.before.forwarded + fr.before.dropped : undefined),
      decision: decisionOf(runs),
      source: swapped ? dst : src,
      destination: swapped ? src : dst,
      programs: runs.map((r) => programOf(dp, r)),
      loadBalancing: loadBalancingOf(dp, opts.inputs.cluster, decider, facts, decider === fr.target ? undefined : decider.packet),
      suggestions: [],
    };
    if (replay) x.replay = replay;
    const fe = x.loadBalancing.frontend;
    if (fe && !x.loadBalancing.translated && x.destination.address === fe.address && x.destination.identity === 0) {
      delete x.destination.ipcache;
      x.destination.frontend = { service: fe.service, type: fe.type };
    }
    const ruleId = responsibleRuleId(runs);
    const rule = compiled.rules.find((r) => r.id === ruleId);
    if (ruleId !== 0 && rule) x.rule = ruleView(rule, read);
    if (last.verdict === 'DROPPED' && e.dropReason === DROP_POLICY) {
      x.defaultDeny = isolatingPolicies(opts.inputs, compiled, last.endpoint.id, x.decision.direction!);
    }
    if (opts.suggestions !== false) {
      const s = await suggest({ inputs: opts.inputs, compiled, spec: opts.spec, run: ro, flow: fr, read });
      x.suggestions = s.suggestions;
      if (s.none !== undefined) x.noSuggestion = s.none;
    }
    if (opts.trace) {
      x.trace = runs.map((r) => traceView(dp.maps(r.node).obj.spec, { program: r.program, node: r.node, endpoint: podName(r.endpoint) }, r.trace!));
    }
    if (decider === fr.target) {
      const l7 = await explainL7({ inputs: opts.inputs, compiled, dp, runs, ...(fr.probe ? { probe: fr.probe } : {}) });
      if (l7) x.l7 = l7;
    }
    return x;
  } finally {
    replayer.close();
  }
}

function givenText(spec: FlowSpec, fr: FlowRuns): string {
  if (spec.kind === 'capture') return `${spec.file} packet ${spec.index}`;
  const p = fr.probe!;
  return `${spec.from} -> ${spec.to} ${p.protocol}/${p.port}`;
}

function replayView(spec: FlowSpec, fr: FlowRuns): ReplayView | undefined {
  if (spec.kind !== 'capture' || !fr.before) return undefined;
  const r = fr.target.result;
  const v: ReplayView = { packet: fr.target.packet, outcome: r.outcome, before: fr.before };
  if (r.relatedPacket !== undefined) v.relatedPacket = r.relatedPacket;
  if (fr.decider && fr.decider !== fr.target) v.decidedBy = fr.decider.packet;
  if (r.reason !== undefined) v.reason = r.reason;
  return v;
}

/** A packet no endpoint program ran for: unhandled (no pod, no frontend) or skipped (not IP). */
function unhandled(dp: Datapath, opts: ExplainOptions, given: string, fr: FlowRuns, facts: PacketFacts | null, replay: ReplayView | undefined): Explanation {
  const r = fr.target.result;
  if (opts.spec.kind === 'connection' && fr.target.runs.length === 0 && r.outcome !== 'unhandled') {
    throw new TwinpathError('DATAPATH_ERROR', `no endpoint program decided the flow ${given} (the replay: ${r.outcome})`);
  }
  const why =
    r.outcome === 'skipped'
      ? `not run: ${r.reason ?? 'not an IPv4 or IPv6 packet'}; no endpoint program sees it`
      : r.outcome === 'unhandled'
        ? `not run: ${r.reason ?? 'neither address is a pod or a service frontend'}, so no endpoint program sees it`
        : 'no endpoint program decided it (it passed only programs for no endpoint)';
  const decision: Decision = { verdict: 'UNHANDLED', program: '', node: '', where: why, endpoint: '' };
  // Both addresses as one node's ipcache sees them: the sender's node when it is one.
  const node = (facts && (dp.nodeByAddress(facts.src) ?? dp.nodeByAddress(facts.dst))) ?? dp.nodes()[0]!;
  const side = (a: string | undefined): SideView => (a === undefined ? { address: '', identity: 0, labels: [] } : sideFromIpcache(dp, a, node));
  const x: Explanation = {
    engine: opts.engine,
    flow: facts
      ? flowOf(given, facts, fr.before ? fr.before.forwarded + fr.before.dropped : undefined)
      : { given, family: 4, src: '', dst: '', protocol: '', srcPort: 0, dstPort: 0, ...(fr.before ? { replayedBefore: fr.before.forwarded + fr.before.dropped } : {}) },
    decision,
    source: side(facts?.src),
    destination: side(facts?.dst),
    programs: [],
    loadBalancing: facts ? loadBalancingOf(dp, opts.inputs.cluster, fr.target, facts) : { translated: false, note: 'no service' },
    suggestions: [],
    noSuggestion: 'no policy change affects a packet that no endpoint program sees',
  };
  if (replay) x.replay = replay;
  return x;
}

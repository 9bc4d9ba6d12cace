// The smallest policy change that flips a flow's verdict, verified before it is shown: the
// changed inputs are compiled and the same flow (with the same capture prefix) runs again
// through the same engine; only a change after which the verdict is the opposite is printed.
//
// - Dropped by default deny: add one allow rule for exactly this peer, port and protocol.
// - Dropped by a deny rule: remove the deny rules that drop it (every one: with one gone the
//   next may take over), and if that leaves a default deny, add the allow as well.
// - Forwarded: remove every allow rule that lets it through (removing one may leave another),
//   or add one deny rule for exactly this peer, port and protocol.
// Drops for other reasons (invalid packets, fragments) are no policy's doing: no suggestion.

import type { Inputs, Policy, Source } from '../policy/ast.js';
import { parseDocuments } from '../policy/load.js';
import { compile } from '../policy/compile.js';
import { RESERVED, type CompiledPolicy, type EndpointInfo, type RuleInfo } from '../policy/model.js';
import { DROP_POLICY, DROP_POLICY_DENY } from '../datapath/flow.js';
import { PROG_FROM_ENDPOINT, PROG_TO_ENDPOINT } from '../datapath/maps.js';
import { openReplay, runSpec, type FlowRuns, type FlowSpec, type RunOptions, type StepRun } from './scenario.js';
import { protoName, responsibleRuleId, ruleView, type SourceReader } from './analyze.js';
import type { Suggestion } from './model.js';
import { needsCilium, policyName, suggestedYaml, type SuggestedPeer, type SuggestedRule } from './yaml.js';

/** At most this many rules are removed in one suggestion (each removal is a compile and a run). */
const MAX_REMOVALS = 8;
const SUGGESTED_FILE = 'suggested.yaml';

interface Context {
  inputs: Inputs;
  compiled: CompiledPolicy;
  spec: FlowSpec;
  /** How the flow was run (engine, object, cluster); the compiled policy is replaced per change. */
  run: RunOptions;
  /** The flow as it ran under the inputs as they are. */
  flow: FlowRuns;
  read: SourceReader;
}

interface Replayed {
  /** The runs of the packet that decided the explained one (itself, or the packet it follows). */
  runs: StepRun[];
  verdict: 'FORWARDED' | 'DROPPED' | undefined;
  compiled: CompiledPolicy;
}

/** Runs the flow against changed inputs through the same engine, as the replay runs it (a capture
 * from its first packet): the runs of the packet that decided the explained one, and its verdict. */
async function replay(ctx: Context, inputs: Inputs): Promise<Replayed> {
  const compiled = compile(inputs);
  const o: RunOptions = { ...ctx.run, compiled };
  delete o.trace;
  const replayer = await openReplay(o);
  try {
    const fr = await runSpec(replayer, ctx.spec, o);
    return { runs: fr.decider?.runs ?? [], verdict: verdictOf(fr), compiled };
  } finally {
    replayer.close();
  }
}

/** The explained packet's verdict as the replay gives it: an answer to a dropped opening is
 * dropped with it; any other packet has the verdict of the last program that decided it. */
export function verdictOf(fr: FlowRuns): 'FORWARDED' | 'DROPPED' | undefined {
  if (fr.target.result.outcome === 'consequence') return 'DROPPED';
  return fr.decider?.runs.at(-1)?.verdict;
}

export async function suggest(ctx: Context): Promise<{ suggestions: Suggestion[]; none?: string }> {
  const runs = ctx.flow.decider!.runs;
  const last = runs.at(-1)!;
  const out: Suggestion[] = [];
  if (last.verdict === 'DROPPED') {
    const reason = last.event.dropReason;
    if (reason === DROP_POLICY) {
      const s = await addRule(ctx, ctx.inputs, runs, last, false);
      if (s) out.push(s);
    } else if (reason === DROP_POLICY_DENY) {
      const s = await removeRules(ctx, 'FORWARDED');
      if (s) out.push(s);
    } else {
      return { suggestions: [], none: `the drop (reason ${reason}) is not a policy decision: no policy change affects it` };
    }
  } else {
    const removal = await removeRules(ctx, 'DROPPED');
    if (removal) out.push(removal);
    // A deny at the program that consulted policy last; conntrack-decided runs consulted none,
    // so for them the deny is of the connection's opening, as its entry records it (a replay
    // then drops the opening, and this packet with it).
    const target = [...runs].reverse().find((r) => r.event.ctState === 'new' && r.event.policyMatch !== 'none') ?? openingOf(runs);
    if (target) {
      const s = await addRule(ctx, ctx.inputs, runs, target, true);
      if (s) out.push(s);
    }
  }
  if (out.length > 0) return { suggestions: out };
  const ct = runs.some((r) => r.event.ctState !== 'new' && r.event.ctState !== 'none');
  return {
    suggestions: [],
    none: ct
      ? 'no single policy change verified: the packet belongs to a tracked connection, and no change tried made the replay end otherwise'
      : 'no single policy change verified',
  };
}

/** Removes the rule behind the decision, again and again, until the verdict flips (or the rule
 * behind it is the compiler's own). For a dropped flow that ends in a default deny, the allow
 * rule is added on top. */
async function removeRules(ctx: Context, want: 'FORWARDED' | 'DROPPED'): Promise<Suggestion | undefined> {
  let inputs = ctx.inputs;
  let runs = ctx.flow.decider!.runs;
  let verdict = verdictOf(ctx.flow);
  let compiled = ctx.compiled;
  const removed: RuleInfo[] = [];
  for (let i = 0; i < MAX_REMOVALS; i++) {
    const last = runs.at(-1);
    if (!last) break;
    const id = responsibleRuleId(runs);
    if (want === 'FORWARDED' && !(last.verdict === 'DROPPED' && last.event.dropReason === DROP_POLICY_DENY)) break;
    const rule = compiled.rules.find((r) => r.id === id);
    if (id === 0 || !rule) return undefined;
    const next = withoutRule(inputs, rule.src);
    if (!next) return undefined;
    inputs = next;
    removed.push(rule);
    ({ runs, compiled, verdict } = await replay(ctx, inputs));
    if (verdict === want) break;
  }
  if (removed.length === 0) return undefined;
  const remove = removed.map((r) => ruleView(r, ctx.read));
  const names = removed.map((r) => `rule ${r.id}`).join(', ');
  if (verdict === want) {
    return { action: 'remove', summary: `remove ${names} (${removed.length === 1 ? 'the only rule' : 'every rule'} that ${want === 'DROPPED' ? 'allows' : 'denies'} this flow)`, remove, verified: want };
  }
  const last = runs.at(-1);
  if (want === 'FORWARDED' && last && last.verdict === 'DROPPED' && last.event.dropReason === DROP_POLICY) {
    const add = await addRule(ctx, inputs, runs, last, false);
    if (add) return { ...add, action: 'replace', summary: `remove ${names} and ${add.summary}`, remove };
  }
  return undefined;
}

/** Adds one rule for exactly this flow at the endpoint of `at`. */
async function addRule(ctx: Context, inputs: Inputs, runs: StepRun[], at: StepRun, deny: boolean): Promise<Suggestion | undefined> {
  const e = at.event;
  const protocol = protoName(e.protocol);
  if (protocol !== 'TCP' && protocol !== 'UDP' && protocol !== 'SCTP') return undefined;
  const direction = at.program === PROG_FROM_ENDPOINT ? 'egress' : 'ingress';
  const remoteAddr = direction === 'egress' ? e.dst : e.src;
  const remoteId = direction === 'egress' ? e.dstIdentity : e.srcIdentity;
  const compiled = inputs === ctx.inputs ? ctx.compiled : compile(inputs);
  const peer = peerFor(inputs, compiled, remoteAddr, remoteId);
  if (!peer) return undefined;
  const subject = distinguishingLabels(inputs, compiled, at.endpoint);
  const taken = new Set(inputs.policies.map((p) => p.name));
  const peerText = peer.kind === 'pods' ? `${peer.namespace}-${Object.values(peer.labels).join('-') || 'pods'}` : peer.kind === 'cidr' ? peer.cidr.replace(/\/\d+$/, '') : peer.entity;
  const rule: SuggestedRule = {
    name: policyName(`${deny ? 'deny' : 'allow'}-${direction === 'ingress' ? 'from' : 'to'}-${peerText}-${protocol}-${e.dstPort}`, taken),
    namespace: at.endpoint.namespace,
    subject,
    direction,
    deny,
    peer,
    protocol,
    port: e.dstPort,
  };
  const yaml = suggestedYaml(rule);
  const added = parseDocuments([{ file: SUGGESTED_FILE, text: yaml }]);
  const next: Inputs = { ...inputs, policies: [...inputs.policies, ...added.policies] };
  const { verdict } = await replay(ctx, next);
  const want = deny ? 'DROPPED' : 'FORWARDED';
  if (verdict !== want) return undefined;
  const kind = needsCilium(rule) ? 'CiliumNetworkPolicy' : 'NetworkPolicy';
  return {
    action: 'add',
    summary: `add ${kind} ${rule.namespace}/${rule.name}: ${deny ? 'deny' : 'allow'} ${direction} ${direction === 'ingress' ? 'from' : 'to'} ${peerSummary(peer)} on ${protocol}/${e.dstPort}`,
    yaml,
    verified: want,
  };
}

/**
 * The opening of the tracked connection a packet belongs to, as a run of the program that let it
 * in: the entry of the last run whose entry was opened by a rule (the server's ingress entry
 * before the client's egress entry), turned back into the opening's tuple and identities. Only
 * for a capture, where the opening is a packet of the replay.
 */
function openingOf(runs: StepRun[]): StepRun | undefined {
  for (const r of [...runs].reverse()) {
    const e = r.event;
    if (e.ctState !== 'reply' && e.ctState !== 'established') continue;
    const reply = e.ctState === 'reply';
    const entryDir = reply ? (r.program === PROG_FROM_ENDPOINT ? 'ingress' : 'egress') : r.program === PROG_FROM_ENDPOINT ? 'egress' : 'ingress';
    const entry = r.ctBefore.find((c) =>
      c.direction === entryDir && c.protocol === e.protocol &&
      (reply ? c.src === e.dst && c.dst === e.src && c.srcPort === e.dstPort && c.dstPort === e.srcPort : c.src === e.src && c.dst === e.dst && c.srcPort === e.srcPort && c.dstPort === e.dstPort));
    if (!entry || entry.ruleId === 0) continue;
    const event = {
      ...e,
      src: entry.src, dst: entry.dst, srcPort: entry.srcPort, dstPort: entry.dstPort,
      srcIdentity: reply ? e.dstIdentity : e.srcIdentity,
      dstIdentity: reply ? e.srcIdentity : e.dstIdentity,
      ctState: 'new' as const,
    };
    return { ...r, program: entryDir === 'egress' ? PROG_FROM_ENDPOINT : PROG_TO_ENDPOINT, event };
  }
  return undefined;
}

function peerSummary(p: SuggestedPeer): string {
  if (p.kind === 'pods') return `pods ${Object.entries(p.labels).map(([k, v]) => `${k}=${v}`).join(',') || 'all'} in namespace ${p.namespace}`;
  if (p.kind === 'cidr') return p.cidr;
  return `entity ${p.entity}`;
}

/** The peer a rule names for the remote side: its pods by their labels, the nodes by entity,
 * any other address as a host prefix (world as the entity only when there is no address). */
export function peerFor(inputs: Inputs, compiled: CompiledPolicy, address: string, identity: number): SuggestedPeer | undefined {
  const ep = compiled.endpoints.find((x) => x.ips.includes(address));
  if (ep) return { kind: 'pods', namespace: ep.namespace, labels: distinguishingLabels(inputs, compiled, ep) };
  if (identity === RESERVED.host) return { kind: 'entity', entity: 'host' };
  if (identity === RESERVED['remote-node']) return { kind: 'entity', entity: 'remote-node' };
  if (address === '') return undefined;
  return { kind: 'cidr', cidr: `${address}/${address.includes(':') ? 128 : 32}` };
}

/** The fewest labels of the pod that select, within its namespace, only pods of its identity:
 * one label when one does, else all of them. */
export function distinguishingLabels(inputs: Inputs, compiled: CompiledPolicy, ep: EndpointInfo): Record<string, string> {
  const pod = inputs.cluster.pods.find((p) => p.namespace === ep.namespace && p.name === ep.pod);
  if (!pod) return {};
  const members = new Set(compiled.identities.find((i) => i.id === ep.identity)?.members ?? [`${ep.namespace}/${ep.pod}`]);
  const peers = inputs.cluster.pods.filter((p) => p.namespace === ep.namespace && !p.hostNetwork);
  for (const key of Object.keys(pod.labels).sort()) {
    const v = pod.labels[key]!;
    if (peers.every((p) => p.labels[key] !== v || members.has(`${p.namespace}/${p.name}`))) return { [key]: v };
  }
  return { ...pod.labels };
}

function sameSrc(a: Source, b: Source): boolean {
  return a.file === b.file && a.line === b.line && a.column === b.column && a.path === b.path;
}

/** The inputs without the rule that starts at `src`; undefined when no rule does. */
export function withoutRule(inputs: Inputs, src: Source): Inputs | undefined {
  let found = false;
  const policies = inputs.policies.map((p): Policy => {
    if (p.kind === 'NetworkPolicy') {
      const keep = (rs: typeof p.ingress) => rs.filter((r) => !(sameSrc(r.src, src) && (found = true)));
      return { ...p, ingress: keep(p.ingress), egress: keep(p.egress) };
    }
    return {
      ...p,
      specs: p.specs.map((s) => {
        const copy = { ...s };
        for (const d of ['ingress', 'ingressDeny', 'egress', 'egressDeny'] as const) {
          const rs = s[d];
          if (rs) copy[d] = rs.filter((r) => !(sameSrc(r.src, src) && (found = true)));
        }
        return copy;
      }),
    };
  });
  return found ? { ...inputs, policies } : undefined;
}

// From the program runs of one packet to the facts of its explanation: the decision and where
// it was made, both identities, conntrack, the policy-map lookups the program made (repeated
// against the same engine's map, so the entries shown are the ones the map returns), the rule
// behind the decision, and for a default deny the policies that isolate the endpoint.
//
// Everything here reads the datapath (flow events, maps) and the compiled policy; nothing
// re-evaluates policy on its own.

import type { Datapath } from '../datapath/datapath.js';
import { DROP_REASONS } from '../datapath/flow.js';
import { encodePolicyKey, LAYOUTS, MAP_POLICY, parsePrefix, PROG_FROM_ENDPOINT, type ConntrackEntry } from '../datapath/maps.js';
import type { Inputs } from '../policy/ast.js';
import { collectRules } from '../policy/compile_rules.js';
import { matchSubject } from '../policy/compile_entries.js';
import { buildUniverse } from '../policy/identity.js';
import type { CompiledPolicy, Direction, RuleInfo } from '../policy/model.js';
import { PROTO_NAMES } from '../policy/ports.js';
import type {
  ConntrackView,
  Decision,
  DefaultDenyView,
  FlowView,
  PolicyEntryView,
  PolicyLookupView,
  ProgramView,
  RuleView,
  SideView,
  SourceLine,
} from './model.js';
import type { StepRun } from './scenario.js';
import type { PacketFacts } from '../datapath/replay_packet.js';

/** Reads a policy file's text for printing rules; undefined when it cannot be read. */
export type SourceReader = (file: string) => string | undefined;

const NS = 1_000_000_000n;
const WORLD = 2;
const TCP = 6;
const ICMP = 1;
const ICMPV6 = 58;

export function protoName(p: number): string {
  return PROTO_NAMES[p] ?? String(p);
}

export function podName(ep: { namespace: string; pod: string }): string {
  return `${ep.namespace}/${ep.pod}`;
}

function directionOf(run: StepRun): Direction {
  return run.program === PROG_FROM_ENDPOINT ? 'egress' : 'ingress';
}

export function decisionOf(runs: StepRun[]): Decision {
  const last = runs.at(-1)!;
  const direction = directionOf(last);
  const d: Decision = {
    verdict: last.verdict,
    program: last.program,
    node: last.node,
    where: `${direction} of ${podName(last.endpoint)}`,
    endpoint: podName(last.endpoint),
    direction,
  };
  if (last.verdict === 'DROPPED') {
    d.dropReason = last.event.dropReason;
    d.dropReasonName = last.event.dropReasonName ?? DROP_REASONS[last.event.dropReason] ?? `drop reason ${last.event.dropReason}`;
  }
  return d;
}

const TCP_FLAG_NAMES: Array<[number, string]> = [[0x02, 'SYN'], [0x10, 'ACK'], [0x01, 'FIN'], [0x04, 'RST'], [0x08, 'PSH'], [0x20, 'URG'], [0x40, 'ECE'], [0x80, 'CWR']];

/** The explained packet as it was sent (before any service translation). */
export function flowOf(given: string, f: PacketFacts, replayedBefore?: number): FlowView {
  const v: FlowView = { given, family: f.family, src: f.src, dst: f.dst, protocol: protoName(f.protocol), srcPort: f.srcPort, dstPort: f.dstPort };
  if (f.protocol === TCP) v.tcpFlags = TCP_FLAG_NAMES.filter(([bit]) => f.tcpFlags & bit).map(([, n]) => n).join(',') || 'none';
  if (f.protocol === ICMP || f.protocol === ICMPV6) {
    v.icmpType = Math.max(f.icmpType, 0);
    v.icmpCode = Math.max(f.icmpCode, 0);
  }
  if (replayedBefore !== undefined) v.replayedBefore = replayedBefore;
  return v;
}

/** An address no program ran for: a pod's endpoint, or the identity the node's ipcache gives it
 * (world without an entry). */
export function sideFromIpcache(dp: Datapath, address: string, node: string): SideView {
  const ep = dp.compiled.endpoints.find((e) => e.ips.some((ip) => sameAddress(ip, address)));
  const hit = ep ? undefined : longestPrefix(dp.maps(node).ipcacheEntries(), address);
  return sideOf(dp, address, ep ? ep.identity : hit ? hit.identity : WORLD, node);
}

/** One side of the flow: a pod (its endpoint) or an address (the ipcache entry that holds it). */
export function sideOf(dp: Datapath, address: string, identity: number, node: string): SideView {
  const c = dp.compiled;
  const labels = c.identities.find((i) => i.id === identity)?.labels ?? [];
  const side: SideView = { address, identity, labels };
  const ep = c.endpoints.find((e) => e.ips.some((ip) => sameAddress(ip, address)));
  if (ep) {
    side.pod = { namespace: ep.namespace, name: ep.pod, endpointId: ep.id, node: dp.nodeOf(ep) };
    return side;
  }
  side.ipcache = longestPrefix(dp.maps(node).ipcacheEntries(), address);
  return side;
}

function sameAddress(a: string, b: string): boolean {
  try {
    const x = parsePrefix(a);
    const y = parsePrefix(b);
    return x.family === y.family && x.addr.every((v, i) => v === y.addr[i]);
  } catch {
    return false;
  }
}

function longestPrefix(entries: Array<{ prefix: string; identity: number }>, address: string): { prefix: string; identity: number } | null {
  const a = parsePrefix(address);
  let best: { prefix: string; identity: number; len: number } | undefined;
  for (const e of entries) {
    const p = parsePrefix(e.prefix);
    if (p.family !== a.family || (best && best.len >= p.len)) continue;
    let inside = true;
    for (let bit = 0; bit < p.len && inside; bit++) {
      const m = 0x80 >> (bit & 7);
      inside = (p.addr[bit >> 3]! & m) === (a.addr[bit >> 3]! & m);
    }
    if (inside) best = { ...e, len: p.len };
  }
  return best ? { prefix: best.prefix, identity: best.identity } : null;
}

function lifetimeNs(e: ConntrackEntry): bigint {
  if (e.protocol !== TCP) return 60n * NS;
  return e.state === 'closing' ? 10n * NS : e.state === 'established' ? 21600n * NS : 60n * NS;
}

function sameTuple(e: ConntrackEntry, src: string, dst: string, sport: number, dport: number, proto: number, dir: Direction): boolean {
  return e.direction === dir && e.protocol === proto && e.srcPort === sport && e.dstPort === dport && e.src === src && e.dst === dst;
}

function tupleText(e: ConntrackEntry): string {
  const host = (a: string, p: number) => (a.includes(':') ? `[${a}]:${p}` : `${a}:${p}`);
  return `${host(e.src, e.srcPort)} -> ${host(e.dst, e.dstPort)} ${protoName(e.protocol)}`;
}

/** An entry as a person reads it. `now` is the program's clock at the run; the kernel's cannot be
 * read, but every packet of a connection sets its entry's expiry to now + the state's lifetime,
 * so the entry after the run gives it in either engine. */
function ctView(e: ConntrackEntry, now: bigint): ConntrackView {
  const left = e.expiresNs - now;
  return {
    tuple: tupleText(e),
    direction: e.direction,
    state: e.state,
    lifetimeLeftS: Number((left + NS / 2n) / NS),
    lifetimeS: Number(lifetimeNs(e) / NS),
    ruleId: e.ruleId,
    packetsFwd: Number(e.packetsFwd),
    packetsRev: Number(e.packetsRev),
  };
}

function conntrackOf(run: StepRun): ProgramView['conntrack'] {
  const e = run.event;
  const dir = directionOf(run);
  const other: Direction = dir === 'egress' ? 'ingress' : 'egress';
  const state = e.ctState;
  const view: ProgramView['conntrack'] = { state, policySkipped: state === 'established' || state === 'reply' || state === 'related' };
  let key: [string, string, number, number, Direction] | undefined;
  if (state === 'established' || state === 'new') key = [e.src, e.dst, e.srcPort, e.dstPort, dir];
  else if (state === 'reply') key = [e.dst, e.src, e.dstPort, e.srcPort, other];
  if (!key) return view;
  const find = (list: ConntrackEntry[]) => list.find((c) => sameTuple(c, key[0], key[1], key[2], key[3], e.protocol, key[4]));
  const after = find(run.ctAfter);
  const now = after ? after.expiresNs - lifetimeNs(after) : 0n;
  if (state === 'new') {
    if (after) view.created = ctView(after, now);
  } else {
    const before = find(run.ctBefore);
    if (before) view.entry = ctView(before, after ? now : before.expiresNs);
  }
  return view;
}

function portsText(protocol: number, port: number, prefixLen: number): string {
  if (protocol === 0) return 'any';
  if (prefixLen === 0) return `${protoName(protocol)}/any`;
  const size = 1 << (16 - prefixLen);
  return `${protoName(protocol)}/${size === 1 ? port : `${port}-${port + size - 1}`}`;
}

/** Looks a key up in the engine's policy map, as the program does, and decodes what it returns. */
function lookup(dp: Datapath, run: StepRun, identity: number, protocol: number, port: number): PolicyLookupView['match'] {
  const obj = dp.maps(run.node).obj;
  const map = obj.maps().find((m) => m.name === MAP_POLICY)!;
  const key = encodePolicyKey({ endpointId: run.endpoint.id, direction: directionOf(run), identity, protocol, port, portPrefixLen: 16, deny: false, ruleId: 0, proxyPort: 0 });
  const v = map.lookup(key);
  if (!v) return null;
  const f = LAYOUTS.policy_entry.fields;
  const dv = new DataView(v.buffer, v.byteOffset, v.byteLength);
  const l4 = v[f.l4_prefix]!;
  const portPrefixLen = l4 > 8 ? l4 - 8 : 0;
  const proto = l4 >= 8 ? protocol : 0;
  const blockPort = portPrefixLen === 0 ? 0 : port & ((0xffff << (16 - portPrefixLen)) & 0xffff);
  const entry: PolicyEntryView = {
    identity,
    protocol: proto,
    port: blockPort,
    portPrefixLen,
    ports: portsText(proto, blockPort, portPrefixLen),
    deny: (v[f.flags]! & 1) !== 0,
    ruleId: dv.getUint32(f.rule_id, true),
    proxyPort: dv.getUint16(f.proxy_port, true),
  };
  return entry;
}

/** The remote identity and the port the program looks policy up with. */
export function policyQuery(run: StepRun): { identity: number; protocol: number; port: number } {
  const e = run.event;
  const identity = directionOf(run) === 'egress' ? e.dstIdentity : e.srcIdentity;
  const port = e.protocol === ICMP || e.protocol === ICMPV6 ? e.icmpType : e.dstPort;
  return { identity, protocol: e.protocol, port };
}

export function programOf(dp: Datapath, run: StepRun): ProgramView {
  const e = run.event;
  const view: ProgramView = {
    program: run.program,
    node: run.node,
    endpoint: podName(run.endpoint),
    endpointId: run.endpoint.id,
    direction: directionOf(run),
    verdict: run.verdict,
    conntrack: conntrackOf(run),
  };
  if (run.verdict === 'DROPPED') {
    view.dropReason = e.dropReason;
    view.dropReasonName = e.dropReasonName ?? DROP_REASONS[e.dropReason];
  }
  if (e.policyMatch !== 'none') {
    const q = policyQuery(run);
    const key = (identity: number) => ({ endpointId: run.endpoint.id, direction: view.direction, identity, protocol: q.protocol, port: q.port });
    view.policy = {
      remoteIdentity: q.identity,
      lookups: [
        { kind: 'exact', key: key(q.identity), match: lookup(dp, run, q.identity, q.protocol, q.port) },
        { kind: 'wildcard', key: key(0), match: lookup(dp, run, 0, q.protocol, q.port) },
      ],
      match: e.policyMatch,
      ruleId: e.ruleId,
    };
  }
  return view;
}

/** The rule whose entry decided: the deny that dropped it, or for a forwarded flow the last
 * program's rule that is not the compiler's own (the server's ingress before the client's
 * egress, as probe reports it); for conntrack, the rule that opened the connection. */
export function responsibleRuleId(runs: StepRun[]): number {
  const last = runs.at(-1)!;
  if (last.verdict === 'DROPPED') return last.event.ruleId;
  return [...runs].reverse().find((r) => r.event.ruleId !== 0)?.event.ruleId ?? 0;
}

export function policyLabel(p: { kind: string; namespace: string; name: string }): string {
  return `${p.kind} ${p.namespace === '' ? '' : `${p.namespace}/`}${p.name}`;
}

/** Source lines of a rule: two lines before it, then the rule's own block (lines indented at
 * least as deep as its first key), at most 14 lines; the first line of the rule is marked. */
export function sourceLines(text: string | undefined, line: number, column: number): SourceLine[] {
  if (text === undefined) return [];
  const all = text.split(/\r?\n/);
  if (line < 1 || line > all.length) return [];
  const indent = column - 1;
  const out: SourceLine[] = [];
  for (let l = Math.max(1, line - 2); l < line; l++) out.push({ line: l, text: all[l - 1]!, marked: false });
  out.push({ line, text: all[line - 1]!, marked: true });
  for (let l = line + 1; l <= all.length && out.length < 14; l++) {
    const t = all[l - 1]!;
    if (t.trim() === '') break;
    const lead = t.length - t.trimStart().length;
    if (lead < indent) break;
    out.push({ line: l, text: t, marked: false });
  }
  return out;
}

export function ruleView(rule: RuleInfo, read: SourceReader): RuleView {
  return {
    id: rule.id,
    policy: policyLabel(rule.policy),
    direction: rule.direction,
    deny: rule.deny,
    text: rule.text,
    file: rule.src.file,
    line: rule.src.line,
    column: rule.src.column,
    path: rule.src.path,
    lines: sourceLines(read(rule.src.file), rule.src.line, rule.src.column),
  };
}

/** The policies that isolate an endpoint in a direction: each policy's rules are collected on
 * their own and its enforcing subjects matched against the endpoint, as the compiler does. */
export function isolatingPolicies(inputs: Inputs, compiled: CompiledPolicy, endpointId: number, direction: Direction): DefaultDenyView {
  const universe = buildUniverse(inputs.cluster, collectRules(inputs.policies).needs);
  const rec = universe.endpoints.find((e) => e.id === endpointId);
  const ep = compiled.endpoints.find((e) => e.id === endpointId)!;
  const isolatedBy = [];
  for (const p of inputs.policies) {
    if (!rec) break;
    const { enforcers } = collectRules([p]);
    if (enforcers.some((e) => e.direction === direction && matchSubject(e.subject, rec))) {
      isolatedBy.push({ policy: policyLabel(p), file: p.src.file, line: p.src.line, column: p.src.column });
    }
  }
  return { endpoint: podName(ep), direction, isolatedBy };
}

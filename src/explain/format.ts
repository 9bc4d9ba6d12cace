// An explanation as text for a person: one section per question (decision, identities, the
// programs with their conntrack and policy lookups, load balancing, the rule from its file,
// the default-deny cause, the verified change that flips the verdict). Stable line for line,
// so it serves as a golden file.

import type { ConntrackView, Explanation, L7View, LoadBalancingView, PolicyLookupView, ProgramView, ReplayView, RuleView, SideView } from './model.js';
import { protoName } from './analyze.js';
import { formatTrace } from './trace.js';

function hostPort(a: string, p: number): string {
  return a.includes(':') ? `[${a}]:${p}` : `${a}:${p}`;
}

function side(title: string, s: SideView): string[] {
  if (s.frontend) {
    return [`  ${title.padEnd(12)} ${s.address}  ${s.frontend.type} of service ${s.frontend.service}`, `  ${''.padEnd(12)} no identity: the packet was dropped before translation and the ipcache lookup`];
  }
  const who = s.pod
    ? `${s.pod.namespace}/${s.pod.name} (endpoint ${s.pod.endpointId} on ${s.pod.node})`
    : s.ipcache
      ? `ipcache ${s.ipcache.prefix} -> identity ${s.ipcache.identity}`
      : 'no ipcache entry: world';
  return [`  ${title.padEnd(12)} ${s.address}  ${who}`, `  ${''.padEnd(12)} identity ${s.identity}: ${s.labels.join(' ') || '(no labels)'}`];
}

function ct(c: ConntrackView): string {
  return `${c.tuple} (${c.direction}), state ${c.state}, ${c.lifetimeLeftS} s of ${c.lifetimeS} s left, opened by rule ${c.ruleId}, packets ${c.packetsFwd} forward / ${c.packetsRev} reply`;
}

function lookupLine(l: PolicyLookupView): string {
  const k = l.key;
  const key = `endpoint ${k.endpointId} ${k.direction} identity ${k.identity} ${protoName(k.protocol)} port ${k.port}`;
  const m = l.match;
  const what = m ? `${m.deny ? 'deny' : 'allow'} ${m.ports} (identity ${m.identity === 0 ? 'any' : m.identity}), rule ${m.ruleId}${m.proxyPort ? `, proxy port ${m.proxyPort}` : ''}` : 'no entry';
  return `${l.kind.padEnd(8)} ${key} -> ${what}`;
}

const MATCH_TEXT: Record<string, string> = {
  exact: 'the entry for the remote identity decided',
  wildcard: 'the entry for any identity decided',
  unenforced: 'no policy isolates the endpoint in this direction: allowed',
  'default-deny': 'no entry allows it and the endpoint is isolated in this direction: default deny',
};

function program(p: ProgramView, i: number): string[] {
  const head = `  ${i + 1}. ${p.program} on ${p.node}: ${p.direction} of ${p.endpoint} (endpoint ${p.endpointId}) -> ${p.verdict}${p.dropReason !== undefined ? `, drop reason ${p.dropReason} (${p.dropReasonName})` : ''}`;
  const out = [head];
  const c = p.conntrack;
  if (c.state === 'new') out.push(`     conntrack: new connection${c.created ? `; created ${ct(c.created)}` : ''}`);
  else if (c.state === 'none') out.push('     conntrack: not consulted');
  else {
    out.push(`     conntrack: ${c.state}${c.entry ? `, entry ${ct(c.entry)}` : ''}`);
    if (c.policySkipped) out.push('     policy lookup skipped: the packet belongs to a tracked connection');
  }
  if (p.policy) {
    out.push(`     policy map (remote identity ${p.policy.remoteIdentity}):`);
    for (const l of p.policy.lookups) out.push(`       ${lookupLine(l)}`);
    out.push(`       => ${MATCH_TEXT[p.policy.match] ?? p.policy.match}${p.policy.ruleId !== 0 ? ` (rule ${p.policy.ruleId})` : ''}`);
  }
  return out;
}

function ruleLines(r: RuleView, indent: string): string[] {
  const out = [`${indent}rule ${r.id}, ${r.policy}: ${r.text}`, `${indent}${r.file}:${r.line}:${r.column} ${r.path}`];
  const width = String(r.lines.at(-1)?.line ?? r.line).length;
  for (const l of r.lines) out.push(`${indent}${l.marked ? '>' : ' '} ${String(l.line).padStart(width)} | ${l.text}`.trimEnd());
  return out;
}

function l7Lines(l: L7View): string[] {
  const out = [`L7: redirected to the proxy (proxy port ${l.proxyPort}) by the ${l.direction} policy of ${l.endpoint}`];
  if (l.allowAllBy) out.push(`  rule ${l.allowAllBy.ruleId}, ${l.allowAllBy.policy}: ${l.allowAllBy.text}`, '  allows the same traffic without HTTP rules: every request passes');
  if (l.rules.length === 0 && !l.allowAllBy) out.push('  no HTTP rule applies: every request is refused');
  else if (l.rules.length > 0) out.push(`  HTTP rules that apply (${l.rules.length === 1 ? 'a request must match it' : 'a request must match one of them'}):`);
  for (const r of l.rules) {
    const verdict = r.allows === undefined ? '' : r.allows ? '  -> allows the request' : '  -> does not allow it';
    out.push(`    rule ${r.ruleId} http[${r.index}] (${r.policy}, ${r.file}:${r.line}:${r.column}): ${r.http}${verdict}`);
    for (const c of r.checks ?? []) {
      const actual = c.actual === undefined ? '(absent)' : JSON.stringify(c.actual);
      out.push(`      ${c.ok ? 'ok  ' : 'FAIL'} ${c.field.padEnd(6)} ${JSON.stringify(c.expected)} against ${actual}`);
    }
  }
  if (l.request) {
    const rq = l.request;
    out.push(`  request: ${rq.method} ${rq.path} (Host: ${rq.host}${rq.headers.length > 0 ? `; ${rq.headers.join('; ')}` : ''})`);
    if (l.verdict) out.push(`  verdict: ${l.verdict} (the client gets ${l.code}${l.verdict === 'DROPPED' && l.code === 403 ? ' from the proxy itself' : ''})`);
    if (l.suggestion) {
      const s = l.suggestion;
      out.push('  To allow this request:', `    1. ${s.summary}`);
      if (s.yaml) out.push(...s.yaml.trimEnd().split('\n').map((line) => `       ${line}`));
      out.push(`       verified: the request becomes ${s.verified}`);
    } else if (l.noSuggestion) out.push(`  To allow this request: ${l.noSuggestion}`);
  } else {
    out.push('  (give a request with --http-method and --http-path to see each rule held against it)');
  }
  return out;
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** Where the packet sits in the replay, and what the replay did with the packets before it. */
function replayLines(r: ReplayView): string[] {
  const b = r.before;
  const total = b.forwarded + b.dropped + b.consequence + b.duplicate + b.unhandled + b.skipped;
  const notRun = [
    b.consequence ? `${plural(b.consequence, 'consequence')} of a drop` : '',
    b.duplicate ? plural(b.duplicate, 'duplicate') : '',
    b.unhandled ? `${b.unhandled} that no endpoint program sees` : '',
    b.skipped ? `${b.skipped} not IP` : '',
  ].filter(Boolean);
  const ran = b.forwarded + b.dropped;
  return [
    `  packet #${r.packet} as \`twinpath replay\` numbers it; the replay of the ${plural(total, 'packet')} before it ran ${ran} through the programs${notRun.length ? ` (not run: ${notRun.join(', ')})` : ''}`,
  ];
}

/** Why a packet was not run, and which packet's runs decided it. */
function notRunLines(r: ReplayView): string[] {
  if (r.outcome === 'consequence') {
    return [
      `  not run: an answer to packet #${r.relatedPacket}, which the datapath dropped; it is in the capture only because #${r.relatedPacket} got through when it was recorded (the replay shows it as a consequence of #${r.relatedPacket})`,
    ];
  }
  if (r.outcome === 'duplicate') {
    const via = r.decidedBy !== r.relatedPacket ? ` (itself decided by packet #${r.decidedBy})` : '';
    return [`  not run: the same packet as #${r.relatedPacket}${via}, captured again moments later (on another interface); the replay runs it once`];
  }
  return [];
}

function hp(a: string, p: number): string {
  return hostPort(a, p);
}

function loadBalancingLines(lb: LoadBalancingView): string[] {
  const out = [`Load balancing: ${lb.note}`];
  const f = lb.frontend;
  if (f) {
    out.push(`  frontend  ${f.type} ${hp(f.address, f.port)} ${f.protocol}: service ${f.service}${f.portName ? `, port ${f.portName}` : ''}; rev-NAT index ${f.revNatIndex}; backend group ${f.serviceGroup} (${f.scope}, ${plural(f.backends, 'backend')})${f.affinityTimeoutSeconds ? `; ClientIP affinity ${f.affinityTimeoutSeconds} s` : ''}`);
  }
  const b = lb.backend;
  if (b) out.push(`  backend   ${b.id}: ${hp(b.address, b.port)}${b.pod ? ` (${b.pod}${b.node ? ` on ${b.node}` : ''})` : ''}`);
  if (lb.selection) out.push(`  chosen by ${lb.selection.detail}`);
  if (lb.reverse) out.push(`  reverse   ${lb.reverse.from} -> ${lb.reverse.to} (rev-NAT index ${lb.reverse.revNatIndex}) by ${lb.reverse.program} on ${lb.reverse.node}`);
  if (lb.policyTarget) out.push(`  ${lb.policyTarget}`);
  if (lb.noBackend) {
    out.push(`  no backend: ${lb.noBackend.reason}`);
    for (const e of lb.noBackend.endpoints) {
      const cond = `ready=${e.ready} serving=${e.serving} terminating=${e.terminating}`;
      out.push(`    ${e.address}${e.pod ? ` (${e.pod}${e.node ? ` on ${e.node}` : ''})` : e.node ? ` (on ${e.node})` : ''}: ${cond}: ${e.why}`);
      out.push(`      EndpointSlice ${e.slice}, ${e.file}:${e.line} ${e.path}`);
    }
  }
  return out;
}

export function formatExplanation(x: Explanation): string {
  const f = x.flow;
  const out: string[] = [];
  const extra = [f.tcpFlags !== undefined ? `flags ${f.tcpFlags}` : '', f.icmpType !== undefined ? `ICMP type ${f.icmpType} code ${f.icmpCode}` : ''].filter(Boolean).join(', ');
  out.push(`Flow: ${f.given} (engine ${x.engine})`);
  out.push(`  ${hostPort(f.src, f.srcPort)} -> ${hostPort(f.dst, f.dstPort)} ${f.protocol}${extra ? ` (${extra})` : ''}`);
  if (x.replay) out.push(...replayLines(x.replay));
  else if (f.replayedBefore !== undefined) out.push(`  after replaying the ${f.replayedBefore} packet${f.replayedBefore === 1 ? '' : 's'} before it that an endpoint program sees`);

  const d = x.decision;
  out.push('', `Decision: ${d.verdict}`);
  const r = x.replay;
  if (r && r.decidedBy !== undefined) out.push(...notRunLines(r));
  if (d.verdict === 'UNHANDLED') out.push(`  ${d.where}`);
  else out.push(`  ${r?.decidedBy !== undefined ? `packet #${r.decidedBy} ` : ''}by ${d.program} on ${d.node}: ${d.where}`);
  if (d.dropReason !== undefined) out.push(`  drop reason ${d.dropReason}: ${d.dropReasonName}`);

  out.push('', 'Identities:', ...side('source', x.source), ...side('destination', x.destination));

  out.push('', r?.decidedBy !== undefined ? `Programs (of packet #${r.decidedBy}; this packet was not run):` : 'Programs:');
  if (x.programs.length === 0) out.push('  none');
  x.programs.forEach((p, i) => out.push(...program(p, i)));

  out.push('', ...loadBalancingLines(x.loadBalancing));

  out.push('', 'Rule:');
  if (x.rule) out.push(...ruleLines(x.rule, '  '));
  else if (d.verdict === 'UNHANDLED') out.push('  none: no endpoint program ran, so no policy applies');
  else if (x.defaultDeny) out.push('  none: no rule allows this flow');
  else out.push('  none: no policy isolates the endpoints on the path (the compiler\'s implicit allow, rule 0)');

  if (x.defaultDeny) {
    const dd = x.defaultDeny;
    out.push('', `Default deny: ${dd.endpoint} is isolated for ${dd.direction} by`);
    for (const p of dd.isolatedBy) out.push(`  ${p.policy} (${p.file}:${p.line}:${p.column})`);
  }

  if (x.l7) out.push('', ...l7Lines(x.l7));

  out.push('', d.verdict === 'UNHANDLED' ? 'To change it:' : `To make it ${d.verdict === 'FORWARDED' ? 'DROPPED' : 'FORWARDED'}:`);
  if (x.suggestions.length === 0) out.push(`  ${x.noSuggestion ?? 'no suggestion'}`);
  x.suggestions.forEach((s, i) => {
    if (i > 0) out.push('  or');
    out.push(`  ${i + 1}. ${s.summary}`);
    for (const r of s.remove ?? []) out.push(...ruleLines(r, '     '));
    if (s.yaml) out.push(...s.yaml.trimEnd().split('\n').map((l) => `     ${l}`));
    out.push(`     verified: the flow becomes ${s.verified}`);
  });

  if (x.trace) {
    out.push('', 'Trace (instructions executed; insn numbers count from the start of each program):');
    x.trace.forEach((t, i) => {
      out.push(`  ${i + 1}. ${t.program} on ${t.node} (${t.endpoint}): ${t.total} instruction${t.total === 1 ? '' : 's'}`);
      out.push(...formatTrace(t, '     '));
    });
  }
  return out.join('\n') + '\n';
}

// An explanation as text for a person: one section per question (decision, identities, the
// programs with their conntrack and policy lookups, load balancing, the rule from its file,
// the default-deny cause, the verified change that flips the verdict). Stable line for line,
// so it serves as a golden file.

import type { ConntrackView, Explanation, PolicyLookupView, ProgramView, RuleView, SideView } from './model.js';
import { protoName } from './analyze.js';
import { formatTrace } from './trace.js';

function hostPort(a: string, p: number): string {
  return a.includes(':') ? `[${a}]:${p}` : `${a}:${p}`;
}

function side(title: string, s: SideView): string[] {
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

export function formatExplanation(x: Explanation): string {
  const f = x.flow;
  const out: string[] = [];
  const extra = [f.tcpFlags !== undefined ? `flags ${f.tcpFlags}` : '', f.icmpType !== undefined ? `ICMP type ${f.icmpType} code ${f.icmpCode}` : ''].filter(Boolean).join(', ');
  out.push(`Flow: ${f.given} (engine ${x.engine})`);
  out.push(`  ${hostPort(f.src, f.srcPort)} -> ${hostPort(f.dst, f.dstPort)} ${f.protocol}${extra ? ` (${extra})` : ''}`);
  if (f.replayedBefore !== undefined) out.push(`  after replaying the ${f.replayedBefore} packet${f.replayedBefore === 1 ? '' : 's'} before it that an endpoint program sees`);

  const d = x.decision;
  out.push('', `Decision: ${d.verdict}`);
  out.push(`  by ${d.program} on ${d.node}: ${d.where}`);
  if (d.dropReason !== undefined) out.push(`  drop reason ${d.dropReason}: ${d.dropReasonName}`);

  out.push('', 'Identities:', ...side('source', x.source), ...side('destination', x.destination));

  out.push('', 'Programs:');
  x.programs.forEach((p, i) => out.push(...program(p, i)));

  out.push('', `Load balancing: ${x.loadBalancing.note}`);

  out.push('', 'Rule:');
  if (x.rule) out.push(...ruleLines(x.rule, '  '));
  else if (x.defaultDeny) out.push('  none: no rule allows this flow');
  else out.push('  none: no policy isolates the endpoints on the path (the compiler\'s implicit allow, rule 0)');

  if (x.defaultDeny) {
    const dd = x.defaultDeny;
    out.push('', `Default deny: ${dd.endpoint} is isolated for ${dd.direction} by`);
    for (const p of dd.isolatedBy) out.push(`  ${p.policy} (${p.file}:${p.line}:${p.column})`);
  }

  out.push('', `To make it ${d.verdict === 'FORWARDED' ? 'DROPPED' : 'FORWARDED'}:`);
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

// A compiled policy as text for people: identities with their labels and members, endpoints,
// the ipcache, the policy-map entries per endpoint and direction (with the rule each came from),
// the rules, and warnings. Stable line for line, so it serves as a golden file.

import type { CompiledPolicy, PolicyEntry } from './model.js';
import { PROTO_NAMES } from './ports.js';

function portText(e: PolicyEntry): string {
  if (e.protocol === 0) return 'any';
  const proto = PROTO_NAMES[e.protocol] ?? String(e.protocol);
  if (e.portPrefixLen === 0) return `${proto}/any`;
  const size = 1 << (16 - e.portPrefixLen);
  const range = size === 1 ? `${e.port}` : `${e.port}-${e.port + size - 1}`;
  return `${proto}/${range} (${e.port}/${e.portPrefixLen})`;
}

export function formatCompiled(c: CompiledPolicy): string {
  const out: string[] = [];
  const idName = new Map(c.identities.map((i) => [i.id, i]));
  const who = (id: number): string => (id === 0 ? 'any' : String(id));

  out.push('identities:');
  for (const i of c.identities) {
    const members = i.members.length > 0 ? ` members=${i.members.join(',')}` : '';
    out.push(`  ${i.id} ${i.kind} ${i.labels.join(' ')}${members}`);
  }
  out.push('endpoints:');
  for (const e of c.endpoints) {
    const enf = [e.ingressEnforced ? 'ingress' : '', e.egressEnforced ? 'egress' : ''].filter(Boolean).join('+') || 'none';
    out.push(`  ${e.id} ${e.namespace}/${e.pod} node=${e.node || '-'} ips=${e.ips.join(',') || '-'} identity=${e.identity} enforced=${enf}`);
  }
  out.push('nodes:');
  for (const n of c.nodes) out.push(`  ${n.name} ${n.addresses.join(',') || '-'}`);
  out.push('ipcache:');
  for (const e of c.ipcache) out.push(`  ${e.prefix} -> ${e.identity}`);
  out.push('entries:');
  let last = '';
  for (const e of c.entries) {
    const head = `endpoint ${e.endpointId} ${e.direction}`;
    if (head !== last) out.push(`  ${head}:`);
    last = head;
    const id = idName.has(e.identity) || e.identity === 0 ? who(e.identity) : `${e.identity}?`;
    const proxy = e.proxyPort !== 0 ? ` proxy=${e.proxyPort}` : '';
    out.push(`    ${e.deny ? 'deny ' : 'allow'} identity=${id} ${portText(e)} rule=${e.ruleId}${proxy}`);
  }
  out.push('rules:');
  out.push('  0 implicit: allow-all where not enforced; the node into its pods');
  for (const r of c.rules) {
    const p = r.policy.namespace ? `${r.policy.namespace}/${r.policy.name}` : r.policy.name;
    out.push(`  ${r.id} ${r.policy.kind} ${p}: ${r.text} [${r.src.file}:${r.src.line}:${r.src.column} ${r.src.path}]`);
  }
  if (c.warnings.length > 0) {
    out.push('warnings:');
    for (const w of c.warnings) out.push(`  ${w.code}: ${w.message}`);
  }
  return out.join('\n') + '\n';
}

// Policies suggested by `explain`, written as the YAML a person would apply: a NetworkPolicy
// with one allow rule, or a CiliumNetworkPolicy with one rule (for entities, and for denies,
// which Kubernetes policies cannot express). The peer and the subject are selected by the
// fewest labels that tell their pods apart within their namespace.

import type { Direction } from '../policy/model.js';

/** The remote side of a rule: pods (namespace + labels), an address, or a Cilium entity. */
export type SuggestedPeer =
  | { kind: 'pods'; namespace: string; labels: Record<string, string> }
  | { kind: 'cidr'; cidr: string }
  | { kind: 'entity'; entity: string };

export interface SuggestedRule {
  name: string;
  namespace: string;
  /** The endpoint the rule is for: labels of its pods in `namespace`. */
  subject: Record<string, string>;
  direction: Direction;
  deny: boolean;
  peer: SuggestedPeer;
  protocol: 'TCP' | 'UDP' | 'SCTP';
  port: number;
}

const PLAIN = /^[A-Za-z_][-A-Za-z0-9_./]*$/;
const YAML_WORDS = new Set(['true', 'false', 'yes', 'no', 'on', 'off', 'null', 'y', 'n', '~']);

/** A scalar as plain YAML when that reads back as the same string, else double-quoted. */
export function scalar(s: string): string {
  return PLAIN.test(s) && !YAML_WORDS.has(s.toLowerCase()) ? s : JSON.stringify(s);
}

function matchLabels(labels: Record<string, string>, indent: string): string[] {
  const keys = Object.keys(labels).sort();
  if (keys.length === 0) return [`${indent}matchLabels: {}`];
  return [`${indent}matchLabels:`, ...keys.map((k) => `${indent}  ${scalar(k)}: ${scalar(labels[k]!)}`)];
}

/** Whether the rule needs a CiliumNetworkPolicy (Kubernetes has no denies and no entities). */
export function needsCilium(r: SuggestedRule): boolean {
  return r.deny || r.peer.kind === 'entity';
}

export function suggestedYaml(r: SuggestedRule): string {
  return (needsCilium(r) ? ciliumYaml(r) : netpolYaml(r)).join('\n') + '\n';
}

function netpolYaml(r: SuggestedRule): string[] {
  const ingress = r.direction === 'ingress';
  const out = [
    'apiVersion: networking.k8s.io/v1',
    'kind: NetworkPolicy',
    'metadata:',
    `  name: ${r.name}`,
    `  namespace: ${scalar(r.namespace)}`,
    'spec:',
    '  podSelector:',
    ...matchLabels(r.subject, '    '),
    `  policyTypes: [${ingress ? 'Ingress' : 'Egress'}]`,
    `  ${r.direction}:`,
    `    - ${ingress ? 'from' : 'to'}:`,
  ];
  const p = r.peer;
  if (p.kind === 'cidr') {
    out.push('        - ipBlock:', `            cidr: ${p.cidr}`);
  } else if (p.kind === 'pods') {
    if (p.namespace === r.namespace) {
      out.push('        - podSelector:', ...matchLabels(p.labels, '            '));
    } else {
      out.push(
        '        - namespaceSelector:',
        ...matchLabels({ 'kubernetes.io/metadata.name': p.namespace }, '            '),
        '          podSelector:',
        ...matchLabels(p.labels, '            '),
      );
    }
  }
  out.push('      ports:', `        - protocol: ${r.protocol}`, `          port: ${r.port}`);
  return out;
}

function ciliumYaml(r: SuggestedRule): string[] {
  const ingress = r.direction === 'ingress';
  const key = `${r.direction}${r.deny ? 'Deny' : ''}`;
  const from = ingress ? 'from' : 'to';
  const out = [
    'apiVersion: cilium.io/v2',
    'kind: CiliumNetworkPolicy',
    'metadata:',
    `  name: ${r.name}`,
    `  namespace: ${scalar(r.namespace)}`,
    'spec:',
    '  endpointSelector:',
    ...matchLabels(r.subject, '    '),
    `  ${key}:`,
  ];
  const p = r.peer;
  if (p.kind === 'entity') out.push(`    - ${from}Entities: [${p.entity}]`);
  else if (p.kind === 'cidr') out.push(`    - ${from}CIDR: [${JSON.stringify(p.cidr)}]`);
  else {
    out.push(`    - ${from}Endpoints:`, `        - matchLabels:`, `            k8s:io.kubernetes.pod.namespace: ${scalar(p.namespace)}`);
    for (const k of Object.keys(p.labels).sort()) out.push(`            k8s:${k}: ${scalar(p.labels[k]!)}`);
  }
  out.push('      toPorts:', '        - ports:', `            - port: "${r.port}"`, `              protocol: ${r.protocol}`);
  // A deny rule alone would also isolate the endpoint in that direction (Cilium enables default
  // deny for a direction that has rules); this one should only take the one flow away.
  if (r.deny) out.push('  enableDefaultDeny:', `    ${r.direction}: false`);
  return out;
}

/** A Kubernetes object name (DNS subdomain, at most 63 characters here) from free text. */
export function policyName(text: string, taken: Set<string>): string {
  const base = text.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 56).replace(/-+$/, '') || 'explain';
  let name = base;
  for (let i = 2; taken.has(name); i++) name = `${base}-${i}`;
  return name;
}

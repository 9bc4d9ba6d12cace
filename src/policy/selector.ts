// Label selectors: Kubernetes LabelSelectors over plain label maps, and Cilium endpoint
// selectors over source-qualified labels (`k8s:app=a`, `reserved:host`), with the namespace
// scoping Cilium applies to the selectors of namespaced and clusterwide policies. Selectors are
// validated here once, so matching never fails.

import type { CiliumSelector, LabelSelector, LabelSelectorRequirement, Source } from './ast.js';
import { TwinpathError } from '../errors.js';
import { loc } from './compile_cidr.js';
import { RESERVED } from './model.js';

/** A label of an identity. Values of reserved labels are ''. */
export interface Label {
  source: string;
  key: string;
  value: string;
}

export type LabelSource = 'k8s' | 'any' | 'reserved';

export interface CiliumRequirement {
  source: LabelSource;
  key: string;
  operator: LabelSelectorRequirement['operator'];
  values: string[];
}

/** The key Cilium gives a pod's namespace name, and the prefix of its namespace's labels. */
export const POD_NAMESPACE_KEY = 'io.kubernetes.pod.namespace';
export const NAMESPACE_LABELS_PREFIX = 'io.cilium.k8s.namespace.labels.';

const RESERVED_NAMES = new Set(Object.keys(RESERVED).filter((k) => k !== 'unknown'));

export function labelText(l: Label): string {
  return l.value === '' && l.source === 'reserved' ? `${l.source}:${l.key}` : `${l.source}:${l.key}=${l.value}`;
}

function checkRequirement(r: LabelSelectorRequirement, src: Source, index: number): void {
  const at = { ...loc(src), path: `${src.path}.matchExpressions[${index}]` };
  const needsValues = r.operator === 'In' || r.operator === 'NotIn';
  if (needsValues && r.values.length === 0) {
    throw new TwinpathError('POLICY_BAD_SELECTOR', `operator ${r.operator} needs at least one value`, at);
  }
  if (!needsValues && r.values.length > 0) {
    throw new TwinpathError('POLICY_BAD_SELECTOR', `operator ${r.operator} takes no values`, at);
  }
}

/** Validates a Kubernetes selector (operators and their values). */
export function checkK8sSelector(sel: LabelSelector): void {
  sel.matchExpressions.forEach((r, i) => checkRequirement(r, sel.src, i));
}

function holds(op: LabelSelectorRequirement['operator'], values: string[], present: string[]): boolean {
  switch (op) {
    case 'In':
      return present.some((v) => values.includes(v));
    case 'NotIn':
      return !present.some((v) => values.includes(v));
    case 'Exists':
      return present.length > 0;
    case 'DoesNotExist':
      return present.length === 0;
  }
}

export function matchK8s(sel: LabelSelector, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(sel.matchLabels)) if (labels[k] !== v) return false;
  for (const r of sel.matchExpressions) {
    const present = Object.prototype.hasOwnProperty.call(labels, r.key) ? [labels[r.key]!] : [];
    if (!holds(r.operator, r.values, present)) return false;
  }
  return true;
}

/** Splits `k8s:app` into its source and key; a key without a source means `any`. */
export function splitKey(raw: string, src: Source, where: string): { source: LabelSource; key: string } {
  const colon = raw.indexOf(':');
  if (colon < 0) return { source: 'any', key: raw };
  const source = raw.slice(0, colon);
  const key = raw.slice(colon + 1);
  const at = { ...loc(src), path: `${src.path}.${where}` };
  if (source !== 'k8s' && source !== 'any' && source !== 'reserved') {
    throw new TwinpathError('POLICY_BAD_SELECTOR', `label "${raw}": unknown source "${source}" (expected k8s:, any: or reserved:)`, at);
  }
  if (key === '') throw new TwinpathError('POLICY_BAD_SELECTOR', `label "${raw}" has an empty key`, at);
  if (source === 'reserved' && !RESERVED_NAMES.has(key)) {
    throw new TwinpathError('POLICY_BAD_SELECTOR', `label "${raw}": unknown reserved label "${key}"`, at);
  }
  return { source, key };
}

/** A Cilium selector as a list of requirements (matchLabels become `In [value]`). */
export function parseCiliumSelector(sel: CiliumSelector): CiliumRequirement[] {
  const reqs: CiliumRequirement[] = [];
  for (const [raw, value] of Object.entries(sel.matchLabels)) {
    reqs.push({ ...splitKey(raw, sel.src, `matchLabels["${raw}"]`), operator: 'In', values: [value] });
  }
  sel.matchExpressions.forEach((r, i) => {
    checkRequirement(r, sel.src, i);
    reqs.push({ ...splitKey(r.key, sel.src, `matchExpressions[${i}].key`), operator: r.operator, values: r.values });
  });
  return reqs;
}

export function matchCilium(reqs: CiliumRequirement[], labels: Label[]): boolean {
  return reqs.every((r) => {
    const present = labels.filter((l) => l.key === r.key && (r.source === 'any' || l.source === r.source)).map((l) => l.value);
    return holds(r.operator, r.values, present);
  });
}

const isK8sOrAny = (r: CiliumRequirement): boolean => r.source === 'k8s' || r.source === 'any';

/**
 * Scopes a fromEndpoints/toEndpoints selector as Cilium does. A selector naming a reserved
 * label is left alone. Otherwise, unless it names the pod namespace itself: in a namespaced
 * policy it is restricted to the policy's namespace (unless it selects on namespace labels),
 * and in a clusterwide policy to pods of any namespace, so that `{}` never reaches beyond pods.
 */
export function scopePeerSelector(reqs: CiliumRequirement[], namespace: string): CiliumRequirement[] {
  if (reqs.some((r) => r.source === 'reserved')) return reqs;
  if (reqs.some((r) => isK8sOrAny(r) && r.key === POD_NAMESPACE_KEY)) return reqs;
  if (namespace === '') return [...reqs, { source: 'k8s', key: POD_NAMESPACE_KEY, operator: 'Exists', values: [] }];
  if (reqs.some((r) => isK8sOrAny(r) && r.key.startsWith(NAMESPACE_LABELS_PREFIX))) return reqs;
  return [...reqs, { source: 'k8s', key: POD_NAMESPACE_KEY, operator: 'In', values: [namespace] }];
}

/** Scopes an endpointSelector: a namespaced policy always applies in its own namespace only. */
export function scopeSubjectSelector(reqs: CiliumRequirement[], namespace: string): CiliumRequirement[] {
  if (namespace === '') return reqs;
  const rest = reqs.filter((r) => !(isK8sOrAny(r) && r.key === POD_NAMESPACE_KEY && r.operator === 'In'));
  return [...rest, { source: 'k8s', key: POD_NAMESPACE_KEY, operator: 'In', values: [namespace] }];
}

function describeExpr(key: string, r: LabelSelectorRequirement): string {
  switch (r.operator) {
    case 'In':
      return `${key} in (${r.values.join(',')})`;
    case 'NotIn':
      return `${key} notin (${r.values.join(',')})`;
    case 'Exists':
      return key;
    case 'DoesNotExist':
      return `!${key}`;
  }
}

/** `app=a,tier in (x,y)`, or `all` for the empty selector. */
export function describeSelector(sel: LabelSelector | CiliumSelector): string {
  const parts = Object.entries(sel.matchLabels).map(([k, v]) => (v === '' ? k : `${k}=${v}`));
  for (const r of sel.matchExpressions) parts.push(describeExpr(r.key, r));
  return parts.length === 0 ? 'all' : parts.join(',');
}

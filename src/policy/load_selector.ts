// Label selectors: the Kubernetes LabelSelector (NetworkPolicy podSelector, namespaceSelector)
// and Cilium's EndpointSelector, whose keys may carry a label source (`k8s:app`, `any:app`,
// `reserved:host`). Checked as metav1 validation checks them: operator names, In/NotIn with
// values, Exists/DoesNotExist without, label key and value syntax; every problem is
// POLICY_BAD_SELECTOR at the offending node.

import type { CiliumSelector, LabelSelector, LabelSelectorRequirement } from './ast.js';
import { expectMap, expectSeq, expectString, fail } from './load_fields.js';
import { labelKeyProblem, labelValueProblem, readLabels } from './load_validate.js';
import type { YValue } from './yaml.js';

const OPERATORS = ['In', 'NotIn', 'Exists', 'DoesNotExist'] as const;

/** Cilium writes the source before a colon; the rest is a Kubernetes label key. */
export function ciliumKeyProblem(key: string): string | undefined {
  const colon = key.indexOf(':');
  if (colon < 0) return labelKeyProblem(key);
  const source = key.slice(0, colon);
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(source)) {
    return `label source "${source}" in "${key}" must be lowercase letters, digits and '-' (k8s, any, reserved, ...)`;
  }
  return labelKeyProblem(key.slice(colon + 1));
}

function readSelectorParts(v: YValue, keyProblem: (key: string) => string | undefined): Omit<LabelSelector, 'src'> {
  const sel = expectMap(v, 'a label selector').strict(['matchLabels', 'matchExpressions']);
  const ml = sel.get('matchLabels');
  const matchLabels = ml === undefined ? {} : readLabels(ml, 'POLICY_BAD_SELECTOR', keyProblem);
  const matchExpressions: LabelSelectorRequirement[] = [];
  for (const item of sel.seq('matchExpressions') ?? []) {
    const req = expectMap(item, 'a label selector requirement').strict(['key', 'operator', 'values']);
    const keyNode = req.req('key');
    const key = expectString(keyNode);
    const kp = keyProblem(key);
    if (kp !== undefined) fail('POLICY_BAD_SELECTOR', kp, keyNode.src);
    const opNode = req.req('operator');
    const op = expectString(opNode);
    if (!(OPERATORS as readonly string[]).includes(op)) {
      fail('POLICY_BAD_SELECTOR', `"${op}" is not a valid selector operator (In, NotIn, Exists, DoesNotExist)`, opNode.src);
    }
    const operator = op as LabelSelectorRequirement['operator'];
    const valuesNode = req.get('values');
    const values: string[] = [];
    for (const vn of valuesNode === undefined ? [] : expectSeq(valuesNode)) {
      const s = expectString(vn);
      const vp = labelValueProblem(s);
      if (vp !== undefined) fail('POLICY_BAD_SELECTOR', vp, vn.src);
      values.push(s);
    }
    if ((operator === 'In' || operator === 'NotIn') && values.length === 0) {
      fail('POLICY_BAD_SELECTOR', `operator ${operator} needs at least one value`, valuesNode?.src ?? req.missingSrc('values'));
    }
    if ((operator === 'Exists' || operator === 'DoesNotExist') && values.length > 0) {
      fail('POLICY_BAD_SELECTOR', `operator ${operator} takes no values`, valuesNode!.src);
    }
    matchExpressions.push({ key, operator, values });
  }
  return { matchLabels, matchExpressions };
}

export function readLabelSelector(v: YValue): LabelSelector {
  return { ...readSelectorParts(v, labelKeyProblem), src: v.src };
}

export function readCiliumSelector(v: YValue): CiliumSelector {
  return { ...readSelectorParts(v, ciliumKeyProblem), src: v.src };
}

// Identity-relevant labels (lab 7), and what they cost: Cilium gives every distinct set of a
// pod's identity-relevant labels its own security identity, and a policy that allows "these
// pods" becomes one policy-map entry per identity (per protocol and port block) in every
// selected endpoint's map, which holds 16,384 entries by default. Labels that differ per pod
// (pod-template-hash, a rollout's revision, a per-pod index) make one identity per pod; Cilium's
// `--labels` option restricts which labels count, and identities collapse.
//
// The policy compiler knows nothing of that option, so the restriction is applied here, before
// compiling: a pod's labels are filtered and the compiler sees only the identity-relevant ones
// (which is also Cilium's behaviour: a policy cannot select on a label that is not part of the
// identity). Namespaces are untouched (their name always counts, as in Cilium).
//
// The file (YAML), in the learner's working directory:
//   identityLabels:        # empty or absent: every label counts (the starting point)
//     - app                # only these keys count ("k8s:" prefix optional, "prefix*" a prefix)
//     - "!pod-template-hash"   # a "!" entry drops matching keys

import { existsSync } from 'node:fs';
import type { Inputs } from '../policy/ast.js';
import type { CompiledPolicy } from '../policy/model.js';
import type { Measurements } from './result.js';
import { LabNode, readLabFile } from './yamlfile.js';

/** The policy map's default size per endpoint (Cilium's bpf-policy-map-max). */
export const POLICY_MAP_DEFAULT_LIMIT = 16384;

export interface LabelFilter {
  include: string[];
  exclude: string[];
}

export function readIdentityLabels(file: string): LabelFilter {
  if (!existsSync(file)) return { include: [], exclude: [] };
  const root = readLabFile(file);
  const f = root.fields(['identityLabels']);
  const list = f.get('identityLabels');
  const filter: LabelFilter = { include: [], exclude: [] };
  if (!list || (list as LabNode).missing) return filter;
  for (const n of list.seq()) {
    const text = n.string();
    const negated = text.startsWith('!');
    const key = (negated ? text.slice(1) : text).replace(/^k8s:/, '');
    if (key === '' || key === '*' || /[\s=]/.test(key)) n.fail(`"${text}" is not a label key pattern (key, prefix*, or !key)`);
    (negated ? filter.exclude : filter.include).push(key);
  }
  return filter;
}

function matches(pattern: string, key: string): boolean {
  return pattern.endsWith('*') ? key.startsWith(pattern.slice(0, -1)) : key === pattern;
}

export function keepsLabel(filter: LabelFilter, key: string): boolean {
  if (filter.include.length > 0 && !filter.include.some((p) => matches(p, key))) return false;
  return !filter.exclude.some((p) => matches(p, key));
}

/** The inputs with every pod's labels cut to the identity-relevant ones (a copy; `inputs` is untouched). */
export function applyLabelFilter(inputs: Inputs, filter: LabelFilter): Inputs {
  if (filter.include.length === 0 && filter.exclude.length === 0) return inputs;
  const pods = inputs.cluster.pods.map((p) => ({
    ...p,
    labels: Object.fromEntries(Object.entries(p.labels).filter(([k]) => keepsLabel(filter, k))),
  }));
  return { ...inputs, cluster: { ...inputs.cluster, pods } };
}

/** Identities of the cluster's pods and the sizes of the endpoints' policy maps. */
export function measure(compiled: CompiledPolicy): Measurements {
  const counts = new Map<string, number>();
  for (const e of compiled.entries) {
    const k = `${e.endpointId}\u0000${e.direction}`;
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  let maxEntries = 0;
  let maxKey = '';
  for (const [k, n] of counts) {
    if (n > maxEntries || (n === maxEntries && k < maxKey)) {
      maxEntries = n;
      maxKey = k;
    }
  }
  let maxEntriesAt = '';
  if (maxKey !== '') {
    const [id, direction] = maxKey.split('\u0000');
    const ep = compiled.endpoints.find((e) => e.id === Number(id));
    maxEntriesAt = ep ? `${ep.namespace}/${ep.pod} ${direction}` : `endpoint ${id} ${direction}`;
  }
  return {
    identities: compiled.identities.filter((i) => i.kind === 'endpoints').length,
    maxEntries,
    maxEntriesAt,
    totalEntries: compiled.entries.length,
    limit: POLICY_MAP_DEFAULT_LIMIT,
  };
}

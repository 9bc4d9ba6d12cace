// The policy compiler: cluster state and Kubernetes/Cilium policies in, the datapath's view out
// (identities, endpoints, ipcache, policy-map entries, rule descriptions). Deterministic: the
// same inputs give the same ids in the same order. Bad input throws a TwinpathError with a
// POLICY_* code and the source of the offending node; nothing is returned half-compiled.
//
// The stages: compile_rules (policies -> rules and what identities must tell apart), identity
// (endpoints, identities, ipcache), compile_entries (rules -> entries per endpoint/direction).

import type { Inputs } from './ast.js';
import { collectRules } from './compile_rules.js';
import { compileEntries } from './compile_entries.js';
import { buildUniverse, cmp, endpointInfo, identityInfo } from './identity.js';
import type { CompiledPolicy } from './model.js';

export function compile(inputs: Inputs): CompiledPolicy {
  const { rules, enforcers, needs } = collectRules(inputs.policies);
  const universe = buildUniverse(inputs.cluster, needs);
  const { entries, enforced, warnings } = compileEntries(universe, rules, enforcers);
  return {
    identities: universe.idents.map(identityInfo),
    endpoints: universe.endpoints.map((ep) => {
      const f = enforced.get(ep.id)!;
      return endpointInfo(ep, f.ingress, f.egress);
    }),
    ipcache: universe.ipcache,
    entries,
    rules: rules.map((r) => r.info),
    nodes: [...inputs.cluster.nodes]
      .sort((a, b) => cmp(a.name, b.name))
      .map((n) => ({ name: n.name, addresses: [...n.addresses] })),
    warnings: [...universe.warnings, ...warnings],
  };
}

export { formatCompiled } from './format.js';

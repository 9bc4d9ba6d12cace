// The policy compiler: cluster state and Kubernetes/Cilium policies in, the datapath's view out
// (identities, endpoints, ipcache, policy-map entries, rule descriptions). Deterministic: the
// same inputs give the same ids in the same order. Bad input throws a TwinpathError with a
// POLICY_* code and the source of the offending node; nothing is returned half-compiled.
//
// The stages: compile_rules (policies -> rules and what identities must tell apart), identity
// (endpoints, identities, ipcache), compile_entries (rules -> entries per endpoint/direction).
//
// Choices where the upstream behaviour leaves room, kept in one place:
// - Node addresses are `host` on their own node and `remote-node` elsewhere; neither Kubernetes
//   ipBlocks nor Cilium CIDR rules match them (Cilium's default CIDR match mode). Host-network
//   pods are their node.
// - An ipBlock selects a pod when it contains one of the pod's addresses (identities are per
//   pod, so a dual-stack pod is selected for both of its families).
// - Namespaces carry `kubernetes.io/metadata.name`, as the API server sets it.
// - Naming world-ipv4 or world-ipv6 (entity or reserved label) puts 0.0.0.0/0 -> 9 and ::/0 -> 10
//   in the ipcache, so that the two families are told apart; otherwise a miss is world (2).
// - Rules with L7 (http) parts redirect their allowed traffic to proxy port 15000 + rule id.
// - Rule ids count the rules of all policies in input order (Kubernetes: ingress then egress;
//   Cilium, per spec: ingress, ingressDeny, egress, egressDeny); 0 is the compiler's own.
// - Entries: identity 0 only when a peer set is every identity; duplicates keep the lowest rule
//   id; no allow entry is fully covered by a deny of the same or the wildcard identity.

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

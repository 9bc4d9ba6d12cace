// A small compiled policy written out by hand (not by the compiler), so the probe tests check
// the datapath orchestration alone: two namespaces on two nodes, x/a and y/a dual-stack, x/b
// IPv4 only, y/c IPv6 only, and z/u on no node.
//   - x/a (ep 1) takes TCP/80 from y/a and y/c (rule 1) and its node (rule 0);
//   - x/b (ep 2) takes nothing but its node (default deny, rule 2 isolates it);
//   - y/a, y/c (eps 3, 4) may send anywhere (rule 3) except TCP/81 to x/a and x/b (rule 4, deny);
//   - z/u (ep 5) is isolated by nothing.

import type { CompiledPolicy, PolicyEntry, RuleInfo } from '../../src/policy/model.js';

const src = { file: 'policies.yaml', line: 1, column: 1, path: 'spec' };

function allowAll(endpointId: number, direction: 'ingress' | 'egress'): PolicyEntry {
  return { endpointId, direction, identity: 0, protocol: 0, port: 0, portPrefixLen: 0, deny: false, ruleId: 0, proxyPort: 0 };
}

function entry(endpointId: number, direction: 'ingress' | 'egress', identity: number, protocol: number, port: number, ruleId: number, deny = false): PolicyEntry {
  return { endpointId, direction, identity, protocol, port, portPrefixLen: port === 0 ? 0 : 16, deny, ruleId, proxyPort: 0 };
}

function rule(id: number, name: string, direction: 'ingress' | 'egress', deny: boolean, text: string): RuleInfo {
  return { id, policy: { kind: 'NetworkPolicy', namespace: 'x', name }, direction, deny, text, src };
}

export function smallCluster(): CompiledPolicy {
  return {
    identities: [
      { id: 256, kind: 'endpoints', labels: ['k8s:app=a', 'k8s:io.kubernetes.pod.namespace=x'], members: ['x/a'] },
      { id: 257, kind: 'endpoints', labels: ['k8s:app=b', 'k8s:io.kubernetes.pod.namespace=x'], members: ['x/b'] },
      { id: 258, kind: 'endpoints', labels: ['k8s:app=a', 'k8s:io.kubernetes.pod.namespace=y'], members: ['y/a'] },
      { id: 259, kind: 'endpoints', labels: ['k8s:app=c', 'k8s:io.kubernetes.pod.namespace=y'], members: ['y/c'] },
      { id: 260, kind: 'endpoints', labels: ['k8s:app=u', 'k8s:io.kubernetes.pod.namespace=z'], members: ['z/u'] },
    ],
    endpoints: [
      { id: 1, namespace: 'x', pod: 'a', node: 'node-1', ips: ['10.0.1.10', 'fd00:1::10'], identity: 256, ingressEnforced: true, egressEnforced: false },
      { id: 2, namespace: 'x', pod: 'b', node: 'node-1', ips: ['10.0.1.11'], identity: 257, ingressEnforced: true, egressEnforced: false },
      { id: 3, namespace: 'y', pod: 'a', node: 'node-2', ips: ['10.0.2.10', 'fd00:2::10'], identity: 258, ingressEnforced: false, egressEnforced: true },
      { id: 4, namespace: 'y', pod: 'c', node: 'node-2', ips: ['fd00:2::12'], identity: 259, ingressEnforced: false, egressEnforced: true },
      { id: 5, namespace: 'z', pod: 'u', node: '', ips: ['10.0.9.9'], identity: 260, ingressEnforced: false, egressEnforced: false },
    ],
    ipcache: [
      { prefix: '10.0.1.10/32', identity: 256 },
      { prefix: 'fd00:1::10/128', identity: 256 },
      { prefix: '10.0.1.11/32', identity: 257 },
      { prefix: '10.0.2.10/32', identity: 258 },
      { prefix: 'fd00:2::10/128', identity: 258 },
      { prefix: 'fd00:2::12/128', identity: 259 },
      { prefix: '10.0.9.9/32', identity: 260 },
    ],
    entries: [
      entry(1, 'ingress', 258, 6, 80, 1),
      entry(1, 'ingress', 259, 6, 80, 1),
      entry(1, 'ingress', 1, 0, 0, 0),
      allowAll(1, 'egress'),
      entry(2, 'ingress', 1, 0, 0, 0),
      allowAll(2, 'egress'),
      allowAll(3, 'ingress'),
      entry(3, 'egress', 0, 0, 0, 3),
      entry(3, 'egress', 256, 6, 81, 4, true),
      entry(3, 'egress', 257, 6, 81, 4, true),
      allowAll(4, 'ingress'),
      entry(4, 'egress', 0, 0, 0, 3),
      entry(4, 'egress', 256, 6, 81, 4, true),
      entry(4, 'egress', 257, 6, 81, 4, true),
      allowAll(5, 'ingress'),
      allowAll(5, 'egress'),
    ],
    rules: [
      rule(1, 'allow-y-to-a', 'ingress', false, 'allow ingress from pods in namespaces ns=y on TCP/80'),
      rule(2, 'deny-b', 'ingress', false, 'isolate ingress (no rules)'),
      { ...rule(3, 'no-81-into-x', 'egress', false, 'allow egress to entity all'), policy: { kind: 'CiliumNetworkPolicy', namespace: 'y', name: 'no-81-into-x' } },
      { ...rule(4, 'no-81-into-x', 'egress', true, 'deny egress to pods in namespace x on TCP/81'), policy: { kind: 'CiliumNetworkPolicy', namespace: 'y', name: 'no-81-into-x' } },
    ],
    nodes: [
      { name: 'node-1', addresses: ['192.168.0.1', 'fd00:ff::1'] },
      { name: 'node-2', addresses: ['192.168.0.2'] },
    ],
    warnings: [],
  };
}

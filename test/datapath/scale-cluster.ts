// A generated cluster at real sizes, as kubectl would print it, loaded and compiled by the real
// loader and compiler: `pods` pods on node-a (ten app labels, each app taking TCP 8080 from the
// next app), one pod on node-b, and `services` ClusterIP services of `backends` pod backends
// each (addresses only, as EndpointSlices list them).
//
// Addresses: pod i is 10.1.(i >> 8).(i & 255) + 1 on node-a; service j is 10.96.(j >> 8).(j & 255)
// + 1 ... (both small enough to stay in their /16 for the sizes used here).

import { parseDocuments } from '../../src/policy/load.js';
import { compile } from '../../src/policy/compile.js';
import type { Cluster } from '../../src/policy/ast.js';
import type { CompiledPolicy } from '../../src/policy/model.js';

export const APPS = 10;

export function podIp(i: number): string {
  const n = i + 1;
  return `10.1.${n >> 8}.${n & 255}`;
}

export function serviceIp(j: number): string {
  const n = j + 1;
  return `10.96.${n >> 8}.${n & 255}`;
}

export const REMOTE_POD = '10.2.0.1';

export function scaleClusterYaml(o: { pods: number; services?: number; backends?: number }): string {
  const out: string[] = [
    'apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Namespace\n  metadata: {name: default}\n',
    '- apiVersion: v1\n  kind: Node\n  metadata: {name: node-a}\n  status:\n    addresses: [{type: InternalIP, address: 192.168.0.1}]\n',
    '- apiVersion: v1\n  kind: Node\n  metadata: {name: node-b}\n  status:\n    addresses: [{type: InternalIP, address: 192.168.0.2}]\n',
    `- apiVersion: v1\n  kind: Pod\n  metadata: {name: remote, namespace: default, labels: {app: remote}}\n  spec: {nodeName: node-b}\n  status: {podIP: ${REMOTE_POD}}\n`,
  ];
  for (let i = 0; i < o.pods; i++) {
    out.push(`- apiVersion: v1\n  kind: Pod\n  metadata: {name: p${i}, namespace: default, labels: {app: a${i % APPS}}}\n  spec: {nodeName: node-a}\n  status: {podIP: ${podIp(i)}}\n`);
  }
  for (let a = 0; a < APPS; a++) {
    out.push(`- apiVersion: networking.k8s.io/v1
  kind: NetworkPolicy
  metadata: {name: a${a}-in, namespace: default}
  spec:
    podSelector: {matchLabels: {app: a${a}}}
    policyTypes: [Ingress]
    ingress:
    - from: [{podSelector: {matchLabels: {app: a${(a + 1) % APPS}}}}]
      ports: [{port: 8080, protocol: TCP}]
`);
  }
  const backends = o.backends ?? 2;
  for (let j = 0; j < (o.services ?? 0); j++) {
    out.push(`- apiVersion: v1
  kind: Service
  metadata: {name: s${j}, namespace: default}
  spec:
    clusterIP: ${serviceIp(j)}
    ports: [{port: 80, targetPort: 8080, protocol: TCP}]
- apiVersion: discovery.k8s.io/v1
  kind: EndpointSlice
  metadata: {name: s${j}, namespace: default, labels: {kubernetes.io/service-name: s${j}}}
  addressType: IPv4
  ports: [{port: 8080, protocol: TCP}]
  endpoints:
${Array.from({ length: backends }, (_, b) => `  - addresses: ["${podIp((j * backends + b) % Math.max(1, o.pods))}"]\n    conditions: {ready: true}\n`).join('')}`);
  }
  return out.join('');
}

export function scaleCluster(o: { pods: number; services?: number; backends?: number }): { cluster: Cluster; compiled: CompiledPolicy } {
  const inputs = parseDocuments([{ file: 'scale.yaml', text: scaleClusterYaml(o) }]);
  return { cluster: inputs.cluster, compiled: compile(inputs) };
}

// A small cluster for service load balancing through the endpoint datapath, as kubectl would print
// it, loaded and compiled by the real loader and policy compiler:
//
//   node-a 192.168.0.1 fd00:ff::1   client, restricted, web-a
//   node-b 192.168.0.2 fd00:ff::2   web-b
//
//   web     NodePort 30080, externalTrafficPolicy Local; ClusterIP 10.96.0.10 / fd00:96::10 :80 -> http (8080)
//   dns     ClusterIP 10.96.0.53 / fd00:96::53 :53/UDP -> dns (5353/UDP), on the web pods
//   sticky  ClusterIP 10.96.0.20 :80 -> 8080, ClientIP affinity (60 s), on the web pods
//   empty   ClusterIP 10.96.0.99 :80, no endpoints
//   wide    ClusterIP 10.96.1.1 :80 -> 8080, `wide` backends 10.0.9.1.. (no pods: addresses only)
//
// Policy: the web pods take TCP 8080 and UDP 5353 from role=client pods, 172.16.0.0/16 and
// 2001:db8:1::/48 (ingress isolated); `restricted` may send only to tier=a pods (egress isolated). So a flow of
// `restricted` to a web service is allowed when Maglev picks web-a and denied when it picks web-b.

import { parseDocuments } from '../../src/policy/load.js';
import { compile } from '../../src/policy/compile.js';
import type { Cluster } from '../../src/policy/ast.js';
import type { CompiledPolicy } from '../../src/policy/model.js';

export interface DpCluster {
  cluster: Cluster;
  compiled: CompiledPolicy;
}

export const WEB_V4 = '10.96.0.10';
export const WEB_V6 = 'fd00:96::10';
export const DNS_V4 = '10.96.0.53';
export const DNS_V6 = 'fd00:96::53';
export const STICKY = '10.96.0.20';
export const EMPTY = '10.96.0.99';
export const WIDE = '10.96.1.1';
export const NODE_A = { name: 'node-a', v4: '192.168.0.1', v6: 'fd00:ff::1' };
export const NODE_B = { name: 'node-b', v4: '192.168.0.2', v6: 'fd00:ff::2' };
export const POD = {
  client: { name: 'client', node: 'node-a', v4: '10.0.1.1', v6: 'fd00:1::1' },
  restricted: { name: 'restricted', node: 'node-a', v4: '10.0.1.2', v6: 'fd00:1::2' },
  webA: { name: 'web-a', node: 'node-a', v4: '10.0.1.10', v6: 'fd00:1::10' },
  webB: { name: 'web-b', node: 'node-b', v4: '10.0.2.10', v6: 'fd00:2::10' },
} as const;

function node(n: { name: string; v4: string; v6: string }): string {
  return `- apiVersion: v1
  kind: Node
  metadata: {name: ${n.name}}
  status:
    addresses:
    - {type: InternalIP, address: ${n.v4}}
    - {type: InternalIP, address: "${n.v6}"}
`;
}

function pod(p: { name: string; node: string; v4: string; v6: string }, labels: Record<string, string>, web: boolean): string {
  const ports = web
    ? `    containers:
    - name: main
      ports:
      - {name: http, containerPort: 8080, protocol: TCP}
      - {name: dns, containerPort: 5353, protocol: UDP}
`
    : `    containers:
    - name: main
`;
  return `- apiVersion: v1
  kind: Pod
  metadata:
    name: ${p.name}
    namespace: default
    labels: {${Object.entries(labels).map(([k, v]) => `${k}: ${v}`).join(', ')}}
  spec:
    nodeName: ${p.node}
${ports}  status:
    podIP: ${p.v4}
    podIPs: [{ip: ${p.v4}}, {ip: "${p.v6}"}]
`;
}

function slice(name: string, service: string, family: 4 | 6, eps: Array<{ addr: string; pod?: string; node?: string }>, ports: string): string {
  return `- apiVersion: discovery.k8s.io/v1
  kind: EndpointSlice
  metadata:
    name: ${name}
    namespace: default
    labels: {kubernetes.io/service-name: ${service}}
  addressType: IPv${family}
  ports: ${ports}
  endpoints:
${eps
  .map(
    (e) => `  - addresses: ["${e.addr}"]
    conditions: {ready: true, serving: true, terminating: false}
${e.node ? `    nodeName: ${e.node}\n` : ''}${e.pod ? `    targetRef: {kind: Pod, namespace: default, name: ${e.pod}}\n` : ''}`,
  )
  .join('')}`;
}

/** The cluster with `wide` backends behind the wide service (the first `wide` of 10.0.9.1..). */
export function dpClusterYaml(wide = 10): string {
  const webs = [POD.webA, POD.webB];
  const webEps = (family: 4 | 6) => webs.map((w) => ({ addr: family === 4 ? w.v4 : w.v6, pod: w.name, node: w.node }));
  const wideEps = Array.from({ length: wide }, (_, i) => ({ addr: `10.0.9.${i + 1}` }));
  return `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Namespace
  metadata: {name: default}
${node(NODE_A)}${node(NODE_B)}${pod(POD.client, { role: 'client' }, false)}${pod(POD.restricted, { role: 'client', app: 'restricted' }, false)}${pod(POD.webA, { app: 'web', tier: 'a' }, true)}${pod(POD.webB, { app: 'web', tier: 'b' }, true)}- apiVersion: v1
  kind: Service
  metadata: {name: web, namespace: default}
  spec:
    type: NodePort
    externalTrafficPolicy: Local
    clusterIPs: [${WEB_V4}, "${WEB_V6}"]
    ports: [{name: http, port: 80, targetPort: http, nodePort: 30080, protocol: TCP}]
- apiVersion: v1
  kind: Service
  metadata: {name: dns, namespace: default}
  spec:
    clusterIPs: [${DNS_V4}, "${DNS_V6}"]
    ports: [{name: dns, port: 53, targetPort: dns, protocol: UDP}]
- apiVersion: v1
  kind: Service
  metadata: {name: sticky, namespace: default}
  spec:
    clusterIP: ${STICKY}
    sessionAffinity: ClientIP
    sessionAffinityConfig: {clientIP: {timeoutSeconds: 60}}
    ports: [{port: 80, targetPort: 8080, protocol: TCP}]
- apiVersion: v1
  kind: Service
  metadata: {name: empty, namespace: default}
  spec:
    clusterIP: ${EMPTY}
    ports: [{port: 80, targetPort: 8080, protocol: TCP}]
- apiVersion: v1
  kind: Service
  metadata: {name: wide, namespace: default}
  spec:
    clusterIP: ${WIDE}
    ports: [{port: 80, targetPort: 8080, protocol: TCP}]
${slice('web-v4', 'web', 4, webEps(4), '[{name: http, port: 8080, protocol: TCP}]')}${slice('web-v6', 'web', 6, webEps(6), '[{name: http, port: 8080, protocol: TCP}]')}${slice('dns-v4', 'dns', 4, webEps(4), '[{name: dns, port: 5353, protocol: UDP}]')}${slice('dns-v6', 'dns', 6, webEps(6), '[{name: dns, port: 5353, protocol: UDP}]')}${slice('sticky-v4', 'sticky', 4, webEps(4), '[{port: 8080, protocol: TCP}]')}${slice('wide-v4', 'wide', 4, wideEps, '[{port: 8080, protocol: TCP}]')}- apiVersion: networking.k8s.io/v1
  kind: NetworkPolicy
  metadata: {name: web-in, namespace: default}
  spec:
    podSelector: {matchLabels: {app: web}}
    policyTypes: [Ingress]
    ingress:
    - from:
      - podSelector: {matchLabels: {role: client}}
      - ipBlock: {cidr: 172.16.0.0/16}
      - ipBlock: {cidr: "2001:db8:1::/48"}
      ports: [{port: 8080, protocol: TCP}, {port: 5353, protocol: UDP}]
- apiVersion: networking.k8s.io/v1
  kind: NetworkPolicy
  metadata: {name: restricted-out, namespace: default}
  spec:
    podSelector: {matchLabels: {app: restricted}}
    policyTypes: [Egress]
    egress:
    - to:
      - podSelector: {matchLabels: {tier: a}}
`;
}

export function dpCluster(wide = 10): DpCluster {
  const inputs = parseDocuments([{ file: 'cluster.yaml', text: dpClusterYaml(wide) }]);
  return { cluster: inputs.cluster, compiled: compile(inputs) };
}

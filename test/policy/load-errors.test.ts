// Every refusal of the policy input loader, with its code and exact location (file, 1-based line
// and column of the offending node, YAML path). Documents are written line by line here so the
// expected line numbers can be read off the test.

import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ErrorCode } from '../../src/errors.js';
import { TwinpathError } from '../../src/errors.js';
import { loadFiles, parseDocuments } from '../../src/policy/load.js';
import { ROOT } from '../helpers/paths.js';

const NP_HEAD = ['apiVersion: networking.k8s.io/v1', 'kind: NetworkPolicy', 'metadata:', '  name: p', '  namespace: shop', 'spec:'];
const CNP_HEAD = ['apiVersion: cilium.io/v2', 'kind: CiliumNetworkPolicy', 'metadata:', '  name: c', '  namespace: shop', 'spec:'];
/** Spec lines start at line 7 in both. */
const np = (...spec: string[]): string[] => [...NP_HEAD, ...spec];
const cnp = (...spec: string[]): string[] => [...CNP_HEAD, ...spec];
/** A Cilium spec with an endpoint selector; rule lines start at line 8. */
const cnpRules = (...rules: string[]): string[] => cnp('  endpointSelector: {}', ...rules);

interface Case {
  name: string;
  lines: string[];
  code: ErrorCode;
  at: [line: number, column: number, path: string];
}

function thrown(fn: () => unknown): TwinpathError {
  try {
    fn();
  } catch (e) {
    if (e instanceof TwinpathError) return e;
    throw e;
  }
  throw new Error('expected a TwinpathError, got a result');
}

function check(c: Case): void {
  const e = thrown(() => parseDocuments([{ file: 'in.yaml', text: c.lines.join('\n') + '\n' }]));
  expect({ code: e.code, ...e.location }, e.message).toEqual({ code: c.code, file: 'in.yaml', line: c.at[0], column: c.at[1], path: c.at[2] });
}

const cases: Case[] = [
  // ---- YAML and object shape ----
  { name: 'unclosed flow mapping', lines: ['apiVersion: v1', 'kind: Namespace', 'metadata: {name: x', 'spec: {}'], code: 'POLICY_YAML_SYNTAX', at: [4, 1, ''] },
  { name: 'duplicate key', lines: ['apiVersion: v1', 'kind: Namespace', 'kind: Pod'], code: 'POLICY_YAML_SYNTAX', at: [3, 1, ''] },
  { name: 'document is a list', lines: ['- a', '- b'], code: 'POLICY_BAD_OBJECT', at: [1, 1, ''] },
  { name: 'document without kind', lines: ['apiVersion: v1', 'metadata: {name: x}'], code: 'POLICY_BAD_OBJECT', at: [1, 1, 'kind'] },
  { name: 'kind not a string', lines: ['apiVersion: v1', 'kind: 5'], code: 'POLICY_BAD_OBJECT', at: [2, 7, 'kind'] },
  { name: 'List item not an object', lines: ['apiVersion: v1', 'kind: List', 'items:', '- 3'], code: 'POLICY_BAD_OBJECT', at: [4, 3, 'items[0]'] },

  // ---- unknown fields ----
  { name: 'NetworkPolicy spec field', lines: np('  podSelector: {}', '  ingres: []'), code: 'POLICY_UNKNOWN_FIELD', at: [8, 3, 'spec.ingres'] },
  {
    name: 'deep in an ipBlock',
    lines: np('  podSelector: {}', '  ingress:', '  - from:', '    - ipBlock:', '        cidr: 10.0.0.0/8', '        exept: [10.1.0.0/16]'),
    code: 'POLICY_UNKNOWN_FIELD',
    at: [12, 9, 'spec.ingress[0].from[0].ipBlock.exept'],
  },
  { name: 'metadata field', lines: ['apiVersion: networking.k8s.io/v1', 'kind: NetworkPolicy', 'metadata:', '  name: p', '  lables: {a: b}', 'spec: {}'], code: 'POLICY_UNKNOWN_FIELD', at: [5, 3, 'metadata.lables'] },
  { name: 'specs in a NetworkPolicy', lines: [...np('  podSelector: {}'), 'specs: []'], code: 'POLICY_UNKNOWN_FIELD', at: [8, 1, 'specs'] },
  { name: 'egress peer key in an ingress rule', lines: np('  ingress:', '  - to: []'), code: 'POLICY_UNKNOWN_FIELD', at: [8, 5, 'spec.ingress[0].to'] },
  { name: 'Cilium rule typo', lines: cnpRules('  ingress:', '  - fromEndpoint: [{}]'), code: 'POLICY_UNKNOWN_FIELD', at: [9, 5, 'spec.ingress[0].fromEndpoint'] },
  {
    name: 'L7 rules in a deny rule',
    lines: cnpRules('  ingressDeny:', '  - toPorts:', '    - ports: [{port: "80"}]', '      rules: {http: [{}]}'),
    code: 'POLICY_UNKNOWN_FIELD',
    at: [11, 7, 'spec.ingressDeny[0].toPorts[0].rules'],
  },
  { name: 'selector field', lines: np('  podSelector: {matchLabel: {a: b}}'), code: 'POLICY_UNKNOWN_FIELD', at: [7, 17, 'spec.podSelector.matchLabel'] },

  // ---- missing fields ----
  { name: 'no spec', lines: NP_HEAD.slice(0, 5), code: 'POLICY_MISSING_FIELD', at: [1, 1, 'spec'] },
  { name: 'no metadata.name', lines: ['apiVersion: v1', 'kind: Namespace', 'metadata:', '  labels: {a: b}'], code: 'POLICY_MISSING_FIELD', at: [4, 3, 'metadata.name'] },
  { name: 'ipBlock without cidr', lines: np('  ingress:', '  - from:', '    - ipBlock: {except: []}'), code: 'POLICY_MISSING_FIELD', at: [9, 16, 'spec.ingress[0].from[0].ipBlock.cidr'] },
  { name: 'empty peer', lines: np('  ingress:', '  - from:', '    - {}'), code: 'POLICY_MISSING_FIELD', at: [9, 7, 'spec.ingress[0].from[0]'] },
  { name: 'matchExpressions without operator', lines: np('  podSelector:', '    matchExpressions:', '    - key: app'), code: 'POLICY_MISSING_FIELD', at: [9, 7, 'spec.podSelector.matchExpressions[0].operator'] },
  { name: 'Cilium spec without a selector', lines: cnp('  ingress: [{}]'), code: 'POLICY_MISSING_FIELD', at: [7, 3, 'spec.endpointSelector'] },
  { name: 'Cilium spec without rules', lines: cnp('  endpointSelector: {}', '  description: nothing'), code: 'POLICY_MISSING_FIELD', at: [7, 3, 'spec.ingress'] },
  { name: 'Cilium policy without spec or specs', lines: CNP_HEAD.slice(0, 5), code: 'POLICY_MISSING_FIELD', at: [1, 1, 'spec'] },
  { name: 'container port without number', lines: ['apiVersion: v1', 'kind: Pod', 'metadata: {name: x}', 'spec:', '  containers:', '  - name: c', '    ports:', '    - name: http'], code: 'POLICY_MISSING_FIELD', at: [8, 7, 'spec.containers[0].ports[0].containerPort'] },

  // ---- bad values ----
  { name: 'unknown policy type', lines: np('  podSelector: {}', '  policyTypes: [Ingress, Egres]'), code: 'POLICY_BAD_VALUE', at: [8, 26, 'spec.policyTypes[1]'] },
  { name: 'selector of the wrong type', lines: np('  podSelector: []'), code: 'POLICY_BAD_VALUE', at: [7, 16, 'spec.podSelector'] },
  { name: 'label value not a string', lines: np('  podSelector: {matchLabels: {enabled: true}}'), code: 'POLICY_BAD_VALUE', at: [7, 40, 'spec.podSelector.matchLabels.enabled'] },
  {
    name: 'ipBlock combined with a selector',
    lines: np('  ingress:', '  - from:', '    - podSelector: {}', '      ipBlock: {cidr: 10.0.0.0/8}'),
    code: 'POLICY_BAD_VALUE',
    at: [10, 7, 'spec.ingress[0].from[0].ipBlock'],
  },
  { name: 'unknown protocol', lines: np('  ingress:', '  - ports:', '    - protocol: ICMP'), code: 'POLICY_BAD_VALUE', at: [9, 17, 'spec.ingress[0].ports[0].protocol'] },
  { name: 'bad namespace name', lines: ['apiVersion: networking.k8s.io/v1', 'kind: NetworkPolicy', 'metadata:', '  name: p', '  namespace: Shop_1', 'spec: {}'], code: 'POLICY_BAD_VALUE', at: [5, 14, 'metadata.namespace'] },
  { name: 'both endpointSelector and nodeSelector', lines: cnp('  endpointSelector: {}', '  nodeSelector: {}', '  ingress: [{}]'), code: 'POLICY_BAD_VALUE', at: [8, 3, 'spec.nodeSelector'] },
  { name: 'unknown entity', lines: cnpRules('  egress:', '  - toEntities: [world, wrld]'), code: 'POLICY_BAD_VALUE', at: [9, 25, 'spec.egress[0].toEntities[1]'] },
  { name: 'Cilium protocol in lowercase', lines: cnpRules('  egress:', '  - toPorts:', '    - ports: [{port: "53", protocol: udp}]'), code: 'POLICY_BAD_VALUE', at: [10, 38, 'spec.egress[0].toPorts[0].ports[0].protocol'] },
  {
    name: 'HTTP rules on a port that is not TCP',
    lines: cnpRules('  ingress:', '  - toPorts:', '    - ports: [{port: "80"}]', '      rules: {http: [{method: GET}]}'),
    code: 'POLICY_BAD_VALUE',
    at: [10, 15, 'spec.ingress[0].toPorts[0].ports[0]'],
  },
  {
    name: 'icmps with toPorts',
    lines: cnpRules('  egress:', '  - toPorts: [{ports: [{port: "80"}]}]', '    icmps: [{fields: [{type: 8}]}]'),
    code: 'POLICY_BAD_VALUE',
    at: [10, 5, 'spec.egress[0].icmps'],
  },
  { name: 'ICMP type name of the other family', lines: cnpRules('  egress:', '  - icmps: [{fields: [{type: PacketTooBig}]}]'), code: 'POLICY_BAD_VALUE', at: [9, 30, 'spec.egress[0].icmps[0].fields[0].type'] },
  { name: 'enableDefaultDeny not a boolean', lines: cnpRules('  ingress: []', '  enableDefaultDeny: {ingress: "no"}'), code: 'POLICY_BAD_VALUE', at: [9, 32, 'spec.enableDefaultDeny.ingress'] },
  { name: 'pod IP', lines: ['apiVersion: v1', 'kind: Pod', 'metadata: {name: x}', 'status:', '  podIPs:', '  - ip: 10.0.0.256'], code: 'POLICY_BAD_VALUE', at: [6, 9, 'status.podIPs[0].ip'] },
  { name: 'service type', lines: ['apiVersion: v1', 'kind: Service', 'metadata: {name: s}', 'spec: {type: Cluster}'], code: 'POLICY_BAD_VALUE', at: [4, 14, 'spec.type'] },
  {
    name: 'EndpointSlice address of the wrong family',
    lines: ['apiVersion: discovery.k8s.io/v1', 'kind: EndpointSlice', 'metadata: {name: e}', 'addressType: IPv4', 'endpoints:', '- addresses: ["fd00::1"]'],
    code: 'POLICY_BAD_VALUE',
    at: [6, 15, 'endpoints[0].addresses[0]'],
  },

  // ---- selectors ----
  { name: 'unknown operator', lines: np('  podSelector:', '    matchExpressions:', '    - {key: app, operator: Equals, values: [a]}'), code: 'POLICY_BAD_SELECTOR', at: [9, 28, 'spec.podSelector.matchExpressions[0].operator'] },
  { name: 'In without values', lines: np('  podSelector:', '    matchExpressions:', '    - {key: app, operator: In}'), code: 'POLICY_BAD_SELECTOR', at: [9, 7, 'spec.podSelector.matchExpressions[0].values'] },
  { name: 'NotIn with an empty list', lines: np('  podSelector:', '    matchExpressions:', '    - {key: app, operator: NotIn, values: []}'), code: 'POLICY_BAD_SELECTOR', at: [9, 43, 'spec.podSelector.matchExpressions[0].values'] },
  { name: 'Exists with values', lines: np('  podSelector:', '    matchExpressions:', '    - {key: app, operator: Exists, values: [a]}'), code: 'POLICY_BAD_SELECTOR', at: [9, 44, 'spec.podSelector.matchExpressions[0].values'] },
  { name: 'label key', lines: np('  podSelector: {matchLabels: {-app: x}}'), code: 'POLICY_BAD_SELECTOR', at: [7, 31, 'spec.podSelector.matchLabels["-app"]'] },
  { name: 'label key prefix', lines: np('  podSelector: {matchLabels: {"Example.com/app": x}}'), code: 'POLICY_BAD_SELECTOR', at: [7, 31, 'spec.podSelector.matchLabels["Example.com/app"]'] },
  { name: 'label value', lines: np('  ingress:', '  - from:', '    - namespaceSelector: {matchLabels: {team: "a b"}}'), code: 'POLICY_BAD_SELECTOR', at: [9, 47, 'spec.ingress[0].from[0].namespaceSelector.matchLabels.team'] },
  { name: 'expression value', lines: np('  podSelector:', '    matchExpressions:', '    - key: tier', '      operator: In', '      values: [ok, "not/ok"]'), code: 'POLICY_BAD_SELECTOR', at: [11, 20, 'spec.podSelector.matchExpressions[0].values[1]'] },
  { name: 'Cilium key after the source', lines: cnp('  endpointSelector: {matchLabels: {"k8s:-app": x}}', '  ingress: [{}]'), code: 'POLICY_BAD_SELECTOR', at: [7, 36, 'spec.endpointSelector.matchLabels["k8s:-app"]'] },

  // ---- CIDRs ----
  { name: 'prefix length', lines: np('  egress:', '  - to:', '    - ipBlock: {cidr: 10.0.0.0/33}'), code: 'POLICY_BAD_CIDR', at: [9, 23, 'spec.egress[0].to[0].ipBlock.cidr'] },
  { name: 'ipBlock without a length', lines: np('  egress:', '  - to:', '    - ipBlock: {cidr: 10.0.0.1}'), code: 'POLICY_BAD_CIDR', at: [9, 23, 'spec.egress[0].to[0].ipBlock.cidr'] },
  { name: 'except outside cidr', lines: np('  egress:', '  - to:', '    - ipBlock:', '        cidr: 10.0.0.0/16', '        except: [10.0.1.0/24, 10.1.0.0/24]'), code: 'POLICY_BAD_CIDR', at: [11, 31, 'spec.egress[0].to[0].ipBlock.except[1]'] },
  { name: 'except equal to cidr', lines: np('  egress:', '  - to:', '    - ipBlock: {cidr: 10.0.0.0/16, except: [10.0.0.0/16]}'), code: 'POLICY_BAD_CIDR', at: [9, 45, 'spec.egress[0].to[0].ipBlock.except[0]'] },
  { name: 'except of the other family', lines: np('  egress:', '  - to:', '    - ipBlock: {cidr: 10.0.0.0/8, except: ["::/64"]}'), code: 'POLICY_BAD_CIDR', at: [9, 44, 'spec.egress[0].to[0].ipBlock.except[0]'] },
  { name: 'IPv4 with leading zeros', lines: cnpRules('  egress:', '  - toCIDR: [010.0.0.0/8]'), code: 'POLICY_BAD_CIDR', at: [9, 14, 'spec.egress[0].toCIDR[0]'] },
  { name: 'Cilium except outside', lines: cnpRules('  egress:', '  - toCIDRSet:', '    - cidr: 192.0.2.0/24', '      except: [192.0.3.0/28]'), code: 'POLICY_BAD_CIDR', at: [11, 16, 'spec.egress[0].toCIDRSet[0].except[0]'] },
  { name: 'node podCIDR', lines: ['apiVersion: v1', 'kind: Node', 'metadata: {name: n}', 'spec: {podCIDR: 10.244.0.0}'], code: 'POLICY_BAD_CIDR', at: [4, 17, 'spec.podCIDR'] },

  // ---- ports ----
  { name: 'port 0', lines: np('  ingress:', '  - ports: [{port: 0}]'), code: 'POLICY_BAD_PORT', at: [8, 20, 'spec.ingress[0].ports[0].port'] },
  { name: 'port above 65535', lines: np('  ingress:', '  - ports: [{port: 65536}]'), code: 'POLICY_BAD_PORT', at: [8, 20, 'spec.ingress[0].ports[0].port'] },
  { name: 'quoted number is not a port name', lines: np('  ingress:', '  - ports: [{port: "80"}]'), code: 'POLICY_BAD_PORT', at: [8, 20, 'spec.ingress[0].ports[0].port'] },
  { name: 'port name too long', lines: np('  ingress:', '  - ports: [{port: a-very-long-port-name}]'), code: 'POLICY_BAD_PORT', at: [8, 20, 'spec.ingress[0].ports[0].port'] },
  { name: 'endPort without port', lines: np('  ingress:', '  - ports: [{endPort: 90}]'), code: 'POLICY_BAD_PORT', at: [8, 23, 'spec.ingress[0].ports[0].endPort'] },
  { name: 'endPort with a named port', lines: np('  ingress:', '  - ports: [{port: http, endPort: 90}]'), code: 'POLICY_BAD_PORT', at: [8, 35, 'spec.ingress[0].ports[0].endPort'] },
  { name: 'endPort below port', lines: np('  ingress:', '  - ports:', '    - port: 8080', '      endPort: 80'), code: 'POLICY_BAD_PORT', at: [10, 16, 'spec.ingress[0].ports[0].endPort'] },
  { name: 'Cilium port as a number', lines: cnpRules('  ingress:', '  - toPorts: [{ports: [{port: 80}]}]'), code: 'POLICY_BAD_PORT', at: [9, 31, 'spec.ingress[0].toPorts[0].ports[0].port'] },
  { name: 'Cilium port out of range', lines: cnpRules('  ingress:', '  - toPorts: [{ports: [{port: "65536"}]}]'), code: 'POLICY_BAD_PORT', at: [9, 31, 'spec.ingress[0].toPorts[0].ports[0].port'] },
  { name: 'Cilium endPort below port', lines: cnpRules('  ingress:', '  - toPorts: [{ports: [{port: "443", endPort: 80}]}]'), code: 'POLICY_BAD_PORT', at: [9, 47, 'spec.ingress[0].toPorts[0].ports[0].endPort'] },
  { name: 'Cilium endPort with a name', lines: cnpRules('  ingress:', '  - toPorts: [{ports: [{port: https, endPort: 500}]}]'), code: 'POLICY_BAD_PORT', at: [9, 47, 'spec.ingress[0].toPorts[0].ports[0].endPort'] },
  {
    name: 'HTTP rules on every port',
    lines: cnpRules('  ingress:', '  - toPorts:', '    - ports: [{port: "0", protocol: TCP}]', '      rules: {http: [{}]}'),
    code: 'POLICY_BAD_PORT',
    at: [10, 15, 'spec.ingress[0].toPorts[0].ports[0]'],
  },
  { name: 'service port', lines: ['apiVersion: v1', 'kind: Service', 'metadata: {name: s}', 'spec:', '  ports:', '  - port: 0'], code: 'POLICY_BAD_PORT', at: [6, 11, 'spec.ports[0].port'] },
  { name: 'container port name', lines: ['apiVersion: v1', 'kind: Pod', 'metadata: {name: x}', 'spec:', '  containers:', '  - ports: [{containerPort: 80, name: HTTP}]'], code: 'POLICY_BAD_PORT', at: [6, 39, 'spec.containers[0].ports[0].name'] },

  // ---- unsupported ----
  { name: 'NetworkPolicy of an old API group', lines: ['apiVersion: extensions/v1beta1', 'kind: NetworkPolicy', 'metadata: {name: old}', 'spec: {}'], code: 'POLICY_UNSUPPORTED', at: [1, 13, 'apiVersion'] },
  { name: 'toFQDNs', lines: cnpRules('  egress:', '  - toFQDNs: [{matchName: example.com}]'), code: 'POLICY_UNSUPPORTED', at: [9, 5, 'spec.egress[0].toFQDNs'] },
  { name: 'toServices', lines: cnpRules('  egressDeny:', '  - toServices: []'), code: 'POLICY_UNSUPPORTED', at: [9, 5, 'spec.egressDeny[0].toServices'] },
  { name: 'authentication', lines: cnpRules('  ingress:', '  - fromEndpoints: [{}]', '    authentication: {mode: required}'), code: 'POLICY_UNSUPPORTED', at: [10, 5, 'spec.ingress[0].authentication'] },
  { name: 'cidrGroupRef', lines: cnpRules('  ingress:', '  - fromCIDRSet:', '    - cidrGroupRef: office'), code: 'POLICY_UNSUPPORTED', at: [10, 7, 'spec.ingress[0].fromCIDRSet[0].cidrGroupRef'] },
  {
    name: 'DNS rules',
    lines: cnpRules('  egress:', '  - toPorts:', '    - ports: [{port: "53", protocol: UDP}]', '      rules:', '        dns: [{matchPattern: "*"}]'),
    code: 'POLICY_UNSUPPORTED',
    at: [12, 9, 'spec.egress[0].toPorts[0].rules.dns'],
  },
  {
    name: 'Kafka rules',
    lines: cnpRules('  ingress:', '  - toPorts:', '    - ports: [{port: "9092", protocol: TCP}]', '      rules: {kafka: [{topic: t}]}'),
    code: 'POLICY_UNSUPPORTED',
    at: [11, 15, 'spec.ingress[0].toPorts[0].rules.kafka'],
  },
  { name: 'two kinds of L3 peer in one rule', lines: cnpRules('  ingress:', '  - fromEndpoints: [{}]', '    fromCIDR: [10.0.0.0/8]'), code: 'POLICY_UNSUPPORTED', at: [10, 5, 'spec.ingress[0].fromCIDR'] },
  { name: 'VRRP', lines: cnpRules('  ingress:', '  - toPorts: [{ports: [{port: "0", protocol: VRRP}]}]'), code: 'POLICY_UNSUPPORTED', at: [9, 46, 'spec.ingress[0].toPorts[0].ports[0].protocol'] },
  {
    name: 'L7 rules in a host policy',
    lines: cnp('  nodeSelector: {}', '  ingress:', '  - toPorts:', '    - ports: [{port: "80", protocol: TCP}]', '      rules: {http: [{path: /}]}'),
    code: 'POLICY_UNSUPPORTED',
    at: [10, 7, 'spec.ingress[0].toPorts[0]'],
  },
];

describe('policy input errors: code and exact location', () => {
  for (const c of cases) it(`${c.code}: ${c.name}`, () => check(c));

  it('covers every policy input error code', () => {
    const codes = new Set(cases.map((c) => c.code));
    for (const code of ['POLICY_YAML_SYNTAX', 'POLICY_BAD_OBJECT', 'POLICY_UNKNOWN_FIELD', 'POLICY_MISSING_FIELD', 'POLICY_BAD_VALUE', 'POLICY_BAD_SELECTOR', 'POLICY_BAD_CIDR', 'POLICY_BAD_PORT', 'POLICY_UNSUPPORTED'] as const) {
      expect(codes.has(code), code).toBe(true);
    }
  });

  it('an error in a later document names that document\'s line', () => {
    const lines = ['apiVersion: v1', 'kind: Namespace', 'metadata: {name: a}', '---', ...np('  podSelector: {}', '  egress: {}')];
    check({ name: 'second document', lines, code: 'POLICY_BAD_VALUE', at: [12, 11, 'spec.egress'] });
  });

  it('an error inside a kubectl List names the item path', () => {
    const lines = ['apiVersion: v1', 'kind: List', 'items:', '- {apiVersion: v1, kind: Namespace, metadata: {name: a}}', '- apiVersion: networking.k8s.io/v1', '  kind: NetworkPolicy', '  metadata: {name: p}', '  spec:', '    podSelector: {matchLabels: {app: "x y"}}'];
    check({ name: 'list item', lines, code: 'POLICY_BAD_SELECTOR', at: [9, 38, 'items[1].spec.podSelector.matchLabels.app'] });
  });

  it('a duplicate is reported at the second object, across files', () => {
    const a = ['apiVersion: networking.k8s.io/v1', 'kind: NetworkPolicy', 'metadata: {name: p, namespace: shop}', 'spec: {}'].join('\n');
    const b = ['# same policy again', 'apiVersion: networking.k8s.io/v1', 'kind: NetworkPolicy', 'metadata:', '  namespace: shop', '  name: p', 'spec: {}'].join('\n');
    const e = thrown(() => parseDocuments([{ file: 'a.yaml', text: a }, { file: 'b.yaml', text: b }]));
    expect({ code: e.code, ...e.location }).toEqual({ code: 'POLICY_DUPLICATE', file: 'b.yaml', line: 6, column: 9, path: 'metadata.name' });
    expect(e.message).toContain('a.yaml:3:18');
  });

  it('the default namespace counts when looking for duplicates; kinds and namespaces keep names apart', () => {
    const head = (kind: string, ns?: string): string =>
      `apiVersion: ${kind === 'NetworkPolicy' ? 'networking.k8s.io/v1' : 'cilium.io/v2'}\nkind: ${kind}\nmetadata: {name: p${ns ? `, namespace: ${ns}` : ''}}\n`;
    const netpol = (ns?: string): string => head('NetworkPolicy', ns) + 'spec: {}\n';
    const cilium = head('CiliumNetworkPolicy') + 'spec: {endpointSelector: {}, ingress: []}\n';
    const ok = parseDocuments([{ file: 'a', text: [netpol(), netpol('shop'), cilium].join('---\n') }]);
    expect(ok.policies.map((p) => `${p.kind}/${p.namespace}/${p.name}`)).toEqual(['NetworkPolicy/default/p', 'NetworkPolicy/shop/p', 'CiliumNetworkPolicy/default/p']);
    const e = thrown(() => parseDocuments([{ file: 'a', text: [netpol(), netpol('default')].join('---\n') }]));
    expect(e.code).toBe('POLICY_DUPLICATE');
    expect(e.location.line).toBe(8);
  });

  it('IO_ERROR names the path that cannot be read', () => {
    const missing = join(ROOT, 'test', 'fixtures', 'policy', 'no-such-file.yaml');
    const e = thrown(() => loadFiles([join(ROOT, 'test', 'fixtures', 'policy', 'netpol-shop.yaml'), missing]));
    expect(e.code).toBe('IO_ERROR');
    expect(e.location).toEqual({ file: missing });
  });
});

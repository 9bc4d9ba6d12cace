// The policy input loader on realistic inputs: a kubectl `v1 List` of a small cluster with the
// usual noise, NetworkPolicies, Cilium policies of both scopes, directories, multi-document files
// and lists; defaulting; and the all-or-nothing contract.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CiliumNetworkPolicy, NetworkPolicy } from '../../src/policy/ast.js';
import { loadFiles, parseDocuments } from '../../src/policy/load.js';
import { TwinpathError } from '../../src/errors.js';
import { ROOT } from '../helpers/paths.js';

const FIX = join(ROOT, 'test', 'fixtures', 'policy');
const fx = (name: string): string => join(FIX, name);

function thrown(fn: () => unknown): TwinpathError {
  try {
    fn();
  } catch (e) {
    if (e instanceof TwinpathError) return e;
    throw e;
  }
  throw new Error('expected a TwinpathError');
}

describe('kubectl v1 List of a small cluster', () => {
  const inputs = loadFiles([fx('kubectl-cluster-list.yaml')]);
  const { cluster } = inputs;
  const file = fx('kubectl-cluster-list.yaml');

  it('reads every cluster object and skips the rest, reporting them', () => {
    expect(cluster.namespaces.map((n) => n.name)).toEqual(['shop', 'monitoring']);
    expect(cluster.nodes.map((n) => n.name)).toEqual(['worker-a', 'worker-b']);
    expect(cluster.pods.map((p) => `${p.namespace}/${p.name}`)).toEqual([
      'shop/frontend-7d9c8b5f4-x2kqp',
      'shop/backend-0',
      'monitoring/prometheus-0',
      'monitoring/node-agent-worker-a',
    ]);
    expect(cluster.services.map((s) => s.name)).toEqual(['backend', 'frontend', 'backend-headless']);
    expect(cluster.endpointSlices.map((s) => s.name)).toEqual(['backend-8fj2k']);
    expect(inputs.policies).toEqual([]);
    expect(inputs.skipped).toEqual([
      { kind: 'Deployment', name: 'frontend', src: { file, line: 199, column: 3, path: 'items[8]' } },
      { kind: 'ConfigMap', name: 'kube-root-ca.crt', src: { file, line: 316, column: 3, path: 'items[13]' } },
    ]);
  });

  it('keeps namespace labels and ignores managedFields and status noise', () => {
    expect(cluster.namespaces[0]).toEqual({
      name: 'shop',
      labels: { 'kubernetes.io/metadata.name': 'shop', team: 'storefront' },
      src: { file, line: 3, column: 3, path: 'items[0]' },
    });
  });

  it('reads pods: podIPs in canonical form, every container port (not init containers), TCP by default', () => {
    const [frontend, backend, prometheus, agent] = cluster.pods;
    expect(frontend.ips).toEqual(['10.244.1.17', 'fd00:10:244:1::11']);
    expect(frontend.nodeName).toBe('worker-a');
    expect(frontend.labels).toEqual({ app: 'frontend', 'pod-template-hash': '7d9c8b5f4' });
    expect(frontend.ports).toEqual([
      { name: 'http', containerPort: 8080, protocol: 'TCP' },
      { name: 'metrics', containerPort: 9100, protocol: 'TCP' },
    ]);
    expect(frontend.hostNetwork).toBe(false);
    expect(frontend.src).toEqual({ file, line: 86, column: 3, path: 'items[4]' });
    // status.podIP alone when podIPs is absent; UDP kept.
    expect(backend.ips).toEqual(['10.244.2.8']);
    expect(backend.ports[1]).toEqual({ name: 'dns-api', containerPort: 5353, protocol: 'UDP' });
    // A pending pod has no address yet.
    expect(prometheus.ips).toEqual([]);
    expect(agent.hostNetwork).toBe(true);
    expect(agent.ips).toEqual(['172.18.0.3']);
  });

  it('reads nodes: InternalIP and ExternalIP addresses only, podCIDRs over podCIDR', () => {
    expect(cluster.nodes[0].addresses).toEqual(['172.18.0.3', 'fc00:f853:ccd:e793::3']);
    expect(cluster.nodes[0].podCIDRs).toEqual(['10.244.1.0/24', 'fd00:10:244:1::/64']);
    expect(cluster.nodes[1].addresses).toEqual(['172.18.0.4', '203.0.113.40']);
    expect(cluster.nodes[1].podCIDRs).toEqual(['10.244.2.0/24']);
    expect(cluster.nodes[0].labels['topology.kubernetes.io/zone']).toBe('zone-a');
  });

  it('reads services with the API defaults', () => {
    const [backend, frontend, headless] = cluster.services;
    expect(backend).toMatchObject({
      type: 'ClusterIP',
      clusterIPs: ['10.96.14.20'],
      externalIPs: [],
      sessionAffinity: 'ClientIP',
      affinityTimeoutSeconds: 600,
      internalTrafficPolicy: 'Cluster',
      externalTrafficPolicy: 'Cluster',
      selector: { app: 'backend' },
    });
    expect(backend.ports).toEqual([
      { name: 'api', protocol: 'TCP', port: 80, targetPort: 'api' },
      { name: 'metrics', protocol: 'TCP', port: 9100, targetPort: 9100 },
    ]);
    expect(frontend).toMatchObject({
      type: 'NodePort',
      clusterIPs: ['10.96.30.1'],
      externalIPs: ['198.51.100.7'],
      sessionAffinity: 'None',
      affinityTimeoutSeconds: 10800,
      externalTrafficPolicy: 'Local',
    });
    expect(frontend.ports).toEqual([{ protocol: 'TCP', port: 80, targetPort: 8080, nodePort: 30080 }]);
    // clusterIP None: headless, no frontend address.
    expect(headless.clusterIPs).toEqual([]);
    expect(headless.ports).toEqual([{ protocol: 'TCP', port: 5432, targetPort: 5432 }]);
  });

  it('reads EndpointSlices: conditions defaulted as the API documents them', () => {
    const slice = cluster.endpointSlices[0];
    expect(slice.serviceName).toBe('backend');
    expect(slice.addressType).toBe('IPv4');
    expect(slice.endpoints).toEqual([
      {
        addresses: ['10.244.2.8'],
        ready: true,
        serving: true,
        terminating: false,
        nodeName: 'worker-b',
        targetRef: { kind: 'Pod', namespace: 'shop', name: 'backend-0' },
      },
      // serving absent: follows ready.
      { addresses: ['10.244.1.30'], ready: false, serving: false, terminating: true, nodeName: 'worker-a' },
      // no conditions: unknown readiness counts as ready.
      { addresses: ['10.244.1.31'], ready: true, serving: true, terminating: false },
    ]);
    expect(slice.ports).toEqual([
      { name: 'api', protocol: 'TCP', port: 5432 },
      { name: 'metrics', protocol: 'TCP', port: 9100 },
    ]);
  });
});

describe('NetworkPolicy', () => {
  const file = fx('netpol-shop.yaml');
  const policies = loadFiles([file]).policies as NetworkPolicy[];

  it('reads every document of a multi-document file, an empty trailing one included', () => {
    expect(policies.map((p) => `${p.namespace}/${p.name}`)).toEqual([
      'shop/default-deny',
      'shop/backend-from-frontend',
      'default/frontend-egress',
    ]);
  });

  it('defaults policyTypes: as given, Ingress alone, or Ingress and Egress when egress rules exist', () => {
    expect(policies.map((p) => p.policyTypes)).toEqual([['Ingress', 'Egress'], ['Ingress'], ['Ingress', 'Egress']]);
  });

  it('keeps selectors, named ports, port ranges and defaults protocol to TCP', () => {
    const p = policies[1];
    expect(p.podSelector).toEqual({
      matchLabels: { app: 'backend' },
      matchExpressions: [],
      src: { file, line: 25, column: 5, path: 'spec.podSelector' },
    });
    expect(p.ingress[0].peers[0].podSelector?.matchLabels).toEqual({ app: 'frontend' });
    expect(p.ingress[0].ports).toEqual([
      { protocol: 'TCP', port: 'api', src: { file, line: 33, column: 7, path: 'spec.ingress[0].ports[0]' } },
      { protocol: 'UDP', port: 5353, src: { file, line: 34, column: 7, path: 'spec.ingress[0].ports[1]' } },
    ]);
    const peer = p.ingress[1].peers[0];
    expect(peer.namespaceSelector?.matchLabels).toEqual({ 'kubernetes.io/metadata.name': 'monitoring' });
    expect(peer.podSelector?.matchExpressions).toEqual([{ key: 'app', operator: 'In', values: ['prometheus', 'grafana'] }]);
    expect(peer.src).toEqual({ file, line: 37, column: 7, path: 'spec.ingress[1].from[0]' });
    expect(p.ingress[1].ports[0]).toMatchObject({ protocol: 'TCP', port: 9000, endPort: 9100 });
  });

  it('reads ipBlocks in canonical form; absent peers or ports mean all', () => {
    const p = policies[2];
    expect(p.podSelector.matchExpressions).toEqual([{ key: 'app', operator: 'Exists', values: [] }]);
    expect(p.egress[0].peers.map((x) => x.ipBlock && { cidr: x.ipBlock.cidr, except: x.ipBlock.except })).toEqual([
      { cidr: '192.0.2.0/24', except: ['192.0.2.128/25'] },
      { cidr: '2001:db8::/32', except: [] },
    ]);
    expect(p.egress[0].ports).toEqual([]);
    expect(p.egress[1].peers).toEqual([]);
    expect(p.egress[1].ports.map((x) => `${x.protocol}/${x.port}`)).toEqual(['UDP/53', 'TCP/53']);
    expect(policies[0].ingress).toEqual([]);
    expect(policies[0].podSelector.src.path).toBe('spec.podSelector');
  });

  it('a missing podSelector selects every pod, located at the spec', () => {
    const text = 'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: all}\nspec:\n  ingress: [{}]\n';
    const [p] = parseDocuments([{ file: 'np.yaml', text }]).policies as NetworkPolicy[];
    expect(p.podSelector).toEqual({ matchLabels: {}, matchExpressions: [], src: { file: 'np.yaml', line: 5, column: 3, path: 'spec.podSelector' } });
    expect(p.ingress).toEqual([{ peers: [], ports: [], src: { file: 'np.yaml', line: 5, column: 13, path: 'spec.ingress[0]' } }]);
    // An empty policyTypes list is defaulted like an absent one.
    const text2 = text.replace('  ingress: [{}]', '  policyTypes: []\n  egress: [{}]');
    expect((parseDocuments([{ file: 'np.yaml', text: text2 }]).policies[0] as NetworkPolicy).policyTypes).toEqual(['Ingress', 'Egress']);
  });
});

describe('CiliumNetworkPolicy', () => {
  const file = fx('cnp-backend-l7.yaml');
  const [cnp] = loadFiles([file]).policies as CiliumNetworkPolicy[];
  const spec = cnp.specs[0];

  it('reads the spec, ignores status, keeps source prefixes in selector keys', () => {
    expect(cnp).toMatchObject({ kind: 'CiliumNetworkPolicy', namespace: 'shop', name: 'backend-http' });
    expect(cnp.specs).toHaveLength(1);
    expect(spec.description).toBe('Only GET /api/v1/* from the frontend; everything else is dropped.');
    expect(spec.endpointSelector?.matchLabels).toEqual({ app: 'backend' });
    expect(spec.nodeSelector).toBeUndefined();
    expect(spec.enableDefaultDeny).toEqual({});
    expect(spec.ingress?.[0].endpoints?.[0].matchLabels).toEqual({ 'k8s:app': 'frontend', 'k8s:io.kubernetes.pod.namespace': 'shop' });
    expect(spec.ingressDeny).toBeUndefined();
  });

  it('reads toPorts: string ports as numbers, ranges, protocol, HTTP rules', () => {
    const pr = spec.ingress![0].toPorts![0];
    expect(pr.ports.map(({ src: _src, ...p }) => p)).toEqual([
      { protocol: 'TCP', port: 80 },
      { protocol: 'TCP', port: 8000, endPort: 8080 },
    ]);
    expect(pr.http.map(({ src: _src, ...h }) => h)).toEqual([
      { method: 'GET', path: '/api/v1/.*', headers: ['X-Request-Id: .*'] },
      { method: 'POST', host: 'api\\.shop\\.example', headers: [] },
    ]);
    expect(pr.http[1].src).toEqual({ file, line: 29, column: 11, path: 'spec.ingress[0].toPorts[0].rules.http[1]' });
  });

  it('reads egress: entities, CIDRs (a bare address is a host prefix), CIDR sets, ICMP, wildcard port', () => {
    const eg = spec.egress!;
    expect(eg[0].entities).toEqual(['kube-apiserver']);
    expect(eg[0].endpoints).toBeUndefined();
    expect(eg[1].cidrs?.map((c) => [c.cidr, c.except])).toEqual([
      ['192.0.2.10/32', []],
      ['198.51.100.0/24', []],
    ]);
    expect(eg[2].cidrs?.map((c) => [c.cidr, c.except])).toEqual([['10.0.0.0/8', ['10.96.0.0/12']]]);
    // Cilium compares port names lowercased; protocol defaults to ANY.
    expect(eg[2].toPorts?.[0].ports.map((p) => [p.port, p.protocol])).toEqual([['https', 'ANY']]);
    expect(eg[2].toPorts?.[0].http).toEqual([]);
    expect(eg[3].icmps?.map((i) => [i.family, i.type])).toEqual([
      ['IPv4', 8],
      ['IPv6', 128],
      ['IPv4', 0],
    ]);
    expect(eg[3].icmps?.[1].src).toEqual({ file, line: 47, column: 9, path: 'spec.egress[3].icmps[0].fields[1]' });
    // `- {}` selects every endpoint; port "0" is every port.
    expect(eg[4].endpoints?.map((s) => [s.matchLabels, s.matchExpressions])).toEqual([[{}, []]]);
    expect(eg[4].toPorts?.[0].ports.map((p) => [p.port, p.protocol])).toEqual([[0, 'ANY']]);
  });

  it('keeps absent lists undefined and present-but-empty lists empty', () => {
    const text = [
      'apiVersion: cilium.io/v2',
      'kind: CiliumNetworkPolicy',
      'metadata: {name: deny-all, namespace: shop}',
      'spec:',
      '  endpointSelector: {}',
      '  ingress:',
      '  - {}',
      '  egress:',
      '  - toEndpoints: []',
      '    toCIDR: null',
    ].join('\n');
    const [p] = parseDocuments([{ file: 'c.yaml', text }]).policies as CiliumNetworkPolicy[];
    expect(p.specs[0].ingress).toEqual([{ src: { file: 'c.yaml', line: 7, column: 5, path: 'spec.ingress[0]' } }]);
    expect(p.specs[0].egress?.[0].endpoints).toEqual([]);
    expect(p.specs[0].egress?.[0].cidrs).toBeUndefined();
  });
});

describe('CiliumClusterwideNetworkPolicy', () => {
  const file = fx('ccnp-cluster-wide.yaml');
  const policies = loadFiles([file]).policies as CiliumNetworkPolicy[];

  it('reads specs in order, with no namespace', () => {
    expect(policies.map((p) => [p.kind, p.namespace, p.name, p.specs.length])).toEqual([
      ['CiliumClusterwideNetworkPolicy', '', 'cluster-guardrails', 2],
      ['CiliumClusterwideNetworkPolicy', '', 'host-firewall', 1],
    ]);
    const [a, b] = policies[0].specs;
    expect(a.src).toEqual({ file, line: 6, column: 3, path: 'specs[0]' });
    expect(a.egressDeny?.[0].cidrs?.map((c) => c.cidr)).toEqual(['169.254.169.254/32']);
    expect(a.egress?.[0].toPorts?.[0].ports.map((p) => [p.port, p.protocol])).toEqual([[53, 'UDP']]);
    expect(a.enableDefaultDeny).toEqual({ egress: false });
    expect(b.endpointSelector?.matchExpressions).toEqual([{ key: 'any:app', operator: 'NotIn', values: ['node-agent'] }]);
    expect(b.ingressDeny?.[0].entities).toEqual(['world']);
    expect(b.ingressDeny?.[0].toPorts?.[0].ports.map((p) => [p.port, p.protocol])).toEqual([[22, 'ANY']]);
    expect(b.ingress?.map((r) => r.entities ?? r.requires?.map((s) => s.matchLabels))).toEqual([['cluster', 'host'], [{ 'any:env': 'prod' }]]);
  });

  it('reads host policies (nodeSelector) for the compiler to judge', () => {
    const host = policies[1].specs[0];
    expect(host.endpointSelector).toBeUndefined();
    expect(host.nodeSelector?.matchLabels).toEqual({ 'kubernetes.io/os': 'linux' });
    expect(host.ingress?.[0].entities).toEqual(['remote-node', 'health']);
  });
});

describe('files, directories, lists', () => {
  it('walks a directory recursively, sorted by path, reading only .yaml, .yml and .json', () => {
    const dir = fx('cluster-dir');
    const inputs = loadFiles([dir]);
    expect(inputs.cluster.namespaces.map((n) => [n.name, n.src.file, n.src.line])).toEqual([
      ['shop', join(dir, 'a-namespaces.yaml'), 1],
      ['monitoring', join(dir, 'a-namespaces.yaml'), 6],
    ]);
    expect(inputs.cluster.pods.map((p) => [p.name, p.src.file])).toEqual([['web', join(dir, 'b-pods.yml')]]);
    // A typed list (NodeList) from JSON: items inherit kind and apiVersion.
    expect(inputs.cluster.nodes.map((n) => [n.name, n.podCIDRs, n.src])).toEqual([
      ['worker-a', ['10.244.1.0/24'], { file: join(dir, 'nodes', 'nodes.json'), line: 5, column: 3, path: 'items[0]' }],
    ]);
    expect(inputs.skipped).toEqual([]);
  });

  it('reads several paths in the order given', () => {
    const inputs = loadFiles([fx('ccnp-cluster-wide.yaml'), fx('netpol-shop.yaml')]);
    expect(inputs.policies.map((p) => p.name)).toEqual(['cluster-guardrails', 'host-firewall', 'default-deny', 'backend-from-frontend', 'frontend-egress']);
  });

  it('flattens nested Lists, with paths through every level', () => {
    const text = [
      'apiVersion: v1',
      'kind: List',
      'items:',
      '- apiVersion: v1',
      '  kind: List',
      '  items:',
      '  - {apiVersion: v1, kind: Namespace, metadata: {name: inner}}',
      '- {apiVersion: v1, kind: Namespace, metadata: {name: outer}}',
      '---',
      '# only a comment',
      '---',
      '{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "json"}}',
    ].join('\n');
    const inputs = parseDocuments([{ file: 'l.yaml', text }]);
    expect(inputs.cluster.namespaces.map((n) => [n.name, n.src.line, n.src.column, n.src.path])).toEqual([
      ['inner', 7, 5, 'items[0].items[0]'],
      ['outer', 8, 3, 'items[1]'],
      ['json', 12, 1, ''],
    ]);
  });

  it('skips kinds it does not read, and other groups that reuse a kind name', () => {
    const text = [
      'apiVersion: projectcalico.org/v3',
      'kind: NetworkPolicy',
      'metadata: {name: calico}',
      'spec: {selector: all()}',
      '---',
      'apiVersion: v1',
      'kind: Secret',
      'data: {}',
    ].join('\n');
    const inputs = parseDocuments([{ file: 's.yaml', text }]);
    expect(inputs.policies).toEqual([]);
    expect(inputs.skipped).toEqual([
      { kind: 'NetworkPolicy', name: 'calico', src: { file: 's.yaml', line: 1, column: 1, path: '' } },
      { kind: 'Secret', name: '', src: { file: 's.yaml', line: 6, column: 1, path: '' } },
    ]);
  });
});

describe('all or nothing', () => {
  const good = 'apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n';

  it('returns nothing when the last document of several is bad', () => {
    const text = [good, good.replace('name: a', 'name: b'), 'apiVersion: v1\nkind: Namespace\nmetadata: {name: c}\nspec: [\n'].join('---\n');
    const e = thrown(() => parseDocuments([{ file: 'm.yaml', text }]));
    expect(e.code).toBe('POLICY_YAML_SYNTAX');
    expect(e.location.file).toBe('m.yaml');
    expect(e.location.line).toBe(13);
  });

  it('returns nothing when the last file of several is bad', () => {
    const dir = mkdtempSync(join(tmpdir(), 'twinpath-load-'));
    try {
      writeFileSync(join(dir, 'a.yaml'), good);
      writeFileSync(join(dir, 'z.yaml'), 'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p}\nspec: {podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/40}}]}]}\n');
      const e = thrown(() => loadFiles([dir]));
      expect(e.code).toBe('POLICY_BAD_CIDR');
      expect(e.location).toEqual({ file: join(dir, 'z.yaml'), line: 4, column: 60, path: 'spec.ingress[0].from[0].ipBlock.cidr' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the same documents load once the bad one is fixed', () => {
    const inputs = parseDocuments([{ file: 'a.yaml', text: good }, { file: 'b.yaml', text: good.replace('name: a', 'name: b') }]);
    expect(inputs.cluster.namespaces.map((n) => n.name)).toEqual(['a', 'b']);
  });
});

describe('YAML features', () => {
  it('resolves anchors and aliases: the alias path, the anchor position', () => {
    const text = [
      'apiVersion: networking.k8s.io/v1',
      'kind: NetworkPolicy',
      'metadata: {name: p}',
      'spec:',
      '  podSelector: &web',
      '    matchLabels: {app: web}',
      '  ingress:',
      '  - from:',
      '    - podSelector: *web',
    ].join('\n');
    const [p] = parseDocuments([{ file: 'a.yaml', text }]).policies as NetworkPolicy[];
    expect(p.ingress[0].peers[0].podSelector).toEqual({
      matchLabels: { app: 'web' },
      matchExpressions: [],
      src: { file: 'a.yaml', line: 6, column: 5, path: 'spec.ingress[0].from[0].podSelector' },
    });
  });

  it('refuses a document whose aliases expand without bound', () => {
    const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i <= 7; i++) lines.push(`a${i}: &a${i} [${new Array(10).fill(`*a${i - 1}`).join(', ')}]`);
    const e = thrown(() => parseDocuments([{ file: 'bomb.yaml', text: lines.join('\n') }]));
    expect(e.code).toBe('POLICY_YAML_SYNTAX');
    expect(e.location.file).toBe('bomb.yaml');
  });

  it('refuses an alias inside its own anchor', () => {
    const e = thrown(() => parseDocuments([{ file: 'loop.yaml', text: 'apiVersion: v1\nkind: Namespace\nmetadata: &m {name: a, labels: *m}\n' }]));
    expect({ code: e.code, ...e.location }).toEqual({ code: 'POLICY_YAML_SYNTAX', file: 'loop.yaml', line: 3, column: 32, path: 'metadata.labels' });
  });
});

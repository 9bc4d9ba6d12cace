import { describe, expect, it } from 'vitest';
import { isTwinpathError } from '../../src/errors.js';
import { L7Policy } from '../../src/l7/resolve.js';
import { compile } from '../../src/policy/compile.js';
import { parseDocuments } from '../../src/policy/load.js';

const CLUSTER = `
apiVersion: v1
kind: List
items:
  - {apiVersion: v1, kind: Namespace, metadata: {name: x}}
  - apiVersion: v1
    kind: Pod
    metadata: {name: a, namespace: x, labels: {app: a}}
    spec: {nodeName: n1, containers: [{name: c, image: i}]}
    status: {podIP: 10.0.1.10}
  - apiVersion: v1
    kind: Pod
    metadata: {name: c, namespace: x, labels: {app: c}}
    spec: {nodeName: n1, containers: [{name: c, image: i}]}
    status: {podIP: 10.0.1.12}
  - apiVersion: v1
    kind: Pod
    metadata: {name: b, namespace: x, labels: {app: b}}
    spec: {nodeName: n1, containers: [{name: web, image: i, ports: [{name: web, containerPort: 8080, protocol: TCP}]}]}
    status: {podIP: 10.0.1.11}
`;

function setup(policies: string) {
  const inputs = parseDocuments([{ file: 'cluster.yaml', text: CLUSTER }, { file: 'policy.yaml', text: policies }]);
  const compiled = compile(inputs);
  const ep = (pod: string) => compiled.endpoints.find((e) => e.pod === pod)!;
  return { policy: new L7Policy(compiled, inputs), ep };
}

const cnp = (name: string, ingress: string) => `
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: ${name}, namespace: x}
spec:
  endpointSelector: {matchLabels: {app: b}}
  ingress:
${ingress}
---`;

describe('L7Policy', () => {
  it('ORs the HTTP rules of every policy that redirects the same peer and port', () => {
    const { policy, ep } = setup(
      cnp('one', `  - fromEndpoints: [{matchLabels: {app: a}}]
    toPorts: [{ports: [{port: "80", protocol: TCP}], rules: {http: [{method: GET, path: /a}]}}]`) +
      cnp('two', `  - fromEndpoints: [{matchLabels: {app: a}}]
    toPorts: [{ports: [{port: "80", protocol: TCP}], rules: {http: [{method: POST, path: /b}, {path: /c}]}}]`),
    );
    const set = policy.rulesFor({ endpointId: ep('b').id, direction: 'ingress', identity: ep('a').identity, port: 80 })!;
    expect(set.allowAllBy).toBeUndefined();
    expect(set.proxyPort).toBeGreaterThan(15000);
    expect(set.rules.map((r) => [r.ruleId, r.index, r.rule.path])).toEqual([[1, 0, '/a'], [2, 0, '/b'], [2, 1, '/c']]);
    // Another peer, or another port, is not redirected.
    expect(policy.rulesFor({ endpointId: ep('b').id, direction: 'ingress', identity: ep('c').identity, port: 80 })).toBeNull();
    expect(policy.rulesFor({ endpointId: ep('b').id, direction: 'ingress', identity: ep('a').identity, port: 81 })).toBeNull();
  });

  it('applies only the toPorts entries whose ports include the connection\'s, named ports resolved on the pod', () => {
    const { policy, ep } = setup(
      cnp('ports', `  - fromEndpoints: [{matchLabels: {app: a}}]
    toPorts:
    - {ports: [{port: "80", protocol: TCP}], rules: {http: [{path: /eighty}]}}
    - {ports: [{port: web, protocol: TCP}], rules: {http: [{path: /named}]}}
    - {ports: [{port: "9000", endPort: 9010, protocol: TCP}], rules: {http: [{path: /range}]}}`),
    );
    const q = (port: number) => policy.rulesFor({ endpointId: ep('b').id, direction: 'ingress', identity: ep('a').identity, port })?.rules.map((r) => r.rule.path);
    expect(q(80)).toEqual(['/eighty']);
    expect(q(8080)).toEqual(['/named']);
    expect(q(9005)).toEqual(['/range']);
    expect(policy.httpRulesOf(1).map((r) => r.index)).toEqual([0, 1, 2]);
  });

  it('lets every request through when an L4-only rule allows the same peer and port', () => {
    const { policy, ep } = setup(
      cnp('l4', `  - fromEndpoints: [{matchLabels: {app: c}}]
    toPorts: [{ports: [{port: "80", protocol: TCP}]}]`) +
        cnp('l7', `  - fromEndpoints: [{matchLabels: {app: c}}]
    toPorts: [{ports: [{port: "80", protocol: TCP}], rules: {http: [{method: GET}]}}]
  - fromEndpoints: [{matchLabels: {app: a}}]
    toPorts: [{ports: [{port: "80", protocol: TCP}], rules: {http: [{method: GET}]}}]
  - fromEndpoints: [{matchLabels: {app: a}}]
    toPorts: [{ports: [{port: "443", protocol: TCP}]}]`),
    );
    const b = ep('b').id;
    // For c, the L4-only rule 1 and the L7 rule 2 share one policy-map key: the map keeps rule 1
    // (no proxy port), yet rule 2 still applies, widened to allow-all by rule 1.
    const c80 = policy.rulesFor({ endpointId: b, direction: 'ingress', identity: ep('c').identity, port: 80 })!;
    expect(c80.allowAllBy).toBe(1);
    expect(c80.rules.map((r) => r.ruleId)).toEqual([2]);
    // For a, port 80 is L7 only; the L4-only rule covers another port and changes nothing.
    const a80 = policy.rulesFor({ endpointId: b, direction: 'ingress', identity: ep('a').identity, port: 80 })!;
    expect(a80.allowAllBy).toBeUndefined();
    expect(a80.rules).toHaveLength(1);
  });

  it('reports allowAllBy when an L4-only entry of a wider identity covers the redirected traffic', () => {
    const { policy, ep } = setup(
      cnp('l7', `  - fromEndpoints: [{matchLabels: {app: a}}]
    toPorts: [{ports: [{port: "80", protocol: TCP}], rules: {http: [{method: GET}]}}]
  - fromEntities: [all]
    toPorts: [{ports: [{port: "80", protocol: TCP}]}]`),
    );
    const set = policy.rulesFor({ endpointId: ep('b').id, direction: 'ingress', identity: ep('a').identity, port: 80 })!;
    expect(set.allowAllBy).toBe(2);
  });

  it('refuses a regular expression the proxy would refuse, at its source', () => {
    try {
      setup(cnp('bad', `  - fromEndpoints: [{matchLabels: {app: a}}]
    toPorts: [{ports: [{port: "80", protocol: TCP}], rules: {http: [{path: "/(a"}]}}]`));
      expect.unreachable();
    } catch (e) {
      expect(isTwinpathError(e) && e.code).toBe('POLICY_BAD_VALUE');
      if (isTwinpathError(e)) expect(e.location).toMatchObject({ file: 'policy.yaml', path: expect.stringMatching(/http\[0\]\.path$/) });
    }
  });
});

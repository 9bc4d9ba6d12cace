// formatCompiled against golden files in test/golden/policy. Rewrite them with
//   TWINPATH_UPDATE_GOLDEN=1 npx vitest run test/policy/compile_golden.test.ts
// and review the difference; CI never rewrites them.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Inputs } from '../../src/policy/ast.js';
import { compile, formatCompiled } from '../../src/policy/compile.js';
import { ROOT } from '../helpers/paths.js';
import { cnp, csel, inputs, node, np, ns, pod, resetLines, sel } from './compile_helpers.js';

const UPDATE = process.env.TWINPATH_UPDATE_GOLDEN === '1';
const GOLDEN = join(ROOT, 'test/golden/policy');

function golden(name: string, text: string): void {
  const path = join(GOLDEN, name);
  if (UPDATE) {
    writeFileSync(path, text);
    return;
  }
  if (!existsSync(path)) throw new Error(`test/golden/policy/${name} is missing: run with TWINPATH_UPDATE_GOLDEN=1 and review it`);
  expect(text).toBe(readFileSync(path, 'utf8'));
}

/** A shop: a frontend, an api behind it, a database, monitoring from another namespace. */
function shop(): Inputs {
  resetLines();
  return inputs(
    {
      namespaces: [ns('shop', { env: 'prod' }), ns('mon', { role: 'monitoring' })],
      nodes: [node('node-1', ['192.168.1.1', 'fd00:1::1']), node('node-2', ['192.168.1.2'])],
      pods: [
        pod('shop', 'frontend-1', { app: 'frontend' }, ['10.0.1.10', 'fd00:10::10'], { node: 'node-1', ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }] }),
        pod('shop', 'frontend-2', { app: 'frontend' }, ['10.0.2.10'], { node: 'node-2', ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }] }),
        pod('shop', 'api-1', { app: 'api' }, ['10.0.1.20'], { node: 'node-1', ports: [{ name: 'grpc', containerPort: 9000, protocol: 'TCP' }] }),
        pod('shop', 'db-1', { app: 'db' }, ['10.0.2.30'], { node: 'node-2', ports: [{ name: 'pg', containerPort: 5432, protocol: 'TCP' }] }),
        pod('mon', 'prometheus-1', { app: 'prometheus' }, ['10.0.1.40'], { node: 'node-1' }),
        pod('kube-system', 'kube-proxy-x', { k8s: 'proxy' }, ['192.168.1.2'], { node: 'node-2', hostNetwork: true }),
      ],
    },
    [
      np({ ns: 'shop', name: 'default-deny', types: ['Ingress', 'Egress'] }),
      np({
        ns: 'shop',
        name: 'api',
        pods: sel({ app: 'api' }),
        types: ['Ingress', 'Egress'],
        ingress: [
          { from: [{ pods: sel({ app: 'frontend' }) }], ports: [{ port: 'grpc' }] },
          { from: [{ namespaces: sel({ role: 'monitoring' }) }], ports: [{ port: 9100, endPort: 9110 }] },
        ],
        egress: [{ to: [{ pods: sel({ app: 'db' }) }], ports: [{ port: 'pg' }] }, { to: [{ cidr: '10.0.0.0/8', except: ['10.0.2.0/24'] }], ports: [{ protocol: 'UDP', port: 53 }] }],
      }),
      cnp({
        ns: 'shop',
        name: 'frontend',
        endpoints: csel({ app: 'frontend' }),
        ingress: [{ entities: ['world'], ports: [{ port: 8080, protocol: 'TCP' }], http: true }],
        ingressDeny: [{ cidrs: [{ cidr: '203.0.113.0/24' }] }],
        egress: [{ endpoints: [csel({ app: 'api' })], ports: [{ port: 9000, protocol: 'TCP' }] }, { icmps: [{ family: 'IPv4', type: 8 }] }],
      }),
      cnp({ name: 'no-metadata', endpoints: csel(), egressDeny: [{ cidrs: [{ cidr: '169.254.169.254/32' }] }], defaultDeny: { egress: false } }),
    ],
  );
}

describe('formatCompiled golden files', () => {
  it('shop.txt', () => golden('shop.txt', formatCompiled(compile(shop()))));
  it('no policies: no-policy.txt', () => {
    const inp = shop();
    inp.policies = [];
    golden('no-policy.txt', formatCompiled(compile(inp)));
  });
});

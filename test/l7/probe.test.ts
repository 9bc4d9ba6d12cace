// Probes with an HTTP request: the whole conversation through the endpoint programs, the L7
// stage judging the request when the datapath redirects the connection. The Star Wars cluster
// with the Cilium demo's L7 rule (POST /v1/request-landing from Empire ships), plus a port with
// a header rule and a port without L7 rules; the same results in the VM and the kernel.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { L7_DROP_REASON, runProbes, type ProbeResult, type ProbeSpec } from '../../src/datapath/probe.js';
import type { EngineKind } from '../../src/engine/engine.js';
import { TwinpathError } from '../../src/errors.js';
import { compile } from '../../src/policy/compile.js';
import { parseDocuments } from '../../src/policy/load.js';
import { defaultHost, httpProblem, L7_NO_REQUEST, L7_NOT_REDIRECTED, probeRequest } from '../../src/l7/probe.js';
import { describeKernel } from '../helpers/kernel.js';

const CLUSTER = readFileSync(new URL('../../labs/05-l7-http/cluster.yaml', import.meta.url), 'utf8');

const POLICY = `
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: rule1, namespace: default}
spec:
  endpointSelector: {matchLabels: {org: empire, class: deathstar}}
  ingress:
  - fromEndpoints: [{matchLabels: {org: empire}}]
    toPorts:
    - ports: [{port: "80", protocol: TCP}]
      rules:
        http:
        - method: POST
          path: /v1/request-landing
    - ports: [{port: "8080", protocol: TCP}]
      rules:
        http:
        - method: GET
          path: "/v1/.*"
          headers: ["X-Has-Force: true"]
  - fromEndpoints: [{matchLabels: {org: empire}}]
    toPorts:
    - ports: [{port: "9090", protocol: TCP}]
`;

function inputs() {
  return parseDocuments([{ file: 'cluster.yaml', text: CLUSTER }, { file: 'policy.yaml', text: POLICY }]);
}

const tie = (port: number, http?: ProbeSpec['http']): ProbeSpec => ({ from: 'default/tiefighter', to: 'default/deathstar', port, protocol: 'TCP', ...(http ? { http } : {}) });

const PROBES: ProbeSpec[] = [
  tie(80, { method: 'POST', path: '/v1/request-landing' }),
  tie(80, { method: 'PUT', path: '/v1/exhaust-port' }),
  tie(80),
  { from: 'default/xwing', to: 'default/deathstar', port: 80, protocol: 'TCP', http: { method: 'POST', path: '/v1/request-landing' } },
  tie(8080, { method: 'GET', path: '/v1/status', headers: { 'X-Has-Force': 'true' } }),
  tie(8080, { method: 'GET', path: '/v1/status', headers: { 'X-Has-Force': 'false' } }),
  tie(9090, { method: 'DELETE', path: '/anything' }),
  // A path the rule's regular expression must match as a whole: the query string is part of it.
  tie(80, { method: 'POST', path: '/v1/request-landing?fast=1' }),
];

async function all(engine: EngineKind): Promise<ProbeResult[]> {
  const i = inputs();
  return runProbes({ compiled: compile(i), probes: PROBES, engine, inputs: i });
}

/** What a person compares: no flows, rule ids as they come. */
function brief(r: ProbeResult) {
  return { allowed: r.allowed, verdict: r.verdict, deniedAt: r.deniedAt, dropReason: r.dropReason, rule: r.rule, l7: r.l7, reply: r.reply };
}

function semantics(engine: EngineKind): void {
  it('judges each request by the HTTP rules of the redirecting entry; allowed = the request verdict', async () => {
    const r = await all(engine);
    expect(brief(r[0]!)).toMatchObject({ allowed: true, verdict: 'FORWARDED', reply: true, l7: { verdict: 'FORWARDED', code: 200 } });
    expect((r[0]!.l7 as { rule: string }).rule).toMatch(/^http\[0\]: method=POST path=\/v1\/request-landing \(policy\.yaml:\d+:\d+\)$/);
    expect(r[0]!.ruleId).toBe((r[0]!.l7 as { ruleId: number }).ruleId);
    expect(r[0]!.policy).toBe('CiliumNetworkPolicy default/rule1');

    expect(brief(r[1]!)).toEqual({
      allowed: false, verdict: 'DROPPED', deniedAt: 'ingress', dropReason: L7_DROP_REASON, rule: undefined, reply: true,
      l7: { verdict: 'DROPPED', code: 403 },
    });
    expect(r[1]!.ruleId).toBeUndefined();

    // No request: allowed at L4, and said to be redirected.
    expect(brief(r[2]!)).toMatchObject({ allowed: true, verdict: 'FORWARDED', l7: L7_NO_REQUEST });
    expect(r[2]!.rule).toBe('allow ingress from endpoints org=empire in namespace default on TCP/80, TCP/8080 (L7 proxy 15001)');

    // The X-wing never gets a connection: dropped at L4, no L7 verdict.
    expect(brief(r[3]!)).toMatchObject({ allowed: false, verdict: 'DROPPED', deniedAt: 'ingress', l7: undefined });
    expect(r[3]!.dropReasonCode).toBe(133);

    expect(brief(r[4]!)).toMatchObject({ allowed: true, l7: { verdict: 'FORWARDED', code: 200 } });
    expect((r[4]!.l7 as { rule: string }).rule).toMatch(/^http\[1\]: method=GET path=\/v1\/\.\* headers=\[X-Has-Force: true\]/);
    expect(brief(r[5]!)).toMatchObject({ allowed: false, l7: { verdict: 'DROPPED', code: 403 } });
    expect(brief(r[6]!)).toMatchObject({ allowed: true, l7: L7_NOT_REDIRECTED });
    expect(brief(r[7]!)).toMatchObject({ allowed: false, l7: { verdict: 'DROPPED', code: 403 } });
  });

  it('runs every frame of the conversation through the programs (two per frame for pod to pod)', async () => {
    const r = await all(engine);
    // SYN, SYN-ACK, ACK, request, response, FIN, FIN, ACK: 8 frames, 2 programs each.
    expect(r[0]!.flows).toHaveLength(16);
    expect(r[0]!.flows[1]!.proxyPort).toBeGreaterThan(0);
    expect(r[0]!.flows.every((f) => f.verdict === 'FORWARDED')).toBe(true);
    // Dropped at the first frame: the client's egress (allowed) and the server's ingress (drop).
    expect(r[3]!.flows).toHaveLength(2);
  });
}

describe('HTTP probes in the VM', () => {
  semantics('vm');
  it('is reproducible', async () => {
    expect(await all('vm')).toEqual(await all('vm'));
  });
});

describeKernel('HTTP probes in the kernel', () => {
  semantics('kernel');
  it('gives the same verdicts as the VM', async () => {
    const [vm, kernel] = [await all('vm'), await all('kernel')];
    expect(kernel.map(brief)).toEqual(vm.map(brief));
    expect(kernel.map((r) => r.flows.map((f) => [f.verdict, f.proxyPort, f.ruleId]))).toEqual(vm.map((r) => r.flows.map((f) => [f.verdict, f.proxyPort, f.ruleId])));
  });
});

describe('the http part of a probe', () => {
  it('refuses what cannot be sent, naming the field', () => {
    expect(httpProblem({ method: 'GET', path: '/' })).toBeUndefined();
    expect(httpProblem([])?.[0]).toBe('');
    expect(httpProblem({ method: 'G T', path: '/' })?.[0]).toBe('method');
    expect(httpProblem({ method: 'GET', path: 'v1' })?.[0]).toBe('path');
    expect(httpProblem({ method: 'GET', path: '/a b' })?.[0]).toBe('path');
    expect(httpProblem({ method: 'GET', path: '/', host: 'a b' })?.[0]).toBe('host');
    expect(httpProblem({ method: 'GET', path: '/', headers: ['x'] })?.[0]).toBe('headers');
    expect(httpProblem({ method: 'GET', path: '/', headers: { 'X-A': 'a\r\nb' } })?.[0]).toBe('headers.X-A');
    expect(httpProblem({ method: 'GET', path: '/', headers: { 'Bad Name': 'v' } })?.[0]).toBe('headers.Bad Name');
    expect(httpProblem({ method: 'GET', path: '/', headers: { Host: 'x' } })?.[0]).toBe('headers.Host');
    expect(httpProblem({ method: 'GET', path: '/', body: 'x' })?.[0]).toBe('body');
  });

  it('sends Host as curl does unless given', () => {
    expect(defaultHost('10.0.1.10', 80)).toBe('10.0.1.10');
    expect(defaultHost('10.0.1.10', 8080)).toBe('10.0.1.10:8080');
    expect(defaultHost('fd00::1', 80)).toBe('[fd00::1]');
    expect(probeRequest({ method: 'GET', path: '/', host: 'deathstar', headers: { A: '1' } }, '10.0.1.10', 80)).toEqual({ method: 'GET', path: '/', host: 'deathstar', headers: [['A', '1']] });
  });

  it('is checked before anything runs: a bad request, or one on UDP, is PROBE_BAD_FILE at its index', async () => {
    const i = inputs();
    const bad = async (p: ProbeSpec) => {
      try {
        await runProbes({ compiled: compile(i), probes: [tie(80), p], engine: 'vm', inputs: i });
      } catch (e) {
        return e as TwinpathError;
      }
      throw new Error('accepted');
    };
    const e1 = await bad({ ...tie(80), http: { method: 'GET', path: 'nope' } });
    expect([e1.code, e1.location?.path]).toEqual(['PROBE_BAD_FILE', '[1].http']);
    const e2 = await bad({ from: 'default/tiefighter', to: 'default/deathstar', port: 53, protocol: 'UDP', http: { method: 'GET', path: '/' } });
    expect([e2.code, e2.location?.path]).toEqual(['PROBE_BAD_FILE', '[1].http']);
  });

  it('needs the parsed inputs, and a bad HTTP regular expression fails before any probe', async () => {
    const i = inputs();
    await expect(runProbes({ compiled: compile(i), probes: [tie(80, { method: 'GET', path: '/' })], engine: 'vm' })).rejects.toMatchObject({ code: 'USAGE' });
    const broken = parseDocuments([{ file: 'cluster.yaml', text: CLUSTER }, { file: 'policy.yaml', text: POLICY.replace('/v1/request-landing', '/v1/(unclosed') }]);
    await expect(runProbes({ compiled: compile(broken), probes: [tie(9090), tie(80, { method: 'GET', path: '/' })], engine: 'vm', inputs: broken })).rejects.toMatchObject({
      code: 'POLICY_BAD_VALUE',
      location: { file: 'policy.yaml' },
    });
  });
});

// explain for a flow the datapath redirects to the L7 proxy: the HTTP rules that apply, each
// requirement held against a given request, the request's verdict from its packets, and the
// added rule that would allow a refused request, checked here independently through probe.
// Lab 5's cluster and solution; golden text; JSON; the kernel engine; usage errors.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { explain, formatExplanation, type FlowSpec } from '../../src/explain/index.js';
import { literalRegex } from '../../src/explain/l7.js';
import { runProbes, type ProbeSpec } from '../../src/datapath/probe.js';
import { compile } from '../../src/policy/compile.js';
import { parseDocuments } from '../../src/policy/load.js';
import { describeKernel } from '../helpers/kernel.js';
import { ROOT } from '../helpers/paths.js';
import { cli, golden } from '../cli/probe-golden.js';

const CLUSTER = 'labs/05-l7-http/cluster.yaml';
const POLICY = 'labs/05-l7-http/solution/deathstar-policy.yaml';
const docs = () => [CLUSTER, POLICY].map((file) => ({ file, text: readFileSync(join(ROOT, file), 'utf8') }));
const inputs = () => parseDocuments(docs());
const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');

const tie = (http?: ProbeSpec['http']): FlowSpec & ProbeSpec => ({ kind: 'connection', from: 'default/tiefighter', to: 'default/deathstar', port: 80, protocol: 'TCP', ...(http ? { http } : {}) });
const EXHAUST = { method: 'PUT', path: '/v1/exhaust-port', headers: { 'X-Has-Force': 'true' } };

describe('explain with the L7 proxy', () => {
  it('without a request: the HTTP rules that apply, no verdict', async () => {
    const x = await explain({ inputs: inputs(), spec: tie(), engine: 'vm', read });
    expect(x.l7).toMatchObject({ proxyPort: 15001, endpoint: 'default/deathstar', direction: 'ingress', rules: [{ ruleId: 1, index: 0, http: 'method=POST path=/v1/request-landing', file: POLICY }] });
    expect(x.l7!.verdict).toBeUndefined();
    expect(x.l7!.rules[0]!.checks).toBeUndefined();
  });

  it('a refused request: every requirement checked, DROPPED with 403, an added rule verified (golden)', async () => {
    const x = await explain({ inputs: inputs(), spec: tie(EXHAUST), engine: 'vm', read });
    const l7 = x.l7!;
    expect(l7.verdict).toBe('DROPPED');
    expect(l7.code).toBe(403);
    expect(l7.rules[0]!.allows).toBe(false);
    expect(l7.rules[0]!.checks).toEqual([
      { field: 'method', expected: 'POST', actual: 'PUT', ok: false },
      { field: 'path', expected: '/v1/request-landing', actual: '/v1/exhaust-port', ok: false },
    ]);
    expect(l7.request).toEqual({ method: 'PUT', path: '/v1/exhaust-port', host: '10.0.1.10', headers: ['X-Has-Force: true'] });
    expect(l7.suggestion).toMatchObject({ action: 'add', verified: 'FORWARDED' });
    // The connection itself is allowed at L4: its own section and suggestions are unchanged.
    expect(x.decision.verdict).toBe('FORWARDED');
    golden('l7/explain-exhaust-port.txt', formatExplanation(x));

    // The suggested policy, applied on its own, lets this request through and nothing else new.
    const withIt = parseDocuments([...docs(), { file: 'suggested.yaml', text: l7.suggestion!.yaml! }]);
    const probes: ProbeSpec[] = [
      { ...tie(EXHAUST), http: EXHAUST },
      { ...tie(), http: { method: 'PUT', path: '/v1/exhaust-port/now' } },
      { ...tie(), http: { method: 'POST', path: '/v1/request-landing' } },
      { from: 'default/xwing', to: 'default/deathstar', port: 80, protocol: 'TCP', http: EXHAUST },
    ].map(({ from, to, port, protocol, http }) => ({ from, to, port, protocol, ...(http ? { http } : {}) }) as ProbeSpec);
    const r = await runProbes({ compiled: compile(withIt), probes, engine: 'vm', inputs: withIt });
    expect(r.map((p) => p.allowed)).toEqual([true, false, true, false]);
  });

  it('an allowed request names the rule that allows it, and no L7 change is offered', async () => {
    const x = await explain({ inputs: inputs(), spec: tie({ method: 'POST', path: '/v1/request-landing' }), engine: 'vm', read });
    expect(x.l7).toMatchObject({ verdict: 'FORWARDED', code: 200, rules: [{ allows: true }] });
    expect(x.l7!.suggestion).toBeUndefined();
  });

  it('a flow nothing redirects has no L7 section; a capture packet of a redirected connection has the rules', async () => {
    const x = await explain({ inputs: inputs(), spec: { kind: 'connection', from: 'default/xwing', to: 'default/deathstar', port: 80, protocol: 'TCP' }, engine: 'vm', read });
    expect(x.l7).toBeUndefined();
    const { readCaptureSync, toEthernet } = await import('../../src/pcap/index.js');
    const file = join(ROOT, 'labs/05-l7-http/traffic.pcap');
    const frames = readCaptureSync(readFileSync(file), { file }).map((rec) => {
      const e = toEthernet(rec);
      return 'frame' in e ? e.frame : null;
    });
    // Packet 0 is the TIE fighter's SYN for the landing.
    const c = await explain({ inputs: inputs(), spec: { kind: 'capture', file, frames, index: 0 }, engine: 'vm', read });
    expect(c.l7).toMatchObject({ proxyPort: 15001, rules: [{ http: 'method=POST path=/v1/request-landing' }] });
  });

  it('writes regular expressions that match exactly the request', () => {
    expect(literalRegex('/v1/a.b?c=(1)')).toBe('/v1/a\\.b\\?c=\\(1\\)');
    expect(new RegExp(`^${literalRegex('/x+y[1]*')}$`).test('/x+y[1]*')).toBe(true);
  });
});

describe('explain --http-method/--http-path/--http-header', () => {
  const base = ['explain', '--cluster', join(ROOT, CLUSTER), '--policy', join(ROOT, POLICY), '--from', 'default/tiefighter', '--to', 'default/deathstar', '--port', '80', '--protocol', 'TCP'];

  it('prints the L7 section; JSON carries it as l7', async () => {
    const r = await cli(...base, '--http-method', 'PUT', '--http-path', '/v1/exhaust-port', '--http-header', 'X-Has-Force: true');
    expect(r.status).toBe(0);
    expect(r.out).toContain('  verdict: DROPPED (the client gets 403 from the proxy itself)');
    const j = await cli(...base, '--http-method', 'PUT', '--http-path', '/v1/exhaust-port', '-o', 'json');
    expect(JSON.parse(j.out).l7).toMatchObject({ verdict: 'DROPPED', code: 403 });
  });

  it('refuses incomplete or malformed requests', async () => {
    const noPath = await cli(...base, '--http-method', 'PUT');
    expect(noPath.status).not.toBe(0);
    expect(noPath.err).toContain('needs both --http-method and --http-path');
    const badHeader = await cli(...base, '--http-method', 'GET', '--http-path', '/', '--http-header', 'nocolon');
    expect(badHeader.err).toMatch(/--http-header "nocolon" is not "Name: value".*\[USAGE\]/);
    const badPath = await cli(...base, '--http-method', 'GET', '--http-path', 'v1');
    expect(badPath.err).toMatch(/--http-path must start with "\/".*\[USAGE\]/);
    const udp = await cli(...base.slice(0, -1), 'UDP', '--http-method', 'GET', '--http-path', '/');
    expect(udp.err).toMatch(/needs --protocol TCP.*\[USAGE\]/);
    const capture = await cli('explain', '--cluster', join(ROOT, CLUSTER), '--policy', join(ROOT, POLICY), '--pcap', join(ROOT, 'labs/05-l7-http/traffic.pcap'), '--packet', '0', '--http-method', 'GET', '--http-path', '/');
    expect(capture.err).toContain('not a capture packet');
  });
});

describeKernel('explain with the L7 proxy in the kernel', () => {
  it('gives the VM\'s L7 section', async () => {
    const [vm, kernel] = await Promise.all([
      explain({ inputs: inputs(), spec: tie(EXHAUST), engine: 'vm', read }),
      explain({ inputs: inputs(), spec: tie(EXHAUST), engine: 'kernel', read }),
    ]);
    expect(kernel.l7).toEqual(vm.l7);
  });
});

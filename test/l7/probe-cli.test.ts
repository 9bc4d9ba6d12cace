// `twinpath probe` with HTTP requests: the probe file's `http` field (checked with positions),
// the table's L7 column and the JSON's `l7` field (golden), and --engine live refusing requests
// it cannot judge.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseProbeFile } from '../../src/cli/commands/probe.js';
import { TwinpathError } from '../../src/errors.js';
import { ROOT } from '../helpers/paths.js';
import { cli, golden } from '../cli/probe-golden.js';

const LAB = join(ROOT, 'labs/05-l7-http');
const base = ['probe', '--cluster', join(LAB, 'cluster.yaml'), '--policy', join(LAB, 'solution/deathstar-policy.yaml')];
const dir = mkdtempSync(join(tmpdir(), 'twinpath-l7-probe-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const PROBES = `[
  {"from": "default/tiefighter", "to": "default/deathstar", "port": 80, "protocol": "TCP",
   "http": {"method": "POST", "path": "/v1/request-landing", "host": "deathstar.default.svc.cluster.local"}},
  {"from": "default/tiefighter", "to": "default/deathstar", "port": 80, "protocol": "TCP",
   "http": {"method": "PUT", "path": "/v1/exhaust-port", "headers": {"X-Has-Force": "true"}}},
  {"from": "default/tiefighter", "to": "default/deathstar", "port": 80, "protocol": "TCP"},
  {"from": "default/xwing", "to": "default/deathstar", "port": 80, "protocol": "TCP",
   "http": {"method": "POST", "path": "/v1/request-landing"}}
]
`;

function parseError(text: string): TwinpathError {
  try {
    parseProbeFile(text, 'p.json');
  } catch (e) {
    return e as TwinpathError;
  }
  throw new Error('accepted');
}

describe('probe --probes with http', () => {
  it('prints the table with an L7 column (golden)', async () => {
    const r = await cli(...base, '--probes', file('probes.json', PROBES));
    expect(r.err).toBe('');
    expect(r.status).toBe(0);
    expect(r.out).toContain('2 of 4 allowed');
    golden('l7/probe.txt', r.out);
  });

  it('--output json: the probes with their http part, allowed from the request, and l7 (golden)', async () => {
    const r = await cli(...base, '--probes', file('probes.json', PROBES), '--output', 'json');
    expect(r.status).toBe(0);
    const j = JSON.parse(r.out) as Array<Record<string, unknown>>;
    expect(j.map((x) => x.allowed)).toEqual([true, false, true, false]);
    expect(j[0]).toMatchObject({ http: { method: 'POST' }, verdict: 'FORWARDED', l7: { verdict: 'FORWARDED', code: 200 }, policy: 'CiliumNetworkPolicy default/rule1' });
    expect(j[1]).toMatchObject({ verdict: 'DROPPED', deniedAt: 'ingress', reply: true, l7: { verdict: 'DROPPED', code: 403 } });
    expect(j[2]).toMatchObject({ allowed: true, l7: 'redirected to proxy (no request given)' });
    expect(j[3]).toMatchObject({ allowed: false, dropReasonCode: 133 });
    expect('l7' in j[3]!).toBe(false);
    golden('l7/probe.json', r.out);
  });

  it('refuses a bad http part at its line and column', () => {
    const e1 = parseError('[{"from": "a/b", "to": "a/c", "port": 80, "protocol": "TCP",\n  "http": {"method": "GET", "path": "no-slash"}}]');
    expect([e1.code, e1.location]).toEqual(['PROBE_BAD_FILE', { file: 'p.json', path: '[0].http.path', line: 2, column: 37 }]);
    const e2 = parseError('[{"from": "a/b", "to": "a/c", "port": 80, "protocol": "TCP", "http": {"method": "GET", "path": "/",\n  "headers": {"X-A": 1}}}]');
    expect([e2.code, e2.location?.path, e2.location?.line, e2.location?.column]).toEqual(['PROBE_BAD_FILE', '[0].http.headers.X-A', 2, 22]);
    const e3 = parseError('[{"from": "a/b", "to": "a/c", "port": 53, "protocol": "UDP", "http": {"method": "GET", "path": "/"}}]');
    expect([e3.code, e3.location?.path]).toEqual(['PROBE_BAD_FILE', '[0].http']);
    const e4 = parseError('[{"from": "a/b", "to": "a/c", "port": 80, "protocol": "TCP", "http": "GET /"}]');
    expect([e4.code, e4.location?.path]).toEqual(['PROBE_BAD_FILE', '[0].http']);
    const ok = parseProbeFile('[{"from": "a/b", "to": "a/c", "port": 80, "protocol": "tcp", "http": {"method": "GET", "path": "/x", "headers": {"A": "1"}}}]', 'p.json');
    expect(ok.probes[0]).toEqual({ from: 'a/b', to: 'a/c', port: 80, protocol: 'TCP', http: { method: 'GET', path: '/x', headers: { A: '1' } } });
  });

  it('--engine live refuses probes with a request (no proxy there), before opening anything', async () => {
    const r = await cli(...base, '--probes', file('probes.json', PROBES), '--engine', 'live');
    expect(r.status).not.toBe(0);
    expect(r.err).toMatch(/probe 0 has an HTTP request: --engine live .*\[USAGE\]/);
  });
});

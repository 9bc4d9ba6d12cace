// `twinpath probe`: the table and the JSON contract (golden files), flows on request, the
// kernel engine giving the same JSON as the VM, and errors with file:line:column and codes.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseProbeFile } from '../../src/cli/commands/probe.js';
import { TwinpathError } from '../../src/errors.js';
import { describeKernel } from '../helpers/kernel.js';
import { cli, CLUSTER, FIXTURES, golden, POLICIES } from './probe-golden.js';

const PROBES = join(FIXTURES, 'probes.json');
const base = ['probe', '--cluster', CLUSTER, '--policy', POLICIES];

function tempFile(name: string, text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'twinpath-probe-')), name);
  writeFileSync(path, text);
  return path;
}

describe('twinpath probe', () => {
  it('prints a table of verdicts (golden)', async () => {
    const r = await cli(...base, '--probes', PROBES);
    expect(r.err).toBe('');
    expect(r.status).toBe(0);
    golden('probe/probes.txt', r.out);
  });

  it('--output json: the probes in order, each with allowed and its verdict details, no flows (golden)', async () => {
    const r = await cli(...base, '--probes', PROBES, '--output', 'json');
    expect(r.status).toBe(0);
    const j = JSON.parse(r.out) as Array<Record<string, unknown>>;
    const input = JSON.parse(await import('node:fs').then((fs) => fs.readFileSync(PROBES, 'utf8'))) as Array<Record<string, unknown>>;
    expect(j.map(({ from, to, port, protocol }) => ({ from, to, port, protocol }))).toEqual(input);
    expect(j.map((x) => x.allowed)).toEqual([true, false, false, false, true, true, true, true, false, true]);
    expect(j[1]).toMatchObject({ verdict: 'DROPPED', deniedAt: 'egress', dropReasonCode: 181, dropReason: 'Policy denied by denylist' });
    expect(j[2]).toMatchObject({ verdict: 'DROPPED', deniedAt: 'ingress', dropReasonCode: 133 });
    expect(j.every((x) => !('flows' in x))).toBe(true);
    golden('probe/probes.json', r.out);
  });

  it('--flows adds every flow event of each probe', async () => {
    const r = await cli(...base, '--probes', PROBES, '--output', 'json', '--flows');
    const j = JSON.parse(r.out) as Array<{ allowed: boolean; flows: Array<{ verdict: string }> }>;
    expect(j.map((x) => x.flows.length)).toEqual([4, 1, 2, 2, 4, 4, 2, 2, 1, 4]);
    for (const x of j) expect(x.flows.at(-1)!.verdict).toBe(x.allowed ? 'FORWARDED' : 'DROPPED');
  });

  const errors: Array<[string, string, string, RegExp]> = [
    ['protocol ANY', 'bad-protocol.json', 'PROBE_BAD_FILE', /bad-protocol\.json:4:16: \[1\]\.protocol: probe 1: /],
    ['an unknown pod', 'unknown-pod.json', 'PROBE_UNKNOWN_ENDPOINT', /unknown-pod\.json:3:25: \[1\]\.to: probe 1: no pod "x\/zz"/],
    ['no shared address family', 'no-shared-family.json', 'PROBE_UNKNOWN_ENDPOINT', /no-shared-family\.json:2:25: \[0\]\.to: /],
  ];
  for (const [what, file, code, where] of errors) {
    it(`refuses ${what}: exit 2, ${code} at file:line:column`, async () => {
      const r = await cli(...base, '--probes', join(FIXTURES, file));
      expect(r.status).toBe(2);
      expect(r.out).toBe('');
      expect(r.err).toMatch(where);
      expect(r.err).toContain(`[${code}]`);
    });
  }

  it('reports a bad policy file with its position and nothing else', async () => {
    const bad = tempFile('bad.yaml', 'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: x}\nspec:\n  podSelector: {}\n  ingres: []\n');
    const r = await cli('probe', '--cluster', CLUSTER, '--policy', bad, '--probes', PROBES);
    expect(r.status).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toMatch(/bad\.yaml:6:3: .*\[POLICY_UNKNOWN_FIELD\]/);
  });

  it('needs --probes and --cluster (USAGE)', async () => {
    expect((await cli('probe', '--cluster', CLUSTER)).err).toContain('[USAGE]');
    expect((await cli('probe', '--probes', PROBES)).err).toContain('[USAGE]');
  });
});

describe('parseProbeFile', () => {
  const parse = (text: string) => parseProbeFile(text, 'p.json');
  const failure = (text: string): TwinpathError => {
    try {
      parse(text);
    } catch (e) {
      return e as TwinpathError;
    }
    throw new Error('expected an error');
  };

  it('reads probes, upper-casing the protocol, and locates each field', () => {
    const f = parse('[\n  {"from": "x/a", "to": "host", "port": 80, "protocol": "udp"}\n]\n');
    expect(f.probes).toEqual([{ from: 'x/a', to: 'host', port: 80, protocol: 'UDP' }]);
    expect(f.locate(0, 'to')).toEqual({ file: 'p.json', line: 2, column: 25, path: '[0].to' });
  });

  it('accepts an empty array', () => {
    expect(parse('[]').probes).toEqual([]);
  });

  const cases: Array<[string, string, Partial<TwinpathError['location']>]> = [
    ['not JSON', '[{"from": "x/a",\n  "to" ', { line: 2 }],
    ['not an array', '{"from": "x/a"}', { path: '$', line: 1, column: 1 }],
    ['an element that is not an object', '[1]', { path: '[0]', line: 1, column: 2 }],
    ['an unknown field', '[{"from": "x/a", "to": "y/a", "port": 80, "protocol": "TCP", "prot": 1}]', { path: '[0].prot' }],
    ['a missing field', '[{"from": "x/a", "to": "y/a", "protocol": "TCP"}]', { path: '[0]' }],
    ['a port given as a string', '[{"from": "x/a", "to": "y/a", "port": "80", "protocol": "TCP"}]', { path: '[0].port', line: 1, column: 39 }],
    ['a port out of range', '[{"from": "x/a", "to": "y/a", "port": 70000, "protocol": "TCP"}]', { path: '[0].port' }],
    ['a fractional port', '[{"from": "x/a", "to": "y/a", "port": 80.5, "protocol": "TCP"}]', { path: '[0].port' }],
    ['an empty endpoint', '[{"from": "", "to": "y/a", "port": 80, "protocol": "TCP"}]', { path: '[0].from' }],
    ['an unknown protocol', '[{"from": "x/a", "to": "y/a", "port": 80, "protocol": "ICMP"}]', { path: '[0].protocol' }],
  ];
  for (const [what, text, loc] of cases) {
    it(`refuses ${what} with PROBE_BAD_FILE`, () => {
      const e = failure(text);
      expect(e).toBeInstanceOf(TwinpathError);
      expect(e.code).toBe('PROBE_BAD_FILE');
      expect(e.location).toMatchObject({ file: 'p.json', ...loc });
    });
  }
});

describeKernel('twinpath probe --engine kernel', () => {
  it('gives the same JSON as the VM engine, flows included', async () => {
    const vm = await cli(...base, '--probes', PROBES, '--output', 'json', '--flows');
    const kernel = await cli(...base, '--probes', PROBES, '--output', 'json', '--flows', '--engine', 'kernel');
    expect(kernel.err).toBe('');
    expect(kernel.status).toBe(0);
    expect(kernel.out).toBe(vm.out);
  });
});

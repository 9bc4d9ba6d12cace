// `twinpath sandbox ...` through the CLI function: up from a YAML cluster, status, exec, probe,
// down, and the errors a person meets (bad name, name in use, unknown pod or endpoint).

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, test } from 'vitest';
import { sandboxDown } from '../../src/sandbox/index.js';
import { describeRoot, uniqueSandboxName } from './helpers.js';
import { cli } from '../helpers/cli.js';

const fixture = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'two-nodes.yaml');

describeRoot('twinpath sandbox', () => {
  const name = uniqueSandboxName();
  const tmp = mkdtempSync(join(tmpdir(), 'twinpath-sandbox-cli-'));

  afterAll(() => {
    sandboxDown(name);
    rmSync(tmp, { recursive: true, force: true });
  });

  test('up, status, exec, probe, down', async () => {
    const up = await cli('sandbox', 'up', '--cluster', fixture, '--name', name);
    expect(up.err).toBe('');
    expect(up.status).toBe(0);
    expect(up.out).toContain(`sandbox "${name}" is up: 6 namespaces`);
    expect(up.out).toContain('pod y/agent: 172.18.0.3 on node-b');

    const again = await cli('sandbox', 'up', '--cluster', fixture, '--name', name);
    expect(again.status).toBe(2);
    expect(again.err).toMatch(/in use.*\[SANDBOX_ERROR\]/);

    const st = await cli('sandbox', 'status', name, '--json');
    expect(st.status).toBe(0);
    const status = JSON.parse(st.out) as { status: string; namespaces: Array<{ exists: boolean }>; pods: Record<string, { hostIfname?: string }> };
    expect(status.status).toBe('up');
    expect(status.namespaces.every((n) => n.exists)).toBe(true);
    expect(status.pods['x/b']!.hostIfname).toBe('lxc1');

    const ex = await cli('sandbox', 'exec', name, 'x/b', '--', 'ip', '-o', 'addr', 'show', 'dev', 'eth0');
    expect(ex.status).toBe(0);
    expect(ex.out).toContain('10.244.1.10/32');
    expect(ex.out).toContain('fd00:10:244:1::10/128');
    const fails = await cli('sandbox', 'exec', name, 'node:node-a', '--', 'ip', 'link', 'show', 'dev', 'nonexistent0');
    expect(fails.status).not.toBe(0);

    const probes = join(tmp, 'probes.json');
    writeFileSync(
      probes,
      JSON.stringify([
        { from: 'x/a', to: 'x/b', port: 80, protocol: 'TCP' },
        { from: 'x/a', to: 'y/agent', port: 53, protocol: 'udp' },
        { from: 'ip:203.0.113.10', to: 'x/b', port: 80, protocol: 'SCTP' },
        { from: 'x/b', to: 'host', port: 80, protocol: 'TCP' },
      ]),
    );
    const pr = await cli('sandbox', 'probe', name, '--probes', probes, '-o', 'json');
    expect(pr.err).toBe('');
    const results = JSON.parse(pr.out) as Array<{ allowed: boolean; protocol: string }>;
    expect(results.map((r) => [r.protocol, r.allowed])).toEqual([
      ['TCP', true],
      ['UDP', true],
      ['SCTP', true],
      ['TCP', true],
    ]);

    const table = await cli('sandbox', 'probe', name, '--probes', probes);
    expect(table.out).toContain('4 of 4 allowed');

    const down = await cli('sandbox', 'down', name);
    expect(down.status).toBe(0);
    expect(down.out).toContain(`sandbox "${name}" removed (6 namespaces)`);
    const gone = await cli('sandbox', 'status', name);
    expect(gone.status).toBe(2);
    expect(gone.err).toContain('[SANDBOX_ERROR]');
    const twice = await cli('sandbox', 'down', name);
    expect(twice.out).toContain('nothing to remove');
  });

  test('errors: bad name, no sandbox, unknown pod and endpoint', async () => {
    expect((await cli('sandbox', 'up', '--cluster', fixture, '--name', 'Bad_Name')).err).toContain('[SANDBOX_ERROR]');
    expect((await cli('sandbox', 'exec', 'nosuchsandbox1', 'x/a', '--', 'true')).err).toContain('no sandbox named');
    expect((await cli('sandbox', 'up')).err).toContain('[USAGE]');
    expect((await cli('sandbox')).err).toContain('[USAGE]');

    const other = uniqueSandboxName();
    try {
      expect((await cli('sandbox', 'up', '--cluster', fixture, '--name', other)).status).toBe(0);
      expect((await cli('sandbox', 'exec', other, 'x/zz', '--', 'true')).err).toContain('no pod x/zz');
      const probes = join(tmp, 'bad.json');
      writeFileSync(probes, JSON.stringify([{ from: 'x/a', to: 'q/q', port: 80, protocol: 'TCP' }]));
      const r = await cli('sandbox', 'probe', other, '--probes', probes);
      expect(r.status).toBe(2);
      expect(r.err).toMatch(/probes\[0\]\.to: no pod q\/q.*\[PROBE_UNKNOWN_ENDPOINT\]/);
      writeFileSync(probes, '{"not": "an array"}');
      expect((await cli('sandbox', 'probe', other, '--probes', probes)).err).toContain('[PROBE_BAD_FILE]');
    } finally {
      sandboxDown(other);
    }
  });
});

// Live probes in a real sandbox (root): with no policy every TCP, UDP and SCTP connection
// between pods, to and from the pods' nodes and to and from outside addresses completes; a
// path blackholed on purpose shows allowed=false for each protocol, at the cost of one timeout.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { agentPath, LiveProber, liveProbe, sandboxDown, sandboxUp, type LiveProbeSpec, type SandboxState } from '../../src/sandbox/index.js';
import { describeRoot, twoNodeCluster, uniqueSandboxName } from './helpers.js';

const PROTOCOLS = ['TCP', 'UDP', 'SCTP'] as const;
const V4_OUT = '203.0.113.10';
const V6_OUT = '2001:db8:100::10';

describeRoot('live probes', () => {
  let state: SandboxState;
  let prober: LiveProber;

  beforeAll(() => {
    expect(existsSync(agentPath()), `${agentPath()} is built (npm run build)`).toBe(true);
    state = sandboxUp(twoNodeCluster(), { name: uniqueSandboxName(), externals: [V4_OUT, V6_OUT] });
    prober = new LiveProber(state);
  });

  afterAll(() => {
    prober?.close();
    if (state) sandboxDown(state.name);
  });

  test('with no policy every pod reaches every pod, its node and the outside, over TCP, UDP and SCTP', async () => {
    const pods = ['x/a', 'x/b', 'y/c', 'y/d'];
    const probes: LiveProbeSpec[] = [];
    for (const from of pods) {
      for (const to of [...pods, 'host', `ip:${V4_OUT}`]) {
        if (to === from) continue;
        for (const protocol of PROTOCOLS) probes.push({ from, to, port: 80, protocol });
      }
    }
    for (const protocol of PROTOCOLS) {
      probes.push({ from: `ip:${V4_OUT}`, to: 'x/a', port: 81, protocol });
      probes.push({ from: 'host', to: 'y/c', port: 81, protocol });
    }
    const results = await prober.probe(probes);
    expect(results.filter((r) => !r.allowed)).toEqual([]);
    expect(results.map((r) => [r.from, r.to, r.protocol])).toEqual(probes.map((p) => [p.from, p.to, p.protocol]));
    const ac = results.find((r) => r.from === 'x/a' && r.to === 'y/c' && r.protocol === 'SCTP')!;
    expect(ac).toMatchObject({ src: '10.244.0.10', dst: '10.244.1.10', detail: 'SCTP INIT-ACK received' });
    const host = results.find((r) => r.from === 'x/b' && r.to === 'host' && r.protocol === 'TCP')!;
    expect(host.dst).toBe('172.18.0.2');
  });

  test('IPv6 when one end has only IPv6: the dual-stack pod and a v6 outside address', async () => {
    const probes = PROTOCOLS.flatMap((protocol) => [
      { from: 'y/d', to: `ip:${V6_OUT}`, port: 8080, protocol },
      { from: `ip:${V6_OUT}`, to: 'y/d', port: 8080, protocol },
    ]);
    const results = await prober.probe(probes);
    expect(results.map((r) => [r.allowed, r.dst])).toEqual(
      PROTOCOLS.flatMap(() => [
        [true, V6_OUT],
        [true, 'fd00:10:244:1::11'],
      ]),
    );
    // A v4-only pod and a v6-only address have nothing in common.
    const [none] = await prober.probe([{ from: 'x/a', to: `ip:${V6_OUT}`, port: 80, protocol: 'TCP' }]);
    expect(none).toMatchObject({ allowed: false, detail: expect.stringContaining('address family') });
  });

  test('a pod whose address is blackholed on its node is unreachable over every protocol; blocked probes share one timeout', async () => {
    const c = state.pods['y/c']!;
    const route = (how: string[]) => spawnSync('ip', ['-n', c.nodeNetns, 'route', 'replace', ...how], { encoding: 'utf8' });
    expect(route(['blackhole', '10.244.1.10/32']).status).toBe(0);
    try {
      const probes = PROTOCOLS.flatMap((protocol) => [
        { from: 'x/a', to: 'y/c', port: 80, protocol },
        { from: 'y/d', to: 'y/c', port: 80, protocol },
        { from: 'x/a', to: 'y/d', port: 80, protocol },
      ]);
      const t0 = Date.now();
      const results = await prober.probe(probes, { timeoutMs: 600 });
      const elapsed = Date.now() - t0;
      expect(results.map((r) => r.allowed)).toEqual(PROTOCOLS.flatMap(() => [false, false, true]));
      for (const r of results.filter((x) => !x.allowed)) expect(r.detail).toMatch(/no answer within 600 ms|unreachable|error/);
      expect(elapsed).toBeLessThan(3600); // six blocked probes share one timeout: six in a row would take 3,600 ms
    } finally {
      expect(route(['10.244.1.10/32', 'dev', c.hostIfname!]).status).toBe(0);
    }
    const back = await prober.probe(PROTOCOLS.map((protocol) => ({ from: 'x/a', to: 'y/c', port: 80, protocol })));
    expect(back.map((r) => r.allowed)).toEqual([true, true, true]);
  });

  test('liveProbe: one batch with its own agents, by sandbox name', async () => {
    const results = await liveProbe(state.name, [
      { from: 'x/b', to: 'x/a', port: 7, protocol: 'UDP' },
      { from: 'y/c', to: 'host', port: 22, protocol: 'TCP' },
    ]);
    expect(results.map((r) => [r.allowed, r.dst])).toEqual([
      [true, '10.244.0.10'],
      [true, '172.18.0.3'],
    ]);
  });

  test('unknown endpoints and bad probes are refused before any traffic', async () => {
    const code = async (p: LiveProbeSpec) => prober.probe([p]).then(() => 'none', (e: { code?: string; location?: { path?: string } }) => `${e.code} ${e.location?.path}`);
    expect(await code({ from: 'x/nope', to: 'x/a', port: 80, protocol: 'TCP' })).toBe('PROBE_UNKNOWN_ENDPOINT probes[0].from');
    expect(await code({ from: 'x/a', to: 'ip:198.51.100.1', port: 80, protocol: 'TCP' })).toBe('PROBE_UNKNOWN_ENDPOINT probes[0].to');
    expect(await code({ from: 'host', to: 'host', port: 80, protocol: 'TCP' })).toBe('PROBE_UNKNOWN_ENDPOINT probes[0].from');
    expect(await code({ from: 'x/a', to: 'x/b', port: 0, protocol: 'TCP' })).toBe('PROBE_BAD_FILE probes[0].port');
    expect(await code({ from: 'x/a', to: 'x/b', port: 80, protocol: 'ICMP' as 'TCP' })).toBe('PROBE_BAD_FILE probes[0].protocol');
  });
});

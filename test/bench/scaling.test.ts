// The scaling benchmark run for real, small: the clusters it builds, the verdicts both measured
// paths give (the iptables model accepts at the service's own rule, the load balancer translates
// to one of the service's backends), that a wrong verdict stops it, the VM's instruction budget,
// and the command line. Speed is never asserted: only shapes, verdicts and that numbers exist.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scalingCluster, serviceAddress, podAddress, MAX_BENCH_SERVICES } from '../../src/bench/cluster.js';
import { LINEAR, encodeLinearRule, kubeServicesRules, u32le, TC_ACT_OK } from '../../src/bench/linear.js';
import { clientOf, destinationOf, firstPacket } from '../../src/bench/packets.js';
import {
  BENCH_MAGLEV_TABLE_SIZE, LINEAR_OBJECT, benchScaling, linearSkipped, openPaths, roundTraffic, verifyPaths,
} from '../../src/bench/scaling.js';
import { openTarget } from '../../src/bench/target.js';
import { compileServices } from '../../src/lb/compile.js';
import { LB_MAPS, encodeService, encodeServiceKey } from '../../src/lb/maps.js';
import type { LbModel } from '../../src/lb/model.js';
import type { EngineKind } from '../../src/engine/engine.js';
import { cli } from '../helpers/cli.js';
import { errorCode } from '../helpers/errors.js';
import { describeKernel } from '../helpers/kernel.js';

describe('scaling clusters', () => {
  it('gives every service its own ClusterIP and backends, in range, and the model one frontend each', () => {
    const cluster = scalingCluster(600);
    const ips = cluster.services.map((s) => s.clusterIPs[0]!);
    expect(new Set(ips).size).toBe(600);
    expect(ips.every((ip) => /^10\.(9[6-9]|10[0-9]|11[01])\.\d+\.\d+$/.test(ip) && !ip.endsWith('.0') && !ip.endsWith('.255'))).toBe(true);
    const pods = cluster.endpointSlices.flatMap((s) => s.endpoints.map((e) => e.addresses[0]!));
    expect(new Set(pods).size).toBe(1800);
    const model = compileServices(cluster, { maglevTableSize: BENCH_MAGLEV_TABLE_SIZE });
    expect(model.frontends).toHaveLength(600);
    expect(model.services.every((s) => s.backendIds.length === 3)).toBe(true);
    expect(model.warnings).toEqual([]);
    expect(serviceAddress(MAX_BENCH_SERVICES - 1)).toMatch(/^10\.(9[6-9]|10[0-9]|11[01])\./);
    expect(podAddress(MAX_BENCH_SERVICES * 3)).toMatch(/^10\.(1[2-9]\d|2[0-5]\d)\./);
  });

  it('orders the iptables rules as the services, one per service port', () => {
    const model = compileServices(scalingCluster(30), { maglevTableSize: BENCH_MAGLEV_TABLE_SIZE });
    const rules = kubeServicesRules(model);
    expect(rules.map((r) => r.address)).toEqual(Array.from({ length: 30 }, (_, i) => serviceAddress(i)));
    expect(rules.slice(0, 4).map((r) => `${r.port}/${r.proto}`)).toEqual(['80/6', '443/6', '9000/6', '53/17']);
    const v = encodeLinearRule(rules[3]!);
    expect([...v.subarray(8, 16)]).toEqual([10, 96, 0, 4, 255, 255, 255, 255]);
    expect(errorCode(() => encodeLinearRule({ address: 'fd00::1', port: 80, proto: 6 }))).toBe('USAGE');
  });

  it('opens a new flow with every packet, the same ones on every run', () => {
    const model = compileServices(scalingCluster(50), { maglevTableSize: BENCH_MAGLEV_TABLE_SIZE });
    const rules = kubeServicesRules(model);
    const a = roundTraffic(rules, 20, 3, 1);
    const b = roundTraffic(rules, 20, 3, 1);
    expect(a).toEqual(b);
    const all = [...a.last.maps, ...a.last.linear, ...a.random.maps, ...a.random.linear, ...roundTraffic(rules, 20, 4, 1).last.maps];
    const flows = all.map((p) => `${p[26]}.${p[27]}.${p[28]}.${p[29]}:${(p[34]! << 8) | p[35]!}`);
    expect(new Set(flows).size).toBe(all.length);
    expect(a.last.maps.every((p) => destinationOf(p).address === rules[49]!.address)).toBe(true);
    expect(new Set(a.random.maps.map((p) => destinationOf(p).address)).size).toBeGreaterThan(5);
    expect(clientOf(40_000)).toEqual({ address: '198.18.0.1', sport: 20_000 });
  });
});

function pathSuite(engine: EngineKind): void {
  let model: LbModel;
  let paths: Awaited<ReturnType<typeof openPaths>>;
  const N = 1500; // more than lb.h's 1,024-entry service map: the benchmark grows it
  beforeAll(async () => {
    model = compileServices(scalingCluster(N), { maglevTableSize: BENCH_MAGLEV_TABLE_SIZE });
    paths = await openPaths(engine, model, kubeServicesRules(model));
  });
  afterAll(() => {
    paths?.lb.close();
    paths?.linear.close();
  });

  it('gives the right verdicts for a sample of services and for no service', () => {
    expect(verifyPaths(paths, model, kubeServicesRules(model), 7)).toBeGreaterThanOrEqual(3);
  });

  it('walks the chain to each service\'s own rule, and the load balancer sends it to one of its backends', () => {
    const rules = kubeServicesRules(model);
    const backends = new Map(model.backends.map((b) => [b.id, b]));
    for (const i of [1, 2, 3, 777, 1024, 1200, N - 2]) {
      const lin = paths.linear.run(LINEAR.program, firstPacket(9_000_000 + i, rules[i]!));
      expect(lin.retval).toBe(TC_ACT_OK);
      expect(lin.cb[0]).toBe(i);
      const out = paths.lb.run('lb_test', firstPacket(9_100_000 + i, rules[i]!));
      const fe = model.frontends.find((f) => f.address === rules[i]!.address)!;
      const svc = model.services.find((s) => s.id === fe.serviceId)!;
      expect(out.cb[1]).toBe(1); // LB_XLATED
      expect(svc.backendIds).toContain(out.cb[2]);
      const be = backends.get(out.cb[2]!)!;
      expect(destinationOf(out.packet)).toEqual({ address: be.address, port: be.port });
      expect([0, 1, 2].map((b) => podAddress(i * 3 + b))).toContain(be.address); // service i's own pods
    }
  });

  it('stops with BENCH_ERROR when a path answers wrongly', () => {
    const rules = kubeServicesRules(model);
    // The last service's frontend now leads to the first service's backends (under the first's
    // rev-NAT index, so that the conntrack entries of earlier checks do not keep the old ones).
    const last = model.frontends.find((f) => f.address === rules[N - 1]!.address)!;
    const firstFe = model.frontends.find((f) => f.address === rules[0]!.address)!;
    paths.lb.update(LB_MAPS.services4, encodeServiceKey(last.address, last.port, rules[N - 1]!.proto),
      encodeService({ serviceId: firstFe.serviceId, affinityTimeout: 0, count: 3, flags: last.flags, revNat: firstFe.revNatIndex }));
    expect(errorCode(() => verifyPaths(paths, model, rules, 7))).toBe('BENCH_ERROR');
  });
}

describe('measured paths in the VM', () => pathSuite('vm'));
describeKernel('measured paths in the kernel', () => pathSuite('kernel'));

describe('the iptables model and the VM instruction budget', () => {
  it('is skipped, with the reason, when walking the chain exceeds the budget; run when it does not', async () => {
    // Rules left zeroed match only port 0: a packet to port 80 walks the whole chain.
    const rules = Array.from({ length: 40_000 }, (_, i) => ({ address: serviceAddress(i), port: 80, proto: 6 }));
    const big = await openTarget('vm', LINEAR_OBJECT, { globals: { [LINEAR.count]: u32le(40_000) } });
    try {
      expect(linearSkipped(big, rules)).toMatch(/40000 rules takes more than the VM's budget of 1,000,000 instructions/);
    } finally {
      big.close();
    }
    const small = await openTarget('vm', LINEAR_OBJECT, { globals: { [LINEAR.count]: u32le(1000) } });
    try {
      expect(linearSkipped(small, rules.slice(0, 1000))).toBeUndefined();
    } finally {
      small.close();
    }
  });
});

function benchSuite(engine: EngineKind): void {
  it('measures every size, both paths, both cases', async () => {
    const seen: number[] = [];
    const r = await benchScaling({ sizes: [100, 10], engine, packets: 4, rounds: 3, onPoint: (p) => seen.push(p.services) });
    expect(seen).toEqual([10, 100]);
    expect(r).toMatchObject({ engine, packets: 4, rounds: 3, backends: 3, maglevTableSize: BENCH_MAGLEV_TABLE_SIZE });
    expect(r.points.map((p) => [p.services, p.rules])).toEqual([[10, 10], [100, 100]]);
    for (const p of r.points) {
      expect(p.checked).toBeGreaterThanOrEqual(3);
      expect(p.skipped).toBeUndefined();
      for (const v of [p.maps.last, p.maps.random, p.iptables!.last, p.iptables!.random]) {
        expect(Number.isFinite(v)).toBe(true);
        expect(v).toBeGreaterThan(0);
      }
    }
  });
}

describe('bench scaling in the VM', () => benchSuite('vm'));
describeKernel('bench scaling in the kernel', () => benchSuite('kernel'));

describe('twinpath bench scaling', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'twinpath-bench-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('prints the table and writes the chart', async () => {
    const svg = join(dir, 'scaling.svg');
    const r = await cli('bench', 'scaling', '--services', '10,30', '--packets', '3', '--rounds', '1', '--svg', svg);
    expect(r.err).toBe('');
    expect(r.status).toBe(0);
    const lines = r.out.split('\n');
    expect(lines[0]).toMatch(/^twinpath bench scaling: VM engine/);
    const header = lines.findIndex((l) => l.includes('iptables/maps'));
    expect(lines.slice(header + 1, header + 3).map((l) => l.trim().split(/\s+/).slice(0, 2))).toEqual([['10', '10'], ['30', '30']]);
    expect(r.out).toContain(`chart written to ${svg}`);
    const text = readFileSync(svg, 'utf8');
    expect(text.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(text.match(/class="point"/g)).toHaveLength(8);
  });

  it('prints one JSON object with --json', async () => {
    const out = await cli('bench', 'scaling', '--services', '20', '--packets', '2', '--rounds', '1', '--json');
    expect(out.status).toBe(0);
    const r = JSON.parse(out.out);
    expect(r.engine).toBe('vm');
    expect(r.points).toHaveLength(1);
    expect(Object.keys(r.points[0])).toEqual(['services', 'rules', 'maps', 'iptables', 'checked']);
  });

  it('refuses bad options before measuring anything', async () => {
    for (const args of [
      ['--services', '0'],
      ['--services', 'ten'],
      ['--packets', '0'],
      ['--svg', join(dir, 'missing', 'x.svg')],
    ]) {
      const r = await cli('bench', 'scaling', ...args);
      expect(r.status).toBe(2);
      expect(r.err).toMatch(/\[USAGE\]\n$/);
      expect(r.out).toBe('');
    }
  });
});

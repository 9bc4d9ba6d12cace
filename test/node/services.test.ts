// Services on a node. Without root: the per-node model, the map operations of an attach and of
// an update (only what differs, backends before frontends, frontends removed first, ids kept).
// In a sandbox (root): live connections from a pod to a ClusterIP land on the backends (the
// backend says which), a NodePort from outside lands on the node's own backend through the
// netdev program, a service without a ready backend drops (158), policy applies to the
// backend's identity, and an update that adds a backend keeps held connections on theirs while
// new ones reach the new backend.

import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { LB_MAPS, lbMapEntries } from '../../src/lb/maps.js';
import { compile } from '../../src/policy/compile.js';
import { loadFiles } from '../../src/policy/load.js';
import { execIn, sandboxUp, type SandboxState } from '../../src/sandbox/index.js';
import { attachSandbox, nodeStatus, readNodeState, sandboxAttachments, updateNodes } from '../../src/node/index.js';
import { EventCollector } from '../../src/node/live.js';
import { ServiceProber, type HeldConnection } from '../../src/node/service_probe.js';
import { compileNodeServices, lbTables, planServices } from '../../src/node/services.js';
import { describeKernel } from '../helpers/kernel.js';
import { removeSandbox } from '../helpers/live.js';
import { describeRoot, uniqueSandboxName } from '../sandbox/helpers.js';

const DIR = join(import.meta.dirname, 'fixtures', 'services');
const CLUSTER = join(DIR, 'cluster.yaml');
const CLUSTER3 = join(DIR, 'cluster-web3-ready.yaml');
const POLICY = join(DIR, 'policy.yaml');
const WEB = ['10.244.0.20', '10.244.1.20'];
const WEB3 = '10.244.1.21';
const SIZE = 251;

describe('node services, as map operations', () => {
  const cluster = loadFiles([CLUSTER]).cluster;
  const cluster3 = loadFiles([CLUSTER3]).cluster;

  test('each node compiles the cluster\'s services; the idle service has a frontend and no backend', () => {
    const m = compileNodeServices(cluster, 'node-a', { maglevTableSize: SIZE });
    expect(m.node).toBe('node-a');
    expect(m.frontends.map((f) => `${f.address}:${f.port}/${f.type}`).sort()).toEqual([
      '10.96.0.10:80/ClusterIP', '10.96.0.11:80/ClusterIP', '172.18.0.2:30080/NodePort', '172.18.0.3:30080/NodePort',
    ]);
    const web = m.services.find((s) => s.name === 'web' && s.scope === 'cluster')!;
    const idle = m.services.find((s) => s.name === 'idle')!;
    // externalTrafficPolicy Local: node-a's NodePort offers node-a's backend only.
    const local = m.frontends.find((f) => f.address === '172.18.0.2')!;
    expect(m.services.find((s) => s.id === local.serviceId)!.backendIds.map((id) => m.backends.find((b) => b.id === id)!.address)).toEqual([WEB[0]]);
    expect(web.backendIds.map((id) => m.backends.find((b) => b.id === id)!.address)).toEqual(WEB);
    expect(idle.backendIds).toEqual([]);
  });

  test('an attach writes every entry, backends and Maglev rows before the frontends', () => {
    const m = compileNodeServices(cluster, 'node-a', { maglevTableSize: SIZE });
    const steps = planServices({}, undefined, m);
    expect(steps.every((s) => s.op === 'set')).toBe(true);
    const total = Object.values(lbMapEntries(m)).reduce((a, l) => a + l.length, 0);
    expect(steps.length).toBe(total);
    const firstFrontend = steps.findIndex((s) => s.map === LB_MAPS.services4);
    const lastBackendOrRow = Math.max(...steps.map((s, i) => (s.map === LB_MAPS.backends4 || s.map === LB_MAPS.maglev ? i : -1)));
    expect(firstFrontend).toBeGreaterThan(lastBackendOrRow);
  });

  test('an update keeps ids and writes only what differs: the new backend, its groups\' rows, their frontends\' counts', () => {
    const before = compileNodeServices(cluster, 'node-a', { maglevTableSize: SIZE });
    const after = compileNodeServices(cluster3, 'node-a', { maglevTableSize: SIZE, previous: before });
    for (const b of before.backends) expect(after.backends.find((x) => x.key === b.key)?.id).toBe(b.id);
    const current = lbTables(before);
    delete current[LB_MAPS.maglev];
    const steps = planServices(current, before, after);
    // web-3 is on node-b: the cluster-wide group and node-b's Local group gain it.
    const grown = after.services.filter((s) => s.backendIds.some((id) => after.backends.find((b) => b.id === id)!.address === WEB3));
    expect(grown.map((g) => g.scope)).toEqual(['cluster', { node: 'node-b' }]);
    const byMap = (map: string) => steps.filter((s) => s.map === map);
    expect(byMap(LB_MAPS.backends4).map((s) => s.op)).toEqual(['set']);
    expect(byMap(LB_MAPS.services4).length).toBe(2);
    expect(steps.filter((s) => s.op === 'delete')).toEqual([]);
    // Only those groups' rows change, and only where Maglev moved a slot to the new backend.
    const rows = byMap(LB_MAPS.maglev).map((s) => Math.floor(Buffer.from(s.key, 'hex').readUInt32LE(0) / SIZE));
    expect(new Set(rows)).toEqual(new Set(grown.map((g) => g.id)));
    const moved = rows.filter((r) => r === grown[0]!.id).length;
    expect(moved).toBeGreaterThan(SIZE / 5);
    expect(moved).toBeLessThan(SIZE / 2);
    // And back: the backend goes after the frontend that reached it is rewritten.
    const back = planServices(lbTables(after), after, compileNodeServices(cluster, 'node-a', { maglevTableSize: SIZE, previous: after }));
    const del = back.findIndex((s) => s.op === 'delete' && s.map === LB_MAPS.backends4);
    const fe = back.findIndex((s) => s.map === LB_MAPS.services4);
    expect(del).toBeGreaterThan(fe);
  });
});

describeRoot('node services live', () => {
  describeKernel('in a sandbox', () => {
    let sb: SandboxState;
    let prober: ServiceProber;
    const inputs = loadFiles([CLUSTER, POLICY]);
    const compiled = compile(inputs);

    beforeAll(async () => {
      sb = sandboxUp(inputs.cluster, { name: uniqueSandboxName() });
      attachSandbox(sb, { compiled, cluster: inputs.cluster, clusterFiles: [CLUSTER], policyFiles: [POLICY], maglevTableSize: SIZE, netdev: true });
      prober = new ServiceProber(sb);
      await prober.serve(['shop/web-1', 'shop/web-2', 'shop/web-3', 'shop/idle-1'], 8080);
    }, 60_000);

    afterAll(() => removeSandbox(sb, prober));

    test('status reports the services each node loaded', () => {
      for (const name of sandboxAttachments(sb.name)) {
        // ClusterIPs web and idle, web's NodePort on both nodes; groups: web cluster-wide, web
        // Local to each node, idle.
        expect(nodeStatus(name)!.services).toEqual({ frontends: 4, groups: 4, backends: 2, maglevTableSize: SIZE });
      }
    });

    test('connections from a pod to the ClusterIP land on its backends, both of them', async () => {
      const got = await prober.connect('shop/client', '10.96.0.10', 80, 16);
      expect(got.every((c) => c.connected)).toBe(true);
      expect(new Set(got.map((c) => c.backend))).toEqual(new Set(WEB));
      expect(new Set(got.map((c) => c.client))).toEqual(new Set(['10.244.0.10']));
    });

    test('NodePort from outside, through cil_from_netdev on the uplink: each node offers its own backend (Local)', async () => {
      // The reply is rev-NATed at the backend's cil_from_container, so it leaves the pod's veth
      // with the node's own address as source; attach made the pods' interfaces accept local
      // sources for that (see src/node/README.md).
      for (const p of Object.values(sb.pods)) {
        if (p.hostIfname !== undefined) {
          expect(execIn(p.nodeNetns, ['sysctl', '-n', `net.ipv4.conf.${p.hostIfname}.accept_local`], false).stdout.trim()).toBe('1');
        }
      }
      const a = await prober.connect('ip:203.0.113.10', '172.18.0.2', 30080, 4);
      const b = await prober.connect('ip:203.0.113.10', '172.18.0.3', 30080, 4);
      expect(a.map((c) => c.backend)).toEqual(Array(4).fill(WEB[0]));
      expect(b.map((c) => c.backend)).toEqual(Array(4).fill(WEB[1]));
      expect(new Set([...a, ...b].map((c) => c.client))).toEqual(new Set(['203.0.113.10']));
    });

    test('a service without a ready backend drops the connection (158, Service backend not found)', async () => {
      const events = new EventCollector(sandboxAttachments(sb.name));
      try {
        events.skip();
        const [c] = await prober.connect('shop/client', '10.96.0.11', 80, 1, { timeoutMs: 500 });
        expect(c!.connected).toBe(false);
        events.drain();
        const drops = events.events.filter((e) => e.verdict === 'DROPPED' && e.src === '10.244.0.10');
        expect(drops.length).toBeGreaterThan(0);
        expect(drops.every((e) => e.dropReason === 158)).toBe(true);
      } finally {
        events.close();
      }
    });

    test('policy applies to the backend: the intruder is refused through the ClusterIP as directly', async () => {
      const [viaService] = await prober.connect('shop/intruder', '10.96.0.10', 80, 1, { timeoutMs: 500 });
      const [direct] = await prober.connect('shop/intruder', WEB[0]!, 8080, 1, { timeoutMs: 500 });
      const [client] = await prober.connect('shop/client', WEB[1]!, 8080, 1);
      expect([viaService!.connected, direct!.connected, client!.connected]).toEqual([false, false, true]);
    });

    test('an update adding a backend keeps held connections on theirs; new connections reach it', async () => {
      const names = sandboxAttachments(sb.name);
      const held: HeldConnection[] = [];
      try {
        for (let i = 0; i < 8; i++) held.push(await prober.hold('shop/client', '10.96.0.10', 80));
        expect(held.every((h) => h.result.connected)).toBe(true);
        const idsBefore = readNodeState(names[0]!)!.services!.model.backends.map((b) => [b.key, b.id]);
        const report = await updateNodes(names, { clusterFiles: [CLUSTER3], policyFiles: [POLICY] });
        for (const n of report.nodes) expect(n.services!.set).toBeGreaterThan(0);
        const state = readNodeState(names[0]!)!;
        expect(state.clusterFiles).toEqual([CLUSTER3]);
        for (const [key, id] of idsBefore) expect(state.services!.model.backends.find((b) => b.key === key)?.id).toBe(id);
        for (const [i, h] of held.entries()) expect(await h.echo(`still ${i}`)).toBe(`still ${i}`);
        const fresh = await prober.connect('shop/client', '10.96.0.10', 80, 24);
        expect(fresh.every((c) => c.connected)).toBe(true);
        expect(new Set(fresh.map((c) => c.backend))).toEqual(new Set([...WEB, WEB3]));
      } finally {
        for (const h of held) h.close();
      }
    }, 30_000);
  });
});

// Service load balancing through the endpoint datapath (Datapath with a cluster), in the VM and in
// the kernel: ClusterIP TCP/UDP over IPv4 and IPv6 out of the client, into the backend, the reply
// back out of the backend and reverse-NATed into the client (checksums recomputed from scratch);
// egress policy evaluated against the backend's identity; a frontend without backends (158);
// ClientIP affinity; flows keeping their backends when the backend set changes, and how many new
// flows move when one of N backends goes; NodePort from outside through cil_from_netdev with
// externalTrafficPolicy Local and the same ingress verdict as cil_to_container; the lookups an
// explain needs; both engines giving the same bytes and events.

import { describe, expect, it } from 'vitest';
import { Datapath, NETDEV_IFINDEX } from '../../src/datapath/datapath.js';
import { PROG_FROM_ENDPOINT, PROG_TO_ENDPOINT } from '../../src/datapath/maps.js';
import type { DatapathRun } from '../../src/datapath/datapath.js';
import type { FlowEvent } from '../../src/datapath/flow.js';
import type { EngineKind } from '../../src/engine/engine.js';
import { maglevSlot } from '../../src/lb/flowhash.js';
import { maglevTable } from '../../src/lb/maglev.js';
import type { LbBackend, LbModel } from '../../src/lb/model.js';
import { compileServices } from '../../src/lb/compile.js';
import { tcp, udp } from '../../src/pcap/build.js';
import type { TwinpathError } from '../../src/errors.js';
import { describeKernel } from '../helpers/kernel.js';
import { checkPacket } from '../lb/helpers.js';
import { DNS_V4, DNS_V6, EMPTY, NODE_A, NODE_B, POD, STICKY, WEB_V4, WEB_V6, WIDE, dpCluster } from '../lb/dp-cluster.js';

/** A small prime keeps the maps quick to write; the measurement of moved flows uses the default. */
const M = 1021;

type PodName = keyof typeof POD;

async function open(engine: EngineKind, opts: { wide?: number; maglevTableSize?: number } = {}): Promise<Datapath> {
  const { cluster, compiled } = dpCluster(opts.wide);
  return Datapath.open(compiled, { engine, cluster, maglevTableSize: opts.maglevTableSize ?? M });
}

function endpoint(dp: Datapath, pod: PodName) {
  return dp.compiled.endpoints.find((e) => e.pod === POD[pod].name)!;
}

/** cil_from_container of a pod (on its node): the pod sends `packet`. */
function out(dp: Datapath, pod: PodName, packet: Uint8Array): DatapathRun {
  const ep = endpoint(dp, pod);
  return dp.run(POD[pod].node, PROG_FROM_ENDPOINT, dp.ifindexOf(ep), packet);
}

/** cil_to_container of a pod: `packet` is delivered to it. */
function into(dp: Datapath, pod: PodName, packet: Uint8Array): DatapathRun {
  const ep = endpoint(dp, pod);
  return dp.run(POD[pod].node, PROG_TO_ENDPOINT, dp.ifindexOf(ep), packet);
}

function flow(run: DatapathRun): FlowEvent {
  expect(run.flows).toHaveLength(1);
  return run.flows[0]!;
}

/** The backend Maglev gives a flow to a frontend, computed in TypeScript from the node's model. */
function predict(model: LbModel, t: { saddr: string; daddr: string; sport: number; dport: number; proto: number }): LbBackend {
  const fe = model.frontends.find((f) => f.address === t.daddr && f.port === t.dport)!;
  const svc = model.services.find((s) => s.id === fe.serviceId)!;
  const byId = new Map(model.backends.map((b) => [b.id, b]));
  const table = maglevTable(svc.backendIds.map((id) => byId.get(id)!.key), model.maglevTableSize);
  return byId.get(svc.backendIds[table[maglevSlot(t, model.maglevTableSize)]!]!)!;
}

/** Which pod a backend is. */
function podOf(be: LbBackend): PodName {
  const name = be.pod!.split('/')[1];
  return (Object.keys(POD) as PodName[]).find((k) => POD[k].name === name)!;
}

interface Case {
  proto: 'TCP' | 'UDP';
  family: 4 | 6;
  frontend: string;
  port: number;
}

const CLUSTER_IP_CASES: Case[] = [
  { proto: 'TCP', family: 4, frontend: WEB_V4, port: 80 },
  { proto: 'TCP', family: 6, frontend: WEB_V6, port: 80 },
  { proto: 'UDP', family: 4, frontend: DNS_V4, port: 53 },
  { proto: 'UDP', family: 6, frontend: DNS_V6, port: 53 },
];

function packet(proto: 'TCP' | 'UDP', t: { src: string; dst: string; sport: number; dport: number }, flags = 'S'): Uint8Array {
  return proto === 'TCP' ? tcp({ ...t, flags, payload: flags === 'S' ? '' : 'data' }) : udp({ ...t, payload: 'query' });
}

/** One connection to a ClusterIP: request out of the client and into the backend, the reply out of
 * the backend and into the client, then the request's second packet. Checks every step; returns
 * the runs (for the cross-engine comparison). */
function roundTrip(dp: Datapath, c: Case, sport: number): DatapathRun[] {
  const client = POD.client;
  const src = c.family === 4 ? client.v4 : client.v6;
  const model = dp.services(client.node)!;
  const be = predict(model, { saddr: src, daddr: c.frontend, sport, dport: c.port, proto: c.proto === 'TCP' ? 6 : 17 });
  const fe = dp.frontend(client.node, c.frontend, c.port, c.proto)!;
  const bePod = podOf(be);

  const r1 = out(dp, 'client', packet(c.proto, { src, dst: c.frontend, sport, dport: c.port }));
  expect(flow(r1)).toMatchObject({
    verdict: 'FORWARDED', ctState: 'new', srcIdentity: endpoint(dp, 'client').identity, dstIdentity: endpoint(dp, bePod).identity,
    dst: be.address, dstPort: be.port,
    service: { translation: 'dnat', frontend: c.frontend, frontendPort: c.port, backendId: be.id, revNatIndex: fe.frontend.revNatIndex, selection: 'maglev', frontendType: 'ClusterIP' },
  });
  expect(checkPacket(r1.packet)).toMatchObject({ src, dst: be.address, sport, dport: be.port });

  const r2 = into(dp, bePod, r1.packet);
  expect(flow(r2)).toMatchObject({ verdict: 'FORWARDED', ctState: 'new', srcIdentity: endpoint(dp, 'client').identity, policyMatch: 'exact' });
  expect(flow(r2).service).toBeUndefined();
  expect(r2.packet).toEqual(r1.packet);

  const reply = c.proto === 'TCP'
    ? tcp({ src: be.address, dst: src, sport: be.port, dport: sport, flags: 'SA', payload: 'hello' })
    : udp({ src: be.address, dst: src, sport: be.port, dport: sport, payload: 'answer' });
  const r3 = out(dp, bePod, reply);
  expect(flow(r3)).toMatchObject({ verdict: 'FORWARDED', ctState: 'reply', isReply: true });
  expect(flow(r3).service).toBeUndefined();
  expect(r3.packet).toEqual(reply);

  const r4 = into(dp, 'client', r3.packet);
  expect(flow(r4)).toMatchObject({
    verdict: 'FORWARDED', ctState: 'reply', src: be.address, srcIdentity: endpoint(dp, bePod).identity,
    service: { translation: 'rev-nat', frontend: c.frontend, frontendPort: c.port, backendId: be.id, revNatIndex: fe.frontend.revNatIndex },
  });
  expect(checkPacket(r4.packet)).toMatchObject({ src: c.frontend, sport: c.port, dst: src, dport: sport });

  const r5 = out(dp, 'client', packet(c.proto, { src, dst: c.frontend, sport, dport: c.port }, 'A'));
  expect(flow(r5)).toMatchObject({ verdict: 'FORWARDED', ctState: 'established', service: { translation: 'dnat', backendId: be.id, selection: 'conntrack' } });
  expect(checkPacket(r5.packet)).toMatchObject({ dst: be.address, dport: be.port });
  return [r1, r2, r3, r4, r5];
}

/** Source ports whose flows Maglev sends to each of the frontend's backends (the first of each). */
function portsPerBackend(dp: Datapath, c: Case, client: PodName = 'client'): Map<number, number> {
  const src = c.family === 4 ? POD[client].v4 : POD[client].v6;
  const model = dp.services(POD[client].node)!;
  const n = dp.frontend(POD[client].node, c.frontend, c.port, c.proto)!.backends.length;
  const out = new Map<number, number>();
  for (let sport = 40000; out.size < n; sport++) {
    const be = predict(model, { saddr: src, daddr: c.frontend, sport, dport: c.port, proto: c.proto === 'TCP' ? 6 : 17 });
    if (!out.has(be.id)) out.set(be.id, sport);
  }
  return out;
}

function clusterIpScenario(dp: Datapath): DatapathRun[] {
  const runs: DatapathRun[] = [];
  for (const c of CLUSTER_IP_CASES) for (const sport of portsPerBackend(dp, c).values()) runs.push(...roundTrip(dp, c, sport));
  return runs;
}

const EXTERNAL = { v4: '172.16.0.9', v6: '2001:db8:1::9', denied: '203.0.113.5' };

/** NodePort from outside on both nodes and families, replies, denials, and what passes. */
function nodePortScenario(dp: Datapath): DatapathRun[] {
  const runs: DatapathRun[] = [];
  const targets = [
    { node: NODE_A, pod: 'webA' as const },
    { node: NODE_B, pod: 'webB' as const },
  ];
  for (const { node, pod } of targets) {
    for (const family of [4, 6] as const) {
      const fe = family === 4 ? node.v4 : node.v6;
      const client = family === 4 ? EXTERNAL.v4 : EXTERNAL.v6;
      const be = POD[pod];
      const info = dp.frontend(node.name, fe, 30080, 'TCP')!;
      // externalTrafficPolicy Local: the node offers only its own backend, whatever the flow.
      expect(info.backends.map((b) => b.address)).toEqual([family === 4 ? be.v4 : be.v6]);
      for (let i = 0; i < 8; i++) {
        const sport = 45000 + i;
        const r = dp.runFromNetdev(node.name, tcp({ src: client, dst: fe, sport, dport: 30080 }));
        expect(flow(r)).toMatchObject({
          verdict: 'FORWARDED', observationPoint: 'from-network', direction: 'ingress', ctState: 'new', policyMatch: 'exact',
          endpointId: endpoint(dp, pod).id, dstIdentity: endpoint(dp, pod).identity, ifindex: NETDEV_IFINDEX,
          service: { translation: 'dnat', frontend: fe, frontendPort: 30080, frontendType: 'NodePort', local: true, selection: 'maglev' },
        });
        expect(checkPacket(r.packet)).toMatchObject({ src: client, dst: family === 4 ? be.v4 : be.v6, sport, dport: 8080 });
        runs.push(r);
        if (i === 0) {
          // The backend answers: its cil_from_container finds the reply and rewrites it back.
          const back = out(dp, pod, tcp({ src: family === 4 ? be.v4 : be.v6, dst: client, sport: 8080, dport: sport, flags: 'SA' }));
          expect(flow(back)).toMatchObject({ verdict: 'FORWARDED', ctState: 'reply', service: { translation: 'rev-nat', frontend: fe, frontendPort: 30080 } });
          expect(checkPacket(back.packet)).toMatchObject({ src: fe, sport: 30080, dst: client, dport: sport });
          runs.push(back);
        }
      }
    }
  }
  // Outside the allowed blocks: the backend's ingress policy drops it, after translation.
  const denied = dp.runFromNetdev(NODE_A.name, tcp({ src: EXTERNAL.denied, dst: NODE_A.v4, sport: 46000, dport: 30080 }));
  expect(flow(denied)).toMatchObject({ verdict: 'DROPPED', dropReason: 133, endpointId: endpoint(dp, 'webA').id, policyMatch: 'default-deny', dst: POD.webA.v4 });
  runs.push(denied);
  // Not for a local endpoint: the node's own port, a ClusterIP (not reachable from outside).
  for (const p of [tcp({ src: EXTERNAL.v4, dst: NODE_A.v4, sport: 46001, dport: 22 }), tcp({ src: EXTERNAL.v4, dst: WEB_V4, sport: 46002, dport: 80 })]) {
    const r = dp.runFromNetdev(NODE_A.name, p);
    expect(flow(r)).toMatchObject({ verdict: 'FORWARDED', noEndpoint: true, endpointId: 0 });
    expect(flow(r).service).toBeUndefined();
    expect(r.packet).toEqual(p);
    runs.push(r);
  }
  // Straight to a pod address from outside: that pod's ingress policy, no translation.
  const direct = dp.runFromNetdev(NODE_A.name, tcp({ src: EXTERNAL.v4, dst: POD.webA.v4, sport: 46003, dport: 8080 }));
  expect(flow(direct)).toMatchObject({ verdict: 'FORWARDED', endpointId: endpoint(dp, 'webA').id, policyMatch: 'exact' });
  expect(flow(direct).service).toBeUndefined();
  runs.push(direct);
  return runs;
}

function suite(engine: EngineKind): void {
  it('ClusterIP TCP and UDP over IPv4 and IPv6: DNAT to each backend, the reply reverse-NATed, the flow kept', async () => {
    const dp = await open(engine);
    try {
      const runs = clusterIpScenario(dp);
      expect(runs.length).toBe(5 * 2 * CLUSTER_IP_CASES.length);
    } finally {
      dp.close();
    }
  });

  it('egress policy is evaluated against the backend: allowed to web-a, denied for web-b, behind one ClusterIP', async () => {
    const dp = await open(engine);
    try {
      const c: Case = { proto: 'TCP', family: 4, frontend: WEB_V4, port: 80 };
      const ports = portsPerBackend(dp, c, 'restricted');
      const idA = dp.frontend('node-a', WEB_V4, 80, 'TCP')!.backends.find((b) => b.address === POD.webA.v4)!.id;
      const idB = dp.frontend('node-a', WEB_V4, 80, 'TCP')!.backends.find((b) => b.address === POD.webB.v4)!.id;
      const toA = out(dp, 'restricted', tcp({ src: POD.restricted.v4, dst: WEB_V4, sport: ports.get(idA)!, dport: 80 }));
      expect(flow(toA)).toMatchObject({ verdict: 'FORWARDED', dstIdentity: endpoint(dp, 'webA').identity, policyMatch: 'exact', service: { backendId: idA } });
      const toB = out(dp, 'restricted', tcp({ src: POD.restricted.v4, dst: WEB_V4, sport: ports.get(idB)!, dport: 80 }));
      expect(flow(toB)).toMatchObject({
        verdict: 'DROPPED', dropReason: 133, dstIdentity: endpoint(dp, 'webB').identity, dst: POD.webB.v4, policyMatch: 'default-deny',
        service: { translation: 'dnat', backendId: idB },
      });
      // Only the allowed flow left state behind.
      const maps = dp.maps('node-a');
      expect(maps.conntrack().map((e) => e.dst)).toEqual([POD.webA.v4]);
      expect(maps.serviceConntrack().map((e) => [e.clientPort, e.backendId])).toEqual([[ports.get(idA), idA]]);
    } finally {
      dp.close();
    }
  });

  it('a frontend without backends drops with 158, untranslated', async () => {
    const dp = await open(engine);
    try {
      const p = tcp({ src: POD.client.v4, dst: EMPTY, sport: 40000, dport: 80 });
      const r = out(dp, 'client', p);
      expect(flow(r)).toMatchObject({
        verdict: 'DROPPED', dropReason: 158, dropReasonName: 'Service backend not found', dst: EMPTY,
        service: { translation: 'none', frontend: EMPTY, frontendPort: 80, backendId: 0 },
      });
      expect(r.packet).toEqual(p);
      expect(dp.maps('node-a').counters()).toEqual([{ reason: 158, direction: 'egress', packets: 1n, bytes: BigInt(p.length) }]);
    } finally {
      dp.close();
    }
  });

  it('ClientIP affinity: one client keeps its backend over new connections', async () => {
    const dp = await open(engine);
    try {
      const seen = new Set<number>();
      for (let i = 0; i < 12; i++) {
        const r = out(dp, 'client', tcp({ src: POD.client.v4, dst: STICKY, sport: 41000 + i * 13, dport: 80 }));
        expect(flow(r)).toMatchObject({ verdict: 'FORWARDED', service: { selection: i === 0 ? 'maglev' : 'affinity', affinity: true } });
        seen.add(flow(r).service!.backendId);
      }
      expect(seen.size).toBe(1);
      // Another client is balanced on its own (it may or may not land on the same backend).
      const other = out(dp, 'restricted', tcp({ src: POD.restricted.v4, dst: STICKY, sport: 41000, dport: 80 }));
      expect(flow(other).service?.selection).toBe('maglev');
      // Forgetting connections forgets affinity too.
      dp.resetConntrack();
      const again = out(dp, 'client', tcp({ src: POD.client.v4, dst: STICKY, sport: 42000, dport: 80 }));
      expect(flow(again).service?.selection).toBe('maglev');
    } finally {
      dp.close();
    }
  });

  it('established flows keep their backends when one of N backends goes; about 1/N of new flows move (default table size)', async () => {
    const N = 10;
    const FLOWS = 2000;
    const dp = await open(engine, { wide: N, maglevTableSize: 16381 });
    try {
      const syn = (i: number, flags = 'S') => out(dp, 'client', tcp({ src: POD.client.v4, dst: WIDE, sport: 20000 + i, dport: 80, flags }));
      const before: number[] = [];
      for (let i = 0; i < FLOWS; i++) before.push(flow(syn(i)).service!.backendId);
      expect(new Set(before).size).toBe(N);
      const removed = dp.frontend('node-a', WIDE, 80, 'TCP')!.backends.find((b) => b.address === `10.0.9.${N}`)!.id;

      dp.updateServices(dpCluster(N - 1).cluster);
      expect(dp.services('node-a')!.maglevTableSize).toBe(16381);
      expect(dp.frontend('node-a', WIDE, 80, 'TCP')!.backends).toHaveLength(N - 1);
      expect(dp.backend('node-a', removed)).toBeUndefined();
      // Established flows: kept by their service entries, unless their backend is gone.
      for (let i = 0; i < FLOWS; i++) {
        const ev = flow(syn(i, 'A'));
        if (before[i] === removed) {
          expect(ev.service).toMatchObject({ selection: 'maglev' });
          expect(ev.service!.backendId).not.toBe(removed);
        } else {
          expect(ev.service).toMatchObject({ selection: 'conntrack', backendId: before[i] });
        }
      }
      // New flows with the same tuples, after the change.
      dp.resetConntrack();
      let moved = 0;
      let movedKept = 0;
      for (let i = 0; i < FLOWS; i++) {
        const id = flow(syn(i)).service!.backendId;
        if (id !== before[i]) moved++;
        if (id !== before[i] && before[i] !== removed) movedKept++;
      }
      const onRemoved = before.filter((id) => id === removed).length;
      // eslint-disable-next-line no-console
      console.log(`${engine}: removing 1 of ${N} backends moved ${moved} of ${FLOWS} new flows (${((100 * moved) / FLOWS).toFixed(1)}%; ${onRemoved} were on the removed backend, ${movedKept} others moved)`);
      expect(moved).toBeGreaterThanOrEqual(onRemoved);
      expect(moved / FLOWS).toBeGreaterThan(0.07);
      expect(moved / FLOWS).toBeLessThan(0.15);
      expect(movedKept / FLOWS).toBeLessThan(0.02);
    } finally {
      dp.close();
    }
  });

  it('NodePort from outside through cil_from_netdev: Local backends only, replies rewritten back, the rest passes', async () => {
    const dp = await open(engine);
    try {
      nodePortScenario(dp);
    } finally {
      dp.close();
    }
  });

  it('cil_from_netdev gives a local endpoint the very ingress verdict cil_to_container gives', async () => {
    const dp = await open(engine);
    try {
      const cases = [
        tcp({ src: EXTERNAL.v4, dst: NODE_A.v4, sport: 47000, dport: 30080 }),
        tcp({ src: EXTERNAL.denied, dst: NODE_A.v4, sport: 47001, dport: 30080 }),
        tcp({ src: EXTERNAL.v6, dst: NODE_A.v6, sport: 47002, dport: 30080 }),
        tcp({ src: '2001:db8:2::1', dst: NODE_A.v6, sport: 47003, dport: 30080 }),
        tcp({ src: EXTERNAL.v4, dst: POD.webA.v4, sport: 47004, dport: 9999 }),
      ];
      const pick = (e: FlowEvent) => [e.verdict, e.dropReason, e.ruleId, e.policyMatch, e.matchPrefix, e.srcIdentity, e.dstIdentity, e.endpointId, e.ctState, e.direction];
      for (const p of cases) {
        dp.resetConntrack();
        const viaNetdev = dp.runFromNetdev(NODE_A.name, p);
        dp.resetConntrack();
        const viaToContainer = into(dp, 'webA', viaNetdev.packet);
        expect(pick(flow(viaNetdev))).toEqual(pick(flow(viaToContainer)));
        expect(viaToContainer.packet).toEqual(viaNetdev.packet);
      }
    } finally {
      dp.close();
    }
  });

  it('tells an explain what it needs: the frontend and its backends, the conntrack and service entries of a flow', async () => {
    const dp = await open(engine);
    try {
      const sport = 43000;
      const r = out(dp, 'client', tcp({ src: POD.client.v4, dst: WEB_V4, sport, dport: 80 }));
      const ev = flow(r);
      const fe = dp.frontend('node-a', WEB_V4, 80, 'TCP')!;
      expect(fe.frontend).toMatchObject({ address: WEB_V4, port: 80, type: 'ClusterIP', revNatIndex: ev.service!.revNatIndex });
      expect(fe.service).toMatchObject({ namespace: 'default', name: 'web', port: 80 });
      expect(fe.backends.map((b) => b.address).sort()).toEqual([POD.webA.v4, POD.webB.v4]);
      const be = dp.backend('node-a', ev.service!.backendId)!;
      expect(be.address).toBe(ev.dst);
      expect(dp.conntrackEntry('node-a', { src: POD.client.v4, dst: be.address, srcPort: sport, dstPort: 8080, protocol: 6, direction: 'egress' })).toMatchObject({
        state: 'syn', backendId: be.id, revNat: fe.frontend.revNatIndex, packetsFwd: 1n,
      });
      expect(dp.serviceConntrackEntry('node-a', { client: POD.client.v4, clientPort: sport, frontend: WEB_V4, frontendPort: 80, protocol: 6 })).toMatchObject({
        backendId: be.id, revNat: fe.frontend.revNatIndex, packets: 1n, state: 'syn',
      });
      expect(dp.frontend('node-a', WEB_V4, 81, 'TCP')).toBeUndefined();
      expect(dp.frontend('node-a', 'fd00:96:0::10', 80, 'TCP')?.frontend.address).toBe(WEB_V6);
      // NodePort frontends of both nodes, each with its node's backends.
      expect(dp.frontend('node-a', NODE_B.v4, 30080, 'TCP')!.backends.map((b) => b.address)).toEqual([POD.webB.v4]);
    } finally {
      dp.close();
    }
  });
}

describe('service load balancing in the endpoint datapath (VM)', () => {
  suite('vm');

  it('without a cluster, services are off and a ClusterIP is just an address', async () => {
    const { compiled } = dpCluster();
    const dp = await Datapath.open(compiled, { engine: 'vm' });
    try {
      expect(dp.servicesEnabled()).toBe(false);
      expect(dp.services('node-a')).toBeUndefined();
      expect(dp.frontend('node-a', WEB_V4, 80, 'TCP')).toBeUndefined();
      const p = tcp({ src: POD.client.v4, dst: WEB_V4, sport: 40000, dport: 80 });
      const r = out(dp, 'client', p);
      expect(flow(r)).toMatchObject({ verdict: 'FORWARDED', dst: WEB_V4, dstIdentity: 2 });
      expect(flow(r).service).toBeUndefined();
      expect(r.packet).toEqual(p);
    } finally {
      dp.close();
    }
  });

  it('loads a given model on every node, and refuses what cannot work', async () => {
    const { cluster, compiled } = dpCluster();
    const model = compileServices(cluster, { maglevTableSize: 251 });
    const dp = await Datapath.open(compiled, { engine: 'vm', services: model });
    try {
      expect(dp.services('node-b')).toBe(model);
      const r = out(dp, 'client', tcp({ src: POD.client.v4, dst: WEB_V4, sport: 40000, dport: 80 }));
      expect(flow(r).service).toMatchObject({ translation: 'dnat', backendId: predict(model, { saddr: POD.client.v4, daddr: WEB_V4, sport: 40000, dport: 80, proto: 6 }).id });
      expect(() => dp.updateServices(cluster)).toThrow(expect.objectContaining({ code: 'DATAPATH_ERROR' }));
    } finally {
      dp.close();
    }
    const code = async (p: Promise<unknown>) => ((await p.then(() => undefined, (e: unknown) => e)) as TwinpathError | undefined)?.code;
    expect(await code(Datapath.open(compiled, { engine: 'vm', services: true }))).toBe('DATAPATH_ERROR');
    expect(await code(Datapath.open(compiled, { engine: 'vm', cluster, maglevTableSize: 1000 }))).toBe('LB_ERROR');
    // 11 service groups x 65521 slots: more than the object declares, so the node's Maglev array
    // is sized at open to hold them.
    const big = await Datapath.open(compiled, { engine: 'vm', cluster, maglevTableSize: 65521 });
    try {
      expect(big.maps('node-a').obj.map('lb_maglev').maxEntries).toBeGreaterThanOrEqual(11 * 65521);
      const r = out(big, 'client', tcp({ src: POD.client.v4, dst: WEB_V4, sport: 40000, dport: 80 }));
      expect(flow(r).service).toMatchObject({ translation: 'dnat' });
    } finally {
      big.close();
    }
    // A group numbered 70,000 needs 70,001 rows of 1021 slots: 545 MiB, past what the VM holds
    // in one map, refused at open.
    const far = { ...model, maglevTableSize: 1021, services: [{ ...model.services[0]!, id: 70_000, backendIds: [] }], frontends: [] };
    expect(await code(Datapath.open(compiled, { engine: 'vm', services: far }))).toBe('LB_ERROR');
    expect(await code(Datapath.open(compiled, { engine: 'vm', services: model, maglevTableSize: 1021 }))).toBe('DATAPATH_ERROR');
    expect(await code(Datapath.open(compiled, { engine: 'vm', cluster, services: false, maglevTableSize: 1021 }))).toBe('DATAPATH_ERROR');
  });

  it('the service and flow entries follow the conntrack timeouts (VM clock)', async () => {
    const dp = await open('vm');
    try {
      // UDP: 60 s. The Datapath's clock advances a microsecond per run, so expiry is checked
      // against the entries' deadlines rather than by waiting.
      out(dp, 'client', udp({ src: POD.client.v4, dst: DNS_V4, sport: 5000, dport: 53, payload: 'q' }));
      const maps = dp.maps('node-a');
      const [svc] = maps.serviceConntrack();
      const [ct] = maps.conntrack();
      expect(svc!.expiresNs).toBe(ct!.expiresNs);
      expect(ct!.expiresNs - 1_000_000_000n).toBe(60_000_000_000n);
    } finally {
      dp.close();
    }
  });
});

describeKernel('service load balancing in the endpoint datapath (kernel)', () => {
  suite('kernel');

  it('gives the same packets, verdicts and events as the VM', async () => {
    const vm = await open('vm');
    const kernel = await open('kernel');
    try {
      const a = [...clusterIpScenario(vm), ...nodePortScenario(vm)];
      const b = [...clusterIpScenario(kernel), ...nodePortScenario(kernel)];
      expect(b.length).toBe(a.length);
      let diffs = 0;
      for (let i = 0; i < a.length; i++) {
        if (a[i]!.retval !== b[i]!.retval || Buffer.compare(Buffer.from(a[i]!.packet), Buffer.from(b[i]!.packet)) !== 0) diffs++;
        expect(b[i]!.flows, `run ${i}`).toEqual(a[i]!.flows);
      }
      expect(diffs).toBe(0);
      // The same conntrack state (deadlines aside: each engine has its own clock).
      for (const node of ['node-a', 'node-b']) {
        const strip = (dp: Datapath) => dp.maps(node).conntrack().map(({ expiresNs: _e, ...rest }) => rest);
        expect(strip(kernel)).toEqual(strip(vm));
        const svc = (dp: Datapath) => dp.maps(node).serviceConntrack().map(({ expiresNs: _e, ...rest }) => rest);
        expect(svc(kernel)).toEqual(svc(vm));
      }
    } finally {
      vm.close();
      kernel.close();
    }
  });
});

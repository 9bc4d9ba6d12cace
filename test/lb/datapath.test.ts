// bpf/lib/lb.h through bpf/test/lb/lb.bpf.o, with maps written by writeLbMaps from a compiled
// cluster, in the VM and (where available) in the kernel: DNAT to the backend Maglev predicts,
// checksums recomputed from scratch, reverse NAT of replies, UDP without checksum, SCTP (address
// only; a port rewrite drops), ClientIP affinity, flows keeping their backend when the backend
// set changes, and both engines giving the same bytes and map contents.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readObject } from '../../src/elf/object.js';
import { getEngine } from '../../src/engine/index.js';
import type { EngineKind, EngineObject, RunOutput } from '../../src/engine/engine.js';
import { compileServices } from '../../src/lb/compile.js';
import { maglevSlot } from '../../src/lb/flowhash.js';
import { maglevTable } from '../../src/lb/maglev.js';
import { LB_MAPS, lbGlobals, writeLbMaps } from '../../src/lb/maps.js';
import type { LbBackend, LbModel } from '../../src/lb/model.js';
import { icmpEcho, sctpInit, tcp, udp } from '../../src/pcap/build.js';
import type { Cluster } from '../../src/policy/ast.js';
import { describeKernel } from '../helpers/kernel.js';
import { ROOT } from '../helpers/paths.js';
import { checkPacket, cluster, ep, node, pod, service, slice } from './helpers.js';

const M = 16381;
const FILE = 'bpf/test/lb/lb.bpf.o';
const bytes = new Uint8Array(readFileSync(join(ROOT, FILE)));
const spec = readObject(bytes, FILE);

const TC_ACT_OK = 0;
const TC_ACT_SHOT = 2;
const SEL_CT = 1;
const SEL_AFFINITY = 2;
const SEL_MAGLEV = 3;

function webCluster(webBackends = 5): Cluster {
  const ids = Array.from({ length: webBackends }, (_, i) => i + 1);
  return cluster({
    nodes: [node('node-a', ['192.168.0.1']), node('node-b', ['192.168.0.2'])],
    pods: ids.map((i) => pod(`web-${i}`, [`10.0.1.${i}`, `fd00:1::${i}`], i % 2 ? 'node-a' : 'node-b', [{ name: 'http', containerPort: 8080, protocol: 'TCP' }])),
    services: [
      service('web', { type: 'NodePort', clusterIPs: ['10.96.0.10', 'fd00:96::a'], ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 'http', nodePort: 30080 }] }),
      service('dns', { clusterIPs: ['10.96.0.53'], ports: [{ protocol: 'UDP', port: 53, targetPort: 5353 }] }),
      service('sig', { clusterIPs: ['10.96.0.30'], ports: [{ protocol: 'SCTP', port: 3868, targetPort: 3868 }] }),
      service('sigx', { clusterIPs: ['10.96.0.31'], ports: [{ protocol: 'SCTP', port: 3868, targetPort: 3869 }] }),
      service('sticky', { clusterIPs: ['10.96.0.20'], sessionAffinity: 'ClientIP', affinityTimeoutSeconds: 60, ports: [{ protocol: 'TCP', port: 80, targetPort: 8080 }] }),
      service('empty', { clusterIPs: ['10.96.0.99'], ports: [{ protocol: 'TCP', port: 80, targetPort: 8080 }] }),
    ],
    endpointSlices: [
      // The web slices leave ports out, so the named target port is resolved on each pod.
      slice('web-v4', 'web', ids.map((i) => ep(`10.0.1.${i}`, { targetRef: { kind: 'Pod', name: `web-${i}` } })), []),
      slice('web-v6', 'web', ids.map((i) => ep(`fd00:1::${i}`, { targetRef: { kind: 'Pod', name: `web-${i}` } })), [], 'IPv6'),
      slice('dns-1', 'dns', [ep('10.0.2.1'), ep('10.0.2.2')], [{ protocol: 'UDP', port: 5353 }]),
      slice('sig-1', 'sig', [ep('10.0.3.1'), ep('10.0.3.2')], [{ protocol: 'SCTP', port: 3868 }]),
      slice('sigx-1', 'sigx', [ep('10.0.3.3')], [{ protocol: 'SCTP', port: 3869 }]),
      slice('sticky-1', 'sticky', [1, 2, 3, 4].map((i) => ep(`10.0.4.${i}`)), [{ protocol: 'TCP', port: 8080 }]),
    ],
  });
}

/** The backend lb.h must pick by Maglev for a flow to a frontend, computed in TypeScript. */
function predict(model: LbModel, t: { saddr: string; daddr: string; sport: number; dport: number; proto: number }): LbBackend {
  const fe = model.frontends.find((f) => f.address === t.daddr && f.port === t.dport)!;
  const svc = model.services.find((s) => s.id === fe.serviceId)!;
  const byId = new Map(model.backends.map((b) => [b.id, b]));
  const table = maglevTable(svc.backendIds.map((id) => byId.get(id)!.key), model.maglevTableSize);
  return byId.get(svc.backendIds[table[maglevSlot(t, model.maglevTableSize)]!]!)!;
}

async function open(kind: EngineKind, model: LbModel): Promise<EngineObject> {
  const obj = (await getEngine(kind)).open({ bytes, file: FILE, spec }, { globals: lbGlobals(model) });
  writeLbMaps(obj, model);
  return obj;
}

const run = (obj: EngineObject, packet: Uint8Array, dir: 0 | 1, timeNs?: bigint): RunOutput =>
  obj.run('lb_test', { packet, ctx: { cb: [dir, 0, 0, 0, 0] }, ...(timeNs !== undefined ? { timeNs } : {}) });
const result = (r: RunOutput) => r.ctx['cb[1]']! | 0;
const how = (r: RunOutput) => r.ctx['cb[4]']!;

function suite(kind: EngineKind): void {
  let obj: EngineObject;
  let model: LbModel;
  beforeAll(async () => {
    model = compileServices(webCluster(), { maglevTableSize: M });
    obj = await open(kind, model);
  });
  afterAll(() => obj?.close());

  it('DNATs a TCP SYN to the Maglev backend with valid checksums, then keeps it by conntrack', () => {
    const t = { saddr: '10.0.0.7', daddr: '10.96.0.10', sport: 40001, dport: 80, proto: 6 };
    const be = predict(model, t);
    const pkt = tcp({ src: t.saddr, dst: t.daddr, sport: t.sport, dport: t.dport, payload: 'hello' });
    const r = run(obj, pkt, 0);
    expect(r.retval).toBe(TC_ACT_OK);
    expect(result(r)).toBe(1);
    expect(how(r)).toBe(SEL_MAGLEV);
    expect(r.ctx['cb[2]']).toBe(be.id);
    const d = checkPacket(r.packet);
    expect(d).toMatchObject({ src: '10.0.0.7', dst: be.address, sport: 40001, dport: 8080 });
    // Only the destination address and port and the two checksums changed.
    const changed = [...pkt.keys()].filter((i) => pkt[i] !== r.packet[i]);
    const allowed = new Set([24, 25, 30, 31, 32, 33, 36, 37, 50, 51]);
    expect(changed.every((i) => allowed.has(i))).toBe(true);

    const again = run(obj, tcp({ src: t.saddr, dst: t.daddr, sport: t.sport, dport: t.dport, flags: 'A', seq: 1 }), 0);
    expect(how(again)).toBe(SEL_CT);
    expect(checkPacket(again.packet).dst).toBe(be.address);
  });

  it('rewrites the reply from the backend back to the frontend', () => {
    const t = { saddr: '10.0.0.7', daddr: '10.96.0.11', sport: 40002, dport: 80, proto: 6 };
    const fwd = { ...t, daddr: '10.96.0.10' };
    const be = predict(model, fwd);
    run(obj, tcp({ src: fwd.saddr, dst: fwd.daddr, sport: fwd.sport, dport: 80 }), 0);
    const r = run(obj, tcp({ src: be.address, dst: '10.0.0.7', sport: 8080, dport: 40002, flags: 'SA', payload: 'x' }), 1);
    expect(r.retval).toBe(TC_ACT_OK);
    expect(result(r)).toBe(1);
    expect(checkPacket(r.packet)).toMatchObject({ src: '10.96.0.10', sport: 80, dst: '10.0.0.7', dport: 40002 });
    // A reply nobody asked for passes untouched.
    const stray = tcp({ src: be.address, dst: '10.0.0.7', sport: 8080, dport: 40999, flags: 'SA' });
    const s = run(obj, stray, 1);
    expect(result(s)).toBe(0);
    expect(s.packet).toEqual(stray);
  });

  it('NodePort: a node address and the nodePort lead to the same backends, and replies return to them', () => {
    const t = { saddr: '172.16.0.9', daddr: '192.168.0.2', sport: 45000, dport: 30080, proto: 6 };
    const be = predict(model, t);
    expect(be.address.startsWith('10.0.1.')).toBe(true);
    const r = run(obj, tcp({ src: t.saddr, dst: t.daddr, sport: t.sport, dport: t.dport }), 0);
    expect(result(r)).toBe(1);
    expect(checkPacket(r.packet)).toMatchObject({ dst: be.address, dport: 8080 });
    const back = run(obj, tcp({ src: be.address, dst: t.saddr, sport: 8080, dport: t.sport, flags: 'SA' }), 1);
    expect(checkPacket(back.packet)).toMatchObject({ src: '192.168.0.2', sport: 30080 });
  });

  it('does the same over IPv6', () => {
    const t = { saddr: 'fd00:2::7', daddr: 'fd00:96::a', sport: 41000, dport: 80, proto: 6 };
    const be = predict(model, t);
    const r = run(obj, tcp({ src: t.saddr, dst: t.daddr, sport: t.sport, dport: 80, payload: 'v6' }), 0);
    expect(result(r)).toBe(1);
    expect(checkPacket(r.packet)).toMatchObject({ family: 6, dst: be.address, dport: 8080 });
    const back = run(obj, tcp({ src: be.address, dst: t.saddr, sport: 8080, dport: t.sport, flags: 'SA' }), 1);
    expect(checkPacket(back.packet)).toMatchObject({ src: 'fd00:96::a', sport: 80 });
  });

  it('keeps a UDP checksum valid, and a zero (absent) UDP checksum zero', () => {
    const t = { saddr: '10.0.0.9', daddr: '10.96.0.53', sport: 5000, dport: 53, proto: 17 };
    const be = predict(model, t);
    const r = run(obj, udp({ src: t.saddr, dst: t.daddr, sport: t.sport, dport: 53, payload: 'query' }), 0);
    expect(checkPacket(r.packet)).toMatchObject({ dst: be.address, dport: 5353 });
    expect(checkPacket(r.packet).l4sum).not.toBe(0);

    const bare = udp({ src: t.saddr, dst: t.daddr, sport: 5001, dport: 53, payload: 'query' });
    bare[40] = 0;
    bare[41] = 0;
    const z = run(obj, bare, 0);
    expect(result(z)).toBe(1);
    expect(checkPacket(z.packet)).toMatchObject({ dport: 5353, l4sum: 0 });
    const reply = udp({ src: checkPacket(z.packet).dst, dst: t.saddr, sport: 5353, dport: 5001, payload: 'answer' });
    reply[40] = 0;
    reply[41] = 0;
    const zr = run(obj, reply, 1);
    expect(checkPacket(zr.packet)).toMatchObject({ src: '10.96.0.53', sport: 53, l4sum: 0 });
  });

  it('SCTP: rewrites the address only (CRC32c stays valid), and drops when the port would change', () => {
    const t = { saddr: '10.0.0.5', daddr: '10.96.0.30', sport: 3868, dport: 3868, proto: 132 };
    const be = predict(model, t);
    const pkt = sctpInit({ src: t.saddr, dst: t.daddr, sport: 3868, dport: 3868 });
    const r = run(obj, pkt, 0);
    expect(r.retval).toBe(TC_ACT_OK);
    expect(result(r)).toBe(1);
    const d = checkPacket(r.packet);
    expect(d).toMatchObject({ dst: be.address, dport: 3868 });
    expect(d.l4sum).toBe(checkPacket(pkt).l4sum);
    const back = run(obj, sctpInit({ src: be.address, dst: t.saddr, sport: 3868, dport: 3868 }), 1);
    expect(checkPacket(back.packet)).toMatchObject({ src: '10.96.0.30' });

    const x = sctpInit({ src: t.saddr, dst: '10.96.0.31', sport: 3868, dport: 3868 });
    const rx = run(obj, x, 0);
    expect(rx.retval).toBe(TC_ACT_SHOT);
    expect(result(rx)).toBe(-2);
    expect(rx.packet).toEqual(x);
  });

  it('drops traffic to a frontend without backends and passes what is not a frontend', () => {
    const e = run(obj, tcp({ src: '10.0.0.7', dst: '10.96.0.99', sport: 40100, dport: 80 }), 0);
    expect(e.retval).toBe(TC_ACT_SHOT);
    expect(result(e)).toBe(-1);
    for (const p of [
      tcp({ src: '10.0.0.7', dst: '10.96.0.10', sport: 40101, dport: 81 }),
      udp({ src: '10.0.0.7', dst: '10.96.0.10', sport: 40101, dport: 80 }),
      tcp({ src: '10.0.0.7', dst: '10.0.1.1', sport: 40101, dport: 8080 }),
      icmpEcho({ src: '10.0.0.7', dst: '10.96.0.10', id: 1, seq: 1 }),
    ]) {
      const r = run(obj, p, 0);
      expect(r.retval).toBe(TC_ACT_OK);
      expect(result(r)).toBe(0);
      expect(r.packet).toEqual(p);
    }
  });

  it('ClientIP affinity: one client keeps one backend over new connections', () => {
    const seen = new Set<string>();
    let first: string | undefined;
    for (let i = 0; i < 20; i++) {
      const r = run(obj, tcp({ src: '10.0.0.8', dst: '10.96.0.20', sport: 1000 + i, dport: 80 }), 0, 1_000_000_000n);
      expect(result(r)).toBe(1);
      expect(how(r)).toBe(i === 0 ? SEL_MAGLEV : SEL_AFFINITY);
      first ??= checkPacket(r.packet).dst;
      expect(checkPacket(r.packet).dst).toBe(first);
    }
    // Other clients still spread over the backends.
    for (let c = 1; c <= 20; c++) {
      const r = run(obj, tcp({ src: `10.0.5.${c}`, dst: '10.96.0.20', sport: 2000, dport: 80 }), 0, 1_000_000_000n);
      seen.add(checkPacket(r.packet).dst);
    }
    expect(seen.size).toBeGreaterThan(1);
  });

  if (kind === 'vm') {
    it('ClientIP affinity expires after its timeout (VM clock)', () => {
      const t0 = 5_000_000_000n;
      const a = run(obj, tcp({ src: '10.0.0.9', dst: '10.96.0.20', sport: 3000, dport: 80 }), 0, t0);
      expect(how(a)).toBe(SEL_MAGLEV);
      const b = run(obj, tcp({ src: '10.0.0.9', dst: '10.96.0.20', sport: 3001, dport: 80 }), 0, t0 + 59_000_000_000n);
      expect(how(b)).toBe(SEL_AFFINITY);
      // 59 s later again: within 60 s of the last use, which refreshed it.
      const c = run(obj, tcp({ src: '10.0.0.9', dst: '10.96.0.20', sport: 3002, dport: 80 }), 0, t0 + 118_000_000_000n);
      expect(how(c)).toBe(SEL_AFFINITY);
      const d = run(obj, tcp({ src: '10.0.0.9', dst: '10.96.0.20', sport: 3003, dport: 80 }), 0, t0 + 179_000_000_000n);
      expect(how(d)).toBe(SEL_MAGLEV);
      expect(checkPacket(d.packet).dst).toBe(predict(model, { saddr: '10.0.0.9', daddr: '10.96.0.20', sport: 3003, dport: 80, proto: 6 }).address);
    });
  }

  it('a flow keeps its backend when another backend is removed; flows of the removed one move', async () => {
    const before = compileServices(webCluster(5), { maglevTableSize: M });
    const own = await open(kind, before);
    try {
      // Remove web-5 (its endpoints leave the slices, as when the pod is deleted).
      const c = webCluster(5);
      for (const s of c.endpointSlices) s.endpoints = s.endpoints.filter((e) => !e.addresses[0]!.endsWith('.5') && !e.addresses[0]!.endsWith('::5'));
      const after = compileServices(c, { maglevTableSize: M, previous: before });
      const removed = before.backends.find((b) => b.address === '10.0.1.5')!;
      for (const b of after.backends) expect(b.id).toBe(before.backends.find((x) => x.key === b.key)!.id);

      const flow = (sport: number) => ({ saddr: '10.0.0.7', daddr: '10.96.0.10', sport, dport: 80, proto: 6 });
      // A flow Maglev moves although its backend stays; a flow on the removed backend.
      let moved: number | undefined;
      let orphan: number | undefined;
      for (let p = 20000; (moved === undefined || orphan === undefined) && p < 60000; p++) {
        const x = predict(before, flow(p));
        const y = predict(after, flow(p));
        if (moved === undefined && x.id !== removed.id && y.id !== x.id) moved = p;
        if (orphan === undefined && x.id === removed.id) orphan = p;
      }
      expect(moved).toBeDefined();
      expect(orphan).toBeDefined();
      const send = (sport: number) => run(own, tcp({ src: '10.0.0.7', dst: '10.96.0.10', sport, dport: 80 }), 0);
      expect(checkPacket(send(moved!).packet).dst).toBe(predict(before, flow(moved!)).address);
      expect(checkPacket(send(orphan!).packet).dst).toBe(removed.address);

      writeLbMaps(own, after);
      const kept = send(moved!);
      expect(how(kept)).toBe(SEL_CT);
      expect(checkPacket(kept.packet).dst).toBe(predict(before, flow(moved!)).address);
      const re = send(orphan!);
      expect(how(re)).toBe(SEL_MAGLEV);
      expect(checkPacket(re.packet).dst).toBe(predict(after, flow(orphan!)).address);
      // A new flow that the old table would have sent elsewhere follows the new table.
      let fresh = moved! + 1;
      while (predict(before, flow(fresh)).id === predict(after, flow(fresh)).id) fresh++;
      const f = send(fresh);
      expect(how(f)).toBe(SEL_MAGLEV);
      expect(checkPacket(f.packet).dst).toBe(predict(after, flow(fresh)).address);
      expect(own.map(LB_MAPS.backends4).lookup(new Uint8Array(new Uint32Array([removed.id]).buffer))).toBeUndefined();
    } finally {
      own.close();
    }
  });
}

describe('lb.bpf.o in the VM engine', () => suite('vm'));

describeKernel('lb.bpf.o in the kernel engine', () => {
  suite('kernel');

  it('gives the same bytes, results and LB maps as the VM for one sequence of packets', async () => {
    const model = compileServices(webCluster(), { maglevTableSize: M });
    const vm = await open('vm', model);
    const kernel = await open('kernel', model);
    try {
      const seq: Array<[Uint8Array, 0 | 1]> = [];
      for (let i = 0; i < 40; i++) seq.push([tcp({ src: `10.0.${6 + (i % 3)}.${i + 1}`, dst: '10.96.0.10', sport: 30000 + i * 7, dport: 80, payload: 'p' }), 0]);
      for (let i = 0; i < 10; i++) seq.push([tcp({ src: `fd00:3::${i + 1}`, dst: 'fd00:96::a', sport: 31000 + i, dport: 80 }), 0]);
      for (let i = 0; i < 10; i++) seq.push([udp({ src: '10.0.9.1', dst: '10.96.0.53', sport: 32000 + i, dport: 53, payload: 'q' }), 0]);
      seq.push([sctpInit({ src: '10.0.9.2', dst: '10.96.0.30', sport: 3868, dport: 3868 }), 0]);
      seq.push([sctpInit({ src: '10.0.9.2', dst: '10.96.0.31', sport: 3868, dport: 3868 }), 0]);
      for (let i = 0; i < 5; i++) seq.push([tcp({ src: '10.0.9.3', dst: '10.96.0.20', sport: 33000 + i, dport: 80 }), 0]);
      seq.push([tcp({ src: '10.0.9.3', dst: '10.96.0.99', sport: 33100, dport: 80 }), 0]);
      // Replies of the first flows, from wherever the VM sent them.
      const replies: Array<[Uint8Array, 0 | 1]> = [];
      let diffs = 0;
      for (const [p, dir] of seq) {
        const a = run(vm, p, dir);
        const b = run(kernel, p, dir);
        if (a.retval !== b.retval || Buffer.compare(Buffer.from(a.packet), Buffer.from(b.packet)) !== 0 || ['cb[1]', 'cb[2]', 'cb[3]', 'cb[4]'].some((k) => a.ctx[k] !== b.ctx[k])) diffs++;
        if (a.retval === TC_ACT_OK && a.ctx['cb[1]'] === 1 && replies.length < 10) {
          const d = checkPacket(a.packet);
          if (d.proto === 6) replies.push([tcp({ src: d.dst, dst: d.src, sport: d.dport, dport: d.sport, flags: 'SA' }), 1]);
        }
      }
      for (const [p, dir] of replies) {
        const a = run(vm, p, dir);
        const b = run(kernel, p, dir);
        expect(a.ctx['cb[1]']).toBe(1);
        if (a.retval !== b.retval || Buffer.compare(Buffer.from(a.packet), Buffer.from(b.packet)) !== 0) diffs++;
      }
      expect(diffs).toBe(0);
      // Conntrack and affinity: same keys and backends (timestamps are each engine's own clock).
      for (const name of [LB_MAPS.ct4, LB_MAPS.ct6, LB_MAPS.affinity4]) {
        const strip = (o: EngineObject) =>
          o.map(name).entries().map(([k, v]) => `${Buffer.from(k).toString('hex')}=${Buffer.from(v.subarray(8)).toString('hex')}`).sort();
        expect(strip(kernel)).toEqual(strip(vm));
        expect(strip(vm).length).toBeGreaterThan(0);
      }
    } finally {
      vm.close();
      kernel.close();
    }
  });
});

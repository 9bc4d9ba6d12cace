// Replay through the endpoint programs in the VM: where each packet enters, what becomes of
// answers to dropped connections (consequences) as against retransmissions and later requests,
// duplicates, link types, and the bounds of the replay's memories.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Replayer, type PacketResult } from '../../src/datapath/replay.js';
import { DuplicateDetector, LruMap } from '../../src/datapath/replay_memory.js';
import { packetFacts, reverseTupleKey, tupleKey } from '../../src/datapath/replay_packet.js';
import { ethernet, icmpEcho, tcp, udp } from '../../src/pcap/build.js';
import { LINKTYPE_LINUX_SLL2 } from '../../src/pcap/linktype.js';
import { join } from 'node:path';
import { loadFiles } from '../../src/policy/load.js';
import { compile } from '../../src/policy/compile.js';
import { ROOT } from '../helpers/paths.js';
import { DNS, DS, Feeder, MS, NODE1, NODE2, OUT, starwars, TF, XW } from './replay-fixture.js';

let rp: Replayer;
let feed: Feeder;

beforeEach(async () => {
  rp = await Replayer.open({ compiled: starwars(), engine: 'vm' });
  feed = new Feeder(rp);
});
afterEach(() => rp.close());

const syn = (src: string, dst: string, sport: number, dport: number) => tcp({ src, dst, sport, dport, flags: 'S', seq: 1000 });
const synAck = (src: string, dst: string, sport: number, dport: number) => tcp({ src, dst, sport, dport, flags: 'SA', seq: 5000, ack: 1001 });

function programs(r: PacketResult): string[] {
  return r.flows.map((f) => `${f.twinpath.program}@${f.flow.node_name}:${f.flow.event_type.type}`);
}

describe('entry points', () => {
  it('runs a pod-to-pod packet out of the client on its node, then into the server on its node', () => {
    const r = feed.send(syn(TF, DS, 40000, 80));
    expect(r.outcome).toBe('forwarded');
    expect(r.packet).toBe(1);
    // policy verdict + trace at each program
    expect(programs(r)).toEqual([
      'cil_from_container@kind-worker2:5', 'cil_from_container@kind-worker2:4',
      'cil_to_container@kind-worker:5', 'cil_to_container@kind-worker:4',
    ]);
    expect(r.flows.map((f) => f.flow.traffic_direction)).toEqual(['EGRESS', 'EGRESS', 'INGRESS', 'INGRESS']);
    expect(r.frame).toBeDefined();
  });

  it('runs a packet from outside the pods only into the destination pod', () => {
    const r = feed.send(syn(OUT, TF, 51000, 8000));
    expect(r.outcome).toBe('forwarded');
    expect(new Set(r.flows.map((f) => f.twinpath.program))).toEqual(new Set(['cil_to_container']));
    expect(r.flows[0]!.flow.source).toEqual({ identity: 2, labels: ['reserved:world'] });
  });

  it('runs a packet from a pod to outside only out of the pod', () => {
    const r = feed.send(syn(XW, OUT, 41000, 443));
    expect(r.outcome).toBe('forwarded');
    expect(new Set(r.flows.map((f) => f.twinpath.program))).toEqual(new Set(['cil_from_container']));
  });

  it('counts a packet with no pod on either side as not handled, without a flow', () => {
    const r = feed.send(syn(NODE2, NODE1, 52000, 10250));
    expect(r).toMatchObject({ outcome: 'unhandled', flows: [] });
    expect(r.frame).toBeUndefined();
  });

  it('skips frames that are not IP and link types that cannot become Ethernet', () => {
    const arp = ethernet({ ethertype: 0x0806, payload: new Uint8Array(28) });
    expect(feed.send(arp)).toMatchObject({ outcome: 'skipped', reason: 'not an IPv4 or IPv6 packet' });
    expect(feed.send(new Uint8Array(40), { linkType: 105 }).outcome).toBe('skipped');
  });

  it('replays a Linux cooked (SLL2) record as the Ethernet frame it stands for', () => {
    const frame = udp({ src: XW, dst: DNS, sport: 41001, dport: 53, payload: 'query', srcMac: '0a:58:0a:f4:02:1e' });
    const ip = frame.subarray(14);
    const sll2 = new Uint8Array(20 + ip.length);
    const dv = new DataView(sll2.buffer);
    dv.setUint16(0, 0x0800); // protocol
    dv.setUint32(4, 7); // interface index
    dv.setUint16(8, 1); // ARPHRD_ETHER
    sll2[10] = 4; // PACKET_OUTGOING
    sll2[11] = 6;
    sll2.set([0x0a, 0x58, 0x0a, 0xf4, 0x02, 0x1e], 12);
    sll2.set(ip, 20);
    const r = feed.send(sll2, { linkType: LINKTYPE_LINUX_SLL2 });
    expect(r.outcome).toBe('forwarded');
    expect(r.flows[0]!.flow.ethernet?.source).toBe('0a:58:0a:f4:02:1e');
    expect(r.flows[0]!.flow.source?.pod_name).toBe('xwing');
    expect(r.flows.at(-1)!.flow.destination?.pod_name).toBe('coredns');
  });
});

describe('answers to dropped connections', () => {
  it('reports the SYN-ACK to a dropped SYN as its consequence, without running it', () => {
    const s = feed.send(syn(XW, DS, 40010, 80));
    expect(s).toMatchObject({ outcome: 'dropped', dropReason: 133, droppedAt: { node: 'kind-worker', program: 'cil_to_container', pod: 'default/deathstar', direction: 'ingress' } });
    const a = feed.send(synAck(DS, XW, 80, 40010));
    expect(a).toMatchObject({ outcome: 'consequence', dropReason: 133, relatedPacket: 1 });
    expect(a.flows).toHaveLength(1);
    const f = a.flows[0]!;
    expect(f.twinpath).toEqual({ packet: 2, consequence_of: 1 });
    expect(f.flow).toMatchObject({
      verdict: 'DROPPED', drop_reason: 133, drop_reason_desc: 'POLICY_DENIED', is_reply: true, reply: true,
      traffic_direction: 'INGRESS', event_type: { type: 1, sub_type: 133 }, node_name: 'kind-worker', Summary: 'TCP Flags: SYN, ACK',
    });
    expect(f.flow.IP).toEqual({ source: DS, destination: XW, ipVersion: 'IPv4' });
    expect(f.flow.source).toMatchObject({ ID: 1, identity: 256, pod_name: 'deathstar' });
    expect(f.flow.destination).toMatchObject({ identity: 258, pod_name: 'xwing' });
    expect(f.flow.destination?.ID).toBeUndefined(); // xwing is on the other node
  });

  it('reports an RST answering a dropped SYN as a consequence', () => {
    feed.send(syn(XW, DS, 40012, 8080));
    const r = feed.send(tcp({ src: DS, dst: XW, sport: 8080, dport: 40012, flags: 'RA', ack: 1001 }));
    expect(r).toMatchObject({ outcome: 'consequence', relatedPacket: 1 });
    expect(r.flows[0]!.flow.Summary).toBe('TCP Flags: ACK, RST');
  });

  it('runs a retransmitted SYN again, and ties the answer to the latest drop', () => {
    feed.send(syn(XW, DS, 40011, 80));
    const again = feed.send(syn(XW, DS, 40011, 80), { gapNs: 1000n * MS });
    expect(again.outcome).toBe('dropped');
    expect(again.flows.some((f) => f.flow.event_type.type === 5)).toBe(true); // a fresh policy verdict
    const answer = feed.send(synAck(DS, XW, 80, 40011));
    expect(answer).toMatchObject({ outcome: 'consequence', relatedPacket: 2 });
  });

  it('runs the client’s later packets of a dropped connection again, and they are dropped on their own', () => {
    feed.send(syn(XW, DS, 40010, 80));
    feed.send(synAck(DS, XW, 80, 40010));
    const ack = feed.send(tcp({ src: XW, dst: DS, sport: 40010, dport: 80, flags: 'A', seq: 1001, ack: 5001 }));
    expect(ack.outcome).toBe('dropped');
    // leaving the xwing it belongs to the connection its SYN opened there; the deathstar never saw it
    expect(ack.flows.map((f) => f.twinpath.ct_state)).toEqual(['established', 'new', 'new']);
    const data = feed.send(tcp({ src: DS, dst: XW, sport: 80, dport: 40010, flags: 'PA', seq: 5001, payload: 'hello' }));
    expect(data).toMatchObject({ outcome: 'consequence', relatedPacket: 1 });
  });

  it('treats a later echo request as a new request and its reply as a consequence of that one', () => {
    feed.send(icmpEcho({ src: XW, dst: DS, identifier: 77, sequence: 1 }));
    expect(feed.send(icmpEcho({ src: DS, dst: XW, identifier: 77, sequence: 1, reply: true }))).toMatchObject({ outcome: 'consequence', relatedPacket: 1 });
    const later = feed.send(icmpEcho({ src: XW, dst: DS, identifier: 77, sequence: 2 }), { gapNs: 1000n * MS });
    expect(later.outcome).toBe('dropped');
    const reply = feed.send(icmpEcho({ src: DS, dst: XW, identifier: 77, sequence: 2, reply: true }));
    expect(reply).toMatchObject({ outcome: 'consequence', relatedPacket: 3 });
    expect(reply.flows[0]!.flow.l4).toEqual({ ICMPv4: {} }); // echo reply: type 0, code 0
    expect(reply.flows[0]!.flow.Summary).toBe('ICMPv4 EchoReply');
  });

  it('reports a UDP response to a dropped datagram as a consequence', () => {
    expect(feed.send(udp({ src: XW, dst: DS, sport: 41001, dport: 53, payload: 'q' })).outcome).toBe('dropped');
    const r = feed.send(udp({ src: DS, dst: XW, sport: 53, dport: 41001, payload: 'a' }));
    expect(r).toMatchObject({ outcome: 'consequence', relatedPacket: 1 });
    expect(r.flows[0]!.flow.l4).toEqual({ UDP: { source_port: 53, destination_port: 41001 } });
  });

  it('answers from outside the pods: the SYN-ACK of a dropped SYN from the world', () => {
    feed.send(syn(OUT, DS, 51000, 80));
    const r = feed.send(synAck(DS, OUT, 80, 51000));
    expect(r.outcome).toBe('consequence');
    expect(r.flows[0]!.flow.destination).toEqual({ identity: 2, labels: ['reserved:world'] });
  });

  it('runs an answer that comes after conntrack would have forgotten the drop', () => {
    feed.send(syn(XW, DS, 40010, 80));
    const late = feed.send(synAck(DS, XW, 80, 40010), { gapNs: 61_000n * MS });
    expect(late.outcome).not.toBe('consequence');
    expect(late.flows.length).toBeGreaterThan(0);
  });

  it('leaves allowed connections alone: answers are run as replies', () => {
    feed.send(syn(TF, DS, 40000, 80));
    const r = feed.send(synAck(DS, TF, 80, 40000));
    expect(r.outcome).toBe('forwarded');
    expect(r.flows.map((f) => [f.flow.trace_observation_point, f.flow.is_reply, f.flow.traffic_direction])).toEqual([
      ['FROM_ENDPOINT', true, 'INGRESS'],
      ['TO_ENDPOINT', true, 'EGRESS'],
    ]);
  });

  it('forgets the oldest dropped openings past its capacity', async () => {
    const small = await Replayer.open({ compiled: starwars(), engine: 'vm', openingsCapacity: 2 });
    try {
      const f = new Feeder(small);
      for (const port of [40001, 40002, 40003]) f.send(syn(XW, DS, port, 80));
      expect(small.rememberedOpenings).toBe(2);
      expect(f.send(synAck(DS, XW, 80, 40003)).outcome).toBe('consequence');
      expect(f.send(synAck(DS, XW, 80, 40001)).outcome).not.toBe('consequence');
    } finally {
      small.close();
    }
  });
});

describe('IPv6', () => {
  // The probe tests' cluster: x/a (fd00:1::10, node-1) takes TCP/80 from y/c (fd00:2::12,
  // node-2); a Cilium deny keeps everyone off TCP/81 into namespace x.
  const probeCluster = () => compile(loadFiles([join(ROOT, 'test/fixtures/probe/cluster.yaml'), join(ROOT, 'test/fixtures/probe/policies.yaml')]));

  it('replays IPv6 between pods on two nodes, and a denylist drop with its consequence', async () => {
    const r6 = await Replayer.open({ compiled: probeCluster(), engine: 'vm' });
    try {
      const f = new Feeder(r6);
      const ok = f.send(syn('fd00:2::12', 'fd00:1::10', 40000, 80));
      expect(ok.outcome).toBe('forwarded');
      expect(ok.flows.map((x) => x.flow.node_name)).toEqual(['node-2', 'node-2', 'node-1', 'node-1']);
      expect(ok.flows[0]!.flow.IP).toEqual({ source: 'fd00:2::12', destination: 'fd00:1::10', ipVersion: 'IPv6' });
      expect(ok.flows.at(-1)!.flow.destination).toMatchObject({ namespace: 'x', pod_name: 'a' });
      const denied = f.send(syn('fd00:2::12', 'fd00:1::10', 40001, 81));
      expect(denied.outcome).toBe('dropped');
      const answer = f.send(synAck('fd00:1::10', 'fd00:2::12', 81, 40001));
      expect(answer).toMatchObject({ outcome: 'consequence', dropReason: denied.dropReason, relatedPacket: 2 });
    } finally {
      r6.close();
    }
  });
});

describe('duplicates', () => {
  it('skips the same bytes seen again within the window, and only then', () => {
    const q = udp({ src: TF, dst: DNS, sport: 41000, dport: 53, payload: 'query' });
    expect(feed.send(q).outcome).toBe('forwarded');
    expect(feed.send(q, { gapNs: 50_000n })).toMatchObject({ outcome: 'duplicate', relatedPacket: 1, flows: [] });
    expect(feed.send(q, { gapNs: 2n * MS }).outcome).toBe('forwarded');
  });

  it('compares from the IP header on: other MAC addresses are the same packet', () => {
    const a = udp({ src: TF, dst: DNS, sport: 41000, dport: 53, payload: 'query', srcMac: '02:00:00:00:00:0a' });
    const b = udp({ src: TF, dst: DNS, sport: 41000, dport: 53, payload: 'query', srcMac: '02:00:00:00:00:0b' });
    feed.send(a);
    expect(feed.send(b, { gapNs: 10_000n }).outcome).toBe('duplicate');
  });

  it('is off with a window of 0', async () => {
    const r2 = await Replayer.open({ compiled: starwars(), engine: 'vm', duplicateWindowNs: 0n });
    try {
      const f = new Feeder(r2);
      const q = udp({ src: TF, dst: DNS, sport: 41000, dport: 53, payload: 'query' });
      f.send(q);
      expect(f.send(q, { gapNs: 1n }).outcome).toBe('forwarded');
    } finally {
      r2.close();
    }
  });

  it('holds no more than its capacity', () => {
    const d = new DuplicateDetector(1_000_000_000n, 8);
    for (let i = 0; i < 100; i++) d.check(Uint8Array.of(i), BigInt(i), i + 1);
    expect(d.size).toBe(8);
    expect(d.check(Uint8Array.of(99), 100n, 101)).toBe(100);
    expect(d.check(Uint8Array.of(1), 100n, 102)).toBeUndefined();
  });
});

describe('memories and packet facts', () => {
  it('LruMap keeps the most recently used entries', () => {
    const m = new LruMap<string, number>(2);
    m.set('a', 1);
    m.set('b', 2);
    m.get('a');
    m.set('c', 3);
    expect([m.get('a'), m.get('b'), m.get('c')]).toEqual([1, undefined, 3]);
    expect(() => new LruMap(0)).toThrow(RangeError);
  });

  it('keys an echo request and its reply as one connection in two directions', () => {
    const req = packetFacts(icmpEcho({ src: XW, dst: DS, identifier: 9, sequence: 1 }))!;
    const rep = packetFacts(icmpEcho({ src: DS, dst: XW, identifier: 9, sequence: 1, reply: true }))!;
    expect(reverseTupleKey(rep)).toBe(tupleKey(req));
  });

  it('reads IPv6 through extension headers and VLAN tags', () => {
    const f = packetFacts(tcp({ src: 'fd00::1', dst: 'fd00::2', sport: 1, dport: 2, flags: 'S', vlan: [10, 20] }))!;
    expect(f).toMatchObject({ family: 6, src: 'fd00::1', dst: 'fd00::2', srcPort: 1, dstPort: 2, tcpFlags: 2, l3: 22 });
  });
});

describe('services', () => {
  // The Star Wars cluster with its Services load balanced: the deathstar (kind-worker) behind
  // ClusterIP 10.96.50.10:80 and NodePort 30080 on both nodes.
  const VIP = '10.96.50.10';
  let rs: Replayer;
  let f: Feeder;
  beforeEach(async () => {
    const inputs = loadFiles([join(ROOT, 'captures/starwars/cluster.yaml'), join(ROOT, 'captures/starwars/policy.yaml')]);
    rs = await Replayer.open({ compiled: compile(inputs), cluster: inputs.cluster, engine: 'vm' });
    f = new Feeder(rs);
  });
  afterEach(() => rs.close());

  it('translates a ClusterIP in the client’s program, and the backend’s answer goes back as a reply', () => {
    const out = f.send(syn(TF, VIP, 40100, 80));
    expect(out.outcome).toBe('forwarded');
    expect(programs(out)).toEqual(['cil_from_container@kind-worker2:5', 'cil_from_container@kind-worker2:4', 'cil_to_container@kind-worker:5', 'cil_to_container@kind-worker:4']);
    expect(out.flows.at(-1)!.flow.IP!.destination).toBe(DS);
    expect(packetFacts(out.frame!)!.dst).toBe(DS);
    const back = f.send(synAck(DS, TF, 80, 40100));
    expect(back.outcome).toBe('forwarded');
    // Restored to the Service address on its way into the client.
    expect(packetFacts(back.frame!)!.src).toBe(VIP);
  });

  it('a denied ClusterIP connection: the backend’s answer is a consequence of the drop', () => {
    const denied = f.send(syn(XW, VIP, 40110, 80));
    expect(denied).toMatchObject({ outcome: 'dropped', dropReason: 133, droppedAt: { pod: 'default/deathstar', direction: 'ingress' } });
    expect(f.send(synAck(DS, XW, 80, 40110))).toMatchObject({ outcome: 'consequence', relatedPacket: 1 });
  });

  it('a NodePort from outside enters through the node’s cil_from_netdev; to a backend on another node, through that node’s too', () => {
    const here = f.send(syn(OUT, NODE1, 51100, 30080));
    expect(here).toMatchObject({ outcome: 'dropped', droppedAt: { node: 'kind-worker', program: 'cil_from_netdev', pod: 'default/deathstar' } });
    expect(f.send(synAck(DS, OUT, 80, 51100))).toMatchObject({ outcome: 'consequence', relatedPacket: 1 });
    const there = f.send(syn(OUT, NODE2, 51101, 30080));
    expect(programs(there)).toEqual(['cil_from_netdev@kind-worker2:4', 'cil_from_netdev@kind-worker:5', 'cil_from_netdev@kind-worker:1']);
    expect(there.flows[0]!.flow.trace_observation_point).toBe('FROM_NETWORK');
    expect(there).toMatchObject({ outcome: 'dropped', droppedAt: { node: 'kind-worker', pod: 'default/deathstar' } });
  });

  it('a node address that is no frontend, and a replay without the cluster, stay unhandled', async () => {
    expect(f.send(syn(OUT, NODE1, 51102, 10250)).outcome).toBe('unhandled');
    const plain = new Feeder(rp);
    expect(plain.send(syn(OUT, NODE1, 51100, 30080)).outcome).toBe('unhandled');
  });
});

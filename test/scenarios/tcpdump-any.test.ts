// A real capture: `tcpdump -i any` in the node namespace of a throwaway two-pod network while a
// client talks TCP and UDP to a server (test/scenarios/tcpdump-net.ts), replayed against a cluster
// YAML describing those addresses (captures/tcpdump-any/) with a policy that lets in only the
// TCP. Checks the link type tcpdump wrote (Linux cooked v2 from tcpdump 4.99 with libpcap 1.10;
// v1 from older ones, which the replay reads too), the verdicts, the consequence of the refused
// datagram, and that the copies `any` records of each packet are recognised as duplicates.
// Needs root (namespaces) and tcpdump. The committed example (captures/tcpdump-any/any.pcap) was
// taken by this test; TWINPATH_UPDATE_TCPDUMP_EXAMPLE=1 takes it again.

import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { Replayer, type PacketResult } from '../../src/datapath/replay.js';
import { readCapture, readCaptureSync } from '../../src/pcap/reader.js';
import { LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2, toEthernet } from '../../src/pcap/linktype.js';
import { packetFacts } from '../../src/datapath/replay_packet.js';
import { loadFiles } from '../../src/policy/load.js';
import { compile } from '../../src/policy/compile.js';
import { describeKernel } from '../helpers/kernel.js';
import { ROOT } from '../helpers/paths.js';
import { captureTraffic, CLIENT_IP, createPodNetwork, SERVER_IP, TCP_PORT, UDP_PORT } from './tcpdump-net.js';

const DIR = join(ROOT, 'captures/tcpdump-any');
const tmp = mkdtempSync(join(tmpdir(), 'twinpath-tcpdump-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function hasTcpdump(): boolean {
  try {
    execFileSync('tcpdump', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** The link type in a classic pcap file header. */
function linkTypeOf(file: string): number {
  const b = readFileSync(file);
  return b.readUInt32LE(0) === 0xa1b2c3d4 || b.readUInt32LE(0) === 0xa1b23c4d ? b.readUInt32LE(20) : b.readUInt32BE(20);
}

async function replayAll(file: string, engine: 'vm' | 'kernel'): Promise<PacketResult[]> {
  const inputs = loadFiles([join(DIR, 'cluster.yaml'), join(DIR, 'policy.yaml')]);
  const replayer = await Replayer.open({ compiled: compile(inputs), cluster: inputs.cluster, engine });
  const out: PacketResult[] = [];
  try {
    for await (const r of readCapture(file)) out.push(replayer.packet(r));
  } finally {
    replayer.close();
  }
  return out;
}

/** What every test of a capture of this traffic must find, whatever the exact packet count. */
function checkFlows(results: PacketResult[], file: string): void {
  const records = readCaptureSync(readFileSync(file));
  const facts = (r: PacketResult) => {
    const eth = toEthernet(records[r.packet - 1]!);
    return 'frame' in eth ? packetFacts(eth.frame) : null;
  };
  const between = results.filter((r) => {
    const f = facts(r);
    return f !== null && [f.src, f.dst].sort().join() === [CLIENT_IP, SERVER_IP].sort().join();
  });
  const tcp = between.filter((r) => facts(r)!.protocol === 6);
  const udp = between.filter((r) => facts(r)!.protocol === 17);
  // The pods' packets: TCP all through (handshake, request, answer, teardown), the datagram
  // refused at the server's ingress, its echo a consequence of that drop.
  const tcpFirst = tcp.filter((r) => r.outcome !== 'duplicate');
  expect(tcpFirst.length).toBeGreaterThanOrEqual(7); // SYN, SYN-ACK, ACK, request, answer, FIN, FIN ... ACK
  for (const r of tcpFirst) expect(r.outcome).toBe('forwarded');
  expect(tcpFirst[0]!.flows.map((f) => f.flow.Summary)).toContain('TCP Flags: SYN');
  expect(facts(tcpFirst[0]!)!.dstPort).toBe(TCP_PORT);
  const udpFirst = udp.filter((r) => r.outcome !== 'duplicate');
  expect(udpFirst.map((r) => r.outcome)).toEqual(['dropped', 'consequence']);
  expect(udpFirst[0]!.dropReason).toBe(133);
  expect(udpFirst[0]!.droppedAt).toMatchObject({ pod: 'default/server', direction: 'ingress' });
  expect(facts(udpFirst[0]!)!.dstPort).toBe(UDP_PORT);
  expect(udpFirst[1]!.relatedPacket).toBe(udpFirst[0]!.packet);
  // `any` recorded a packet on the client's veth and again on the server's (the bridge forwards
  // between them without passing it up): the copies are duplicates of the first.
  const dups = between.filter((r) => r.outcome === 'duplicate');
  expect(dups.length).toBeGreaterThanOrEqual(tcpFirst.length);
  expect(dups.length).toBeLessThanOrEqual(tcpFirst.length + udpFirst.length);
  for (const d of dups) expect(between.find((r) => r.packet === d.relatedPacket)!.outcome).not.toBe('duplicate');
}


it('the committed example (taken once with tcpdump -i any) replays without root', async () => {
  const file = join(DIR, 'any.pcap');
  expect(linkTypeOf(file)).toBe(LINKTYPE_LINUX_SLL2);
  checkFlows(await replayAll(file, 'vm'), file);
});

describeKernel('tcpdump -i any on a live two-pod network', () => {
  it.skipIf(!hasTcpdump())('captures real traffic, and the replay finds its verdicts and duplicates in both engines', async () => {
    const net = createPodNetwork();
    const file = join(tmp, 'any.pcap');
    let said: string;
    try {
      said = await captureTraffic(net, file);
    } finally {
      net.remove();
    }
    // tcpdump 4.99 with libpcap 1.10 writes Linux cooked v2 for `any`; older ones v1.
    const lt = linkTypeOf(file);
    expect([LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2]).toContain(lt);
    expect(said).toMatch(lt === LINKTYPE_LINUX_SLL2 ? /LINUX_SLL2/ : /LINUX_SLL\b/);
    const vm = await replayAll(file, 'vm');
    checkFlows(vm, file);
    const kernel = await replayAll(file, 'kernel');
    expect(kernel.map((r) => [r.outcome, r.dropReason, r.flows.map((f) => f.flow)])).toEqual(vm.map((r) => [r.outcome, r.dropReason, r.flows.map((f) => f.flow)]));
    if (process.env.TWINPATH_UPDATE_TCPDUMP_EXAMPLE === '1') copyFileSync(file, join(DIR, 'any.pcap'));
  });
});

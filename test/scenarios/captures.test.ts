// The bundled captures are what their specs say: regenerated in process and byte-compared, and
// through the script CI runs (scripts/gen-replay-captures.mjs --check); what the spec language
// builds (fragments, ICMP errors, VLAN tags, SCTP) read back with the replay's own parser; spec
// errors named by file and path.

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseScenarioSpec, scenarioRecords, type ScenarioSpec } from '../../src/datapath/replay_scenario.js';
import { packetFacts } from '../../src/datapath/replay_packet.js';
import { encodePcapng } from '../../src/pcap/writer.js';
import { readCaptureSync } from '../../src/pcap/reader.js';
import { internetChecksumValid } from '../../src/pcap/checksum.js';
import { isTwinpathError } from '../../src/errors.js';
import { ROOT } from '../helpers/paths.js';
import { SCENARIOS } from './scenarios.js';

function specOf(name: string): ScenarioSpec {
  const rel = `captures/${name}/${name}.spec.json`;
  return parseScenarioSpec(readFileSync(join(ROOT, rel), 'utf8'), rel);
}

describe('bundled captures', () => {
  // The tcpdump capture is a real one: it has no spec.
  const generated = SCENARIOS.filter((s) => s.name !== 'tcpdump-any');
  for (const s of generated) {
    it(`${s.name}: the committed capture is its spec's, byte for byte`, async () => {
      const bytes = await encodePcapng(scenarioRecords(specOf(s.name)), { application: 'twinpath gen-replay-captures' });
      expect(Buffer.from(bytes).equals(readFileSync(s.capture))).toBe(true);
    });
  }

  it('gen-replay-captures --check agrees (what CI runs)', () => {
    const out = execFileSync('node', ['scripts/gen-replay-captures.mjs', '--check'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    for (const s of generated) expect(out).toContain(`captures/${s.name}/${s.name}.pcapng: current`);
  }, 120_000);
});

const HOSTS = {
  a: { ip: '10.0.0.1', ip6: 'fd00::1', mac: '02:00:00:00:00:01' },
  b: { ip: '10.0.0.2', ip6: 'fd00::2', mac: '02:00:00:00:00:02' },
};

function records(packets: unknown[]) {
  const spec = parseScenarioSpec(JSON.stringify({ description: 't', start: '2024-01-01T00:00:00Z', output: 't.pcapng', hosts: HOSTS, packets }), 't.spec.json');
  return scenarioRecords(spec, 't.spec.json');
}

describe('the spec language', () => {
  it('fragments IPv4 and IPv6 payloads; later fragments carry no ports', () => {
    const r = records([
      { ms: 0, from: 'a', to: 'b', udp: [1000, 2000], payload: 'x', size: 3000, fragment: 1480 },
      { ms: 1, from: 'a', to: 'b', v6: true, udp: [1000, 2000], payload: 'x', size: 2000, fragment: 1232 },
    ]);
    expect(r).toHaveLength(5);
    const f = r.map((x) => packetFacts(x.data)!);
    expect(f.map((x) => x.laterFragment)).toEqual([false, true, true, false, true]);
    expect(f[0]!.dstPort).toBe(2000);
    expect(f[1]!.dstPort).toBe(0);
    expect(f[3]!.family).toBe(6);
    // The IPv4 header checksum of every fragment is right; the payload adds up to the datagram.
    for (const x of r.slice(0, 3)) expect(internetChecksumValid(x.data.subarray(14, 34))).toBe(true);
    expect(r.slice(0, 3).reduce((n, x) => n + x.data.length - 34, 0)).toBe(8 + 3000);
    // Fragments leave a microsecond apart.
    expect(r[1]!.timestampNs - r[0]!.timestampNs).toBe(1000n);
  });

  it('an ICMP error quotes the packet it answers, with a valid checksum', () => {
    const r = records([
      { ms: 0, from: 'a', to: 'b', udp: [1000, 9999], payload: 'hello' },
      { ms: 1, from: 'b', to: 'a', icmpError: { type: 3, code: 3, quote: 0 } },
      { ms: 2, from: 'a', to: 'b', v6: true, tcp: [1000, 80], flags: 'S' },
      { ms: 3, from: 'b', to: 'a', v6: true, icmpError: { type: 2, code: 0, mtu: 1280, quote: 2 } },
    ]);
    const icmp = r[1]!.data.subarray(34);
    expect([icmp[0], icmp[1]]).toEqual([3, 3]);
    expect(Buffer.from(icmp.subarray(8)).equals(Buffer.from(r[0]!.data.subarray(14)))).toBe(true);
    expect(internetChecksumValid(icmp)).toBe(true);
    const v6 = r[3]!.data.subarray(54);
    expect(v6[0]).toBe(2);
    expect(new DataView(v6.buffer, v6.byteOffset).getUint32(4)).toBe(1280);
    expect(packetFacts(r[3]!.data)!.protocol).toBe(58);
  });

  it('VLAN tags, SCTP INIT and INIT-ACK, "again"', () => {
    const r = records([
      { ms: 0, from: 'a', to: 'b', vlan: 100, sctp: [5000, 36412], chunk: 'init' },
      { ms: 1, from: 'b', to: 'a', vlan: [10, 20], sctp: [36412, 5000], chunk: 'init-ack' },
      { ms: 2, again: true },
    ]);
    expect([r[0]!.data[12], r[0]!.data[13]]).toEqual([0x81, 0x00]);
    const f = r.map((x) => packetFacts(x.data)!);
    expect(f[0]!.protocol).toBe(132);
    expect(f[1]!.l3).toBe(22);
    expect([f[1]!.srcPort, f[1]!.dstPort]).toEqual([36412, 5000]);
    expect(r[2]!.data).toBe(r[1]!.data);
  });

  it('errors name the file and the path of the bad field', () => {
    const bad = (packets: unknown[], path: string) => {
      try {
        records(packets);
        expect.unreachable();
      } catch (e) {
        expect(isTwinpathError(e) && e.code).toBe('SCENARIO_BAD_SPEC');
        expect(isTwinpathError(e) && e.location).toEqual({ file: 't.spec.json', path });
      }
    };
    bad([{ ms: 0, from: 'a', to: 'b', tcp: [1, 2], colour: 'red' }], 'packets[0].colour');
    bad([{ ms: 0, from: 'a', to: 'b', tcp: [1, 2], udp: [1, 2] }], 'packets[0]');
    bad([{ ms: 0, from: 'a', to: 'nobody', tcp: [1, 2] }], 'packets[0].to');
    bad([{ ms: 0, from: 'a', to: 'b', udp: [1, 2], fragment: 100 }], 'packets[0].fragment');
    bad([{ ms: 0, from: 'a', to: 'b', icmpError: { type: 3, code: 3, quote: 0 } }], 'packets[0].icmpError.quote');
    bad([{ ms: 0, from: 'a', to: 'b', sctp: [1, 2], chunk: 'cookie-echo' }], 'packets[0].chunk');
  });
});

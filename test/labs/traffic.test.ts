// Traffic specs: what a flow becomes, refusals with positions, and the committed captures: each
// must be exactly what scripts/gen-lab-captures.mjs makes of its spec, and every pod a spec names
// must have the address the lab's cluster gives it.

import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { listLabs } from '../../src/labs/catalog.js';
import { expandTraffic, parseTrafficSpec, readTrafficSpec, TRAFFIC_START_NS, TRAFFIC_STEP_NS } from '../../src/labs/traffic.js';
import { parseLabText } from '../../src/labs/yamlfile.js';
import { encodePcap } from '../../src/pcap/writer.js';
import { readCaptureSync } from '../../src/pcap/index.js';
import { loadFiles } from '../../src/policy/load.js';
import { TwinpathError } from '../../src/errors.js';

function spec(obj: unknown) {
  return parseTrafficSpec(parseLabText(JSON.stringify(obj, null, 2), 'traffic.json'));
}

const ADDR = { 'a/client': '10.0.0.1', 'a/server': '10.0.0.2', 'b/v6': 'fd00::2' };

describe('expansion', () => {
  test('TCP with a request and a response: SYN, SYN-ACK, ACK, request, response', () => {
    const t = expandTraffic(spec({ addresses: ADDR, flows: [{ name: 'web', from: 'a/client', to: 'a/server', protocol: 'TCP', port: 80, request: 'GET /', response: 'OK' }] }));
    expect(t.packets.map((p) => p.direction)).toEqual(['request', 'reply', 'request', 'request', 'reply']);
    expect(t.flows[0]).toMatchObject({ requests: [1, 3, 4], replies: [2, 5], clientPort: 32768, fromIp: '10.0.0.1', toIp: '10.0.0.2' });
    const flags = t.packets.map((p) => p.frame[14 + 20 + 13]);
    expect(flags).toEqual([0x02, 0x12, 0x10, 0x18, 0x18]);
    expect(t.packets.map((p) => p.timeNs)).toEqual([0, 1, 2, 3, 4].map((i) => TRAFFIC_START_NS + BigInt(i) * TRAFFIC_STEP_NS));
  });

  test('unanswered flows, UDP, ICMP echo, and client ports counting up', () => {
    const t = expandTraffic(spec({ addresses: ADDR, flows: [
      { name: 'syn', from: 'a/client', to: 'a/server', protocol: 'TCP', port: 22, answer: false },
      { name: 'dns', from: 'a/client', to: 'a/server', protocol: 'UDP', port: 53 },
      { name: 'ping', from: 'a/client', to: 'ip:192.0.2.1', protocol: 'ICMP' },
    ] }));
    expect(t.flows.map((f) => [f.name, f.requests, f.replies, f.clientPort])).toEqual([
      ['syn', [1], [], 32768], ['dns', [2], [3], 32769], ['ping', [4], [5], 32770],
    ]);
    expect(t.packets[3]!.frame[14 + 9]).toBe(1); // IPPROTO_ICMP
  });

  test('truncate cuts the frame and keeps the original length', () => {
    const t = expandTraffic(spec({ flows: [{ name: 'runt', from: 'ip:10.0.0.1', to: 'ip:10.0.0.2', protocol: 'UDP', port: 9, answer: false, truncate: 36 }] }));
    expect(t.packets[0]!.frame.length).toBe(36);
    expect(t.packets[0]!.originalLength).toBe(14 + 20 + 8 + 'request'.length);
  });

  test('a flow to a frontend answered by a backend: replies from replyFrom and replyPort, or from the backend a check asks for', () => {
    const s = spec({ addresses: ADDR, flows: [{ name: 'svc', from: 'a/client', to: 'ip:10.96.0.10', protocol: 'TCP', port: 80, response: 'OK', replyFrom: 'a/server', replyPort: 8080 }] });
    const t = expandTraffic(s);
    expect(t.flows[0]).toMatchObject({ toIp: '10.96.0.10', replyIp: '10.0.0.2', replyPortNumber: 8080 });
    const ip = (f: Uint8Array, at: number) => [...f.subarray(at, at + 4)].join('.');
    const port = (f: Uint8Array, at: number) => (f[at]! << 8) | f[at + 1]!;
    const [syn, synAck, , response] = t.packets;
    expect([ip(syn!.frame, 30), port(syn!.frame, 36)]).toEqual(['10.96.0.10', 80]);
    for (const r of [synAck!, response!]) expect([ip(r.frame, 26), port(r.frame, 34), ip(r.frame, 30)]).toEqual(['10.0.0.2', 8080, '10.0.0.1']);
    // A check whose datapath chose another backend asks for that backend's replies; requests stay.
    const other = expandTraffic(s, { replyFrom: new Map([['svc', { ip: '10.0.0.9', port: 9090 }]]) });
    expect(other.packets[0]!.frame).toEqual(syn!.frame);
    expect([ip(other.packets[1]!.frame, 26), port(other.packets[1]!.frame, 34)]).toEqual(['10.0.0.9', 9090]);
    // replyPort defaults to the flow's port; without replyFrom the destination answers.
    expect(expandTraffic(spec({ addresses: ADDR, flows: [{ name: 'u', from: 'a/client', to: 'ip:10.96.0.10', protocol: 'UDP', port: 53, replyFrom: 'a/server' }] })).flows[0]).toMatchObject({ replyIp: '10.0.0.2', replyPortNumber: 53 });
    expect(expandTraffic(spec({ addresses: ADDR, flows: [{ name: 'd', from: 'a/client', to: 'a/server', protocol: 'TCP', port: 80 }] })).flows[0]).toMatchObject({ replyIp: '10.0.0.2', replyPortNumber: 80 });
  });

  test('the same spec gives the same bytes', () => {
    const s = { addresses: ADDR, flows: [{ name: 'v6', from: 'ip:fd00::1', to: 'b/v6', protocol: 'TCP', port: 443 }] };
    expect(expandTraffic(spec(s)).packets.map((p) => p.frame)).toEqual(expandTraffic(spec(s)).packets.map((p) => p.frame));
  });
});

describe('refusals', () => {
  const cases: Array<[string, unknown, string]> = [
    ['an unknown pod', { flows: [{ name: 'x', from: 'a/nobody', to: 'ip:10.0.0.1', protocol: 'TCP', port: 1 }] }, 'flows[0].from'],
    ['two families', { addresses: ADDR, flows: [{ name: 'x', from: 'a/client', to: 'b/v6', protocol: 'TCP', port: 1 }] }, 'flows[0]'],
    ['a port on ICMP', { flows: [{ name: 'x', from: 'ip:10.0.0.1', to: 'ip:10.0.0.2', protocol: 'ICMP', port: 1 }] }, 'flows[0].port'],
    ['ICMPv6 between IPv4 addresses', { flows: [{ name: 'x', from: 'ip:10.0.0.1', to: 'ip:10.0.0.2', protocol: 'ICMPv6' }] }, 'flows[0].protocol'],
    ['a flow named twice', { flows: [{ name: 'x', from: 'ip:10.0.0.1', to: 'ip:10.0.0.2', protocol: 'UDP', port: 1 }, { name: 'x', from: 'ip:10.0.0.1', to: 'ip:10.0.0.2', protocol: 'UDP', port: 2 }] }, 'flows[1].name'],
    ['a bad address', { addresses: { 'a/b': '10.0.0.300' }, flows: [] }, 'addresses.a/b'],
    ['an unknown field', { flows: [{ name: 'x', from: 'ip:10.0.0.1', to: 'ip:10.0.0.2', protocol: 'UDP', port: 1, dport: 2 }] }, 'flows[0].dport'],
    ['replyFrom on an unanswered flow', { flows: [{ name: 'x', from: 'ip:10.0.0.1', to: 'ip:10.96.0.1', protocol: 'TCP', port: 80, answer: false, replyFrom: 'ip:10.0.0.2' }] }, 'flows[0].replyFrom'],
    ['replyFrom an unknown pod', { flows: [{ name: 'x', from: 'ip:10.0.0.1', to: 'ip:10.96.0.1', protocol: 'TCP', port: 80, replyFrom: 'a/nobody' }] }, 'flows[0].replyFrom'],
    ['replyPort without replyFrom', { flows: [{ name: 'x', from: 'ip:10.0.0.1', to: 'ip:10.96.0.1', protocol: 'TCP', port: 80, replyPort: 8080 }] }, 'flows[0].replyPort'],
    ['replyPort on ICMP', { flows: [{ name: 'x', from: 'ip:10.0.0.1', to: 'ip:10.96.0.1', protocol: 'ICMP', replyFrom: 'ip:10.0.0.2', replyPort: 1 }] }, 'flows[0].replyPort'],
    ['replyFrom of the other family', { flows: [{ name: 'x', from: 'ip:10.0.0.1', to: 'ip:10.96.0.1', protocol: 'UDP', port: 53, replyFrom: 'ip:fd00::2' }] }, 'flows[0]'],
  ];
  for (const [what, s, path] of cases) {
    test(what, () => {
      let err: unknown;
      try {
        spec(s);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(TwinpathError);
      expect((err as TwinpathError).code).toBe('LAB_BAD_FILE');
      expect((err as TwinpathError).location).toMatchObject({ file: 'traffic.json', path });
      expect((err as TwinpathError).location.line).toBeGreaterThan(0);
    });
  }
});

describe('the committed captures', () => {
  for (const lab of listLabs().filter((l) => l.traffic !== undefined)) {
    test(`${lab.slug}: traffic.pcap is what its spec gives (run scripts/gen-lab-captures.mjs after changing it)`, async () => {
      const { packets } = expandTraffic(readTrafficSpec(lab.traffic!));
      const want = await encodePcap(
        packets.map((p) => ({ timestampNs: p.timeNs, data: p.frame, originalLength: p.originalLength, linkType: 1 })),
        { linkType: 1, nanosecond: true },
      );
      const have = new Uint8Array(readFileSync(lab.traffic!.replace(/\.json$/, '.pcap')));
      expect(Buffer.from(have).equals(Buffer.from(want))).toBe(true);
      expect(readCaptureSync(have).length).toBe(packets.length);
    });
    if (lab.cluster) {
      test(`${lab.slug}: every pod the spec names has that address in the cluster`, () => {
        const pods = new Map(loadFiles([lab.cluster!]).cluster.pods.map((p) => [`${p.namespace}/${p.name}`, p.ips]));
        const s = readTrafficSpec(lab.traffic!);
        expect(s.addresses.size).toBeGreaterThan(0);
        for (const [name, ip] of s.addresses) expect(pods.get(name), name).toContain(ip);
      });
    }
  }
});

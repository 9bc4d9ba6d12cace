// Flow events: address formatting, the decoder on hand-made records, and flowEvents() on runs.

import { describe, expect, it } from 'vitest';
import { DROP_REASONS, FLOW_EVENT_LAYOUT, decodeFlowEvent, flowEvents, formatIp } from '../../src/datapath/flow.js';
import type { RunOutput } from '../../src/engine/engine.js';
import { parseIp } from '../../src/pcap/build.js';

describe('formatIp', () => {
  it('writes IPv4 dotted and IPv6 as RFC 5952 says', () => {
    const cases: [string, string][] = [
      ['10.0.1.2', '10.0.1.2'],
      ['0.0.0.0', '0.0.0.0'],
      ['::', '::'],
      ['::1', '::1'],
      ['1::', '1::'],
      ['fd00:0:0:0:0:0:1:1', 'fd00::1:1'],
      // One zero group is not shortened; of two equal runs the first is.
      ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
      ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'],
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
      ['FE80:0000:0000:0000:0202:B3FF:FE1E:8329', 'fe80::202:b3ff:fe1e:8329'],
    ];
    for (const [input, text] of cases) expect(formatIp(parseIp(input)), input).toBe(text);
  });
});

function record(fill: (dv: DataView, b: Uint8Array) => void): Uint8Array {
  const b = new Uint8Array(FLOW_EVENT_LAYOUT.size);
  fill(new DataView(b.buffer), b);
  return b;
}

describe('decodeFlowEvent', () => {
  const f = FLOW_EVENT_LAYOUT.fields;

  it('decodes a dropped IPv6 TCP packet', () => {
    const ev = decodeFlowEvent(record((dv, b) => {
      b[f.verdict] = 2;
      b[f.drop_reason] = 181;
      b[f.direction] = 0;
      b[f.obs_point] = 2;
      b[f.ct_state] = 1;
      b[f.family] = 6;
      b[f.protocol] = 6;
      b[f.tcp_flags] = 0x02;
      dv.setUint16(f.endpoint_id, 102, true);
      dv.setUint16(f.src_port, 40000, true);
      dv.setUint16(f.dst_port, 80, true);
      dv.setUint32(f.ifindex, 12, true);
      dv.setUint32(f.src_identity, 1001, true);
      dv.setUint32(f.dst_identity, 1002, true);
      dv.setUint32(f.rule_id, 7, true);
      dv.setUint32(f.length, 74, true);
      b[f.flags] = 0x08;
      b[f.policy_match] = 2;
      b[f.match_prefix] = 24;
      dv.setUint16(f.ethertype, 0x86dd, true);
      dv.setUint16(f.vlan_id, 100, true);
      b.set(parseIp('fd00::1:1'), f.src);
      b.set(parseIp('fd00::1:2'), f.dst);
    }));
    expect(ev).toEqual({
      verdict: 'DROPPED', dropReason: 181, dropReasonName: 'Policy denied by denylist', direction: 'ingress',
      observationPoint: 'to-endpoint', endpointId: 102, ifindex: 12, srcIdentity: 1001, dstIdentity: 1002, ruleId: 7,
      isReply: false, ctState: 'new', family: 6, src: 'fd00::1:1', dst: 'fd00::1:2', srcPort: 40000, dstPort: 80, protocol: 6,
      tcpFlags: 2, length: 74, proxyPort: 0, icmpType: 0, icmpCode: 0, policyMatch: 'wildcard', matchPrefix: 24,
      noEndpoint: false, fragment: false, laterFragment: false, icmpError: false, ethertype: 0x86dd, vlanId: 100, vlan: true,
    });
  });

  it('decodes a forwarded reply and a packet on no endpoint', () => {
    const reply = decodeFlowEvent(record((dv, b) => {
      b[f.verdict] = 1;
      b[f.direction] = 1;
      b[f.obs_point] = 1;
      b[f.ct_state] = 3;
      b[f.is_reply] = 1;
      b[f.family] = 4;
      b.set([10, 0, 1, 2], f.src);
      b.set([10, 0, 1, 1], f.dst);
      dv.setUint16(f.proxy_port, 15001, true);
    }));
    expect(reply).toMatchObject({ verdict: 'FORWARDED', dropReason: 0, direction: 'egress', observationPoint: 'from-endpoint', ctState: 'reply', isReply: true, src: '10.0.1.2', dst: '10.0.1.1', proxyPort: 15001 });
    expect(reply.dropReasonName).toBeUndefined();
    const arp = decodeFlowEvent(record((_dv, b) => {
      b[f.verdict] = 1;
      b[f.flags] = 0x80;
    }));
    expect(arp).toMatchObject({ family: 0, src: '', dst: '', noEndpoint: true, ctState: 'none', policyMatch: 'none' });
  });

  it('decodes the service translation of a request and of a reply, and none when no frontend was involved', () => {
    const dnat = decodeFlowEvent(record((dv, b) => {
      b[f.verdict] = 1;
      b[f.obs_point] = 1;
      b[f.direction] = 1;
      b[f.family] = 4;
      b.set(parseIp('10.0.0.7'), f.src);
      b.set(parseIp('10.0.1.3'), f.dst);
      b.set(parseIp('10.96.0.10'), f.svc_addr);
      dv.setUint16(f.svc_port, 80, true);
      dv.setUint32(f.backend_id, 3, true);
      dv.setUint16(f.rev_nat, 2, true);
      b[f.lb_xlate] = 1;
      b[f.lb_sel] = 3;
      dv.setUint16(f.svc_flags, 0x2 | 0x1, true);
    }));
    expect(dnat.service).toEqual({
      translation: 'dnat', frontend: '10.96.0.10', frontendPort: 80, backendId: 3, revNatIndex: 2,
      selection: 'maglev', frontendType: 'ClusterIP', local: false, affinity: true,
    });
    const rev = decodeFlowEvent(record((dv, b) => {
      b[f.obs_point] = 3;
      b[f.family] = 6;
      b.set(parseIp('fd00:96::a'), f.svc_addr);
      dv.setUint16(f.svc_port, 30080, true);
      dv.setUint32(f.backend_id, 9, true);
      dv.setUint16(f.rev_nat, 5, true);
      b[f.lb_xlate] = 2;
    }));
    expect(rev.observationPoint).toBe('from-network');
    expect(rev.service).toEqual({ translation: 'rev-nat', frontend: 'fd00:96::a', frontendPort: 30080, backendId: 9, revNatIndex: 5 });
    const nobackend = decodeFlowEvent(record((dv, b) => {
      b[f.verdict] = 2;
      b[f.drop_reason] = 158;
      b[f.family] = 4;
      b.set(parseIp('10.96.0.99'), f.svc_addr);
      dv.setUint16(f.svc_port, 80, true);
      dv.setUint16(f.rev_nat, 7, true);
      dv.setUint16(f.svc_flags, 0x4 | 0x10, true);
    }));
    expect(nobackend).toMatchObject({ dropReasonName: 'Service backend not found' });
    expect(nobackend.service).toEqual({ translation: 'none', frontend: '10.96.0.99', frontendPort: 80, backendId: 0, revNatIndex: 7, frontendType: 'NodePort', local: true, affinity: false });
    expect(decodeFlowEvent(record(() => {})).service).toBeUndefined();
    // A record of an object older than the service fields: 80 bytes, read without them.
    const old = record((_dv, b) => { b[f.family] = 4; b[f.lb_xlate] = 1; }).subarray(0, 80);
    expect(decodeFlowEvent(old)).toMatchObject({ family: 4 });
    expect(decodeFlowEvent(old).service).toBeUndefined();
    expect(() => decodeFlowEvent(new Uint8Array(96))).toThrow(/112 bytes/);
  });

  it('names every reason the datapath uses with Cilium\'s words, and says so for others', () => {
    expect(Object.keys(DROP_REASONS).map(Number)).toEqual([133, 134, 137, 139, 141, 155, 156, 158, 168, 175, 181]);
    expect(decodeFlowEvent(record((_dv, b) => { b[f.verdict] = 2; b[f.drop_reason] = 200; })).dropReasonName).toBe('unknown reason 200');
  });

  it('refuses a short record', () => {
    expect(() => decodeFlowEvent(new Uint8Array(79))).toThrow(expect.objectContaining({ code: 'DATAPATH_ERROR' }));
  });
});

describe('flowEvents', () => {
  it('decodes the ring buffer records of the events map only', () => {
    const f = FLOW_EVENT_LAYOUT.fields;
    const rec = record((_dv, b) => { b[f.verdict] = 1; b[f.family] = 4; });
    const out: RunOutput = {
      retval: 0,
      packet: new Uint8Array(0),
      ctx: {},
      events: [
        { kind: 'ringbuf', map: 'cilium_events', data: rec },
        { kind: 'ringbuf', map: 'other', data: new Uint8Array(3) },
        { kind: 'trace', data: new Uint8Array(3) },
      ],
    };
    expect(flowEvents(out).map((e) => e.verdict)).toEqual(['FORWARDED']);
  });
});

// The XDP prefilter (bpf/datapath/prefilter.bpf.o) in both engines: sources in the deny list
// dropped, everything else passed (IPv4, IPv6, VLAN and QinQ tags, non-IP, truncated and
// malformed frames), counters per verdict, the same verdict, bytes and counters from the VM
// and from the kernel's test run; the deny list's parsing, canonical form and live changes.

import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { readObject } from '../../src/elf/object.js';
import { getEngine } from '../../src/engine/index.js';
import type { EngineKind, EngineObject } from '../../src/engine/engine.js';
import { isTwinpathError } from '../../src/errors.js';
import { ethernet, icmpEcho, tcp, udp } from '../../src/pcap/build.js';
import {
  applyPrefilter, parsePrefilterCidrs, PREFILTER_MAPS, PREFILTER_OBJECT, PROG_XDP_PREFILTER, readPrefilter, readPrefilterCounters,
  XDP_DROP, XDP_PASS,
} from '../../src/node/prefilter.js';
import { describeKernel } from '../helpers/kernel.js';

const DENY = ['198.51.100.0/24', '203.0.113.9', '2001:db8:bad::/48', '2001:db8::7/128'];

function ipv4Header(src: number[], version = 4): Uint8Array {
  const h = new Uint8Array(20);
  h[0] = (version << 4) | 5;
  h[9] = 17;
  h.set(src, 12);
  h.set([10, 0, 0, 1], 16);
  return h;
}

/** Name, frame, and the verdict the deny list above must give it. */
const CASES: Array<{ name: string; packet: Uint8Array; verdict: number }> = [
  { name: 'v4 TCP from a denied /24', packet: tcp({ src: '198.51.100.7', dst: '10.0.0.1', srcPort: 40000, dstPort: 80, flags: 'S' }), verdict: XDP_DROP },
  { name: 'v4 TCP from just outside it', packet: tcp({ src: '198.51.101.1', dst: '10.0.0.1', srcPort: 40000, dstPort: 80, flags: 'S' }), verdict: XDP_PASS },
  { name: 'v4 UDP from a denied host', packet: udp({ src: '203.0.113.9', dst: '10.0.0.1', srcPort: 53, dstPort: 53 }), verdict: XDP_DROP },
  { name: 'v4 UDP from the next host', packet: udp({ src: '203.0.113.10', dst: '10.0.0.1', srcPort: 53, dstPort: 53 }), verdict: XDP_PASS },
  { name: 'v4 TO a denied address (only sources count)', packet: tcp({ src: '10.0.0.1', dst: '198.51.100.7', srcPort: 80, dstPort: 40000, flags: 'SA' }), verdict: XDP_PASS },
  { name: 'v4 ICMP from a denied /24', packet: icmpEcho({ src: '198.51.100.200', dst: '10.0.0.1', id: 7, seq: 1 }), verdict: XDP_DROP },
  { name: 'v6 TCP from a denied /48', packet: tcp({ src: '2001:db8:bad:1::1', dst: 'fd00::1', srcPort: 40000, dstPort: 443, flags: 'S' }), verdict: XDP_DROP },
  { name: 'v6 TCP from the next /48', packet: tcp({ src: '2001:db8:bae::1', dst: 'fd00::1', srcPort: 40000, dstPort: 443, flags: 'S' }), verdict: XDP_PASS },
  { name: 'v6 ICMPv6 from a denied /128', packet: icmpEcho({ src: '2001:db8::7', dst: 'fd00::1', id: 1, seq: 1 }), verdict: XDP_DROP },
  { name: 'v6 from its neighbour', packet: icmpEcho({ src: '2001:db8::8', dst: 'fd00::1', id: 1, seq: 1 }), verdict: XDP_PASS },
  { name: 'v4 in an 802.1Q tag, denied', packet: tcp({ src: '198.51.100.7', dst: '10.0.0.1', srcPort: 1, dstPort: 2, flags: 'S', vlan: 10 }), verdict: XDP_DROP },
  {
    name: 'v6 in QinQ (802.1ad + 802.1Q), denied',
    packet: udp({ src: '2001:db8:bad::9', dst: 'fd00::1', srcPort: 1, dstPort: 2, vlan: [{ id: 100, tpid: 0x88a8 }, 20] }),
    verdict: XDP_DROP,
  },
  { name: 'v4 in an 802.1Q tag, allowed', packet: tcp({ src: '192.0.2.1', dst: '10.0.0.1', srcPort: 1, dstPort: 2, flags: 'S', vlan: 10 }), verdict: XDP_PASS },
  {
    name: 'three tags: past what is parsed, passed',
    packet: udp({ src: '198.51.100.7', dst: '10.0.0.1', srcPort: 1, dstPort: 2, vlan: [{ id: 1, tpid: 0x88a8 }, 2, 3] }),
    verdict: XDP_PASS,
  },
  { name: 'ARP', packet: ethernet({ ethertype: 0x0806, payload: new Uint8Array(28) }), verdict: XDP_PASS },
  { name: 'Ethernet header alone, IPv4 type', packet: ethernet({ ethertype: 0x0800, payload: new Uint8Array(0) }), verdict: XDP_PASS },
  { name: 'IPv4 header cut after the source', packet: ethernet({ ethertype: 0x0800, payload: ipv4Header([198, 51, 100, 7]).subarray(0, 16) }), verdict: XDP_PASS },
  { name: 'IPv4 type, version 6 inside', packet: ethernet({ ethertype: 0x0800, payload: ipv4Header([198, 51, 100, 7], 6) }), verdict: XDP_PASS },
  { name: 'bare IPv4 header from a denied source', packet: ethernet({ ethertype: 0x0800, payload: ipv4Header([198, 51, 100, 7]) }), verdict: XDP_DROP },
  { name: 'IPv6 header cut short', packet: tcp({ src: '2001:db8:bad::1', dst: 'fd00::1', srcPort: 1, dstPort: 2, flags: 'S' }).subarray(0, 14 + 39), verdict: XDP_PASS },
  { name: 'a VLAN tag cut short', packet: ethernet({ ethertype: 0x8100, payload: new Uint8Array([0, 10]) }), verdict: XDP_PASS },
];

async function openPrefilter(kind: EngineKind): Promise<EngineObject> {
  const bytes = new Uint8Array(readFileSync(PREFILTER_OBJECT));
  return (await getEngine(kind)).open({ bytes, file: PREFILTER_OBJECT, spec: readObject(bytes, PREFILTER_OBJECT) });
}

function mapsOf(obj: EngineObject) {
  return { v4: obj.map(PREFILTER_MAPS.v4), v6: obj.map(PREFILTER_MAPS.v6) };
}

function runAll(obj: EngineObject) {
  return CASES.map((c) => {
    const out = obj.run(PROG_XDP_PREFILTER, { packet: c.packet });
    return { name: c.name, retval: out.retval, data: Buffer.from(out.packet).toString('hex') };
  });
}

const expected = CASES.map((c) => ({ name: c.name, retval: c.verdict, data: Buffer.from(c.packet).toString('hex') }));
const sum = (v: number) => {
  const hit = CASES.filter((c) => c.verdict === v);
  return { packets: BigInt(hit.length), bytes: BigInt(hit.reduce((a, c) => a + c.packet.length, 0)) };
};

describe('prefilter deny list', () => {
  test('canonical form: hosts get /32 or /128, IPv6 compressed, duplicates folded, IPv4 first', () => {
    expect(parsePrefilterCidrs(['2001:DB8:0:0::1', '10.0.0.0/8', '192.0.2.1', '10.0.0.0/8', '2001:db8::/32', '10.0.0.0/16'])).toEqual([
      '10.0.0.0/8', '10.0.0.0/16', '192.0.2.1/32', '2001:db8::/32', '2001:db8::1/128',
    ]);
    expect(parsePrefilterCidrs([])).toEqual([]);
  });

  test.each([
    ['10.0.0.1/24', 'bits set past the prefix length'],
    ['10.0.0.0/33', 'prefix length'],
    ['300.1.1.1', 'not an IPv4 address'],
    ['2001:db8::g', 'not an IPv6 address'],
    ['', 'not an IPv4 address'],
  ])('"%s" is refused with its position', (bad, why) => {
    let err: unknown;
    try {
      parsePrefilterCidrs(['192.0.2.0/24', bad], '--prefilter');
    } catch (e) {
      err = e;
    }
    expect(isTwinpathError(err)).toBe(true);
    if (!isTwinpathError(err)) return;
    expect(err.code).toBe('NODE_ERROR');
    expect(err.location.path).toBe('--prefilter[1]');
    expect(err.detail).toContain(why);
  });
});

function engineSuite(kind: EngineKind): void {
  let obj: EngineObject;
  beforeAll(async () => {
    obj = await openPrefilter(kind);
    applyPrefilter(mapsOf(obj), DENY);
  });
  afterAll(() => obj?.close());

  test('every frame gets its verdict, unchanged, and the counters add up per verdict', () => {
    expect(runAll(obj)).toEqual(expected);
    const c = readPrefilterCounters(obj.map(PREFILTER_MAPS.metrics));
    expect(c.dropped).toEqual(sum(XDP_DROP));
    expect(c.passed).toEqual(sum(XDP_PASS));
  });

  test('the list reads back canonical; a change adds before it removes, and takes effect', () => {
    const maps = mapsOf(obj);
    expect(readPrefilter(maps)).toEqual(parsePrefilterCidrs(DENY));
    const log: string[] = [];
    const spy = (m: typeof maps.v4, tag: string) => ({
      entries: () => m.entries(),
      update: (k: Uint8Array, v: Uint8Array) => { log.push(`+${tag}`); m.update(k, v); },
      delete: (k: Uint8Array) => { log.push(`-${tag}`); m.delete(k); },
    });
    const r = applyPrefilter({ v4: spy(maps.v4, '4'), v6: spy(maps.v6, '6') }, ['198.51.101.0/24', '2001:db8:bad::/48']);
    expect(r).toEqual({ added: ['198.51.101.0/24'], removed: ['198.51.100.0/24', '203.0.113.9/32', '2001:db8::7/128'] });
    expect(log).toEqual(['+4', '-4', '-4', '-6']);
    const run = (src: string) => obj.run(PROG_XDP_PREFILTER, { packet: tcp({ src, dst: '10.0.0.1', srcPort: 1, dstPort: 2, flags: 'S' }) }).retval;
    expect([run('198.51.100.7'), run('198.51.101.7'), run('203.0.113.9')]).toEqual([XDP_PASS, XDP_DROP, XDP_PASS]);
    applyPrefilter(maps, DENY);
    expect(readPrefilter(maps)).toEqual(parsePrefilterCidrs(DENY));
  });
}

describe('prefilter in the VM', () => engineSuite('vm'));

describeKernel('prefilter in the kernel', () => {
  engineSuite('kernel');

  test('the VM and the kernel agree frame by frame and on the counters', async () => {
    const vm = await openPrefilter('vm');
    const k = await openPrefilter('kernel');
    try {
      for (const o of [vm, k]) applyPrefilter(mapsOf(o), DENY);
      expect(runAll(k)).toEqual(runAll(vm));
      expect(readPrefilterCounters(k.map(PREFILTER_MAPS.metrics))).toEqual(readPrefilterCounters(vm.map(PREFILTER_MAPS.metrics)));
    } finally {
      vm.close();
      k.close();
    }
  });
});

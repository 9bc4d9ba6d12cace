import { describe, expect, it } from 'vitest';
import { SkippedPackets, build, linkTypeName, toEthernet, toEthernetCounting } from '../../src/pcap/index.js';
import { concat, pack } from './helpers.js';

const ipv4 = build.ipv4({ src: '10.0.0.1', dst: '10.0.0.2', protocol: 17, payload: 'x' });
const ipv6 = build.ipv6({ src: 'fd00::1', dst: 'fd00::2', nextHeader: 17, payload: 'x' });

function frameOf(linkType: number, data: Uint8Array): Uint8Array {
  const r = toEthernet({ linkType, data });
  if ('skipped' in r) throw new Error(r.skipped);
  return r.frame;
}

function ethertype(f: Uint8Array): number {
  return (f[12]! << 8) | f[13]!;
}

describe('toEthernet', () => {
  it('passes Ethernet through unchanged', () => {
    const f = build.udp({ src: '1.1.1.1', dst: '2.2.2.2', sport: 1, dport: 2 });
    expect(frameOf(1, f)).toBe(f);
  });

  it('picks the ethertype of raw IP from the version nibble, for 101, 12 and 14', () => {
    for (const lt of [101, 12, 14, 228, 229]) {
      const f4 = frameOf(lt, ipv4);
      expect([ethertype(f4), f4.length]).toEqual([0x0800, 14 + ipv4.length]);
      expect(Array.from(f4.subarray(0, 12))).toEqual(new Array(12).fill(0));
      expect(f4.subarray(14)).toEqual(ipv4);
      expect(ethertype(frameOf(lt, ipv6))).toBe(0x86dd);
    }
    expect(toEthernet({ linkType: 101, data: Uint8Array.of(0x50, 0) })).toEqual({ skipped: 'raw packet has IP version 5' });
  });

  it('reads the loopback family in either byte order, with each BSD value for IPv6', () => {
    expect(ethertype(frameOf(0, concat(pack(true, [4, 2]), ipv4)))).toBe(0x0800);
    expect(ethertype(frameOf(0, concat(pack(false, [4, 2]), ipv4)))).toBe(0x0800);
    for (const af of [10, 24, 28, 30]) {
      for (const le of [true, false]) expect(ethertype(frameOf(0, concat(pack(le, [4, af]), ipv6)))).toBe(0x86dd);
    }
    expect(frameOf(0, concat(pack(true, [4, 2]), ipv4)).subarray(14)).toEqual(ipv4);
    expect(ethertype(frameOf(108, concat(pack(false, [4, 24]), ipv6)))).toBe(0x86dd);
    expect('skipped' in toEthernet({ linkType: 0, data: concat(pack(true, [4, 7]), ipv4) })).toBe(true);
  });

  it('builds the Ethernet header from a Linux cooked v1 header', () => {
    const mac = Uint8Array.of(0x52, 0x54, 0, 0x12, 0x34, 0x56);
    const sll = concat(pack(false, [2, 0], [2, 1], [2, 6]), mac, new Uint8Array(2), pack(false, [2, 0x0800]), ipv4);
    const f = frameOf(113, sll);
    expect(f.subarray(0, 6)).toEqual(new Uint8Array(6));
    expect(f.subarray(6, 12)).toEqual(mac);
    expect(ethertype(f)).toBe(0x0800);
    expect(f.subarray(14)).toEqual(ipv4);
  });

  it('keeps the VLAN tag that a cooked header carries, and marks broadcasts', () => {
    const tag = pack(false, [2, (3 << 13) | 42], [2, 0x86dd]);
    const sll2 = concat(pack(false, [2, 0x8100], [2, 0], [4, 7], [2, 1], [1, 1], [1, 6]), Uint8Array.of(1, 2, 3, 4, 5, 6, 0, 0), tag, ipv6);
    const f = frameOf(276, sll2);
    expect(f.subarray(0, 6)).toEqual(new Uint8Array(6).fill(0xff));
    expect(f.subarray(6, 12)).toEqual(Uint8Array.of(1, 2, 3, 4, 5, 6));
    expect(ethertype(f)).toBe(0x8100);
    expect(f.subarray(14, 18)).toEqual(tag);
    expect(f.subarray(18)).toEqual(ipv6);
  });

  it('leaves MACs zero when the cooked address is not Ethernet, and skips non-ethertype protocols', () => {
    const tun = concat(pack(false, [2, 0], [2, 65534], [2, 0]), new Uint8Array(8), pack(false, [2, 0x86dd]), ipv6);
    expect(frameOf(113, tun).subarray(0, 12)).toEqual(new Uint8Array(12));
    const llc = concat(pack(false, [2, 0], [2, 1], [2, 6]), new Uint8Array(8), pack(false, [2, 0x0004]), new Uint8Array(10));
    expect(toEthernet({ linkType: 113, data: llc })).toEqual({ skipped: 'cooked protocol 0x0004 is not an ethertype' });
    expect('skipped' in toEthernet({ linkType: 276, data: new Uint8Array(10) })).toBe(true);
  });

  it('counts skipped packets per link type and says so', () => {
    const skipped = new SkippedPackets();
    expect(toEthernetCounting({ linkType: 1, data: new Uint8Array(14) }, skipped)).not.toBeNull();
    expect(toEthernetCounting({ linkType: 105, data: new Uint8Array(30) }, skipped)).toBeNull();
    toEthernetCounting({ linkType: 105, data: new Uint8Array(30) }, skipped);
    toEthernetCounting({ linkType: 147, data: new Uint8Array(30) }, skipped);
    expect(skipped.total).toBe(3);
    expect(skipped.summary()).toEqual(['skipped 2 packets of link type 105 (IEEE802_11)', 'skipped 1 packet of link type 147 (LINKTYPE_147)']);
    expect(linkTypeName(276)).toBe('LINUX_SLL2');
  });
});

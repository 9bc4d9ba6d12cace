import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { build, crc32c, encodePcap, internetChecksum, internetChecksumValid, pseudoHeader } from '../../src/pcap/index.js';

const { parseIp, tcp, udp, icmpEcho, sctpInit, ethernet } = build;

function hasTcpdump(): boolean {
  try {
    execFileSync('tcpdump', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Verifies the L3 and L4 checksums of an untagged Ethernet frame by re-summing them. */
function checksumsValid(frame: Uint8Array): { ip: boolean; l4: boolean } {
  const ethertype = (frame[12]! << 8) | frame[13]!;
  const ip = frame.subarray(14);
  if (ethertype === 0x0800) {
    const ihl = (ip[0]! & 0xf) * 4;
    const proto = ip[9]!;
    const l4 = ip.subarray(ihl);
    const ph = pseudoHeader(ip.subarray(12, 16), ip.subarray(16, 20), proto, l4.length);
    return { ip: internetChecksumValid(ip.subarray(0, ihl)), l4: proto === 1 ? internetChecksumValid(l4) : internetChecksumValid(ph, l4) };
  }
  const l4 = ip.subarray(40);
  return { ip: true, l4: internetChecksumValid(pseudoHeader(ip.subarray(8, 24), ip.subarray(24, 40), ip[6]!, l4.length), l4) };
}

describe('checksums', () => {
  it('computes the RFC 1071 example sum and handles odd lengths across parts', () => {
    const data = Uint8Array.of(0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7);
    expect(internetChecksum(data)).toBe(~0xddf2 & 0xffff);
    expect(internetChecksum(data.subarray(0, 3), data.subarray(3))).toBe(internetChecksum(data));
    expect(internetChecksum(Uint8Array.of(0xab))).toBe(~0xab00 & 0xffff);
  });

  it('computes CRC32c check values', () => {
    expect(crc32c(new TextEncoder().encode('123456789'))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
  });
});

describe('packet builder', () => {
  it('parses IPv4 and IPv6 text', () => {
    expect(parseIp('10.1.2.3')).toEqual(Uint8Array.of(10, 1, 2, 3));
    expect(parseIp('::1')).toEqual(Uint8Array.of(...new Array(15).fill(0), 1));
    expect(parseIp('fd00:1::2:3')).toEqual(Uint8Array.of(0xfd, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 3));
    expect(parseIp('::ffff:10.0.0.1').subarray(10)).toEqual(Uint8Array.of(0xff, 0xff, 10, 0, 0, 1));
    expect(() => parseIp('1.2.3')).toThrow();
    expect(() => parseIp('1::2::3')).toThrow();
  });

  it('builds TCP with flags, sequence numbers and correct checksums for both families', () => {
    const f = tcp({ src: '10.0.0.1', dst: '10.0.0.2', sport: 40000, dport: 80, flags: 'SA', seq: 0xfffffff0, ack: 7, payload: 'x' });
    expect(f.length).toBe(14 + 20 + 20 + 1);
    expect(f[14 + 20 + 13]).toBe(0x12);
    expect(new DataView(f.buffer).getUint32(14 + 20 + 4)).toBe(0xfffffff0);
    expect(checksumsValid(f)).toEqual({ ip: true, l4: true });
    expect(checksumsValid(tcp({ src: 'fd00::1', dst: 'fd00::2', sport: 1, dport: 2, flags: 'R.' }))).toEqual({ ip: true, l4: true });
  });

  it('builds UDP, ICMP echo and ICMPv6 echo with correct checksums', () => {
    for (const f of [
      udp({ src: '192.168.1.1', dst: '192.168.1.2', sport: 53, dport: 1053, payload: 'odd' }),
      udp({ src: 'fd00::1', dst: 'fd00::2', sport: 53, dport: 1053, payload: 'even' }),
      icmpEcho({ src: '10.0.0.1', dst: '10.0.0.2', identifier: 9, sequence: 1, payload: 'ping' }),
      icmpEcho({ src: 'fd00::1', dst: 'fd00::2', identifier: 9, sequence: 1, reply: true }),
    ]) {
      expect(checksumsValid(f)).toEqual({ ip: true, l4: true });
    }
    expect(icmpEcho({ src: 'fd00::1', dst: 'fd00::2' })[14 + 40]).toBe(128);
    expect(icmpEcho({ src: '1.1.1.1', dst: '2.2.2.2', reply: true })[14 + 20]).toBe(0);
  });

  it('builds SCTP INIT with a CRC32c over the packet', () => {
    const f = sctpInit({ src: '10.0.0.1', dst: '10.0.0.2', sport: 5000, dport: 38412, initiateTag: 0xdeadbeef });
    const sctp = f.slice(14 + 20);
    const dv = new DataView(sctp.buffer);
    const stored = dv.getUint32(8, true);
    dv.setUint32(8, 0);
    expect(crc32c(sctp)).toBe(stored);
    expect(sctp[12]).toBe(1);
    expect(dv.getUint32(16)).toBe(0xdeadbeef);
  });

  it('adds VLAN tags, outermost first', () => {
    const f = ethernet({ ethertype: 0x0800, payload: new Uint8Array(0), vlan: [{ id: 100, tpid: 0x88a8 }, { id: 5, pcp: 3 }] });
    expect(Array.from(f.subarray(12))).toEqual([0x88, 0xa8, 0x00, 100, 0x81, 0x00, 0x60, 5, 0x08, 0x00]);
  });

  it('is deterministic', () => {
    const opts = { src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2 };
    expect(tcp(opts)).toEqual(tcp(opts));
  });

  it.skipIf(!hasTcpdump())('passes tcpdump -vv checksum verification', async () => {
    const frames = [
      tcp({ src: '10.0.0.1', dst: '10.0.0.2', sport: 1234, dport: 80, flags: 'PA', seq: 1, ack: 2, payload: 'hello' }),
      tcp({ src: 'fd00::1', dst: 'fd00::2', sport: 1, dport: 443 }),
      udp({ src: '10.0.0.1', dst: '10.0.0.2', sport: 1000, dport: 2000, payload: 'abc' }),
      udp({ src: 'fd00::1', dst: 'fd00::2', sport: 1000, dport: 2000, payload: 'abc' }),
      icmpEcho({ src: 'fd00::1', dst: 'fd00::2', payload: 'ping' }),
    ];
    const dir = mkdtempSync(join(tmpdir(), 'twinpath-build-'));
    try {
      const file = join(dir, 'checksums.pcap');
      writeFileSync(file, await encodePcap(frames.map((data, i) => ({ timestampNs: BigInt(i), data })), { linkType: 1 }));
      const out = execFileSync('tcpdump', ['-r', file, '-vv', '-nn'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
      expect(out.match(/cksum 0x[0-9a-f]+ \(correct\)/g)).toHaveLength(2);
      expect(out.match(/\[udp sum ok\]/g)).toHaveLength(2);
      expect(out.match(/\[icmp6 sum ok\]/g)).toHaveLength(1);
      expect(out).not.toMatch(/bad|incorrect|wrong/i);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

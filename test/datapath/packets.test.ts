// Synthetic probe connections: every packet is parsed back here and its checksums recomputed
// with code of this test's own (a bitwise CRC32c, a plain 16-bit sum), not the builder's.

import { describe, expect, it } from 'vitest';
import { CLIENT_MAC, connectionPackets, EPHEMERAL_FIRST, EPHEMERAL_LAST, SERVER_MAC, SourcePorts, type ConnectionProtocol } from '../../src/datapath/packets.js';

interface Parsed {
  srcMac: string;
  dstMac: string;
  family: 4 | 6;
  src: Uint8Array;
  dst: Uint8Array;
  proto: number;
  l4: Uint8Array;
  ipChecksumOk?: boolean;
}

function macText(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

function sum16(...parts: Uint8Array[]): number {
  const all = parts.flatMap((p) => [...p]);
  if (all.length % 2) all.push(0);
  let s = 0;
  for (let i = 0; i < all.length; i += 2) s += all[i]! * 256 + all[i + 1]!;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 65536);
  return s;
}

function crc32cBitwise(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

function parse(frame: Uint8Array): Parsed {
  const dv = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const type = dv.getUint16(12);
  const ip = frame.subarray(14);
  if (type === 0x0800) {
    const ihl = (ip[0]! & 0x0f) * 4;
    expect(ip[0]! >> 4).toBe(4);
    expect(new DataView(ip.buffer, ip.byteOffset).getUint16(2)).toBe(ip.length);
    return { srcMac: macText(frame.subarray(6, 12)), dstMac: macText(frame.subarray(0, 6)), family: 4, src: ip.subarray(12, 16), dst: ip.subarray(16, 20), proto: ip[9]!, l4: ip.subarray(ihl), ipChecksumOk: sum16(ip.subarray(0, ihl)) === 0xffff };
  }
  expect(type).toBe(0x86dd);
  expect(new DataView(ip.buffer, ip.byteOffset).getUint16(4)).toBe(ip.length - 40);
  return { srcMac: macText(frame.subarray(6, 12)), dstMac: macText(frame.subarray(0, 6)), family: 6, src: ip.subarray(8, 24), dst: ip.subarray(24, 40), proto: ip[6]!, l4: ip.subarray(40) };
}

function pseudo(p: Parsed): Uint8Array {
  const len = p.l4.length;
  return p.family === 4
    ? Uint8Array.of(...p.src, ...p.dst, 0, p.proto, len >> 8, len & 0xff)
    : Uint8Array.of(...p.src, ...p.dst, 0, 0, len >> 8, len & 0xff, 0, 0, 0, p.proto);
}

function l4ChecksumOk(p: Parsed): boolean {
  if (p.proto === 132) {
    const copy = p.l4.slice();
    const stored = new DataView(copy.buffer).getUint32(8, true);
    copy.fill(0, 8, 12);
    return crc32cBitwise(copy) === stored;
  }
  if (p.proto === 1) return sum16(p.l4) === 0xffff;
  return sum16(pseudo(p), p.l4) === 0xffff;
}

const u16 = (b: Uint8Array, at: number) => (b[at]! << 8) | b[at + 1]!;
const u32 = (b: Uint8Array, at: number) => ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;

const FAMILIES = [
  { family: 4, client: '10.0.1.5', server: '10.0.2.7' },
  { family: 6, client: 'fd00:10::5', server: 'fd00:20::7' },
] as const;

describe('connectionPackets', () => {
  for (const f of FAMILIES) {
    for (const protocol of ['TCP', 'UDP', 'SCTP', 'ICMP'] as ConnectionProtocol[]) {
      it(`${protocol} over IPv${f.family}: request and reply parse back with valid checksums, mirrored addresses and ports`, () => {
        const c = connectionPackets({ protocol, client: f.client, server: f.server, clientPort: 40001, serverPort: 8080 });
        const req = parse(c.request);
        const rep = parse(c.reply);
        for (const p of [req, rep]) {
          expect(p.family).toBe(f.family);
          if (p.family === 4) expect(p.ipChecksumOk).toBe(true);
          expect(l4ChecksumOk(p)).toBe(true);
        }
        expect([req.srcMac, req.dstMac]).toEqual([CLIENT_MAC, SERVER_MAC]);
        expect([rep.srcMac, rep.dstMac]).toEqual([SERVER_MAC, CLIENT_MAC]);
        expect(rep.src).toEqual(req.dst);
        expect(rep.dst).toEqual(req.src);
        const expectedProto = { TCP: 6, UDP: 17, SCTP: 132, ICMP: f.family === 4 ? 1 : 58 }[protocol];
        expect(req.proto).toBe(expectedProto);
        expect(rep.proto).toBe(expectedProto);
        if (protocol === 'ICMP') {
          expect(req.l4[0]).toBe(f.family === 4 ? 8 : 128);
          expect(rep.l4[0]).toBe(f.family === 4 ? 0 : 129);
          expect(u16(req.l4, 4)).toBe(40001);
          expect(u16(rep.l4, 4)).toBe(40001);
          return;
        }
        expect([u16(req.l4, 0), u16(req.l4, 2)]).toEqual([40001, 8080]);
        expect([u16(rep.l4, 0), u16(rep.l4, 2)]).toEqual([8080, 40001]);
        if (protocol === 'TCP') {
          expect(req.l4[13]).toBe(0x02); // SYN
          expect(rep.l4[13]).toBe(0x12); // SYN+ACK
          expect(u32(rep.l4, 8)).toBe((u32(req.l4, 4) + 1) >>> 0);
        }
        if (protocol === 'UDP') {
          expect(u16(req.l4, 4)).toBe(req.l4.length);
          expect(u16(rep.l4, 4)).toBe(rep.l4.length);
        }
        if (protocol === 'SCTP') {
          expect(u32(req.l4, 4)).toBe(0); // an INIT has no verification tag yet
          expect(req.l4[12]).toBe(1); // INIT
          expect(rep.l4[12]).toBe(2); // INIT-ACK
          expect(u32(rep.l4, 4)).toBe(u32(req.l4, 16)); // INIT-ACK verification tag = INIT's initiate tag
          const chunkLen = u16(rep.l4, 14);
          expect(u16(rep.l4, 32)).toBe(7); // state cookie parameter
          expect(36 + u16(rep.l4, 34) - 4).toBe(12 + chunkLen);
        }
      });
    }
  }

  it('is deterministic: the same spec gives the same bytes', () => {
    const spec = { protocol: 'SCTP' as const, client: '10.1.1.1', server: '10.2.2.2', clientPort: 33000, serverPort: 5000 };
    expect(connectionPackets(spec)).toEqual(connectionPackets(spec));
  });

  it('refuses out-of-range ports and mixed families', () => {
    expect(() => connectionPackets({ protocol: 'TCP', client: '10.0.0.1', server: '10.0.0.2', clientPort: 0, serverPort: 80 })).toThrow(RangeError);
    expect(() => connectionPackets({ protocol: 'UDP', client: '10.0.0.1', server: '10.0.0.2', clientPort: 1000, serverPort: 65536 })).toThrow(RangeError);
    expect(() => connectionPackets({ protocol: 'TCP', client: '10.0.0.1', server: 'fd00::2', clientPort: 1000, serverPort: 80 })).toThrow(/different families/);
  });
});

describe('SourcePorts', () => {
  it('counts through the ephemeral range and wraps', () => {
    const ports = new SourcePorts();
    expect(ports.next()).toBe(EPHEMERAL_FIRST);
    expect(ports.next()).toBe(EPHEMERAL_FIRST + 1);
    for (let i = EPHEMERAL_FIRST + 2; i <= EPHEMERAL_LAST; i++) ports.next();
    expect(ports.next()).toBe(EPHEMERAL_FIRST);
  });
});

import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { TwinpathError } from '../../src/errors.js';
import { PcapWriter, PcapngWriter, build, encodePcap, encodePcapng, readCapture, readCaptureSync, type CaptureRecord } from '../../src/pcap/index.js';
import { collect } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'twinpath-writer-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function hasTcpdump(): boolean {
  try {
    execFileSync('tcpdump', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function records(linkTypes: number[] = [1]): CaptureRecord[] {
  return Array.from({ length: 12 }, (_, i) => {
    const data = build.udp({ src: '10.0.0.1', dst: '10.0.0.2', sport: 1000 + i, dport: 53, payload: 'q'.repeat(i) });
    const linkType = linkTypes[i % linkTypes.length]!;
    return {
      index: i,
      interfaceId: linkTypes.indexOf(linkType),
      linkType,
      timestampNs: 1_700_000_000_000_000_000n + BigInt(i) * 1_000_001n + BigInt(i % 3),
      capturedLength: data.length,
      originalLength: data.length + (i % 2) * 100,
      data,
    };
  });
}

describe('writers', () => {
  for (const bigEndian of [false, true]) {
    it(`round-trips nanosecond pcap (${bigEndian ? 'big' : 'little'}-endian)`, async () => {
      const input = records();
      const bytes = await encodePcap(input, { linkType: 1, bigEndian });
      expect(readCaptureSync(bytes)).toEqual(input);
    });

    it(`round-trips pcapng with comments and an interface per link type (${bigEndian ? 'big' : 'little'}-endian)`, async () => {
      const input = records([1, 101]).map((r, i) => (i % 4 === 0 ? r : { ...r, comment: `verdict ${i}: FORWARDED ✓` }));
      const bytes = await encodePcapng(input, { bigEndian });
      expect(readCaptureSync(bytes)).toEqual(input);
    });
  }

  it('keeps microseconds in a microsecond pcap', async () => {
    const input = records();
    const out = readCaptureSync(await encodePcap(input, { linkType: 1, nanosecond: false }));
    expect(out.map((r) => r.timestampNs)).toEqual(input.map((r) => (r.timestampNs / 1000n) * 1000n));
  });

  it('refuses records that do not fit the file', async () => {
    const w = new PcapWriter(() => {}, { linkType: 1, snaplen: 64 });
    await expect(w.write({ timestampNs: 0n, data: new Uint8Array(65) })).rejects.toMatchObject({ code: 'PCAP_BAD_RECORD', location: { offset: 24 } });
    await expect(w.write({ timestampNs: 0n, data: new Uint8Array(1), linkType: 113 })).rejects.toBeInstanceOf(TwinpathError);
    await expect(w.write({ timestampNs: -1n, data: new Uint8Array(1) })).rejects.toBeInstanceOf(TwinpathError);
  });

  it('streams to a Node stream, waiting for it to drain', async () => {
    const stream = new PassThrough({ highWaterMark: 64 });
    const w = new PcapngWriter(stream);
    const reading = collect(readCapture(stream));
    const input = records([1, 276]);
    for (const r of input) await w.write(r);
    await w.close();
    stream.end();
    expect((await reading).records).toEqual(input);
  });

  it('writes to a file descriptor and to a path', async () => {
    const input = records();
    const viaFd = join(dir, 'fd.pcap');
    const fd = openSync(viaFd, 'w');
    const w = new PcapWriter(fd, { linkType: 1 });
    for (const r of input) await w.write(r);
    await w.close();
    closeSync(fd);
    expect((await collect(readCapture(viaFd))).records).toEqual(input);

    const viaPath = join(dir, 'path.pcapng');
    const w2 = new PcapngWriter({ path: viaPath });
    for (const r of input) await w2.write(r);
    await w2.close();
    expect(readCaptureSync(readFileSync(viaPath))).toEqual(input);
  });

  it('writes an empty but valid file when no packet comes', async () => {
    expect(readCaptureSync(await encodePcap([], { linkType: 1 }))).toEqual([]);
    expect(readCaptureSync(await encodePcapng([]))).toEqual([]);
  });

  it.skipIf(!hasTcpdump())('writes files tcpdump reads with the same packet count', async () => {
    // libpcap (1.10) refuses pcapng files whose interfaces differ in link type, so one type here.
    const input = records([1, 1]).map((r) => ({ ...r, comment: 'c' }));
    for (const [name, bytes] of [
      ['t.pcap', await encodePcap(records(), { linkType: 1 })],
      ['t-be.pcap', await encodePcap(records(), { linkType: 1, bigEndian: true, nanosecond: false })],
      ['t.pcapng', await encodePcapng(input)],
      ['t-be.pcapng', await encodePcapng(input, { bigEndian: true })],
    ] as const) {
      const file = join(dir, name);
      writeFileSync(file, bytes);
      const out = execFileSync('tcpdump', ['-r', file, '-nn', '--count'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
      expect(out).toMatch(/^12 packets/);
    }
  });
});

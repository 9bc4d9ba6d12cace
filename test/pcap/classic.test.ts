import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { TwinpathError } from '../../src/errors.js';
import { readCapture, readCaptureSettled, readCaptureSync } from '../../src/pcap/index.js';
import { classicFile, collect, concat, pack, payload } from './helpers.js';

const NANO = 0xa1b23c4d;
const MICRO = 0xa1b2c3d4;

function expectError(e: unknown, code: string, offset: number, file?: string) {
  expect(e).toBeInstanceOf(TwinpathError);
  const err = e as TwinpathError;
  expect(err.code).toBe(code);
  expect(err.location.offset).toBe(offset);
  if (file !== undefined) expect(err.location.file).toBe(file);
}

describe('classic pcap', () => {
  for (const le of [true, false]) {
    for (const [name, magic, unit] of [['micro', MICRO, 1000n], ['nano', NANO, 1n]] as const) {
      it(`reads ${name}second ${le ? 'little' : 'big'}-endian files`, () => {
        const bytes = classicFile({ le, magic, linkType: 1 }, [
          { sec: 1_700_000_000, frac: 123456, data: payload(60), originalLength: 1500 },
          { sec: 1_700_000_001, frac: 999, data: payload(3, 5) },
        ]);
        const records = readCaptureSync(bytes);
        expect(records).toHaveLength(2);
        expect(records[0]).toEqual({
          index: 0,
          interfaceId: 0,
          linkType: 1,
          timestampNs: 1_700_000_000n * 1_000_000_000n + 123456n * unit,
          capturedLength: 60,
          originalLength: 1500,
          data: payload(60),
        });
        expect(records[1]!.index).toBe(1);
        expect(records[1]!.timestampNs).toBe(1_700_000_001n * 1_000_000_000n + 999n * unit);
      });
    }
  }

  it('masks the FCS bits out of the link-type field', () => {
    const bytes = classicFile({ le: true, linkType: 0x14000001 }, [{ sec: 1, frac: 0, data: payload(20) }]);
    expect(readCaptureSync(bytes)[0]!.linkType).toBe(1);
  });

  it('reads the 24-byte record headers of the modified (Kuznetzov) format', () => {
    const head = pack(true, [4, 0xa1b2cd34], [2, 2], [2, 4], [4, 0], [4, 0], [4, 65535], [4, 1]);
    const rec = concat(pack(true, [4, 5], [4, 6], [4, 4], [4, 4], [4, 0], [2, 0], [1, 0], [1, 0]), payload(4));
    const [r] = readCaptureSync(concat(head, rec));
    expect(r!.timestampNs).toBe(5_000_006_000n);
    expect(r!.data).toEqual(payload(4));
  });

  it('swaps the lengths of files older than version 2.3', () => {
    const bytes = classicFile({ le: true, minor: 2 }, [{ sec: 1, frac: 0, data: payload(10), capturedLength: 1500, originalLength: 10 }]);
    const [r] = readCaptureSync(bytes);
    expect(r!.capturedLength).toBe(10);
    expect(r!.originalLength).toBe(1500);
  });

  it('reads a header-only file as no packets', () => {
    expect(readCaptureSync(classicFile({ le: true }, []))).toEqual([]);
  });

  it('rejects an unknown magic at offset 0', () => {
    expect(() => readCaptureSync(Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8), { file: 'x.pcap' })).toThrow(TwinpathError);
    try {
      readCaptureSync(Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8), { file: 'x.pcap' });
    } catch (e) {
      expectError(e, 'PCAP_BAD_MAGIC', 0, 'x.pcap');
    }
  });

  it('rejects an unsupported version', async () => {
    const { error } = await collect(readCapture(classicFile({ le: true, major: 3 }, [])));
    expectError(error, 'PCAP_BAD_MAGIC', 4);
  });

  it('reports an empty file and a cut file header as truncated at offset 0', async () => {
    expectError((await collect(readCapture(new Uint8Array(0)))).error, 'PCAP_TRUNCATED', 0);
    expectError((await collect(readCapture(classicFile({ le: true }, []).subarray(0, 10)))).error, 'PCAP_TRUNCATED', 0);
  });

  it('yields whole records, then names the offset of a record cut mid-data', async () => {
    const full = classicFile({ le: true }, [
      { sec: 1, frac: 0, data: payload(40) },
      { sec: 2, frac: 0, data: payload(40) },
    ]);
    const { records, error } = await collect(readCapture(full.subarray(0, full.length - 1), { file: 'cut.pcap' }));
    expect(records.map((r) => r.index)).toEqual([0]);
    expectError(error, 'PCAP_TRUNCATED', 24 + 16 + 40, 'cut.pcap');
  });

  it('names the offset of a record cut mid-header', async () => {
    const full = classicFile({ le: false, magic: NANO }, [{ sec: 1, frac: 0, data: payload(8) }]);
    const cut = concat(full, new Uint8Array(7));
    const { records, error } = await collect(readCapture(cut));
    expect(records).toHaveLength(1);
    expectError(error, 'PCAP_TRUNCATED', 24 + 16 + 8);
  });

  it('rejects a record longer than the snaplen, naming its offset', async () => {
    const bytes = classicFile({ le: true, snaplen: 64 }, [
      { sec: 1, frac: 0, data: payload(64) },
      { sec: 2, frac: 0, data: payload(65) },
    ]);
    const { records, error } = await collect(readCapture(bytes));
    expect(records).toHaveLength(1);
    expectError(error, 'PCAP_BAD_RECORD', 24 + 16 + 64);
  });

  it('truncates an oversized record to the snaplen when asked to, as libpcap does', () => {
    const bytes = classicFile({ le: true, snaplen: 64 }, [
      { sec: 1, frac: 0, data: payload(100), originalLength: 100 },
      { sec: 2, frac: 0, data: payload(10) },
    ]);
    const records = readCaptureSync(bytes, { oversizedRecords: 'truncate' });
    expect(records.map((r) => r.capturedLength)).toEqual([64, 10]);
    expect(records[0]!.data).toEqual(payload(100).subarray(0, 64));
    expect(records[0]!.originalLength).toBe(100);
  });

  it('truncates oversized records identically when streaming in small chunks', async () => {
    const bytes = classicFile({ le: true, snaplen: 64 }, Array.from({ length: 20 }, (_, i) => ({ sec: i, frac: 0, data: payload(40 + i * 5, i) })));
    const expected = readCaptureSync(bytes, { oversizedRecords: 'truncate' });
    for (const chunkSize of [7, 64, 100]) {
      expect((await collect(readCapture(bytes, { chunkSize, oversizedRecords: 'truncate' }))).records).toEqual(expected);
    }
  });

  it('rejects a length field beyond the memory bound even with a zero snaplen', async () => {
    const bytes = concat(classicFile({ le: true, snaplen: 0 }, []), pack(true, [4, 1], [4, 0], [4, 0x7fffffff], [4, 0x7fffffff]));
    expectError((await collect(readCapture(bytes, { maxRecordBytes: 1 << 20 }))).error, 'PCAP_BAD_RECORD', 24);
  });

  it('gives the same records whatever the chunk size and source kind', async () => {
    const bytes = classicFile({ le: false, magic: NANO }, Array.from({ length: 50 }, (_, i) => ({ sec: i, frac: i * 3, data: payload(i * 11 % 97, i) })));
    const expected = readCaptureSync(bytes);
    expect(expected).toHaveLength(50);
    for (const chunkSize of [1, 3, 16, 17, 1000]) {
      expect((await collect(readCapture(bytes, { chunkSize }))).records).toEqual(expected);
    }
    const stream = Readable.from((function* () {
      for (let i = 0; i < bytes.length; i += 5) yield Buffer.from(bytes.subarray(i, i + 5));
    })());
    expect((await collect(readCapture(stream))).records).toEqual(expected);
  });

  it('reports a missing file as IO_ERROR', async () => {
    const { error } = await collect(readCapture('no/such/file.pcap'));
    expect((error as TwinpathError).code).toBe('IO_ERROR');
    expect((error as TwinpathError).location.file).toBe('no/such/file.pcap');
  });

  it('settles partial results for callers that print them', async () => {
    const full = classicFile({ le: true }, [{ sec: 1, frac: 0, data: payload(8) }, { sec: 1, frac: 0, data: payload(8) }]);
    const { records, error } = await readCaptureSettled(full.subarray(0, full.length - 2));
    expect(records).toHaveLength(1);
    expect(error?.code).toBe('PCAP_TRUNCATED');
  });
});

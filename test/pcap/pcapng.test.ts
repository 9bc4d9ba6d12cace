import { describe, expect, it } from 'vitest';
import { TwinpathError } from '../../src/errors.js';
import { readCapture, readCaptureSync } from '../../src/pcap/index.js';
import { block, collect, comment, concat, epb, idb, obsoletePacketBlock, pack, payload, shb, spb, tsoffset, tsresol } from './helpers.js';

function errorOf(fn: () => unknown): TwinpathError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(TwinpathError);
    return e as TwinpathError;
  }
  throw new Error('expected an error');
}

describe('pcapng', () => {
  for (const le of [true, false]) {
    it(`reads a ${le ? 'little' : 'big'}-endian section with two interfaces of different link types`, () => {
      const bytes = concat(
        shb(le),
        idb(le, 1, 65535),
        idb(le, 113, 0, tsresol(le, 9)),
        epb(le, 0, 1_700_000_000_123_456n, payload(60), { originalLength: 1514 }),
        epb(le, 1, 1_700_000_000_123_456_789n, payload(33)),
      );
      const records = readCaptureSync(bytes);
      expect(records).toEqual([
        { index: 0, interfaceId: 0, linkType: 1, timestampNs: 1_700_000_000_123_456_000n, capturedLength: 60, originalLength: 1514, data: payload(60) },
        { index: 1, interfaceId: 1, linkType: 113, timestampNs: 1_700_000_000_123_456_789n, capturedLength: 33, originalLength: 33, data: payload(33) },
      ]);
    });
  }

  it('applies if_tsresol as a power of 10 and as a power of 2', () => {
    const le = true;
    const bytes = concat(
      shb(le),
      idb(le, 1, 0, tsresol(le, 3)), // milliseconds
      idb(le, 1, 0, tsresol(le, 0x80 | 10)), // 1/1024 s
      idb(le, 1, 0, tsresol(le, 12)), // picoseconds
      epb(le, 0, 1500n, payload(4)),
      epb(le, 1, 1536n, payload(4)),
      epb(le, 2, 2_000_000_000_123n, payload(4)),
    );
    expect(readCaptureSync(bytes).map((r) => r.timestampNs)).toEqual([1_500_000_000n, 1_500_000_000n, 2_000_000_000n]);
  });

  it('adds if_tsoffset seconds, including negative ones', () => {
    for (const le of [true, false]) {
      const bytes = concat(shb(le), idb(le, 1, 0, tsoffset(le, 1000n)), idb(le, 1, 0, tsoffset(le, -1n)), epb(le, 0, 5n, payload(4)), epb(le, 1, 2_000_000n, payload(4)));
      expect(readCaptureSync(bytes).map((r) => r.timestampNs)).toEqual([1000_000_005_000n, 1_000_000_000n]);
    }
  });

  it('reads opt_comment, joining several comments with newlines', () => {
    const le = false;
    const bytes = concat(
      shb(le),
      idb(le, 1, 0),
      epb(le, 0, 1n, payload(5), { opts: [comment(le, 'verdict: DROPPED (policy denied)')] }),
      epb(le, 0, 2n, payload(6), { opts: [comment(le, 'one'), pack(le, [2, 2], [2, 4], [4, 1]), comment(le, 'twö')] }),
      epb(le, 0, 3n, payload(7)),
    );
    const records = readCaptureSync(bytes);
    expect(records[0]!.comment).toBe('verdict: DROPPED (policy denied)');
    expect(records[1]!.comment).toBe('one\ntwö');
    expect('comment' in records[2]!).toBe(false);
  });

  it('reads Simple Packet Blocks on the first interface, cut to its snaplen', () => {
    const le = true;
    const bytes = concat(shb(le), idb(le, 101, 16), idb(le, 1, 0), spb(le, 100, payload(16)), spb(le, 8, payload(8)));
    const records = readCaptureSync(bytes);
    expect(records.map((r) => [r.interfaceId, r.linkType, r.capturedLength, r.originalLength])).toEqual([
      [0, 101, 16, 100],
      [0, 101, 8, 8],
    ]);
    expect(records[0]!.data).toEqual(payload(16));
  });

  it('reads obsolete Packet Blocks', () => {
    const le = false;
    const bytes = concat(shb(le), idb(le, 1, 0), idb(le, 0, 0), obsoletePacketBlock(le, 1, 7n, payload(9), [comment(le, 'old')]));
    expect(readCaptureSync(bytes)).toEqual([{ index: 0, interfaceId: 1, linkType: 0, timestampNs: 7000n, capturedLength: 9, originalLength: 9, data: payload(9), comment: 'old' }]);
  });

  it('reads several sections of either byte order, each with its own interfaces', () => {
    const bytes = concat(
      shb(true),
      idb(true, 1, 0),
      epb(true, 0, 1n, payload(4)),
      shb(false),
      idb(false, 276, 0, tsresol(false, 9)),
      epb(false, 0, 2n, payload(4)),
    );
    const records = readCaptureSync(bytes);
    expect(records.map((r) => [r.index, r.interfaceId, r.linkType, r.timestampNs])).toEqual([
      [0, 0, 1, 1000n],
      [1, 0, 276, 2n],
    ]);
  });

  it('skips unknown and unneeded blocks (statistics, name resolution, custom)', () => {
    const le = true;
    const bytes = concat(shb(le), block(le, 4, new Uint8Array(8)), idb(le, 1, 0), block(le, 5, new Uint8Array(20)), block(le, 0x40000bad, new Uint8Array(12)), epb(le, 0, 1n, payload(4)), block(le, 0x12345678, new Uint8Array(0)));
    expect(readCaptureSync(bytes)).toHaveLength(1);
  });

  it('checks that the trailing length equals the leading length', () => {
    const le = true;
    const head = concat(shb(le), idb(le, 1, 0));
    const bad = block(le, 6, new Uint8Array(24), { leading: 36, trailing: 40 });
    const e = errorOf(() => readCaptureSync(concat(head, bad), { file: 'f.pcapng' }));
    expect([e.code, e.location.offset, e.location.file]).toEqual(['PCAP_BAD_BLOCK', head.length, 'f.pcapng']);
    // Also for skipped block types.
    const skipped = block(le, 0x999, new Uint8Array(4), { leading: 16, trailing: 20 });
    expect(errorOf(() => readCaptureSync(concat(head, skipped))).location.offset).toBe(head.length);
  });

  it('checks that block lengths are multiples of 4 and at least the minimum for the type', () => {
    const le = true;
    const head = concat(shb(le), idb(le, 1, 0));
    const odd = concat(pack(le, [4, 6], [4, 35]), new Uint8Array(27));
    expect([errorOf(() => readCaptureSync(concat(head, odd))).code, errorOf(() => readCaptureSync(concat(head, odd))).location.offset]).toEqual(['PCAP_BAD_BLOCK', head.length]);
    const small = block(le, 6, new Uint8Array(12)); // an EPB needs 32 bytes
    expect(errorOf(() => readCaptureSync(concat(head, small))).code).toBe('PCAP_BAD_BLOCK');
    const tiny = block(le, 0x999, new Uint8Array(0), { leading: 8 });
    expect(errorOf(() => readCaptureSync(concat(head, tiny))).code).toBe('PCAP_BAD_BLOCK');
  });

  it('rejects a bad byte-order magic, an unknown major version and a packet on a missing interface', () => {
    const le = true;
    const badBom = concat(pack(le, [4, 0x0a0d0d0a], [4, 28], [4, 0x11223344], [2, 1], [2, 0], [8, 0n], [4, 28]));
    expect([errorOf(() => readCaptureSync(badBom)).code, errorOf(() => readCaptureSync(badBom)).location.offset]).toEqual(['PCAP_BAD_BLOCK', 0]);
    expect(errorOf(() => readCaptureSync(shb(le, { major: 2 }))).code).toBe('PCAP_BAD_BLOCK');
    const head = concat(shb(le), idb(le, 1, 0));
    const e = errorOf(() => readCaptureSync(concat(head, epb(le, 0, 1n, payload(4)), epb(le, 1, 1n, payload(4)))));
    expect([e.code, e.location.offset]).toEqual(['PCAP_BAD_BLOCK', head.length + 36]);
    expect(errorOf(() => readCaptureSync(concat(shb(le), spb(le, 4, payload(4))))).code).toBe('PCAP_BAD_BLOCK');
  });

  it('rejects a captured length that overruns its block, and one above the interface snaplen', () => {
    const le = true;
    const head = concat(shb(le), idb(le, 1, 64));
    const overrun = epb(le, 0, 1n, payload(8), { capturedLength: 12 });
    expect(errorOf(() => readCaptureSync(concat(head, overrun))).code).toBe('PCAP_BAD_BLOCK');
    const oversized = epb(le, 0, 1n, payload(65));
    const e = errorOf(() => readCaptureSync(concat(head, oversized)));
    expect([e.code, e.location.offset]).toEqual(['PCAP_BAD_RECORD', head.length]);
    expect(readCaptureSync(concat(head, oversized), { oversizedRecords: 'truncate' })[0]!.capturedLength).toBe(64);
  });

  it('rejects an option that overruns its block', () => {
    const le = true;
    const bad = epb(le, 0, 1n, payload(4), { opts: [pack(le, [2, 1], [2, 200])] });
    expect(errorOf(() => readCaptureSync(concat(shb(le), idb(le, 1, 0), bad))).code).toBe('PCAP_BAD_BLOCK');
  });

  it('yields the whole blocks of a file cut mid-block, then names the cut block', async () => {
    const le = false;
    const head = concat(shb(le), idb(le, 1, 0), epb(le, 0, 1n, payload(40)));
    const full = concat(head, epb(le, 0, 2n, payload(40)));
    for (const cut of [head.length + 3, head.length + 7, head.length + 30, full.length - 1]) {
      const { records, error } = await collect(readCapture(full.subarray(0, cut), { chunkSize: 7 }));
      expect(records).toHaveLength(1);
      expect((error as TwinpathError).code).toBe('PCAP_TRUNCATED');
      expect((error as TwinpathError).location.offset).toBe(head.length);
    }
    const skipCut = concat(head, block(le, 0x999, new Uint8Array(100))).subarray(0, head.length + 50);
    const { error } = await collect(readCapture(skipCut, { chunkSize: 16 }));
    expect([(error as TwinpathError).code, (error as TwinpathError).location.offset]).toEqual(['PCAP_TRUNCATED', head.length]);
  });

  it('reads small records correctly after one large record grew the streaming window', async () => {
    const le = true;
    const small = Array.from({ length: 40 }, (_, i) => epb(le, 0, BigInt(i), payload(50 + i, i)));
    const bytes = concat(shb(le), idb(le, 1, 0), epb(le, 0, 1n, payload(1 << 20)), ...small);
    const expected = readCaptureSync(bytes);
    expect((await collect(readCapture(bytes, { chunkSize: 4096 }))).records).toEqual(expected);
  });

  it('streams a large block of an unknown type without buffering it', async () => {
    const le = true;
    const big = block(le, 0x999, new Uint8Array(4 << 20));
    const bytes = concat(shb(le), idb(le, 1, 0), big, epb(le, 0, 1n, payload(4)));
    const { records } = await collect(readCapture(bytes, { chunkSize: 4096, maxRecordBytes: 1 << 16 }));
    expect(records).toHaveLength(1);
  });
});

// Classic libpcap savefiles: the 24-byte file header and the per-packet records that follow it.
// Both byte orders, microsecond and nanosecond magics, and the 24-byte record headers of
// Alexey Kuznetzov's modified format (which libpcap also reads).

import { Cursor, type Parser } from './input.js';

/** Magic numbers as they read in the writer's byte order. */
export const PCAP_MAGIC_MICRO = 0xa1b2c3d4;
export const PCAP_MAGIC_NANO = 0xa1b23c4d;
export const PCAP_MAGIC_MODIFIED = 0xa1b2cd34;

const FILE_HEADER_LEN = 24;

export interface ClassicFormat {
  littleEndian: boolean;
  nanosecond: boolean;
  recordHeaderLength: number;
}

/** Identifies a classic pcap file from its first four bytes, or returns null. */
export function classicFormat(first4: Uint8Array): ClassicFormat | null {
  const dv = new DataView(first4.buffer, first4.byteOffset, 4);
  for (const littleEndian of [true, false]) {
    const magic = dv.getUint32(0, littleEndian);
    if (magic === PCAP_MAGIC_MICRO) return { littleEndian, nanosecond: false, recordHeaderLength: 16 };
    if (magic === PCAP_MAGIC_NANO) return { littleEndian, nanosecond: true, recordHeaderLength: 16 };
    if (magic === PCAP_MAGIC_MODIFIED) return { littleEndian, nanosecond: false, recordHeaderLength: 24 };
  }
  return null;
}

export interface ClassicOptions {
  maxRecordBytes: number;
  oversizedRecords: 'error' | 'truncate';
  /** Records counted before this file (always 0 today; kept for concatenated inputs). */
  firstIndex?: number;
}

/** Parses the rest of a classic pcap file, the 4 magic bytes having been consumed already. */
export function* parseClassic(cur: Cursor, fmt: ClassicFormat, opts: ClassicOptions): Parser {
  const rest = yield* cur.read(FILE_HEADER_LEN - 4);
  if (rest.length < FILE_HEADER_LEN - 4) {
    throw cur.error('PCAP_TRUNCATED', `file header is ${rest.length + 4} bytes, expected ${FILE_HEADER_LEN}`, 0);
  }
  const le = fmt.littleEndian;
  const hv = new DataView(rest.buffer, rest.byteOffset, rest.length);
  const major = hv.getUint16(0, le);
  const minor = hv.getUint16(2, le);
  const headerSnaplen = hv.getUint32(12, le);
  // The upper bits of the link-type field carry FCS information, not the type.
  const linkType = hv.getUint32(16, le) & 0xffff;
  if (major !== 2 || minor > 4) {
    throw cur.error('PCAP_BAD_MAGIC', `unsupported pcap version ${major}.${minor}`, 4);
  }
  // Files written before version 2.3 stored the two lengths in the opposite order.
  const lengthsSwapped = minor < 3;
  // Like libpcap, treat a zero or absurd snaplen as "unknown" rather than rejecting every record.
  // The memory bound still applies then.
  const snaplen = headerSnaplen === 0 || headerSnaplen > opts.maxRecordBytes ? opts.maxRecordBytes : headerSnaplen;
  const fracToNs = fmt.nanosecond ? 1n : 1000n;

  let index = opts.firstIndex ?? 0;
  for (;;) {
    const recordOffset = cur.offset;
    const hdr = yield* cur.read(fmt.recordHeaderLength);
    if (hdr.length === 0) return;
    if (hdr.length < fmt.recordHeaderLength) {
      throw cur.error('PCAP_TRUNCATED', `record header cut short after ${hdr.length} of ${fmt.recordHeaderLength} bytes`, recordOffset);
    }
    const rv = new DataView(hdr.buffer, hdr.byteOffset, hdr.length);
    const sec = rv.getUint32(0, le);
    const frac = rv.getUint32(4, le);
    let capturedLength = rv.getUint32(8, le);
    let originalLength = rv.getUint32(12, le);
    if (lengthsSwapped && capturedLength > originalLength) {
      [capturedLength, originalLength] = [originalLength, capturedLength];
    }
    let excess = 0;
    if (capturedLength > snaplen) {
      if (opts.oversizedRecords === 'error' || capturedLength > opts.maxRecordBytes) {
        throw cur.error('PCAP_BAD_RECORD', `captured length ${capturedLength} exceeds snaplen ${snaplen}`, recordOffset);
      }
      excess = capturedLength - snaplen;
      capturedLength = snaplen;
    }
    // Copied before anything else is asked of the input, which may reuse the view's memory.
    const data = (yield* cur.read(capturedLength)).slice();
    if (data.length < capturedLength || (yield* cur.skip(excess)) < excess) {
      throw cur.error('PCAP_TRUNCATED', `record data cut short after ${data.length} of ${capturedLength + excess} bytes`, recordOffset);
    }
    yield {
      kind: 'record',
      record: {
        index: index++,
        interfaceId: 0,
        linkType,
        timestampNs: BigInt(sec) * 1_000_000_000n + BigInt(frac) * fracToNs,
        capturedLength,
        originalLength,
        data,
      },
    };
  }
}

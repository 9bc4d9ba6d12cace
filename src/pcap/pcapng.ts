// pcapng: sections (each with its own byte order), interface descriptions, and the three kinds of
// packet block. Blocks we do not need (name resolution, statistics, secrets, custom) are skipped
// without being buffered, after the same length checks as every other block.

import { Cursor, type Parser } from './input.js';

export const BT_SHB = 0x0a0d0d0a;
export const BT_IDB = 0x00000001;
export const BT_PB = 0x00000002; // obsolete Packet Block
export const BT_SPB = 0x00000003;
export const BT_EPB = 0x00000006;
export const BYTE_ORDER_MAGIC = 0x1a2b3c4d;

export const OPT_ENDOFOPT = 0;
export const OPT_COMMENT = 1;
export const IF_TSRESOL = 9;
export const IF_TSOFFSET = 14;

/** Smallest legal total length of each block type (header, fixed fields, trailer). */
const MIN_LENGTH: Record<number, number> = {
  [BT_SHB]: 28,
  [BT_IDB]: 20,
  [BT_PB]: 32,
  [BT_SPB]: 16,
  [BT_EPB]: 32,
};

interface Interface {
  linkType: number;
  snaplen: number;
  /** Timestamp units per second, from if_tsresol (default: microseconds). */
  unitsPerSecond: bigint;
  offsetNs: bigint;
}

interface Option {
  code: number;
  value: Uint8Array;
}

export interface PcapngOptions {
  maxRecordBytes: number;
  oversizedRecords: 'error' | 'truncate';
}

const utf8 = new TextDecoder('utf-8');

/** Parses a pcapng file; the first four bytes (the first SHB's block type) were consumed already. */
export function* parsePcapng(cur: Cursor, opts: PcapngOptions): Parser {
  let le = true;
  let interfaces: Interface[] = [];
  let index = 0;
  let blockType: number | null = BT_SHB; // already read for the first block
  let blockOffset = 0;

  for (;;) {
    if (blockType === null) {
      blockOffset = cur.offset;
      const head = yield* cur.read(4);
      if (head.length === 0) return;
      if (head.length < 4) throw cur.error('PCAP_TRUNCATED', `block header cut short after ${head.length} bytes`, blockOffset);
      blockType = view(head).getUint32(0, le);
    }
    const type = blockType;
    blockType = null;

    // The section header's block length can only be read once its byte-order magic is known.
    let fixed: Uint8Array;
    if (type === BT_SHB) {
      fixed = (yield* cur.read(8)).slice();
      if (fixed.length < 8) throw cur.error('PCAP_TRUNCATED', 'section header block cut short', blockOffset);
      const bom = view(fixed).getUint32(4, true);
      if (bom === BYTE_ORDER_MAGIC) le = true;
      else if (bom === 0x4d3c2b1a) le = false;
      else throw cur.error('PCAP_BAD_BLOCK', `bad byte-order magic 0x${bom.toString(16)} in section header`, blockOffset);
    } else {
      fixed = (yield* cur.read(4)).slice();
      if (fixed.length < 4) throw cur.error('PCAP_TRUNCATED', 'block header cut short', blockOffset);
    }
    const totalLength = view(fixed).getUint32(0, le);
    if (totalLength % 4 !== 0) {
      throw cur.error('PCAP_BAD_BLOCK', `block length ${totalLength} is not a multiple of 4`, blockOffset);
    }
    const minLength = MIN_LENGTH[type] ?? 12;
    if (totalLength < minLength) {
      throw cur.error('PCAP_BAD_BLOCK', `block length ${totalLength} is below the minimum ${minLength} for block type 0x${type.toString(16)}`, blockOffset);
    }
    const consumed = 4 + fixed.length;

    if (MIN_LENGTH[type] === undefined) {
      // Unknown or unneeded block: skip the body, then check the trailer as for any block.
      const skipped = yield* cur.skip(totalLength - consumed - 4);
      if (skipped < totalLength - consumed - 4) throw truncated(cur, blockOffset, totalLength);
      const tail = yield* cur.read(4);
      if (tail.length < 4) throw truncated(cur, blockOffset, totalLength);
      checkTrailer(cur, view(tail).getUint32(0, le), totalLength, blockOffset);
      continue;
    }

    if (totalLength > opts.maxRecordBytes) {
      throw cur.error('PCAP_BAD_BLOCK', `block length ${totalLength} exceeds the limit of ${opts.maxRecordBytes} bytes`, blockOffset);
    }
    const rest = yield* cur.read(totalLength - consumed);
    if (rest.length < totalLength - consumed) throw truncated(cur, blockOffset, totalLength);
    const rv = view(rest);
    checkTrailer(cur, rv.getUint32(rest.length - 4, le), totalLength, blockOffset);
    // Body: everything after the 8-byte block header and before the trailer.
    const body = type === BT_SHB ? concat(fixed.subarray(4), rest.subarray(0, rest.length - 4)) : rest.subarray(0, rest.length - 4);
    const bv = view(body);

    switch (type) {
      case BT_SHB: {
        const major = bv.getUint16(4, le);
        if (major !== 1) throw cur.error('PCAP_BAD_BLOCK', `unsupported pcapng version ${major}.${bv.getUint16(6, le)}`, blockOffset);
        interfaces = []; // interface ids are scoped to their section
        break;
      }
      case BT_IDB: {
        const iface: Interface = {
          linkType: bv.getUint16(0, le),
          snaplen: bv.getUint32(4, le),
          unitsPerSecond: 1_000_000n,
          offsetNs: 0n,
        };
        for (const opt of options(cur, body.subarray(8), le, blockOffset)) {
          if (opt.code === IF_TSRESOL && opt.value.length >= 1) {
            const v = opt.value[0]!;
            iface.unitsPerSecond = v & 0x80 ? 1n << BigInt(v & 0x7f) : 10n ** BigInt(v);
          } else if (opt.code === IF_TSOFFSET && opt.value.length >= 8) {
            iface.offsetNs = view(opt.value).getBigInt64(0, le) * 1_000_000_000n;
          }
        }
        interfaces.push(iface);
        break;
      }
      case BT_EPB:
      case BT_PB: {
        const isEpb = type === BT_EPB;
        const interfaceId = isEpb ? bv.getUint32(0, le) : bv.getUint16(0, le);
        const iface = interfaces[interfaceId];
        if (iface === undefined) {
          throw cur.error('PCAP_BAD_BLOCK', `packet block names interface ${interfaceId}, but the section has ${interfaces.length}`, blockOffset);
        }
        const ts = (BigInt(bv.getUint32(4, le)) << 32n) | BigInt(bv.getUint32(8, le));
        let capturedLength = bv.getUint32(12, le);
        const storedLength = capturedLength;
        const originalLength = bv.getUint32(16, le);
        if (capturedLength > body.length - 20) {
          throw cur.error('PCAP_BAD_BLOCK', `captured length ${capturedLength} overruns the block (${body.length - 20} bytes of data)`, blockOffset);
        }
        if (iface.snaplen !== 0 && capturedLength > iface.snaplen) {
          if (opts.oversizedRecords === 'error') {
            throw cur.error('PCAP_BAD_RECORD', `captured length ${capturedLength} exceeds the interface snaplen ${iface.snaplen}`, blockOffset);
          }
          capturedLength = iface.snaplen;
        }
        const optionsAt = 20 + pad4(storedLength);
        const comment = comments(options(cur, body.subarray(Math.min(optionsAt, body.length)), le, blockOffset));
        yield {
          kind: 'record',
          record: {
            index: index++,
            interfaceId,
            linkType: iface.linkType,
            timestampNs: toNs(ts, iface),
            capturedLength,
            originalLength,
            data: body.slice(20, 20 + capturedLength),
            ...(comment === undefined ? {} : { comment }),
          },
        };
        break;
      }
      case BT_SPB: {
        const iface = interfaces[0];
        if (iface === undefined) throw cur.error('PCAP_BAD_BLOCK', 'simple packet block before any interface description', blockOffset);
        const originalLength = bv.getUint32(0, le);
        // No captured length is stored: it is what fits the snaplen and the block.
        let capturedLength = Math.min(originalLength, body.length - 4);
        if (iface.snaplen !== 0) capturedLength = Math.min(capturedLength, iface.snaplen);
        yield {
          kind: 'record',
          record: {
            index: index++,
            interfaceId: 0,
            linkType: iface.linkType,
            timestampNs: iface.offsetNs, // simple packet blocks carry no timestamp
            capturedLength,
            originalLength,
            data: body.slice(4, 4 + capturedLength),
          },
        };
        break;
      }
    }
  }
}

function toNs(ts: bigint, iface: Interface): bigint {
  return (ts * 1_000_000_000n) / iface.unitsPerSecond + iface.offsetNs;
}

function* options(cur: Cursor, area: Uint8Array, le: boolean, blockOffset: number): Generator<Option> {
  const dv = view(area);
  let at = 0;
  // Fewer than 4 bytes left cannot hold an option header; writers sometimes leave such padding.
  while (at + 4 <= area.length) {
    const code = dv.getUint16(at, le);
    const length = dv.getUint16(at + 2, le);
    if (code === OPT_ENDOFOPT) return;
    if (at + 4 + length > area.length) {
      throw cur.error('PCAP_BAD_BLOCK', `option ${code} of length ${length} overruns its block`, blockOffset);
    }
    yield { code, value: area.subarray(at + 4, at + 4 + length) };
    at += 4 + pad4(length);
  }
}

function comments(opts: Iterable<Option>): string | undefined {
  const found: string[] = [];
  for (const o of opts) if (o.code === OPT_COMMENT) found.push(utf8.decode(o.value));
  return found.length === 0 ? undefined : found.join('\n');
}

function checkTrailer(cur: Cursor, trailing: number, leading: number, blockOffset: number): void {
  if (trailing !== leading) {
    throw cur.error('PCAP_BAD_BLOCK', `trailing block length ${trailing} differs from leading length ${leading}`, blockOffset);
  }
}

function truncated(cur: Cursor, blockOffset: number, totalLength: number) {
  return cur.error('PCAP_TRUNCATED', `block of ${totalLength} bytes cut short by the end of the file`, blockOffset);
}

export function pad4(n: number): number {
  return (n + 3) & ~3;
}

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

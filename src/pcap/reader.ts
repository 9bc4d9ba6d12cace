// Public entry points for reading captures: format detection by magic number, and the sources
// (file path, Node stream, bytes in memory) that feed the format parsers in fixed-size chunks.

import { open, type FileHandle } from 'node:fs/promises';
import { TwinpathError } from '../errors.js';
import { classicFormat, parseClassic } from './classic.js';
import { Cursor, runAsync, runSync, type ChunkSource, type Parser } from './input.js';
import { BT_SHB, parsePcapng } from './pcapng.js';
import { DEFAULT_CHUNK_SIZE, DEFAULT_MAX_RECORD_BYTES, type CaptureRecord, type ReadOptions } from './types.js';

export type CaptureSource = string | NodeJS.ReadableStream | Uint8Array;

/**
 * Streams the packets of a classic pcap or pcapng capture. Records come out as they are parsed;
 * on a damaged file every whole record before the damage is yielded, then a TwinpathError
 * (PCAP_TRUNCATED, PCAP_BAD_RECORD, PCAP_BAD_BLOCK, PCAP_BAD_MAGIC) names the file and offset.
 */
export async function* readCapture(source: CaptureSource, opts: ReadOptions = {}): AsyncGenerator<CaptureRecord> {
  const file = opts.file ?? (typeof source === 'string' ? source : undefined);
  const chunkSize = opts.chunkSize ?? DEFAULT_CHUNK_SIZE;
  const chunks = typeof source === 'string' ? await fileChunks(source, chunkSize) : source instanceof Uint8Array ? bytesChunks(source, chunkSize) : streamChunks(source, file);
  yield* runAsync(captureParser(new Cursor(file), opts), chunks, chunkSize);
}

/** Reads a capture held in memory, all at once. Same records and errors as readCapture. */
export function readCaptureSync(bytes: Uint8Array, opts: Pick<ReadOptions, 'file' | 'maxRecordBytes' | 'oversizedRecords'> = {}): CaptureRecord[] {
  return [...runSync(captureParser(new Cursor(opts.file), opts), bytes)];
}

/** Reads up to the first failure and reports it instead of throwing: for callers that print partial results. */
export async function readCaptureSettled(source: CaptureSource, opts: ReadOptions = {}): Promise<{ records: CaptureRecord[]; error?: TwinpathError }> {
  const records: CaptureRecord[] = [];
  try {
    for await (const r of readCapture(source, opts)) records.push(r);
    return { records };
  } catch (e) {
    if (e instanceof TwinpathError) return { records, error: e };
    throw e;
  }
}

export type CaptureFormat = 'pcap' | 'pcap-ns' | 'pcapng';

/** Names the format from the first four bytes of a file, or null when they are no capture magic. */
export function detectFormat(first4: Uint8Array): CaptureFormat | null {
  if (first4.length < 4) return null;
  const c = classicFormat(first4);
  if (c !== null) return c.nanosecond ? 'pcap-ns' : 'pcap';
  return new DataView(first4.buffer, first4.byteOffset, 4).getUint32(0, true) === BT_SHB ? 'pcapng' : null;
}

function* captureParser(cur: Cursor, opts: Pick<ReadOptions, 'maxRecordBytes' | 'oversizedRecords'>): Parser {
  const maxRecordBytes = opts.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
  const oversizedRecords = opts.oversizedRecords ?? 'error';
  const magic = (yield* cur.read(4)).slice();
  if (magic.length === 0) throw cur.error('PCAP_TRUNCATED', 'empty file', 0);
  if (magic.length < 4) throw cur.error('PCAP_TRUNCATED', `file of ${magic.length} bytes has no room for a magic number`, 0);
  const classic = classicFormat(magic);
  if (classic !== null) {
    yield* parseClassic(cur, classic, { maxRecordBytes, oversizedRecords });
  } else if (detectFormat(magic) === 'pcapng') {
    yield* parsePcapng(cur, { maxRecordBytes, oversizedRecords });
  } else {
    const hex = Array.from(magic, (b) => b.toString(16).padStart(2, '0')).join('');
    throw cur.error('PCAP_BAD_MAGIC', `unknown magic 0x${hex}: neither pcap nor pcapng`, 0);
  }
}

async function fileChunks(path: string, chunkSize: number): Promise<ChunkSource> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    throw new TwinpathError('IO_ERROR', `cannot open capture: ${(e as Error).message}`, { file: path }, { cause: e });
  }
  return {
    async pull() {
      // A fresh buffer per read: the window copies out of it, so nothing aliases later reads.
      const buf = new Uint8Array(chunkSize);
      let n: number;
      try {
        ({ bytesRead: n } = await fh.read(buf, 0, chunkSize, null));
      } catch (e) {
        throw new TwinpathError('IO_ERROR', `cannot read capture: ${(e as Error).message}`, { file: path }, { cause: e });
      }
      return n === 0 ? null : buf.subarray(0, n);
    },
    close: () => fh.close(),
  };
}

function bytesChunks(bytes: Uint8Array, chunkSize: number): ChunkSource {
  let pos = 0;
  return {
    async pull() {
      if (pos >= bytes.length) return null;
      const chunk = bytes.subarray(pos, pos + chunkSize);
      pos += chunk.length;
      return chunk;
    },
    async close() {},
  };
}

function streamChunks(stream: NodeJS.ReadableStream, file: string | undefined): ChunkSource {
  const it = (stream as AsyncIterable<unknown>)[Symbol.asyncIterator]();
  return {
    async pull() {
      const next = await it.next();
      if (next.done) return null;
      if (typeof next.value === 'string') {
        throw new TwinpathError('IO_ERROR', 'capture stream yields text; it must be opened without an encoding', file === undefined ? {} : { file });
      }
      return next.value as Uint8Array;
    },
    async close() {
      await it.return?.();
    },
  };
}

// The pull protocol between format parsers and the byte sources that feed them.
//
// A parser is a synchronous generator that asks for bytes ("read n", "skip n") and hands out
// records. Keeping parsers free of I/O lets one parser serve both the streaming async reader
// (files and streams, read in fixed-size chunks) and the synchronous reader over a buffer, and
// keeps offsets exact: the parser counts every byte it consumed, so errors name the true position.

import { TwinpathError, type ErrorCode } from '../errors.js';
import type { CaptureRecord } from './types.js';

export type ParseStep =
  /** Resumed with up to n bytes; fewer than n only at the end of the input. The view is valid until the next step. */
  | { kind: 'read'; n: number }
  /** Resumed with the number of bytes skipped; fewer than n only at the end of the input. */
  | { kind: 'skip'; n: number }
  | { kind: 'record'; record: CaptureRecord };

export type Parser = Generator<ParseStep, void, Uint8Array | number | undefined>;

/** Parser-side view of the input: tracks the offset and makes the error location for this file. */
export class Cursor {
  offset = 0;

  constructor(readonly file: string | undefined) {}

  *read(n: number): Generator<ParseStep, Uint8Array, Uint8Array | number | undefined> {
    const bytes = (yield { kind: 'read', n }) as Uint8Array;
    this.offset += bytes.length;
    return bytes;
  }

  *skip(n: number): Generator<ParseStep, number, Uint8Array | number | undefined> {
    const skipped = (yield { kind: 'skip', n }) as number;
    this.offset += skipped;
    return skipped;
  }

  error(code: ErrorCode, detail: string, offset: number): TwinpathError {
    const location = this.file === undefined ? { offset } : { file: this.file, offset };
    return new TwinpathError(code, detail, location);
  }
}

/** Runs a parser over bytes already in memory. */
export function* runSync(parser: Parser, input: Uint8Array): Generator<CaptureRecord> {
  // A plain Uint8Array view: Buffer's slice() would share memory where parsers expect a copy.
  const bytes = new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  let pos = 0;
  let step = parser.next();
  while (!step.done) {
    const req = step.value;
    if (req.kind === 'record') {
      yield req.record;
      step = parser.next();
    } else if (req.kind === 'read') {
      const end = Math.min(bytes.length, pos + req.n);
      const view = bytes.subarray(pos, end);
      pos = end;
      step = parser.next(view);
    } else {
      const n = Math.min(bytes.length - pos, req.n);
      pos += n;
      step = parser.next(n);
    }
  }
}

/** Something that hands out chunks of a byte stream; null at the end. */
export interface ChunkSource {
  pull(): Promise<Uint8Array | null>;
  close(): Promise<void>;
}

/**
 * Runs a parser over a chunked source, holding at most one pending record plus one chunk in
 * memory. The window grows only when a single request is larger than what it holds.
 */
export async function* runAsync(parser: Parser, source: ChunkSource, chunkSize: number): AsyncGenerator<CaptureRecord> {
  let buf = new Uint8Array(Math.max(chunkSize, 16));
  let start = 0;
  let end = 0;
  let eof = false;

  const fill = async (): Promise<boolean> => {
    if (eof) return false;
    const chunk = await source.pull();
    if (chunk === null) {
      eof = true;
      return false;
    }
    if (chunk.length === 0) return true;
    const held = end - start;
    if (buf.length - end < chunk.length) {
      // Compact first; allocate a larger window only when compacting is not enough.
      // A window grown for one large record shrinks back once that record has been consumed.
      const need = held + chunk.length;
      const base = Math.max(chunkSize, 16) * 2;
      const shrink = buf.length > 4 * base && need <= base;
      const next = need <= buf.length && !shrink ? buf : new Uint8Array(shrink ? base : Math.max(need, buf.length * 2));
      if (next === buf) buf.copyWithin(0, start, end);
      else next.set(buf.subarray(start, end), 0);
      buf = next;
      start = 0;
      end = held;
    }
    buf.set(chunk, end);
    end += chunk.length;
    return true;
  };

  try {
    let step = parser.next();
    while (!step.done) {
      const req = step.value;
      if (req.kind === 'record') {
        yield req.record;
        step = parser.next();
      } else if (req.kind === 'read') {
        while (end - start < req.n && (await fill()));
        const n = Math.min(req.n, end - start);
        const view = buf.subarray(start, start + n);
        start += n;
        step = parser.next(view);
      } else {
        // Skipping never buffers: whole chunks are dropped as they arrive.
        let skipped = 0;
        for (;;) {
          const take = Math.min(req.n - skipped, end - start);
          skipped += take;
          start += take;
          if (skipped === req.n) break;
          start = end = 0;
          if (!(await fill())) break;
        }
        step = parser.next(skipped);
      }
    }
  } finally {
    await source.close();
  }
}

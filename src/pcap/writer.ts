// Capture writers: classic pcap (nanosecond by default) and pcapng with one interface per link
// type and a per-packet comment, which is where a replay puts each packet's verdict so that
// Wireshark shows it. Writers stream to a file descriptor, a Node stream or a callback, and the
// pure encoders below them also build whole files in memory for tests.

import { closeSync, openSync, writeSync } from 'node:fs';
import { TwinpathError } from '../errors.js';
import { PCAP_MAGIC_MICRO, PCAP_MAGIC_NANO } from './classic.js';
import { BT_EPB, BT_IDB, BT_SHB, BYTE_ORDER_MAGIC, IF_TSRESOL, OPT_COMMENT, pad4 } from './pcapng.js';
import { MAX_SNAPLEN, type CaptureRecord } from './types.js';

/** What a writer needs of a record; everything else of CaptureRecord is optional. */
export type WritableRecord = Pick<CaptureRecord, 'timestampNs' | 'data'> & Partial<Pick<CaptureRecord, 'linkType' | 'originalLength' | 'comment'>>;

/** Where encoded bytes go: a file descriptor, a writable stream, or a function. */
export type WriteTarget = number | NodeJS.WritableStream | ((bytes: Uint8Array) => void);

export interface PcapWriterOptions {
  linkType: number;
  snaplen?: number;
  /** Nanosecond timestamps (magic 0xa1b23c4d); microsecond files lose the sub-microsecond part. */
  nanosecond?: boolean;
  bigEndian?: boolean;
  /** Name used in error locations. */
  file?: string;
}

export interface PcapngWriterOptions {
  bigEndian?: boolean;
  /** Written as shb_userappl. */
  application?: string;
  /** IDB snaplen; 0 means unlimited. */
  snaplen?: number;
  file?: string;
}

const NS_PER_S = 1_000_000_000n;

/** Sequential writes to a target, waiting for a stream to drain when it asks to. */
class Sink {
  written = 0;
  constructor(private readonly target: WriteTarget) {}

  async write(bytes: Uint8Array): Promise<void> {
    this.written += bytes.length;
    const t = this.target;
    if (typeof t === 'number') {
      for (let at = 0; at < bytes.length; ) at += writeSync(t, bytes, at, bytes.length - at);
    } else if (typeof t === 'function') {
      t(bytes);
    } else if (!t.write(bytes)) {
      await new Promise<void>((resolve) => t.once('drain', () => resolve()));
    }
  }
}

abstract class CaptureWriter {
  protected readonly sink: Sink;
  /** The file header's write, which later writes and close wait for (and whose failure they report). */
  protected header: Promise<void> = Promise.resolve();
  private ownedFd: number | undefined;

  constructor(target: WriteTarget | { path: string }) {
    if (typeof target === 'object' && 'path' in target) {
      this.ownedFd = openSync(target.path, 'w');
      this.sink = new Sink(this.ownedFd);
    } else {
      this.sink = new Sink(target);
    }
  }

  abstract write(record: WritableRecord): Promise<void>;

  /** Closes a file the writer opened itself; a caller's fd or stream stays open. */
  async close(): Promise<void> {
    try {
      await this.header;
    } finally {
      if (this.ownedFd !== undefined) closeSync(this.ownedFd);
      this.ownedFd = undefined;
    }
  }

}

export class PcapWriter extends CaptureWriter {
  private readonly opts: Required<Omit<PcapWriterOptions, 'file'>> & { file?: string };

  constructor(target: WriteTarget | { path: string }, opts: PcapWriterOptions) {
    super(target);
    this.opts = { snaplen: MAX_SNAPLEN, nanosecond: true, bigEndian: false, ...opts };
    if (opts.file === undefined && typeof target === 'object' && 'path' in target) this.opts.file = target.path;
    this.header = this.sink.write(encodePcapHeader(this.opts));
    this.header.catch(() => {}); // reported by the next write or close, not as an unhandled rejection
  }

  async write(record: WritableRecord): Promise<void> {
    await this.header;
    const where = { ...(this.opts.file === undefined ? {} : { file: this.opts.file }), offset: this.sink.written };
    if (record.linkType !== undefined && record.linkType !== this.opts.linkType) {
      throw new TwinpathError('PCAP_BAD_RECORD', `record of link type ${record.linkType} in a pcap file of link type ${this.opts.linkType}`, where);
    }
    if (record.data.length > this.opts.snaplen) {
      throw new TwinpathError('PCAP_BAD_RECORD', `record of ${record.data.length} bytes exceeds snaplen ${this.opts.snaplen}`, where);
    }
    const sec = record.timestampNs / NS_PER_S;
    if (record.timestampNs < 0n || sec > 0xffffffffn) {
      throw new TwinpathError('PCAP_BAD_RECORD', `timestamp ${record.timestampNs} ns does not fit a pcap record`, where);
    }
    const frac = record.timestampNs % NS_PER_S;
    const h = new DataView(new ArrayBuffer(16));
    const le = !this.opts.bigEndian;
    h.setUint32(0, Number(sec), le);
    h.setUint32(4, Number(this.opts.nanosecond ? frac : frac / 1000n), le);
    h.setUint32(8, record.data.length, le);
    h.setUint32(12, record.originalLength ?? record.data.length, le);
    await this.sink.write(new Uint8Array(h.buffer));
    await this.sink.write(record.data);
  }
}

export function encodePcapHeader(opts: PcapWriterOptions): Uint8Array {
  const h = new DataView(new ArrayBuffer(24));
  const le = !opts.bigEndian;
  h.setUint32(0, opts.nanosecond === false ? PCAP_MAGIC_MICRO : PCAP_MAGIC_NANO, le);
  h.setUint16(4, 2, le);
  h.setUint16(6, 4, le);
  // thiszone and sigfigs stay 0, as every modern writer leaves them.
  h.setUint32(16, opts.snaplen ?? MAX_SNAPLEN, le);
  h.setUint32(20, opts.linkType, le);
  return new Uint8Array(h.buffer);
}

export class PcapngWriter extends CaptureWriter {
  private readonly opts: PcapngWriterOptions;
  /** Interface id per link type, in order of first appearance. */
  private readonly interfaces = new Map<number, number>();

  constructor(target: WriteTarget | { path: string }, opts: PcapngWriterOptions = {}) {
    super(target);
    this.opts = { ...opts };
    if (opts.file === undefined && typeof target === 'object' && 'path' in target) this.opts.file = target.path;
    this.header = this.sink.write(encodeSectionHeader(!opts.bigEndian, opts.application ?? 'twinpath'));
    this.header.catch(() => {}); // reported by the next write or close, not as an unhandled rejection
  }

  /** Writes the record's interface description first if its link type is new to this file. */
  async write(record: WritableRecord): Promise<void> {
    await this.header;
    const le = !this.opts.bigEndian;
    const linkType = record.linkType ?? 1;
    let id = this.interfaces.get(linkType);
    if (id === undefined) {
      id = this.interfaces.size;
      this.interfaces.set(linkType, id);
      await this.sink.write(encodeInterfaceDescription(le, linkType, this.opts.snaplen ?? 0));
    }
    if (record.timestampNs < 0n || record.timestampNs >= 1n << 64n) {
      const where = { ...(this.opts.file === undefined ? {} : { file: this.opts.file }), offset: this.sink.written };
      throw new TwinpathError('PCAP_BAD_RECORD', `timestamp ${record.timestampNs} ns does not fit a pcapng block`, where);
    }
    await this.sink.write(encodeEnhancedPacket(le, id, record));
  }
}

function block(le: boolean, type: number, body: Uint8Array): Uint8Array {
  const total = 12 + body.length; // body lengths are kept multiples of 4 by the callers
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, type, le);
  dv.setUint32(4, total, le);
  out.set(body, 8);
  dv.setUint32(total - 4, total, le);
  return out;
}

/** Options area with the end-of-options marker; empty when there are no options. */
function optionsArea(le: boolean, opts: { code: number; value: Uint8Array }[]): Uint8Array {
  if (opts.length === 0) return new Uint8Array(0);
  const size = opts.reduce((n, o) => n + 4 + pad4(o.value.length), 4);
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  let at = 0;
  for (const o of opts) {
    dv.setUint16(at, o.code, le);
    dv.setUint16(at + 2, o.value.length, le);
    out.set(o.value, at + 4);
    at += 4 + pad4(o.value.length);
  }
  return out; // the zeroed last four bytes are opt_endofopt
}

const utf8 = new TextEncoder();

export function encodeSectionHeader(le: boolean, application?: string): Uint8Array {
  const opts = optionsArea(le, application === undefined ? [] : [{ code: 4 /* shb_userappl */, value: utf8.encode(application) }]);
  const body = new Uint8Array(16 + opts.length);
  const dv = new DataView(body.buffer);
  dv.setUint32(0, BYTE_ORDER_MAGIC, le);
  dv.setUint16(4, 1, le);
  dv.setUint16(6, 0, le);
  dv.setBigInt64(8, -1n, le); // section length not given: writers that stream cannot know it
  body.set(opts, 16);
  return block(le, BT_SHB, body);
}

export function encodeInterfaceDescription(le: boolean, linkType: number, snaplen: number): Uint8Array {
  const opts = optionsArea(le, [{ code: IF_TSRESOL, value: Uint8Array.of(9) }]);
  const body = new Uint8Array(8 + opts.length);
  const dv = new DataView(body.buffer);
  dv.setUint16(0, linkType, le);
  dv.setUint32(4, snaplen, le);
  body.set(opts, 8);
  return block(le, BT_IDB, body);
}

/** An EPB with nanosecond units (the interface's if_tsresol is 9). */
export function encodeEnhancedPacket(le: boolean, interfaceId: number, record: WritableRecord): Uint8Array {
  const opts = optionsArea(le, record.comment === undefined ? [] : [{ code: OPT_COMMENT, value: utf8.encode(record.comment) }]);
  const dataLen = pad4(record.data.length);
  const body = new Uint8Array(20 + dataLen + opts.length);
  const dv = new DataView(body.buffer);
  dv.setUint32(0, interfaceId, le);
  dv.setUint32(4, Number(record.timestampNs >> 32n), le);
  dv.setUint32(8, Number(record.timestampNs & 0xffffffffn), le);
  dv.setUint32(12, record.data.length, le);
  dv.setUint32(16, record.originalLength ?? record.data.length, le);
  body.set(record.data, 20);
  body.set(opts, 20 + dataLen);
  return block(le, BT_EPB, body);
}

/** A whole classic pcap file in memory. */
export async function encodePcap(records: Iterable<WritableRecord>, opts: PcapWriterOptions): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const w = new PcapWriter((b) => parts.push(b.slice()), opts);
  for (const r of records) await w.write(r);
  await w.close();
  return concat(parts);
}

/** A whole pcapng file in memory. */
export async function encodePcapng(records: Iterable<WritableRecord>, opts: PcapngWriterOptions = {}): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const w = new PcapngWriter((b) => parts.push(b.slice()), opts);
  for (const r of records) await w.write(r);
  await w.close();
  return concat(parts);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

// Test-side capture assembly, written independently of src/pcap/writer.ts so that reader tests
// do not only check the writer against itself. Every layout here follows the pcap and pcapng
// specifications field by field, including deliberately broken variants.

export type Bytes = Uint8Array;

export function concat(...parts: Bytes[]): Bytes {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Packs fields of the given widths (1, 2, 4 or 8 bytes) in one byte order. */
export function pack(le: boolean, ...fields: [width: 1 | 2 | 4 | 8, value: number | bigint][]): Bytes {
  const out = new Uint8Array(fields.reduce((n, [w]) => n + w, 0));
  const dv = new DataView(out.buffer);
  let at = 0;
  for (const [w, v] of fields) {
    if (w === 1) dv.setUint8(at, Number(v));
    else if (w === 2) dv.setUint16(at, Number(v), le);
    else if (w === 4) dv.setUint32(at, Number(v), le);
    else dv.setBigUint64(at, BigInt(v), le);
    at += w;
  }
  return out;
}

export function pad(b: Bytes): Bytes {
  return concat(b, new Uint8Array((4 - (b.length % 4)) % 4));
}

export function payload(n: number, seed = 1): Bytes {
  return Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff);
}

// ---- classic pcap ----

export interface ClassicRecord {
  sec: number;
  frac: number;
  data: Bytes;
  originalLength?: number;
  capturedLength?: number; // to lie about the length
}

export function classicFile(opts: { le: boolean; magic?: number; snaplen?: number; linkType?: number; major?: number; minor?: number }, records: ClassicRecord[]): Bytes {
  const le = opts.le;
  const head = pack(le, [4, opts.magic ?? 0xa1b2c3d4], [2, opts.major ?? 2], [2, opts.minor ?? 4], [4, 0], [4, 0], [4, opts.snaplen ?? 65535], [4, opts.linkType ?? 1]);
  return concat(head, ...records.map((r) => concat(pack(le, [4, r.sec], [4, r.frac], [4, r.capturedLength ?? r.data.length], [4, r.originalLength ?? r.data.length]), r.data)));
}

// ---- pcapng ----

export function option(le: boolean, code: number, value: Bytes): Bytes {
  return concat(pack(le, [2, code], [2, value.length]), pad(value));
}

export function options(le: boolean, ...opts: Bytes[]): Bytes {
  return opts.length === 0 ? new Uint8Array(0) : concat(...opts, pack(le, [2, 0], [2, 0]));
}

/** A block with correct lengths unless told otherwise. */
export function block(le: boolean, type: number, body: Bytes, lie: { leading?: number; trailing?: number } = {}): Bytes {
  const total = 12 + body.length;
  return concat(pack(le, [4, type], [4, lie.leading ?? total]), body, pack(le, [4, lie.trailing ?? lie.leading ?? total]));
}

export function shb(le: boolean, opts: { major?: number } = {}): Bytes {
  return block(le, 0x0a0d0d0a, pack(le, [4, 0x1a2b3c4d], [2, opts.major ?? 1], [2, 0], [8, 0xffffffffffffffffn]));
}

export function idb(le: boolean, linkType: number, snaplen: number, ...opts: Bytes[]): Bytes {
  return block(le, 1, concat(pack(le, [2, linkType], [2, 0], [4, snaplen]), options(le, ...opts)));
}

export function tsresol(le: boolean, v: number): Bytes {
  return option(le, 9, Uint8Array.of(v));
}

export function tsoffset(le: boolean, seconds: bigint): Bytes {
  return option(le, 14, pack(le, [8, BigInt.asUintN(64, seconds)]));
}

export function comment(le: boolean, text: string): Bytes {
  return option(le, 1, new TextEncoder().encode(text));
}

export function epb(le: boolean, iface: number, ts: bigint, data: Bytes, extra: { originalLength?: number; capturedLength?: number; opts?: Bytes[] } = {}): Bytes {
  const fixed = pack(le, [4, iface], [4, ts >> 32n], [4, ts & 0xffffffffn], [4, extra.capturedLength ?? data.length], [4, extra.originalLength ?? data.length]);
  return block(le, 6, concat(fixed, pad(data), options(le, ...(extra.opts ?? []))));
}

export function spb(le: boolean, originalLength: number, data: Bytes): Bytes {
  return block(le, 3, concat(pack(le, [4, originalLength]), pad(data)));
}

export function obsoletePacketBlock(le: boolean, iface: number, ts: bigint, data: Bytes, opts: Bytes[] = []): Bytes {
  const fixed = pack(le, [2, iface], [2, 0], [4, ts >> 32n], [4, ts & 0xffffffffn], [4, data.length], [4, data.length]);
  return block(le, 2, concat(fixed, pad(data), options(le, ...opts)));
}

/** Collects an async generator, returning records and the error that ended it, if any. */
export async function collect<T>(gen: AsyncIterable<T>): Promise<{ records: T[]; error?: unknown }> {
  const records: T[] = [];
  try {
    for await (const r of gen) records.push(r);
    return { records };
  } catch (error) {
    return { records, error };
  }
}

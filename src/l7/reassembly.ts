// TCP stream reassembly for the L7 stage: the bytes each side of a connection sent, in order,
// from the segments a capture holds, in whatever order and however often they appear.
//
// What a proxy sees is the stream the receiving socket would read, so the rules here are the
// receiver's: a byte is delivered once, in sequence order; a retransmission or an overlap adds
// only the bytes not seen before (the first copy wins, as Linux and most stacks keep it); data
// past a hole waits; a FIN ends a side when the bytes before it are in; an RST ends both.
// Sequence numbers are 32-bit and wrap, so positions are kept as stream offsets (JS numbers)
// and a segment is placed by its signed 32-bit distance from the next expected byte.
//
// A capture can miss bytes the endpoints exchanged. The stream then has a hole that no later
// segment fills; a proxy would have seen those bytes, so nothing after the hole can be parsed
// faithfully. A hole is declared (a `gap` event, after which that side delivers nothing) when
// the other side acknowledges bytes the capture never showed (its FIN included), when
// out-of-order data waiting behind a hole outgrows its bound, and at flush().
//
// Memory is bounded: out-of-order bytes per side and over all connections, and the number of
// connections (least recently used first out; the owner hears of every eviction).

import { TH_ACK, TH_FIN, TH_RST, TH_SYN, type TcpSegment } from './segment.js';

export interface ReassemblyLimits {
  /** Connections tracked at once; the least recently used is evicted beyond this. */
  maxConnections: number;
  /** Out-of-order bytes held for one side of one connection before its hole is declared a gap. */
  maxBufferedPerSide: number;
  /** Separate out-of-order pieces held for one side (each costs bookkeeping whatever its size). */
  maxPiecesPerSide: number;
  /** Out-of-order bytes held over all connections; least recently used connections go first. */
  maxBufferedTotal: number;
}

export const DEFAULT_REASSEMBLY_LIMITS: ReassemblyLimits = {
  maxConnections: 4096,
  maxBufferedPerSide: 256 * 1024,
  maxPiecesPerSide: 1024,
  maxBufferedTotal: 32 * 1024 * 1024,
};

/** Which way bytes travel: `client` for client -> server, `server` for server -> client. */
export type Side = 'client' | 'server';

export type GapCause =
  /** The other side acknowledged bytes the capture does not hold. */
  | 'acked-unseen'
  /** Out-of-order bytes behind the hole outgrew the limits. */
  | 'buffer-full'
  /** flush(): the capture ended with the hole open. */
  | 'end-of-capture';

export type StreamEvent =
  | { kind: 'data'; side: Side; bytes: Uint8Array; timeNs: bigint }
  /** Bytes of `side` are missing from `offset` on (`missing` of them when known, else 0). */
  | { kind: 'gap'; side: Side; offset: number; missing: number; cause: GapCause; timeNs: bigint }
  /** The side's FIN was reached in order: it sends nothing more. */
  | { kind: 'end'; side: Side; timeNs: bigint }
  /** An RST from `side`: the connection is gone. */
  | { kind: 'reset'; side: Side; timeNs: bigint };

export interface Address {
  ip: string;
  port: number;
}

interface Piece {
  off: number;
  bytes: Uint8Array;
  timeNs: bigint;
}

/** One side's receive state. */
interface Half {
  /** The sequence number of stream offset 0; undefined until the side's first segment. */
  base: number | undefined;
  /** Offset of the next byte to deliver. */
  next: number;
  /** Out-of-order pieces beyond `next`, sorted, never overlapping. */
  pending: Piece[];
  pendingBytes: number;
  /** Offset the FIN occupies, once seen. */
  finOff: number | undefined;
  ended: boolean;
  /** A gap was declared: nothing more is delivered for this side. */
  broken: boolean;
  /** Bytes seen again (retransmitted or overlapping what was already held). */
  duplicateBytes: number;
}

export interface Connection<T> {
  readonly key: string;
  readonly client: Address;
  readonly server: Address;
  /** Whatever the owner keeps with the connection. */
  data: T;
  /** `closed` after both FINs or an RST: later segments are ignored until a new SYN. */
  state: 'open' | 'closed';
  /** Whether the handshake was seen; without it the stream starts at the first segment seen. */
  synSeen: boolean;
  readonly halves: Record<Side, Half>;
}

/** Why a connection stopped being tracked without its owner asking: the connection limit, or a
 * new SYN on the same addresses and ports (a new connection reusing the tuple). */
export type EvictCause = 'lru' | 'reused';

export interface ConnectionStats {
  delivered: Record<Side, number>;
  duplicateBytes: Record<Side, number>;
  buffered: Record<Side, number>;
}

function newHalf(): Half {
  return { base: undefined, next: 0, pending: [], pendingBytes: 0, finOff: undefined, ended: false, broken: false, duplicateBytes: 0 };
}

function addrKey(a: Address): string {
  return a.ip.includes(':') ? `[${a.ip}]:${a.port}` : `${a.ip}:${a.port}`;
}

/** The key of a connection from its client and server. */
export function connectionKey(client: Address, server: Address): string {
  return `${addrKey(client)}>${addrKey(server)}`;
}

export class TcpReassembler<T> {
  private readonly limits: ReassemblyLimits;
  /** In least-recently-used-first order (a Map keeps insertion order; a touch re-inserts). */
  private readonly conns = new Map<string, Connection<T>>();
  private buffered = 0;
  private evictionCount = 0;

  constructor(
    limits: Partial<ReassemblyLimits> = {},
    private readonly onEvict: (conn: Connection<T>, why: EvictCause) => void = () => {},
  ) {
    this.limits = { ...DEFAULT_REASSEMBLY_LIMITS, ...limits };
    for (const [k, v] of Object.entries(this.limits)) {
      if (!Number.isInteger(v) || v < 1) throw new RangeError(`reassembly limit ${k} must be a positive integer, not ${v}`);
    }
  }

  get size(): number {
    return this.conns.size;
  }

  /** Out-of-order bytes held over all connections. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  get evictions(): number {
    return this.evictionCount;
  }

  /** The connection a segment belongs to and the side that sent it. */
  lookup(seg: TcpSegment): { conn: Connection<T>; side: Side } | undefined {
    const src = { ip: seg.src, port: seg.srcPort };
    const dst = { ip: seg.dst, port: seg.dstPort };
    const fwd = this.conns.get(connectionKey(src, dst));
    if (fwd) return { conn: fwd, side: 'client' };
    const rev = this.conns.get(connectionKey(dst, src));
    if (rev) return { conn: rev, side: 'server' };
    return undefined;
  }

  /** Starts tracking a connection (replacing one with the same key). */
  open(client: Address, server: Address, data: T): Connection<T> {
    const key = connectionKey(client, server);
    const old = this.conns.get(key);
    if (old) this.drop(old);
    while (this.conns.size >= this.limits.maxConnections) this.evictOldest(undefined);
    const conn: Connection<T> = {
      key,
      client: { ...client },
      server: { ...server },
      data,
      state: 'open',
      synSeen: false,
      halves: { client: newHalf(), server: newHalf() },
    };
    this.conns.set(key, conn);
    return conn;
  }

  /** Forgets a connection (its owner is done with it); no eviction is reported. */
  forget(conn: Connection<T>): void {
    if (this.conns.get(conn.key) === conn) this.drop(conn);
  }

  /** Feeds one segment; null when it belongs to no tracked connection. A client's SYN that
   * starts a new connection on a tracked tuple (after close, or with a new initial sequence
   * number) ends the old one (reported as 'reused') and gives null too: the owner decides
   * whether to open the new one. */
  segment(seg: TcpSegment, timeNs: bigint): { conn: Connection<T>; side: Side; events: StreamEvent[] } | null {
    const found = this.lookup(seg);
    if (!found) return null;
    const { conn, side } = found;
    if (side === 'client' && (seg.flags & (TH_SYN | TH_ACK)) === TH_SYN) {
      const base = conn.halves.client.base;
      if (conn.state === 'closed' || (base !== undefined && base !== ((seg.seq + 1) >>> 0))) {
        this.drop(conn);
        this.onEvict(conn, 'reused');
        return null;
      }
    }
    this.conns.delete(conn.key);
    this.conns.set(conn.key, conn);
    const events: StreamEvent[] = [];
    if (conn.state === 'closed') return { conn, side, events };

    const me = conn.halves[side];
    const peer = conn.halves[side === 'client' ? 'server' : 'client'];
    if (seg.flags & TH_SYN) {
      // The SYN (or SYN-ACK) fixes where the side's stream starts: ISN + 1.
      if (me.base === undefined) {
        me.base = (seg.seq + 1) >>> 0;
        if (side === 'client') conn.synSeen = true;
      }
    } else if (me.base === undefined) {
      // Picked up mid-connection: the stream starts at the first segment seen.
      me.base = seg.seq;
    }

    if (seg.flags & TH_RST) {
      this.clearPending(me);
      this.clearPending(peer);
      conn.state = 'closed';
      events.push({ kind: 'reset', side, timeNs });
      return { conn, side, events };
    }

    const dataSeq = seg.flags & TH_SYN ? (seg.seq + 1) >>> 0 : seg.seq;
    const off = this.offsetOf(me, dataSeq);
    if (seg.flags & TH_FIN && me.finOff === undefined) me.finOff = off + seg.payload.length;
    if (seg.payload.length > 0) this.insert(me, off, seg.payload, timeNs);
    this.deliver(conn, side, events, timeNs);

    // The peer acknowledging bytes of ours we never saw, or ours acknowledging the peer's.
    if (seg.flags & TH_ACK) this.checkAcked(conn, side === 'client' ? 'server' : 'client', seg.ack, events, timeNs);

    this.enforceLimits(conn, side, events, timeNs);
    if (me.ended && peer.ended) conn.state = 'closed';
    return { conn, side, events };
  }

  /** End of input: every open hole becomes a gap. Connections stay tracked. */
  flush(timeNs: bigint): Array<{ conn: Connection<T>; events: StreamEvent[] }> {
    const out: Array<{ conn: Connection<T>; events: StreamEvent[] }> = [];
    for (const conn of this.conns.values()) {
      const events: StreamEvent[] = [];
      for (const side of ['client', 'server'] as const) {
        const h = conn.halves[side];
        if (h.broken || h.ended) continue;
        const known = h.pending.length > 0 ? h.pending[0]!.off - h.next : h.finOff !== undefined ? h.finOff - h.next : 0;
        if (known > 0) this.declareGap(h, side, events, 'end-of-capture', timeNs, known);
      }
      if (events.length > 0) out.push({ conn, events });
    }
    return out;
  }

  stats(conn: Connection<T>): ConnectionStats {
    const c = conn.halves.client;
    const s = conn.halves.server;
    return {
      delivered: { client: c.next, server: s.next },
      duplicateBytes: { client: c.duplicateBytes, server: s.duplicateBytes },
      buffered: { client: c.pendingBytes, server: s.pendingBytes },
    };
  }

  // ---- internals ----

  /** The stream offset of a sequence number: its signed 32-bit distance from the next byte. */
  private offsetOf(h: Half, seq: number): number {
    const expected = (h.base! + h.next) >>> 0;
    return h.next + ((seq - expected) | 0);
  }

  /** Adds the bytes of [off, off + len) that are neither delivered nor already held. */
  private insert(h: Half, off: number, bytes: Uint8Array, timeNs: bigint): void {
    let start = off;
    const end = off + bytes.length;
    if (h.broken || h.ended) return;
    if (end <= h.next) {
      h.duplicateBytes += bytes.length;
      return;
    }
    if (start < h.next) {
      h.duplicateBytes += h.next - start;
      start = h.next;
    }
    if (h.finOff !== undefined && start >= h.finOff) return;
    const limit = h.finOff !== undefined ? Math.min(end, h.finOff) : end;
    const merged: Piece[] = [];
    let cursor = start;
    const add = (from: number, to: number): void => {
      if (to <= from) return;
      // Held bytes are copied: the caller's frame buffer may be reused.
      merged.push({ off: from, bytes: bytes.slice(from - off, to - off), timeNs });
      h.pendingBytes += to - from;
      this.buffered += to - from;
    };
    for (const p of h.pending) {
      const pEnd = p.off + p.bytes.length;
      if (pEnd <= cursor || p.off >= limit) {
        merged.push(p);
        continue;
      }
      add(cursor, Math.min(p.off, limit));
      h.duplicateBytes += Math.min(pEnd, limit) - Math.max(p.off, cursor);
      merged.push(p);
      cursor = Math.max(cursor, pEnd);
    }
    add(cursor, limit);
    merged.sort((a, b) => a.off - b.off);
    h.pending = merged;
  }

  private deliver(conn: Connection<T>, side: Side, events: StreamEvent[], timeNs: bigint): void {
    const h = conn.halves[side];
    while (!h.broken && h.pending.length > 0 && h.pending[0]!.off === h.next) {
      const p = h.pending.shift()!;
      h.pendingBytes -= p.bytes.length;
      this.buffered -= p.bytes.length;
      h.next += p.bytes.length;
      events.push({ kind: 'data', side, bytes: p.bytes, timeNs });
    }
    if (!h.broken && !h.ended && h.finOff !== undefined && h.next === h.finOff) {
      h.ended = true;
      events.push({ kind: 'end', side, timeNs });
    }
  }

  private checkAcked(conn: Connection<T>, side: Side, ack: number, events: StreamEvent[], timeNs: bigint): void {
    const h = conn.halves[side];
    if (h.base === undefined || h.broken || h.ended) return;
    let acked = this.offsetOf(h, ack);
    // A FIN takes one sequence number of its own.
    if (h.finOff !== undefined && acked === h.finOff + 1) acked = h.finOff;
    if (acked > h.next) this.declareGap(h, side, events, 'acked-unseen', timeNs, acked - h.next);
  }

  private declareGap(h: Half, side: Side, events: StreamEvent[], cause: GapCause, timeNs: bigint, missing: number): void {
    events.push({ kind: 'gap', side, offset: h.next, missing: Math.max(0, missing), cause, timeNs });
    h.broken = true;
    this.clearPending(h);
  }

  private clearPending(h: Half): void {
    this.buffered -= h.pendingBytes;
    h.pendingBytes = 0;
    h.pending = [];
  }

  private enforceLimits(conn: Connection<T>, side: Side, events: StreamEvent[], timeNs: bigint): void {
    const h = conn.halves[side];
    if (h.pendingBytes > this.limits.maxBufferedPerSide || h.pending.length > this.limits.maxPiecesPerSide) {
      this.declareGap(h, side, events, 'buffer-full', timeNs, h.pending[0]!.off - h.next);
    }
    while (this.buffered > this.limits.maxBufferedTotal && this.evictOldest(conn)) {
      // Other connections' held bytes go first; the one being fed is the most recent.
    }
    if (this.buffered > this.limits.maxBufferedTotal && h.pending.length > 0) {
      this.declareGap(h, side, events, 'buffer-full', timeNs, h.pending[0]!.off - h.next);
    }
  }

  /** Evicts the least recently used connection other than `keep`; false when there is none. */
  private evictOldest(keep: Connection<T> | undefined): boolean {
    for (const conn of this.conns.values()) {
      if (conn === keep) continue;
      this.drop(conn);
      this.evictionCount++;
      this.onEvict(conn, 'lru');
      return true;
    }
    return false;
  }

  private drop(conn: Connection<T>): void {
    this.clearPending(conn.halves.client);
    this.clearPending(conn.halves.server);
    this.conns.delete(conn.key);
  }
}

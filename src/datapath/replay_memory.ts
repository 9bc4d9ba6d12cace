// The two bounded memories of a replay. Duplicates: a capture taken with `tcpdump -i any` holds
// a packet once per interface it crossed, so a packet whose bytes from the IP header on equal
// those of a packet seen within a short window is the same packet seen again. Dropped
// openings: the connections whose first packet the datapath dropped, so that the other side's
// answers in the capture (which exist only because, when it was recorded, that packet got
// through) are reported as consequences of the drop instead of opening flows of their own.
// Both forget the oldest entries first, so memory stays flat however long the capture is.

/** Packets this close in time with equal bytes are one packet seen twice. */
export const DEFAULT_DUPLICATE_WINDOW_NS = 1_000_000n;
/** The most packets remembered for duplicate detection (a 1 ms window rarely holds as many). */
export const DUPLICATE_CAPACITY = 4096;

interface Seen {
  timeNs: bigint;
  hash: number;
  bytes: Uint8Array;
  packet: number;
}

export class DuplicateDetector {
  private readonly byHash = new Map<number, Seen[]>();
  private readonly queue: Seen[] = [];
  private head = 0;

  constructor(private readonly windowNs: bigint = DEFAULT_DUPLICATE_WINDOW_NS, private readonly capacity = DUPLICATE_CAPACITY) {}

  /** The number of the packet this one repeats, or undefined (and it is remembered). */
  check(bytes: Uint8Array, timeNs: bigint, packet: number): number | undefined {
    this.expire(timeNs);
    const hash = fnv1a(bytes);
    const same = this.byHash.get(hash);
    if (same) {
      for (const s of same) {
        const dt = timeNs >= s.timeNs ? timeNs - s.timeNs : s.timeNs - timeNs;
        if (dt <= this.windowNs && equal(s.bytes, bytes)) return s.packet;
      }
    }
    const entry: Seen = { timeNs, hash, bytes, packet };
    if (same) same.push(entry);
    else this.byHash.set(hash, [entry]);
    this.queue.push(entry);
    if (this.queue.length - this.head > this.capacity) this.evict();
    return undefined;
  }

  /** Entries held now (for tests of the bound). */
  get size(): number {
    return this.queue.length - this.head;
  }

  private expire(now: bigint): void {
    while (this.head < this.queue.length) {
      const s = this.queue[this.head]!;
      // Captures are in time order; one out of order only keeps older entries a little longer.
      if (now - s.timeNs <= this.windowNs) break;
      this.evict();
    }
  }

  private evict(): void {
    const s = this.queue[this.head]!;
    this.head++;
    const list = this.byHash.get(s.hash)!;
    list.splice(list.indexOf(s), 1);
    if (list.length === 0) this.byHash.delete(s.hash);
    // Compact now and then so the array does not keep every packet ever seen.
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
  }
}

function fnv1a(b: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
  return h >>> 0;
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** How many dropped connections are remembered at once. */
export const DEFAULT_OPENINGS_CAPACITY = 65_536;
/** How long an answer can follow its dropped opening: conntrack's timeout for a connection that
 * has not been answered (a SYN, a first datagram), after which the datapath would have
 * forgotten it too. */
export const OPENING_MEMORY_NS = 60_000_000_000n;

/** A least-recently-used map with a fixed capacity (a Map keeps insertion order). */
export class LruMap<K, V> {
  private readonly map = new Map<K, V>();

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity ${capacity} is not a positive integer`);
  }

  get(key: K): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }

  set(key: K, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > this.capacity) this.map.delete(this.map.keys().next().value as K);
  }

  delete(key: K): boolean {
    return this.map.delete(key);
  }

  get size(): number {
    return this.map.size;
  }
}

import { describe, expect, it } from 'vitest';
import { TcpReassembler, type Side, type StreamEvent } from '../../src/l7/reassembly.js';
import { tcpSegmentOf, TH_ACK, TH_FIN, TH_RST, TH_SYN, type TcpSegment } from '../../src/l7/segment.js';
import { tcp } from '../../src/pcap/build.js';

const C = { ip: '10.0.0.1', port: 40000 };
const S = { ip: '10.0.0.2', port: 80 };
const enc = new TextEncoder();
const dec = new TextDecoder();

function seg(side: Side, seq: number, flags: number, payload = '', ack = 0): TcpSegment {
  const [a, b] = side === 'client' ? [C, S] : [S, C];
  return { family: 4, src: a.ip, dst: b.ip, srcPort: a.port, dstPort: b.port, seq: seq >>> 0, ack: ack >>> 0, flags, payload: enc.encode(payload) };
}

/** A reassembler with one open connection and a log of everything each side delivered. */
function harness(isn = 1000, limits = {}) {
  const r = new TcpReassembler<null>(limits);
  r.open(C, S, null);
  const text: Record<Side, string> = { client: '', server: '' };
  const events: StreamEvent[] = [];
  const feed = (s: TcpSegment, t = 0n) => {
    const res = r.segment(s, t);
    for (const ev of res?.events ?? []) {
      events.push(ev);
      if (ev.kind === 'data') text[ev.side] += dec.decode(ev.bytes);
    }
    return res;
  };
  feed(seg('client', isn, TH_SYN));
  feed(seg('server', 5000, TH_SYN | TH_ACK, '', isn + 1));
  return { r, text, events, feed, d: isn + 1 };
}

describe('TcpReassembler', () => {
  it('delivers in-order data per side', () => {
    const h = harness();
    h.feed(seg('client', h.d, TH_ACK, 'GET / HTTP/1.1\r\n', 5001));
    h.feed(seg('server', 5001, TH_ACK, 'HTTP/1.1 200 OK\r\n', h.d + 16));
    expect(h.text).toEqual({ client: 'GET / HTTP/1.1\r\n', server: 'HTTP/1.1 200 OK\r\n' });
    expect(h.events.filter((e) => e.kind === 'gap')).toEqual([]);
  });

  it('holds out-of-order segments until the hole fills', () => {
    const h = harness();
    h.feed(seg('client', h.d + 6, TH_ACK, 'world'));
    h.feed(seg('client', h.d + 11, TH_ACK, '!'));
    expect(h.text.client).toBe('');
    expect(h.r.bufferedBytes).toBe(6);
    h.feed(seg('client', h.d, TH_ACK, 'hello '));
    expect(h.text.client).toBe('hello world!');
    expect(h.r.bufferedBytes).toBe(0);
  });

  it('keeps the first copy of overlapping and retransmitted bytes', () => {
    const h = harness();
    h.feed(seg('client', h.d, TH_ACK, 'abcd'));
    h.feed(seg('client', h.d, TH_ACK, 'abcd')); // plain retransmission
    h.feed(seg('client', h.d + 6, TH_ACK, 'GH')); // held
    const res = h.feed(seg('client', h.d + 2, TH_ACK, 'XXefXXij')); // overlaps delivered "cd" and held "GH"
    expect(h.text.client).toBe('abcdefGHij');
    const st = h.r.stats(res!.conn);
    expect(st.duplicateBytes.client).toBe(4 + 2 + 2);
  });

  it('reassembles across the 32-bit sequence wraparound', () => {
    const h = harness(0xfffffff0);
    // h.d = 0xfffffff1: 15 bytes to the wrap, then on from 0.
    h.feed(seg('client', h.d + 15, TH_ACK, 'second-part'));
    h.feed(seg('client', h.d, TH_ACK, 'first-part-15b|'));
    expect(h.text.client).toBe('first-part-15b|second-part');
    // A retransmission from before the wrap is recognised as old, not as data 4 GiB ahead.
    h.feed(seg('client', h.d + 5, TH_ACK, 'zzz'));
    expect(h.text.client).toBe('first-part-15b|second-part');
    expect(h.events.some((e) => e.kind === 'gap')).toBe(false);
  });

  it('declares a gap when the peer acknowledges bytes the capture never had', () => {
    const h = harness();
    h.feed(seg('client', h.d, TH_ACK, 'abc'));
    h.feed(seg('client', h.d + 10, TH_ACK, 'late'));
    h.feed(seg('server', 5001, TH_ACK, '', h.d + 14));
    const gap = h.events.find((e) => e.kind === 'gap');
    expect(gap).toMatchObject({ side: 'client', offset: 3, missing: 11, cause: 'acked-unseen' });
    // Nothing more is delivered for that side, even if the missing bytes show up later.
    h.feed(seg('client', h.d + 3, TH_ACK, 'defghij'));
    expect(h.text.client).toBe('abc');
    expect(h.r.bufferedBytes).toBe(0);
  });

  it('treats the acknowledgement of a FIN as covering no data', () => {
    const h = harness();
    h.feed(seg('client', h.d, TH_ACK | TH_FIN, 'bye'));
    h.feed(seg('server', 5001, TH_ACK, '', h.d + 4));
    expect(h.events.filter((e) => e.kind === 'gap')).toEqual([]);
    expect(h.events.some((e) => e.kind === 'end' && e.side === 'client')).toBe(true);
  });

  it('ends a side at its FIN once the bytes before it are in, and ignores data past it', () => {
    const h = harness();
    h.feed(seg('client', h.d + 3, TH_ACK | TH_FIN, 'def'));
    expect(h.events.some((e) => e.kind === 'end')).toBe(false);
    h.feed(seg('client', h.d, TH_ACK, 'abc'));
    expect(h.text.client).toBe('abcdef');
    expect(h.events.filter((e) => e.kind === 'end').map((e) => e.side)).toEqual(['client']);
    h.feed(seg('client', h.d + 6, TH_ACK, 'zzz'));
    expect(h.text.client).toBe('abcdef');
  });

  it('closes the connection on RST and ignores what follows until a new SYN', () => {
    const h = harness();
    h.feed(seg('client', h.d + 5, TH_ACK, 'held'));
    const res = h.feed(seg('server', 5001, TH_RST | TH_ACK, '', h.d));
    expect(res?.events).toEqual([{ kind: 'reset', side: 'server', timeNs: 0n }]);
    expect(res?.conn.state).toBe('closed');
    expect(h.r.bufferedBytes).toBe(0);
    expect(h.feed(seg('client', h.d, TH_ACK, 'more'))?.events).toEqual([]);
    // A new SYN on the same tuple is a new connection: the old one is dropped.
    expect(h.r.segment(seg('client', 90000, TH_SYN), 0n)).toBeNull();
    expect(h.r.size).toBe(0);
  });

  it('reports a gap at flush for a hole still open', () => {
    const h = harness();
    h.feed(seg('client', h.d + 4, TH_ACK, 'tail'));
    const out = h.r.flush(9n);
    expect(out[0]!.events).toEqual([{ kind: 'gap', side: 'client', offset: 0, missing: 4, cause: 'end-of-capture', timeNs: 9n }]);
  });

  it('bounds out-of-order bytes per side', () => {
    const h = harness(1000, { maxBufferedPerSide: 8 });
    h.feed(seg('client', h.d + 1, TH_ACK, '12345'));
    expect(h.events.some((e) => e.kind === 'gap')).toBe(false);
    h.feed(seg('client', h.d + 10, TH_ACK, '6789'));
    expect(h.events.find((e) => e.kind === 'gap')).toMatchObject({ side: 'client', cause: 'buffer-full', offset: 0, missing: 1 });
    expect(h.r.bufferedBytes).toBe(0);
  });

  it('evicts the least recently used connection beyond the limit and says so', () => {
    const evicted: string[] = [];
    const r = new TcpReassembler<string>({ maxConnections: 2 }, (c, why) => evicted.push(`${c.data}:${why}`));
    r.open({ ip: '10.0.0.1', port: 1 }, S, 'one');
    r.open({ ip: '10.0.0.1', port: 2 }, S, 'two');
    r.segment({ ...seg('client', 1, TH_SYN), srcPort: 1 }, 0n); // touches "one"
    r.open({ ip: '10.0.0.1', port: 3 }, S, 'three');
    expect(evicted).toEqual(['two:lru']);
    expect(r.size).toBe(2);
    expect(r.evictions).toBe(1);
  });

  it('bounds out-of-order bytes over all connections, evicting others first', () => {
    const evicted: string[] = [];
    const r = new TcpReassembler<string>({ maxBufferedTotal: 10 }, (c) => evicted.push(c.data));
    const a = { ip: '10.0.0.1', port: 1 };
    const b = { ip: '10.0.0.1', port: 2 };
    r.open(a, S, 'a');
    r.open(b, S, 'b');
    r.segment({ ...seg('client', 1, TH_SYN), srcPort: 1 }, 0n);
    r.segment({ ...seg('client', 1, TH_SYN), srcPort: 2 }, 0n);
    r.segment({ ...seg('client', 5, TH_ACK, 'aaaaaa'), srcPort: 1 }, 0n);
    expect(r.bufferedBytes).toBe(6);
    r.segment({ ...seg('client', 5, TH_ACK, 'bbbbbb'), srcPort: 2 }, 0n);
    expect(evicted).toEqual(['a']);
    expect(r.bufferedBytes).toBe(6);
  });

  it('starts a side at its first segment when the handshake was not captured', () => {
    const r = new TcpReassembler<null>();
    const conn = r.open(C, S, null);
    const res = r.segment(seg('client', 777, TH_ACK, 'mid'), 0n);
    expect(res?.events).toEqual([{ kind: 'data', side: 'client', bytes: enc.encode('mid'), timeNs: 0n }]);
    expect(conn.synSeen).toBe(false);
  });

  it('refuses limits that are not positive integers', () => {
    expect(() => new TcpReassembler({ maxConnections: 0 })).toThrow(RangeError);
  });
});

describe('tcpSegmentOf', () => {
  it('reads a TCP segment from a frame and leaves Ethernet padding out of the payload', () => {
    const frame = tcp({ src: '10.0.0.1', dst: '10.0.0.2', sport: 40000, dport: 80, flags: 'PA', seq: 7, ack: 9, payload: 'hi' });
    expect(frame.length).toBeLessThan(60);
    const padded = new Uint8Array(60);
    padded.set(frame);
    const s = tcpSegmentOf(padded)!;
    expect(s).toMatchObject({ family: 4, src: '10.0.0.1', dst: '10.0.0.2', srcPort: 40000, dstPort: 80, seq: 7, ack: 9 });
    expect(dec.decode(s.payload)).toBe('hi');
  });

  it('reads IPv6 and VLAN-tagged frames', () => {
    const s = tcpSegmentOf(tcp({ src: 'fd00::1', dst: 'fd00::2', sport: 1, dport: 2, flags: 'S', seq: 5, vlan: 7 }))!;
    expect(s).toMatchObject({ family: 6, src: 'fd00::1', dst: 'fd00::2', flags: TH_SYN, seq: 5 });
  });

  it('gives null for fragments, other protocols and truncated headers', () => {
    const frame = tcp({ src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2, payload: 'x' });
    const frag = frame.slice();
    frag[14 + 6] = 0x20; // more fragments
    expect(tcpSegmentOf(frag)).toBeNull();
    expect(tcpSegmentOf(frame.subarray(0, 14 + 20 + 10))).toBeNull();
    const udp = frame.slice();
    udp[14 + 9] = 17;
    expect(tcpSegmentOf(udp)).toBeNull();
  });
});

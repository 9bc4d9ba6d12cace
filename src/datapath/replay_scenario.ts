// The bundled replay scenarios (captures/<name>/<name>.spec.json) turned into capture records.
// A spec names hosts (IPv4 and/or IPv6 address, MAC) and lists packets in time order; each
// becomes one frame, or several when it is fragmented. Everything is a pure function of the
// spec: TCP sequence numbers follow each stream (a SYN always carries its stream's initial
// number), IPv4 identifications count packets, so regenerating gives the same bytes and CI can
// prove the committed captures current (scripts/gen-replay-captures.mjs --check).
//
// A packet is one of
//   "tcp": [sport, dport] with "flags" (tcpdump letters) and a "payload" (text, or "size" bytes),
//   "udp": [sport, dport] with a "payload" or a "dns" question (an "answer" makes it a response),
//   "sctp": [sport, dport] with "chunk": "init" | "init-ack",
//   "icmp": { "id", "seq", "reply"? } (ICMPv6 echo over IPv6),
//   "icmpError": { "type", "code", "quote": index of the packet it answers, "mtu"? },
//   "again": true, the previous packet's bytes once more (`tcpdump -i any` records a packet once
//   per interface it crosses),
// and may carry "v6": true (the hosts' IPv6 addresses), "vlan": id or [outer, inner], "ttl", and
// "fragment": the most IP payload bytes per fragment (a multiple of 8). Hosts need not be pods: a
// Service VIP or a node address is a host too, which is how traffic to a service is written.

import { TwinpathError } from '../errors.js';
import { internetChecksum, pseudoHeader } from '../pcap/checksum.js';
import { LINKTYPE_ETHERNET } from '../pcap/linktype.js';
import { icmpEcho, IPPROTO_ICMP, IPPROTO_ICMPV6, parseIp, parseMac, sctpInit, tcp, tcpFlags, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, udp } from '../pcap/build.js';
import { sctpInitAck } from './packets.js';

export interface ScenarioHost {
  ip?: string;
  ip6?: string;
  mac: string;
}

export interface ScenarioPacket {
  ms: number;
  from?: string;
  to?: string;
  note?: string;
  v6?: boolean;
  vlan?: number | number[];
  ttl?: number;
  fragment?: number;
  again?: boolean;
  tcp?: [number, number];
  flags?: string;
  payload?: string;
  size?: number;
  udp?: [number, number];
  dns?: { id: number; name: string; answer?: string | string[] };
  sctp?: [number, number];
  chunk?: 'init' | 'init-ack';
  icmp?: { id: number; seq: number; reply?: boolean };
  icmpError?: { type: number; code: number; quote: number; mtu?: number };
}

export interface ScenarioSpec {
  description: string;
  start: string;
  output: string;
  hosts: Record<string, ScenarioHost>;
  packets: ScenarioPacket[];
}

export interface ScenarioRecord {
  timestampNs: bigint;
  data: Uint8Array;
  linkType: number;
  comment?: string;
}

const PACKET_KEYS = new Set(['ms', 'from', 'to', 'note', 'v6', 'vlan', 'ttl', 'fragment', 'again', 'tcp', 'flags', 'payload', 'size', 'udp', 'dns', 'sctp', 'chunk', 'icmp', 'icmpError']);
const KINDS = ['tcp', 'udp', 'sctp', 'icmp', 'icmpError', 'again'] as const;
const ETH_HLEN = 14;
/** How much of the offending packet an ICMP error quotes (RFC 1812 4.3.2.3; RFC 4443 2.4(c)). */
const QUOTE_V4 = 576 - 20 - 8;
const QUOTE_V6 = 1280 - 40 - 8;

/** Reads a spec from its JSON text; the file only names the errors. */
export function parseScenarioSpec(text: string, file: string): ScenarioSpec {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new TwinpathError('SCENARIO_BAD_SPEC', `not JSON: ${(e as Error).message}`, { file }, { cause: e });
  }
  const bad = (path: string, what: string): never => {
    throw new TwinpathError('SCENARIO_BAD_SPEC', what, { file, path });
  };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return bad('', 'a spec is a JSON object');
  const s = raw as Record<string, unknown>;
  for (const k of ['description', 'start', 'output'] as const) if (typeof s[k] !== 'string') bad(k, `"${k}" must be a string`);
  if (Number.isNaN(Date.parse(s.start as string))) bad('start', `"${s.start}" is not a date`);
  if (typeof s.hosts !== 'object' || s.hosts === null) bad('hosts', '"hosts" must be an object');
  for (const [name, h] of Object.entries(s.hosts as Record<string, ScenarioHost>)) {
    if (typeof h?.mac !== 'string') bad(`hosts.${name}.mac`, 'a host needs a MAC');
    if (h.ip === undefined && h.ip6 === undefined) bad(`hosts.${name}`, 'a host needs "ip" or "ip6"');
  }
  if (!Array.isArray(s.packets)) bad('packets', '"packets" must be an array');
  (s.packets as ScenarioPacket[]).forEach((p, i) => {
    const at = `packets[${i}]`;
    if (typeof p !== 'object' || p === null) return bad(at, 'a packet is an object');
    for (const k of Object.keys(p)) if (!PACKET_KEYS.has(k)) bad(`${at}.${k}`, `unknown field "${k}"`);
    if (typeof p.ms !== 'number' || p.ms < 0) bad(`${at}.ms`, '"ms" must be a number of milliseconds from the start');
    const kinds = KINDS.filter((k) => p[k] !== undefined);
    if (kinds.length !== 1) bad(at, `a packet is exactly one of ${KINDS.join(', ')} (found ${kinds.length ? kinds.join(', ') : 'none'})`);
    if (p.fragment !== undefined && (!Number.isInteger(p.fragment) || p.fragment < 8 || p.fragment % 8 !== 0)) bad(`${at}.fragment`, 'a fragment size is a positive multiple of 8');
    if (p.icmpError && !(Number.isInteger(p.icmpError.quote) && p.icmpError.quote >= 0 && p.icmpError.quote < i)) bad(`${at}.icmpError.quote`, 'an ICMP error quotes an earlier packet (its index in "packets")');
  });
  return raw as ScenarioSpec;
}

/** A DNS message with one A question, and its answers when there are any (RFC 1035). */
function dns(q: { id: number; name: string; answer?: string | string[] }): Uint8Array {
  const answers = q.answer === undefined ? [] : Array.isArray(q.answer) ? q.answer : [q.answer];
  const response = q.answer !== undefined;
  const labels = q.name.split('.').flatMap((l) => [l.length, ...Buffer.from(l, 'ascii')]);
  const question = [...labels, 0, 0, 1, 0, 1]; // QTYPE A, QCLASS IN
  const header = [q.id >> 8, q.id & 0xff, response ? 0x81 : 0x01, response ? 0x80 : 0x00, 0, 1, answers.length >> 8, answers.length & 0xff, 0, 0, 0, 0];
  // Each answer names the question by pointer (offset 12), TTL 30 s.
  const rrs = answers.flatMap((a) => [0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, ...parseIp(a)]);
  return Uint8Array.from([...header, ...question, ...rrs]);
}

/** A stream's initial sequence number (or SCTP tag): fixed per direction, so captures are reproducible. */
function isn(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return (h >>> 0) & 0x7fffffff;
}

function payloadOf(p: ScenarioPacket): Uint8Array {
  const text = Buffer.from(p.payload ?? '', 'utf8');
  if (p.size === undefined) return new Uint8Array(text);
  // `size` bytes of the payload text repeated (or of zeros without one).
  const out = new Uint8Array(p.size);
  if (text.length > 0) for (let i = 0; i < out.length; i++) out[i] = text[i % text.length]!;
  return out;
}

function l3Offset(frame: Uint8Array): number {
  let at = 12;
  while (frame[at] === 0x81 && frame[at + 1] === 0x00 || frame[at] === 0x88 && frame[at + 1] === 0xa8) at += 4;
  return at + 2;
}

/** Every record of a scenario, in capture order. */
export function scenarioRecords(spec: ScenarioSpec, file = 'spec'): ScenarioRecord[] {
  const start = BigInt(Date.parse(spec.start)) * 1_000_000n;
  const streams = new Map<string, { isn: number; next?: number }>();
  const stream = (key: string) => {
    let s = streams.get(key);
    if (!s) streams.set(key, (s = { isn: isn(key) }));
    return s;
  };
  const firstFrames: Uint8Array[] = [];
  const out: ScenarioRecord[] = [];
  let ipId = 1;
  let previous: Uint8Array | undefined;
  spec.packets.forEach((p, i) => {
    const at = `packets[${i}]`;
    const bad = (path: string, what: string): never => {
      throw new TwinpathError('SCENARIO_BAD_SPEC', what, { file, path: `${at}${path}` });
    };
    const timestampNs = start + BigInt(Math.round(p.ms * 1000)) * 1000n;
    const note = p.note === undefined ? {} : { comment: p.note };
    if (p.again) {
      if (!previous) bad('.again', '"again" needs a packet before it');
      firstFrames.push(previous!);
      out.push({ timestampNs, data: previous!, linkType: LINKTYPE_ETHERNET, ...note });
      return;
    }
    const from = spec.hosts[p.from ?? ''];
    const to = spec.hosts[p.to ?? ''];
    if (!from) bad('.from', `unknown host "${p.from}"`);
    if (!to) bad('.to', `unknown host "${p.to}"`);
    const src = p.v6 ? from!.ip6 : from!.ip;
    const dst = p.v6 ? to!.ip6 : to!.ip;
    if (src === undefined) bad('.from', `host "${p.from}" has no ${p.v6 ? 'IPv6' : 'IPv4'} address`);
    if (dst === undefined) bad('.to', `host "${p.to}" has no ${p.v6 ? 'IPv6' : 'IPv4'} address`);
    const frame = {
      srcMac: from!.mac, dstMac: to!.mac, src: src!, dst: dst!, id: ipId++,
      ...(p.vlan === undefined ? {} : { vlan: p.vlan }), ...(p.ttl === undefined ? {} : { ttl: p.ttl }),
    };
    let data: Uint8Array;
    try {
      if (p.tcp) {
        const [sport, dport] = p.tcp;
        const flags = tcpFlags(p.flags ?? 'S');
        const payload = payloadOf(p);
        const mine = stream(`${src}:${sport}>${dst}:${dport}`);
        const theirs = stream(`${dst}:${dport}>${src}:${sport}`);
        const seq = flags & TCP_SYN ? mine.isn : mine.next ?? (flags & TCP_RST ? 0 : mine.isn + 1);
        mine.next = (seq + payload.length + (flags & TCP_SYN ? 1 : 0) + (flags & TCP_FIN ? 1 : 0)) >>> 0;
        const ack = flags & TCP_ACK ? theirs.next ?? 0 : 0;
        data = tcp({ ...frame, sport, dport, flags, seq, ack, payload });
      } else if (p.udp) {
        const [sport, dport] = p.udp;
        data = udp({ ...frame, sport, dport, payload: p.dns ? dns(p.dns) : payloadOf(p) });
      } else if (p.sctp) {
        const [sport, dport] = p.sctp;
        const mine = isn(`sctp ${src}:${sport}>${dst}:${dport}`);
        if (p.chunk === 'init-ack') {
          data = sctpInitAck({ ...frame, sport, dport, peerTag: isn(`sctp ${dst}:${dport}>${src}:${sport}`), initiateTag: mine, initialTsn: mine });
          data = withVlanAndTtl(data, frame);
        } else if (p.chunk === 'init' || p.chunk === undefined) {
          data = sctpInit({ ...frame, sport, dport, initiateTag: mine, initialTsn: mine });
        } else {
          return bad('.chunk', `unknown SCTP chunk "${p.chunk}" (init, init-ack)`);
        }
      } else if (p.icmp) {
        data = icmpEcho({ ...frame, identifier: p.icmp.id, sequence: p.icmp.seq, reply: p.icmp.reply === true, payload: 'twinpath' });
      } else {
        const e = p.icmpError!;
        data = icmpError(frame, e, firstFrames[e.quote]!);
      }
    } catch (e) {
      if (e instanceof TwinpathError) throw e;
      return bad('', (e as Error).message);
    }
    previous = data;
    const pieces = p.fragment === undefined ? [data] : fragment(data, p.fragment, frame.id);
    firstFrames.push(pieces[0]!);
    pieces.forEach((piece, k) => {
      // Fragments leave a microsecond apart, the note on the first.
      out.push({ timestampNs: timestampNs + BigInt(k) * 1000n, data: piece, linkType: LINKTYPE_ETHERNET, ...(k === 0 ? note : {}) });
    });
  });
  return out;
}

/** The INIT-ACK builder knows no VLAN tags or TTL: add them to its frame here. */
function withVlanAndTtl(frame: Uint8Array, o: { vlan?: number | number[]; ttl?: number }): Uint8Array {
  let f = frame;
  if (o.ttl !== undefined) {
    f = f.slice();
    const l3 = l3Offset(f);
    if (f[l3]! >> 4 === 4) {
      f[l3 + 8] = o.ttl;
      f[l3 + 10] = 0;
      f[l3 + 11] = 0;
      const sum = internetChecksum(f.subarray(l3, l3 + 20));
      f[l3 + 10] = sum >> 8;
      f[l3 + 11] = sum & 0xff;
    } else {
      f[l3 + 7] = o.ttl;
    }
  }
  if (o.vlan === undefined) return f;
  const tags = Array.isArray(o.vlan) ? o.vlan : [o.vlan];
  const out = new Uint8Array(f.length + 4 * tags.length);
  out.set(f.subarray(0, 12), 0);
  tags.forEach((id, k) => out.set([0x81, 0x00, (id >> 8) & 0x0f, id & 0xff], 12 + 4 * k));
  out.set(f.subarray(12), 12 + 4 * tags.length);
  return out;
}

/** An ICMP (IPv4) or ICMPv6 error from `frame`'s source to its destination, quoting the IP
 * packet in `quoted` as far as the RFCs allow. `mtu` fills the field of "fragmentation needed"
 * and "packet too big". */
function icmpError(
  frame: { srcMac: string; dstMac: string; src: string; dst: string; id: number; vlan?: number | number[]; ttl?: number },
  e: { type: number; code: number; mtu?: number },
  quoted: Uint8Array,
): Uint8Array {
  const v6 = frame.src.includes(':');
  const ip = quoted.subarray(l3Offset(quoted));
  const quote = ip.subarray(0, Math.min(ip.length, v6 ? QUOTE_V6 : QUOTE_V4));
  const msg = new Uint8Array(8 + quote.length);
  const dv = new DataView(msg.buffer);
  msg[0] = e.type;
  msg[1] = e.code;
  if (e.mtu !== undefined) {
    if (v6) dv.setUint32(4, e.mtu);
    else dv.setUint16(6, e.mtu);
  }
  msg.set(quote, 8);
  const s = parseIp(frame.src);
  const d = parseIp(frame.dst);
  dv.setUint16(2, v6 ? internetChecksum(pseudoHeader(s, d, IPPROTO_ICMPV6, msg.length), msg) : internetChecksum(msg));
  return ipFrame(frame, v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP, msg);
}

/** Ethernet (+ VLAN) + IP around a ready transport message. */
function ipFrame(frame: { srcMac: string; dstMac: string; src: string; dst: string; id: number; vlan?: number | number[]; ttl?: number }, protocol: number, l4: Uint8Array): Uint8Array {
  const v6 = frame.src.includes(':');
  const tags = frame.vlan === undefined ? [] : Array.isArray(frame.vlan) ? frame.vlan : [frame.vlan];
  const hl = v6 ? 40 : 20;
  const l3 = ETH_HLEN + 4 * tags.length;
  const out = new Uint8Array(l3 + hl + l4.length);
  const dv = new DataView(out.buffer);
  out.set(parseMac(frame.dstMac), 0);
  out.set(parseMac(frame.srcMac), 6);
  tags.forEach((id, k) => dv.setUint32(12 + 4 * k, (0x8100 << 16) | (id & 0xfff)));
  dv.setUint16(l3 - 2, v6 ? 0x86dd : 0x0800);
  if (v6) {
    dv.setUint32(l3, 0x60000000);
    dv.setUint16(l3 + 4, l4.length);
    out[l3 + 6] = protocol;
    out[l3 + 7] = frame.ttl ?? 64;
    out.set(parseIp(frame.src), l3 + 8);
    out.set(parseIp(frame.dst), l3 + 24);
  } else {
    out[l3] = 0x45;
    dv.setUint16(l3 + 2, hl + l4.length);
    dv.setUint16(l3 + 4, frame.id);
    out[l3 + 8] = frame.ttl ?? 64;
    out[l3 + 9] = protocol;
    out.set(parseIp(frame.src), l3 + 12);
    out.set(parseIp(frame.dst), l3 + 16);
    dv.setUint16(l3 + 10, internetChecksum(out.subarray(l3, l3 + 20)));
  }
  out.set(l4, l3 + hl);
  return out;
}

/** Splits a frame's IP payload into fragments of at most `size` bytes (IPv4 flags and offset,
 * or an IPv6 fragment header after the fixed header), each a whole frame. */
export function fragment(frame: Uint8Array, size: number, id: number): Uint8Array[] {
  const l3 = l3Offset(frame);
  const v6 = frame[l3]! >> 4 === 6;
  const hl = v6 ? 40 : (frame[l3]! & 0x0f) * 4;
  const payload = frame.subarray(l3 + hl);
  if (payload.length <= size) return [frame];
  const out: Uint8Array[] = [];
  for (let off = 0; off < payload.length; off += size) {
    const chunk = payload.subarray(off, Math.min(off + size, payload.length));
    const more = off + size < payload.length;
    const extra = v6 ? 8 : 0;
    const f = new Uint8Array(l3 + hl + extra + chunk.length);
    const dv = new DataView(f.buffer);
    f.set(frame.subarray(0, l3 + hl), 0);
    if (v6) {
      const next = frame[l3 + 6]!;
      f[l3 + 6] = 44; // fragment header
      dv.setUint16(l3 + 4, extra + chunk.length);
      f[l3 + 40] = next;
      dv.setUint16(l3 + 42, off | (more ? 1 : 0));
      dv.setUint32(l3 + 44, id);
    } else {
      dv.setUint16(l3 + 2, hl + chunk.length);
      dv.setUint16(l3 + 6, (more ? 0x2000 : 0) | (off >> 3));
      dv.setUint16(l3 + 10, 0);
      dv.setUint16(l3 + 10, internetChecksum(f.subarray(l3, l3 + hl)));
    }
    f.set(chunk, l3 + hl + extra);
    out.push(f);
  }
  return out;
}

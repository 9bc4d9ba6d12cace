// The committed capture fixtures under test/fixtures/pcap/, each defined here from the
// specification-level helpers, with what it shows. fixtures.test.ts checks the committed bytes
// against these definitions; `TWINPATH_UPDATE_FIXTURES=1 npx vitest run test/pcap/fixtures.test.ts`
// rewrites them after a deliberate change.

import { build } from '../../src/pcap/index.js';
import { classicFile, comment, concat, epb, idb, obsoletePacketBlock, pack, shb, spb, tsoffset, tsresol } from './helpers.js';

export interface Expected {
  /** Packets read before the end or the error. */
  packets: number;
  linkTypes?: number[];
  timestampsNs?: bigint[];
  comments?: (string | undefined)[];
  error?: { code: string; offset: number };
}

export interface Fixture {
  name: string;
  shows: string;
  bytes: Uint8Array;
  expected: Expected;
}

const T0 = 1_700_000_000;
const syn = build.tcp({ src: '10.0.0.1', dst: '10.0.0.2', sport: 40000, dport: 80, flags: 'S', seq: 1 });
const synAck = build.tcp({ src: '10.0.0.2', dst: '10.0.0.1', sport: 80, dport: 40000, flags: 'SA', seq: 7, ack: 2 });
const dns6 = build.udp({ src: 'fd00::1', dst: 'fd00::53', sport: 5353, dport: 53, payload: 'query' });
const ping = build.icmpEcho({ src: '10.0.0.1', dst: '10.0.0.2', identifier: 1, sequence: 1, payload: 'ping' });
const ip = (frame: Uint8Array) => frame.subarray(14);

export const FIXTURES: Fixture[] = [
  {
    name: 'nanosecond-big-endian.pcap',
    shows: 'classic pcap, magic 0xa1b23c4d written big-endian',
    bytes: classicFile({ le: false, magic: 0xa1b23c4d }, [
      { sec: T0, frac: 123_456_789, data: syn },
      { sec: T0, frac: 223_456_789, data: synAck },
    ]),
    expected: { packets: 2, linkTypes: [1, 1], timestampsNs: [1_700_000_000_123_456_789n, 1_700_000_000_223_456_789n] },
  },
  {
    name: 'microsecond-little-endian.pcap',
    shows: 'classic pcap, magic 0xa1b2c3d4 written little-endian',
    bytes: classicFile({ le: true }, [{ sec: T0, frac: 999_999, data: ping }]),
    expected: { packets: 1, timestampsNs: [1_700_000_000_999_999_000n] },
  },
  {
    name: 'raw-ip-v4-v6.pcap',
    shows: 'link type 101 (raw IP); toEthernet picks the ethertype from the version nibble',
    bytes: classicFile({ le: true, linkType: 101 }, [
      { sec: T0, frac: 0, data: ip(syn) },
      { sec: T0, frac: 1, data: ip(dns6) },
    ]),
    expected: { packets: 2, linkTypes: [101, 101] },
  },
  {
    name: 'truncated-mid-record.pcap',
    shows: 'the second record is cut 10 bytes short: one packet, then PCAP_TRUNCATED at offset 24+16+54',
    bytes: classicFile({ le: true }, [
      { sec: T0, frac: 0, data: syn },
      { sec: T0, frac: 1, data: synAck },
    ]).subarray(0, 24 + 2 * (16 + 54) - 10),
    expected: { packets: 1, error: { code: 'PCAP_TRUNCATED', offset: 24 + 16 + 54 } },
  },
  {
    name: 'snaplen-exceeded.pcap',
    shows: 'snaplen 60 but a 66-byte record: PCAP_BAD_RECORD at the record offset',
    bytes: classicFile({ le: true, snaplen: 60 }, [
      { sec: T0, frac: 0, data: syn },
      { sec: T0, frac: 1, data: build.tcp({ src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2, payload: 'twelve bytes' }) },
    ]),
    expected: { packets: 1, error: { code: 'PCAP_BAD_RECORD', offset: 24 + 16 + 54 } },
  },
  {
    name: 'pcapng-two-interfaces.pcapng',
    shows: 'one section, an Ethernet interface (microseconds) and a Linux SLL2 interface (nanoseconds)',
    bytes: concat(
      shb(true),
      idb(true, 1, 262144),
      idb(true, 276, 262144, tsresol(true, 9)),
      epb(true, 0, BigInt(T0) * 1_000_000n + 5n, syn),
      epb(true, 1, BigInt(T0) * 1_000_000_000n + 7n, concat(pack(false, [2, 0x0800], [2, 0], [4, 3], [2, 1], [1, 0], [1, 6]), Uint8Array.of(2, 0, 0, 0, 0, 9, 0, 0), ip(ping))),
    ),
    expected: { packets: 2, linkTypes: [1, 276], timestampsNs: [1_700_000_000_000_005_000n, 1_700_000_000_000_000_007n] },
  },
  {
    name: 'pcapng-big-endian-two-sections.pcapng',
    shows: 'a big-endian section then a little-endian one; interface ids restart in each section',
    bytes: concat(shb(false), idb(false, 1, 0), epb(false, 0, 1n, syn), shb(true), idb(true, 101, 0), epb(true, 0, 2n, ip(dns6))),
    expected: { packets: 2, linkTypes: [1, 101], timestampsNs: [1000n, 2000n] },
  },
  {
    name: 'pcapng-tsresol-power-of-two.pcapng',
    shows: 'if_tsresol 0x94 (units of 2^-20 s) with if_tsoffset of 1000 s',
    bytes: concat(shb(true), idb(true, 1, 0, tsresol(true, 0x80 | 20), tsoffset(true, 1000n)), epb(true, 0, 3n << 19n, syn)),
    expected: { packets: 1, timestampsNs: [1_001_500_000_000n] },
  },
  {
    name: 'pcapng-simple-and-obsolete-packets.pcapng',
    shows: 'a Simple Packet Block cut to the 60-byte snaplen, and an obsolete Packet Block',
    bytes: concat(shb(false), idb(false, 1, 60), spb(false, synAck.length, synAck.subarray(0, 60)), obsoletePacketBlock(false, 0, 42n, ping)),
    expected: { packets: 2, timestampsNs: [0n, 42_000n] },
  },
  {
    name: 'pcapng-comments.pcapng',
    shows: 'opt_comment on packets (how replay verdicts appear in Wireshark), and an unknown block skipped',
    bytes: concat(
      shb(true),
      idb(true, 1, 0),
      epb(true, 0, 1n, syn, { opts: [comment(true, 'FORWARDED by rule allow-web')] }),
      concat(pack(true, [4, 0x12345678], [4, 16], [4, 0], [4, 16])),
      epb(true, 0, 2n, synAck),
    ),
    expected: { packets: 2, comments: ['FORWARDED by rule allow-web', undefined] },
  },
  {
    name: 'pcapng-trailing-length-mismatch.pcapng',
    shows: 'an Enhanced Packet Block whose trailing length differs from its leading length',
    bytes: (() => {
      const head = concat(shb(true), idb(true, 1, 0));
      const bad = epb(true, 0, 1n, syn);
      new DataView(bad.buffer, bad.byteOffset).setUint32(bad.length - 4, bad.length + 4, true);
      return concat(head, bad);
    })(),
    expected: { packets: 0, error: { code: 'PCAP_BAD_BLOCK', offset: 28 + 20 } },
  },
];

#!/usr/bin/env node
// Writes captures/test/<program>.pcap and captures/test/<program>.json: the traffic that drives
// every branch of the engine-agreement test programs in bpf/test/progs. Each packet is built
// with src/pcap's deterministic builder and carries a one-line reason in the .json beside its
// capture, so a reader knows which branch it is there for. Run it by hand after changing a
// program or this script, then review the diff; tests never rewrite captures.
// Compiles just src/pcap into a temporary directory first, so work in progress elsewhere in
// src/ cannot stop it.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tmp = mkdtempSync(join(tmpdir(), 'twinpath-test-captures-'));
execFileSync('npx', ['tsc', '--outDir', tmp, '--rootDir', 'src', '--module', 'NodeNext',
  '--moduleResolution', 'NodeNext', '--target', 'ES2022', '--strict', '--skipLibCheck', '--types', 'node',
  'src/pcap/index.ts'], { cwd: root, stdio: 'inherit' });
writeFileSync(join(tmp, 'package.json'), '{"type":"module"}\n');
const pcap = await import(pathToFileURL(join(tmp, 'pcap/index.js')).href);
rmSync(tmp, { recursive: true, force: true });
const { build, encodePcap, internetChecksum, LINKTYPE_ETHERNET } = pcap;

// Every capture starts at 2024-01-01T00:00:00Z; packets are 1 ms apart.
const T0 = 1_704_067_200_000_000_000n;
const STEP = 1_000_000n;

// ---- raw packet shapes the builder does not make ----------------------------------------------

const hex = (s) => Uint8Array.from(s.replace(/\s+/g, '').match(/../g), (b) => parseInt(b, 16));
const concat = (...parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
};
const dv = (b) => new DataView(b.buffer, b.byteOffset, b.byteLength);

/** Offset of the IPv4 header in a frame with `vlans` tags. */
const l3 = (vlans = 0) => 14 + 4 * vlans;

function fixIpv4Checksum(frame, off) {
  const ihl = (frame[off] & 0x0f) * 4;
  dv(frame).setUint16(off + 10, 0);
  dv(frame).setUint16(off + 10, internetChecksum(frame.subarray(off, off + ihl)));
  return frame;
}

/** Inserts IPv4 options (a multiple of 4 bytes) after the fixed header; L4 checksums stay valid. */
function withIpv4Options(frame, options, vlans = 0) {
  const off = l3(vlans);
  const out = concat(frame.subarray(0, off + 20), options, frame.subarray(off + 20));
  out[off] = 0x40 | ((20 + options.length) / 4);
  dv(out).setUint16(off + 2, dv(out).getUint16(off + 2) + options.length);
  return fixIpv4Checksum(out, off);
}

/** Marks an IPv4 packet as a fragment at `offset8` (8-byte units), more-fragments set. */
function ipv4Fragment(frame, offset8) {
  const out = frame.slice();
  dv(out).setUint16(l3() + 6, 0x2000 | offset8);
  return fixIpv4Checksum(out, l3());
}

function arp(opts = {}) {
  const payload = hex('0001 0800 06 04 0001 020000000001 0a000101 000000000000 0a000102');
  return build.ethernet({ dstMac: 'ff:ff:ff:ff:ff:ff', ...opts, ethertype: 0x0806, payload });
}

/** Ethernet + IPv6 whose first headers are the given extension headers, then `l4` of `proto`. */
function ipv6Ext({ src, dst, exts, proto, l4, vlan }) {
  let next = proto;
  const chain = [];
  for (let i = exts.length - 1; i >= 0; i--) {
    const e = exts[i].bytes.slice();
    e[0] = next;
    next = exts[i].type;
    chain.unshift(e);
  }
  const ip = build.ipv6({ src, dst, nextHeader: next, payload: concat(...chain, l4) });
  return build.ethernet({ vlan, ethertype: 0x86dd, payload: ip });
}
const HOP_BY_HOP = { type: 0, bytes: hex('00 00 01 04 00000000') }; // PadN to 8 bytes
const DEST_OPTS = { type: 60, bytes: hex('00 00 01 04 00000000') };
const fragment = (offset8, more = true) => ({ type: 44, bytes: concat(hex('00 00'), u16(offset8 << 3 | (more ? 1 : 0)), hex('12345678')) });
const u16 = (v) => Uint8Array.of(v >> 8, v & 0xff);

const udpBytes = (src, dst, o) => build.udpDatagram(build.parseIp(src), build.parseIp(dst), o);
const tcpBytes = (src, dst, o) => build.tcpSegment(build.parseIp(src), build.parseIp(dst), o);
const echoBytes = (src, dst, o) => build.echoMessage(build.parseIp(src), build.parseIp(dst), o);

const fill = (n, seed = 0) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff);
const MSS = hex('020405b4 01030307'); // MSS 1460, NOP, window scale 7

const A = '10.0.1.5';
const B = '10.0.2.9';
const A6 = 'fd00::1:5';
const B6 = 'fd00::2:9';

// ---- per-program traffic ----------------------------------------------------------------------

/** @type {Record<string, { about: string, packets: [string, Uint8Array][] }>} */
const captures = {};

captures.parse = {
  about: 'Every parser branch of lib/parse.h: each protocol, VLAN tags, IPv4 options, IPv6 extension headers, fragments, truncation, a bad IHL, non-IP, and sizes from 14 to 1514 bytes.',
  packets: [
    ['IPv4 TCP SYN with MSS/window-scale options', build.tcp({ src: A, dst: B, sport: 40000, dport: 80, flags: 'S', options: MSS })],
    ['IPv4 TCP ACK with 100 bytes of payload', build.tcp({ src: B, dst: A, sport: 80, dport: 40000, flags: 'PA', payload: fill(100) })],
    ['IPv4 UDP DNS query', build.udp({ src: A, dst: B, sport: 5353, dport: 53, payload: fill(30, 1) })],
    ['IPv4 ICMP echo request', build.icmpEcho({ src: A, dst: B, identifier: 7, sequence: 1, payload: fill(56) })],
    ['IPv4 ICMP echo reply', build.icmpEcho({ src: B, dst: A, reply: true, identifier: 7, sequence: 1, payload: fill(56) })],
    ['IPv6 TCP SYN', build.tcp({ src: A6, dst: B6, sport: 40001, dport: 443, flags: 'S' })],
    ['IPv6 UDP', build.udp({ src: A6, dst: B6, sport: 1000, dport: 2000, payload: 'twinpath' })],
    ['ICMPv6 echo request', build.icmpEcho({ src: A6, dst: B6, identifier: 9, sequence: 2 })],
    ['802.1Q VLAN 100, IPv4 TCP', build.tcp({ vlan: 100, src: A, dst: B, sport: 40002, dport: 22, flags: 'A' })],
    ['QinQ (802.1ad 200 outside, 802.1Q 100 inside), IPv4 UDP', build.udp({ vlan: [{ id: 200, tpid: 0x88a8 }, 100], src: A, dst: B, sport: 68, dport: 67 })],
    ['IPv4 with 4 bytes of options (Router Alert), UDP', withIpv4Options(build.udp({ src: A, dst: B, sport: 1, dport: 2 }), hex('94040000'))],
    ['IPv4 non-first fragment (no L4 header to read)', ipv4Fragment(build.udp({ src: A, dst: B, sport: 3, dport: 4, payload: fill(40) }), 185)],
    ['IPv6 hop-by-hop + destination options, then UDP', ipv6Ext({ src: A6, dst: B6, exts: [HOP_BY_HOP, DEST_OPTS], proto: 17, l4: udpBytes(A6, B6, { sport: 5, dport: 6 }) })],
    ['IPv6 non-first fragment', ipv6Ext({ src: A6, dst: B6, exts: [fragment(100)], proto: 17, l4: fill(24) })],
    ['IPv4 GRE (another L4 protocol)', build.ethernet({ ethertype: 0x0800, payload: build.ipv4({ src: A, dst: B, protocol: 47, payload: fill(24) }) })],
    ['ARP request (not IP)', arp()],
    // A tc test run refuses an IPv4 frame shorter than 34 bytes (IPv6: 54) with EINVAL, judging by
    // the EtherType; behind a VLAN tag the EtherType is 0x8100 and a cut IP header gets through.
    ['VLAN 5 tag, then only 4 bytes of an IPv4 header', build.tcp({ vlan: 5, src: A, dst: B, sport: 1, dport: 2 }).slice(0, 18 + 4)],
    ['IPv4 header claiming IHL 6 (24 bytes) in a 34-byte frame', (() => { const f = build.udp({ src: A, dst: B, sport: 1, dport: 2 }).slice(0, 34); f[14] = 0x46; return fixIpv4Checksum(f, 14); })()],
    ['IPv4 TCP cut after 10 bytes of the TCP header', build.tcp({ src: A, dst: B, sport: 1, dport: 2 }).slice(0, 14 + 20 + 10)],
    ['IPv4 with IHL 4 (impossible)', (() => { const f = build.udp({ src: A, dst: B, sport: 1, dport: 2 }); f[14] = 0x44; return fixIpv4Checksum(f, 14); })()],
    ['IPv6 with version 4 in its header (impossible)', (() => { const f = build.udp({ src: A6, dst: B6, sport: 1, dport: 2 }); f[14] = 0x40 | (f[14] & 0x0f); return f; })()],
    ['1514-byte frame: IPv4 UDP with 1472 bytes of payload', build.udp({ src: A, dst: B, sport: 7000, dport: 7001, payload: fill(1472, 3) })],
    ['three VLAN tags: the parser looks at two, the third leaves it non-IP', build.udp({ vlan: [1, 2, 3], src: A, dst: B, sport: 1, dport: 2 })],
  ],
};

captures.flows = {
  about: 'A TCP connection opened and closed (FIN deletes the flow), a UDP flow of three packets, ICMP and ICMPv6, IPv6 TCP, a reset on a fresh flow, a VLAN-tagged packet and ARP.',
  packets: [
    ['TCP SYN opens flow A:40000 -> B:80', build.tcp({ src: A, dst: B, sport: 40000, dport: 80, flags: 'S', options: MSS })],
    ['TCP SYN-ACK (the reverse flow, a separate key)', build.tcp({ src: B, dst: A, sport: 80, dport: 40000, flags: 'SA' })],
    ['TCP ACK with 64 bytes of payload: second packet of the flow', build.tcp({ src: A, dst: B, sport: 40000, dport: 80, flags: 'PA', payload: fill(64, 5) })],
    ['UDP flow packet 1', build.udp({ src: A, dst: B, sport: 5000, dport: 53, payload: fill(20) })],
    ['UDP flow packet 2', build.udp({ src: A, dst: B, sport: 5000, dport: 53, payload: fill(40) })],
    ['ICMP echo request', build.icmpEcho({ src: A, dst: B, identifier: 1, sequence: 1, payload: fill(32) })],
    ['IPv6 TCP SYN', build.tcp({ src: A6, dst: B6, sport: 40100, dport: 80, flags: 'S' })],
    ['ICMPv6 echo request', build.icmpEcho({ src: A6, dst: B6, identifier: 2, sequence: 1 })],
    ['TCP FIN-ACK: deletes flow A:40000 -> B:80', build.tcp({ src: A, dst: B, sport: 40000, dport: 80, flags: 'FA' })],
    ['UDP flow packet 3', build.udp({ src: A, dst: B, sport: 5000, dport: 53, payload: fill(60) })],
    ['TCP RST on a flow never seen: created and deleted at once', build.tcp({ src: B, dst: A, sport: 9999, dport: 1234, flags: 'R' })],
    ['VLAN 100 TCP: parsed through the tag', build.tcp({ vlan: 100, src: A, dst: B, sport: 40200, dport: 8080, flags: 'S' })],
    ['ARP: not accounted (TC_ACT_UNSPEC)', arp()],
    ['1514-byte UDP, a new flow', build.udp({ src: B, dst: A, sport: 7000, dport: 7001, payload: fill(1472, 9) })],
  ],
};

captures.ipcache = {
  about: 'Sources that match each ipcache prefix (and none), the denied identity, the echo replies and DNS queries that pop the stack and the queue, enough pushes to overwrite the queue, and non-IP.',
  packets: [
    ['10.0.1.5 matches 10.0.1.0/24 (identity 1001): pushed on the queue', build.tcp({ src: '10.0.1.5', dst: B, sport: 1000, dport: 80 })],
    ['10.3.3.3 matches only 10.0.0.0/8 (identity 1000)', build.tcp({ src: '10.3.3.3', dst: B, sport: 1001, dport: 80 })],
    ['192.168.7.7 matches nothing: world (2)', build.udp({ src: '192.168.7.7', dst: B, sport: 1002, dport: 8000 })],
    ['10.0.2.66 matches 10.0.2.66/32 (identity 666, denied): XDP_DROP, pushed on the stack', build.tcp({ src: '10.0.2.66', dst: B, sport: 1003, dport: 80 })],
    ['fd00::1:5 matches fd00::/64 (identity 2001)', build.tcp({ src: 'fd00::1:5', dst: B6, sport: 1004, dport: 80 })],
    ['2001:db8::1 matches nothing: world', build.udp({ src: '2001:db8::1', dst: B6, sport: 1005, dport: 80 })],
    ['fd00:0:0:1::9 matches fd00:0:0:1::/64 (identity 666): dropped', build.udp({ src: 'fd00:0:0:1::9', dst: B6, sport: 1006, dport: 80 })],
    ['ICMP echo reply: pops the stack (666)', build.icmpEcho({ src: '10.0.1.5', dst: B, reply: true, identifier: 1, sequence: 1 })],
    ['UDP to port 53: dequeues the oldest identity (1000: the fifth push overwrote the first, 1001)', build.udp({ src: '10.0.1.5', dst: B, sport: 1007, dport: 53 })],
    ['10.0.1.6 (1001) pushed', build.tcp({ src: '10.0.1.6', dst: B, sport: 1008, dport: 80 })],
    ['10.9.9.9 (1000) pushed', build.tcp({ src: '10.9.9.9', dst: B, sport: 1009, dport: 80 })],
    ['172.16.0.1 (world) pushed: the queue is full now', build.tcp({ src: '172.16.0.1', dst: B, sport: 1010, dport: 80 })],
    ['fd00::7 (2001) pushed with BPF_EXIST: overwrites the oldest', build.tcp({ src: 'fd00::7', dst: B6, sport: 1011, dport: 80 })],
    ['ICMPv6 echo reply: pops the stack (666 from the IPv6 drop)', build.icmpEcho({ src: 'fd00::1:5', dst: B6, reply: true, identifier: 2, sequence: 1 })],
    ['ICMP echo reply with the stack empty: nothing popped', build.icmpEcho({ src: '10.0.1.5', dst: B, reply: true, identifier: 1, sequence: 2 })],
    ['ARP: XDP_ABORTED, no metadata', arp()],
    ['IPv4 TCP cut short: XDP_ABORTED', build.tcp({ src: A, dst: B, sport: 1, dport: 2 }).slice(0, 40)],
  ],
};

captures.tail = {
  about: 'One packet per tail-call target (TCP SYN and ACK, UDP to a port with and without an inner map), ICMP to the empty slot, and packets that never tail-call.',
  packets: [
    ['TCP SYN -> tail_tcp, inner slot 0', build.tcp({ src: A, dst: B, sport: 2000, dport: 80, flags: 'S' })],
    ['TCP ACK -> tail_tcp, inner slot 1', build.tcp({ src: A, dst: B, sport: 2000, dport: 80, flags: 'A' })],
    ['TCP SYN-ACK -> tail_tcp, inner slot 1 (SYN with ACK)', build.tcp({ src: B, dst: A, sport: 80, dport: 2000, flags: 'SA' })],
    ['UDP to 53 from 3000 -> tail_udp, counted in udp_dns[3000]', build.udp({ src: A, dst: B, sport: 3000, dport: 53 })],
    ['UDP to 53 from 3000 again', build.udp({ src: A, dst: B, sport: 3000, dport: 53, payload: 'x' })],
    ['IPv6 UDP to 53 from 3001', build.udp({ src: A6, dst: B6, sport: 3001, dport: 53 })],
    ['UDP to 123: no inner map for the port, TC_ACT_SHOT', build.udp({ src: A, dst: B, sport: 3002, dport: 123 })],
    ['ICMP echo: slot 2 is empty, falls through to fallback_verdict', build.icmpEcho({ src: A, dst: B, identifier: 3, sequence: 1 })],
    ['ICMPv6 echo: the same fall-through', build.icmpEcho({ src: A6, dst: B6, identifier: 3, sequence: 2 })],
    ['GRE: no slot for the protocol, TC_ACT_UNSPEC', build.ethernet({ ethertype: 0x0800, payload: build.ipv4({ src: A, dst: B, protocol: 47, payload: fill(8) }) })],
    ['ARP: TC_ACT_UNSPEC', arp()],
  ],
};

captures.events = {
  about: 'Records by every ring buffer path (reserve+submit for TCP and even UDP ports, reserve+discard for odd UDP ports, output for ICMP), with destination MACs that give each pkt_type, and non-IP.',
  packets: [
    ['TCP, unicast to another host: reserve+submit', build.tcp({ src: A, dst: B, sport: 1, dport: 80 })],
    ['UDP to an even port: reserve+submit', build.udp({ src: A, dst: B, sport: 2, dport: 54 })],
    ['UDP to an odd port: reserve+discard', build.udp({ src: A, dst: B, sport: 3, dport: 53 })],
    ['ICMP echo: ringbuf_output', build.icmpEcho({ src: A, dst: B, identifier: 1, sequence: 1 })],
    ['ICMPv6 echo to a multicast MAC: ringbuf_output, pkt_type multicast', build.icmpEcho({ dstMac: '33:33:00:00:00:01', src: A6, dst: 'ff02::1', identifier: 1, sequence: 1 })],
    ['UDP to the broadcast MAC: pkt_type broadcast', build.udp({ dstMac: 'ff:ff:ff:ff:ff:ff', src: A, dst: '10.0.1.255', sport: 68, dport: 68 })],
    ['VLAN 7 TCP: skb->protocol is 0x8100', build.tcp({ vlan: 7, src: A, dst: B, sport: 4, dport: 443 })],
    ['ARP: no record, TC_ACT_UNSPEC', arp()],
    ['1514-byte TCP: reserve+submit', build.tcp({ src: A, dst: B, sport: 5, dport: 80, flags: 'PA', payload: fill(1460) })],
  ],
};

captures.clock = {
  about: 'Eight ordinary packets and two more that wrap the sample slots: only the counters and seq compare, the clock values are masked.',
  packets: Array.from({ length: 10 }, (_, i) => [`packet ${i + 1}: UDP, contents irrelevant`, build.udp({ src: A, dst: B, sport: 6000 + i, dport: 6000, payload: fill(i * 10) })]),
};

const VIP = '10.96.0.10';
const VIP6 = 'fd00:96::10';
captures.nat = {
  about: 'Packets to the service frontend over TCP and UDP, IPv4 and IPv6 (including a UDP datagram without a checksum and a VLAN-tagged one), packets that miss the frontend, and packets that are not parsed.',
  packets: [
    ['TCP SYN to VIP:80: DNAT, redirect', build.tcp({ src: A, dst: VIP, sport: 41000, dport: 80, flags: 'S', options: MSS })],
    ['TCP with payload to VIP:80: DNAT, redirect', build.tcp({ src: A, dst: VIP, sport: 41000, dport: 80, flags: 'PA', payload: fill(200) })],
    ['UDP to VIP:80: DNAT with BPF_F_MARK_MANGLED_0', build.udp({ src: A, dst: VIP, sport: 41001, dport: 80, payload: fill(33) })],
    ['UDP to VIP:80 without a checksum (0): stays 0', (() => { const f = build.udp({ src: A, dst: VIP, sport: 41002, dport: 80, payload: fill(12) }); dv(f).setUint16(14 + 20 + 6, 0); return f; })()],
    ['TCP to VIP:443: not the frontend port, unchanged', build.tcp({ src: A, dst: VIP, sport: 41003, dport: 443 })],
    ['TCP to another address on port 80: unchanged', build.tcp({ src: A, dst: B, sport: 41004, dport: 80 })],
    ['IPv6 TCP to [VIP6]:80: DNAT via csum_diff', build.tcp({ src: A6, dst: VIP6, sport: 41005, dport: 80, flags: 'S' })],
    ['IPv6 UDP to [VIP6]:80: DNAT via csum_diff', build.udp({ src: A6, dst: VIP6, sport: 41006, dport: 80, payload: fill(17) })],
    ['VLAN 100 TCP to VIP:80: offsets shifted by the tag', build.tcp({ vlan: 100, src: A, dst: VIP, sport: 41007, dport: 80 })],
    ['ICMP echo to VIP: not TCP/UDP, unchanged', build.icmpEcho({ src: A, dst: VIP, identifier: 4, sequence: 1 })],
    ['IPv4 fragment to VIP: not parsed to L4, TC_ACT_UNSPEC', ipv4Fragment(build.udp({ src: A, dst: VIP, sport: 1, dport: 80, payload: fill(16) }), 10)],
    ['ARP: TC_ACT_UNSPEC', arp()],
  ],
};

captures.encap = {
  about: 'One packet per size-changing helper path: IPIP encapsulation, a tail trailer, a new head, a stripped IPv6 hop-by-hop header, trimming of large frames, a packet too short for bpf_skb_pull_data(54), an encapsulated skb that may no longer be trimmed, and packets left alone.',
  packets: [
    ['IPv4 TCP: IPIP encapsulation (+20 bytes)', build.tcp({ src: A, dst: B, sport: 1, dport: 80, flags: 'S' })],
    ['IPv4 UDP: 4-byte trailer', build.udp({ src: A, dst: B, sport: 2, dport: 53, payload: fill(10) })],
    ['IPv4 ICMP echo, 42 bytes: pull_data(54) fails with -ENOMEM, then a second Ethernet header', build.icmpEcho({ src: A, dst: B, identifier: 5, sequence: 1 })],
    ['IPv6 with an 8-byte hop-by-hop header: header removed', ipv6Ext({ src: A6, dst: B6, exts: [HOP_BY_HOP], proto: 17, l4: udpBytes(A6, B6, { sport: 7, dport: 8, payload: fill(9) }) })],
    ['IPv6 with destination options only: unchanged', ipv6Ext({ src: A6, dst: B6, exts: [DEST_OPTS], proto: 17, l4: udpBytes(A6, B6, { sport: 7, dport: 8 }) })],
    ['IPv6 UDP without extension headers: unchanged', build.udp({ src: A6, dst: B6, sport: 9, dport: 10 })],
    ['1514-byte IPv4 UDP: trailer, then trimmed to 256', build.udp({ src: A, dst: B, sport: 11, dport: 12, payload: fill(1472, 2) })],
    ['1000-byte IPv4 TCP: IPIP, then bpf_skb_change_tail refuses the encapsulated skb (-ENOTSUPP): TC_ACT_SHOT', build.tcp({ src: A, dst: B, sport: 13, dport: 14, flags: 'PA', payload: fill(946) })],
    ['1000-byte IPv6 UDP: only trimmed', build.udp({ src: A6, dst: B6, sport: 15, dport: 16, payload: fill(938) })],
    ['VLAN 100 IPv4 TCP: left alone', build.tcp({ vlan: 100, src: A, dst: B, sport: 17, dport: 18 })],
    ['ARP: left alone', arp()],
  ],
};

captures.vlan = {
  about: 'A single-tagged and a double-tagged frame to pop, untagged IPv4 for one push and IPv6 for two, and a frame that is neither.',
  packets: [
    ['802.1Q 100 IPv4 TCP: pop removes the tag from the data', build.tcp({ vlan: { id: 100, pcp: 3 }, src: A, dst: B, sport: 1, dport: 2 })],
    ['QinQ 88a8/200 + 8100/300 IPv4 UDP: pop removes both from the data, the inner one becomes the accelerated tag', build.udp({ vlan: [{ id: 200, tpid: 0x88a8 }, 300], src: A, dst: B, sport: 3, dport: 4 })],
    ['untagged IPv4: one push, accelerated tag only, data unchanged', build.tcp({ src: A, dst: B, sport: 5, dport: 6 })],
    ['untagged IPv6: two pushes, the first tag moves into the data', build.udp({ src: A6, dst: B6, sport: 7, dport: 8 })],
    ['ARP: TC_ACT_UNSPEC', arp()],
  ],
};

captures.xdp_edit = {
  about: 'One frame per head/tail adjustment: untag, tag, truncate-and-bounce, pad to 60, append a trailer, and frames left alone.',
  packets: [
    ['802.1Q 100 IPv4 TCP: tag removed (adjust_head +4)', build.tcp({ vlan: 100, src: A, dst: B, sport: 1, dport: 2 })],
    ['IPv6 UDP: tag 300 inserted (adjust_head -4)', build.udp({ src: A6, dst: B6, sport: 3, dport: 4, payload: fill(20) })],
    ['IPv4 UDP to port 9 with 100 bytes: truncated to its headers, XDP_TX', build.udp({ src: A, dst: B, sport: 5, dport: 9, payload: fill(100) })],
    ['IPv4 ICMP echo of 42 bytes: padded to 60 (adjust_tail +18)', build.icmpEcho({ src: A, dst: B, identifier: 1, sequence: 1 })],
    ['IPv4 ICMP echo of 98 bytes: 8-byte trailer appended', build.icmpEcho({ src: A, dst: B, identifier: 1, sequence: 2, payload: fill(56) })],
    ['ARP, 42 bytes: padded to 60', arp()],
    ['IPv4 TCP of 54 bytes: padded to 60', build.tcp({ src: A, dst: B, sport: 6, dport: 7 })],
    ['IPv4 TCP with payload: unchanged', build.tcp({ src: A, dst: B, sport: 6, dport: 7, flags: 'PA', payload: fill(40) })],
    ['QinQ with an 802.1ad outer tag: not untagged (only 0x8100 is), unchanged', build.tcp({ vlan: [{ id: 200, tpid: 0x88a8 }, 100], src: A, dst: B, sport: 8, dport: 9, payload: fill(20) })],
    ['1514-byte IPv4 UDP to port 9: truncated to 42 bytes', build.udp({ src: A, dst: B, sport: 10, dport: 9, payload: fill(1472) })],
  ],
};

captures.xdp_redirect = {
  about: 'IPv4 with an even and an odd TTL (the two DEVMAP slots) and a non-IPv4 frame.',
  packets: [
    ['IPv4 TTL 64: slot 0', build.tcp({ src: A, dst: B, sport: 1, dport: 2, ttl: 64 })],
    ['IPv4 TTL 63: slot 1', build.tcp({ src: A, dst: B, sport: 1, dport: 2, ttl: 63 })],
    ['IPv6: XDP_DROP', build.tcp({ src: A6, dst: B6, sport: 1, dport: 2 })],
  ],
};

// ---- write ------------------------------------------------------------------------------------

for (const [name, { about, packets }] of Object.entries(captures)) {
  const records = packets.map(([, data], i) => ({ timestampNs: T0 + BigInt(i) * STEP, data }));
  const bytes = await encodePcap(records, { linkType: LINKTYPE_ETHERNET, nanosecond: true });
  writeFileSync(join(root, 'captures/test', `${name}.pcap`), bytes);
  const spec = {
    capture: `${name}.pcap`,
    program: `bpf/test/progs/${name}.bpf.c`,
    linkType: 'ETHERNET',
    timestamps: 'nanosecond pcap; 2024-01-01T00:00:00Z plus 1 ms per packet',
    about,
    packets: packets.map(([why, data], index) => ({ index, length: data.length, why })),
  };
  writeFileSync(join(root, 'captures/test', `${name}.json`), JSON.stringify(spec, null, 2) + '\n');
  console.log(`wrote captures/test/${name}.pcap (${packets.length} packets)`);
}

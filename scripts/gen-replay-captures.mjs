#!/usr/bin/env node
// Writes the bundled replay scenarios: for each captures/replay/<name>.spec.json, the capture it
// names (pcapng, each packet's note as its comment). A spec lists hosts (address and MAC) and
// packets in time order: milliseconds after `start`, from and to a host, and one of
//   "tcp": [sport, dport] with "flags" (tcpdump letters) and an optional "payload",
//   "udp": [sport, dport] with a "payload" or a "dns" question (and "answer" for a response),
//   "icmp": { "id", "seq", "reply"? },
// or "again": true for the previous packet's bytes once more (one packet captured on two
// interfaces, as `tcpdump -i any` records it).
// TCP sequence and acknowledgement numbers follow the conversation (a SYN always carries its
// stream's initial number, so a retransmitted SYN repeats the first), so Wireshark reads the
// streams as real ones. Run by hand after changing a spec, then review the diff; tests never
// rewrite captures. Compiles just src/pcap into a temporary directory first.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = join(root, 'captures', 'replay');
const tmp = mkdtempSync(join(tmpdir(), 'twinpath-replay-captures-'));
execFileSync('npx', ['tsc', '--outDir', tmp, '--rootDir', 'src', '--module', 'NodeNext',
  '--moduleResolution', 'NodeNext', '--target', 'ES2022', '--strict', '--skipLibCheck', '--types', 'node',
  'src/pcap/index.ts'], { cwd: root, stdio: 'inherit' });
writeFileSync(join(tmp, 'package.json'), '{"type":"module"}\n');
const pcap = await import(pathToFileURL(join(tmp, 'pcap/index.js')).href);
rmSync(tmp, { recursive: true, force: true });
const { build, encodePcapng, LINKTYPE_ETHERNET } = pcap;

/** A DNS message with one A question, and the answer when there is one (RFC 1035). */
function dns({ id, name, answer }) {
  const labels = name.split('.').flatMap((l) => [l.length, ...Buffer.from(l, 'ascii')]);
  const question = [...labels, 0, 0, 1, 0, 1]; // QTYPE A, QCLASS IN
  const header = [id >> 8, id & 0xff, answer ? 0x81 : 0x01, answer ? 0x80 : 0x00, 0, 1, 0, answer ? 1 : 0, 0, 0, 0, 0];
  const rr = answer
    ? [0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, ...answer.split('.').map(Number)] // name by pointer, TTL 30 s
    : [];
  return Uint8Array.from([...header, ...question, ...rr]);
}

/** A stream's initial sequence number: fixed per direction, so captures are reproducible. */
function isn(key) {
  let h = 0x811c9dc5;
  for (const c of key) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193);
  return (h >>> 0) & 0x7fffffff;
}

function generate(spec) {
  const start = BigInt(Date.parse(spec.start)) * 1_000_000n;
  const streams = new Map();
  const stream = (key) => {
    let s = streams.get(key);
    if (!s) streams.set(key, (s = { isn: isn(key), next: undefined }));
    return s;
  };
  let ipId = 1;
  let previous;
  return spec.packets.map((p, i) => {
    const timestampNs = start + BigInt(Math.round(p.ms * 1000)) * 1000n;
    const note = p.note ? { comment: p.note } : {};
    if (p.again) {
      if (!previous) throw new Error(`packet ${i}: "again" needs a packet before it`);
      return { timestampNs, data: previous, linkType: LINKTYPE_ETHERNET, ...note };
    }
    const from = spec.hosts[p.from];
    const to = spec.hosts[p.to];
    if (!from || !to) throw new Error(`packet ${i}: unknown host ${from ? p.to : p.from}`);
    const frame = { srcMac: from.mac, dstMac: to.mac, src: from.ip, dst: to.ip, id: ipId++ };
    let data;
    if (p.tcp) {
      const [sport, dport] = p.tcp;
      const flags = build.tcpFlags(p.flags);
      const payload = p.payload === undefined ? new Uint8Array(0) : Buffer.from(p.payload, 'utf8');
      const mine = stream(`${from.ip}:${sport}>${to.ip}:${dport}`);
      const theirs = stream(`${to.ip}:${dport}>${from.ip}:${sport}`);
      let seq;
      if (flags & build.TCP_SYN) seq = mine.isn;
      else if (mine.next !== undefined) seq = mine.next;
      else seq = flags & build.TCP_RST ? 0 : mine.isn + 1;
      mine.next = (seq + payload.length + (flags & build.TCP_SYN ? 1 : 0) + (flags & build.TCP_FIN ? 1 : 0)) >>> 0;
      const ack = flags & build.TCP_ACK ? (theirs.next ?? 0) : 0;
      data = build.tcp({ ...frame, sport, dport, flags, seq, ack, payload });
    } else if (p.udp) {
      const [sport, dport] = p.udp;
      const payload = p.dns ? dns(p.dns) : Buffer.from(p.payload ?? '', 'utf8');
      data = build.udp({ ...frame, sport, dport, payload });
    } else if (p.icmp) {
      data = build.icmpEcho({ ...frame, identifier: p.icmp.id, sequence: p.icmp.seq, reply: p.icmp.reply === true, payload: 'twinpath' });
    } else {
      throw new Error(`packet ${i}: no tcp, udp or icmp`);
    }
    previous = data;
    return { timestampNs, data, linkType: LINKTYPE_ETHERNET, ...note };
  });
}

for (const name of readdirSync(dir).filter((f) => f.endsWith('.spec.json')).sort()) {
  const spec = JSON.parse(readFileSync(join(dir, name), 'utf8'));
  const bytes = await encodePcapng(generate(spec), { application: 'twinpath gen-replay-captures' });
  writeFileSync(join(dir, spec.output), bytes);
  console.log(`wrote captures/replay/${spec.output} (${spec.packets.length} packets)`);
}

// The probe agent: a small process started inside one network namespace of a sandbox
// (`nsenter --net=... node agent.js`) that speaks JSON lines on stdin/stdout. It serves the
// ports it is asked to (TCP and UDP echo, SCTP INIT answered with INIT-ACK) and, on request,
// opens one connection and says whether it completed. It exits when its stdin closes, so a
// dead parent never leaves it behind.
//
// Requests:  {"id", "op": "listen", "protocol", "port"}
//            {"id", "op": "connect", "protocol", "dst", "port", "src"?, "timeoutMs"}
//            {"id", "op": "ping"}
// Answers:   {"id", "ok": true, "allowed"?, "detail"?} or {"id", "ok": false, "error"}

import { createInterface } from 'node:readline';
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import { networkInterfaces } from 'node:os';
import { ipv4Packet, IPPROTO_SCTP, parseSctp, SCTP_INIT, SCTP_INIT_ACK, sctpInit, sctpInitAck, splitIpv4, type SctpPacket } from './sctp.js';

type Protocol = 'TCP' | 'UDP' | 'SCTP';

interface Request {
  id: number;
  op: 'listen' | 'connect' | 'ping';
  protocol?: Protocol;
  port?: number;
  dst?: string;
  src?: string;
  timeoutMs?: number;
}

interface Answer {
  id: number;
  ok: boolean;
  allowed?: boolean;
  detail?: string;
  error?: string;
}

function reply(a: Answer): void {
  process.stdout.write(JSON.stringify(a) + '\n');
}

// ---- serving -----------------------------------------------------------------------------

const tcpServers = new Map<number, net.Server>();
const udpServers = new Map<number, dgram.Socket[]>();
const sctpPorts = new Set<number>();

async function listenTcp(port: number): Promise<void> {
  if (tcpServers.has(port)) return;
  const server = net.createServer((sock) => {
    sock.on('error', () => sock.destroy());
    sock.pipe(sock);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // One dual-stack socket covers every address of the namespace, v4 and v6.
    server.listen({ port, host: '::', ipv6Only: false }, () => resolve());
  });
  tcpServers.set(port, server);
}

/** Usable local addresses: a UDP answer must leave from the address the request went to, so
 * each gets its own socket (a wildcard socket would answer from the routing's choice). */
function localAddresses(): string[] {
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.family === 'IPv6' && a.address.toLowerCase().startsWith('fe80')) continue;
      if (a.family === 'IPv4' && a.address.startsWith('169.254.')) continue;
      out.push(a.address);
    }
  }
  return [...new Set(out)];
}

async function listenUdp(port: number): Promise<void> {
  if (udpServers.has(port)) return;
  const sockets: dgram.Socket[] = [];
  for (const address of localAddresses()) {
    const s = dgram.createSocket(net.isIPv6(address) ? 'udp6' : 'udp4');
    s.on('message', (msg, rinfo) => s.send(msg, rinfo.port, rinfo.address));
    s.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind({ port, address }, () => resolve());
    });
    sockets.push(s);
  }
  udpServers.set(port, sockets);
}

// ---- raw SCTP ------------------------------------------------------------------------------

interface RawSocket {
  on(ev: 'message', fn: (b: Buffer, source: string) => void): void;
  on(ev: 'error', fn: (e: Error) => void): void;
  send(b: Buffer, offset: number, length: number, address: string, after: (err: Error | null) => void): void;
  setOption(level: number, option: number, value: number): void;
  close(): void;
}

interface RawModule {
  createSocket(o: { protocol: number; addressFamily?: number }): RawSocket;
  AddressFamily: { IPv4: number; IPv6: number };
  SocketLevel: { IPPROTO_IP: number };
  SocketOption: { IP_HDRINCL: number };
}

let rawModule: RawModule | undefined;
let raw4: RawSocket | undefined;
let raw6: RawSocket | undefined;
/** Client probes waiting for an INIT-ACK, by the initiate tag their INIT carried. */
const waiting = new Map<number, { sport: number; dport: number; done: (p: SctpPacket) => void }>();

function raw(): RawModule {
  if (rawModule === undefined) {
    try {
      rawModule = createRequire(import.meta.url)('raw-socket') as RawModule;
    } catch (e) {
      throw new Error(`SCTP probes need the raw-socket package (an optional dependency that did not install): ${(e as Error).message.split('\n')[0]}`);
    }
  }
  return rawModule;
}

function onSctp(payload: Buffer, from: string, to: string | undefined, v6: boolean): void {
  const p = parseSctp(payload);
  if (p === undefined) return;
  if (p.chunk === SCTP_INIT && p.vtag === 0 && sctpPorts.has(p.dport)) {
    const ack = sctpInitAck(p, randomBytes(4).readUInt32BE(0) || 1);
    if (v6 || to === undefined) rawSocket(v6).send(ack, 0, ack.length, from, () => {});
    else {
      // Answer from the address the INIT went to, as an SCTP endpoint would.
      const pkt = ipv4Packet(to, from, IPPROTO_SCTP, ack);
      rawSocket(false).send(pkt, 0, pkt.length, from, () => {});
    }
    return;
  }
  if (p.chunk === SCTP_INIT_ACK) {
    const w = waiting.get(p.vtag);
    if (w !== undefined && p.sport === w.dport && p.dport === w.sport) w.done(p);
  }
}

function rawSocket(v6: boolean): RawSocket {
  const m = raw();
  if (v6) {
    if (raw6 === undefined) {
      raw6 = m.createSocket({ protocol: IPPROTO_SCTP, addressFamily: m.AddressFamily.IPv6 });
      raw6.on('error', () => {});
      raw6.on('message', (b, source) => onSctp(b, source, undefined, true));
    }
    return raw6;
  }
  if (raw4 === undefined) {
    raw4 = m.createSocket({ protocol: IPPROTO_SCTP, addressFamily: m.AddressFamily.IPv4 });
    // We write the IPv4 header ourselves, to choose the source address.
    raw4.setOption(m.SocketLevel.IPPROTO_IP, m.SocketOption.IP_HDRINCL, 1);
    raw4.on('error', () => {});
    raw4.on('message', (b) => {
      const ip = splitIpv4(b);
      if (ip !== undefined) onSctp(ip.payload, ip.src, ip.dst, false);
    });
  }
  return raw4;
}

function listenSctp(port: number): void {
  rawSocket(false);
  rawSocket(true);
  sctpPorts.add(port);
}

// ---- probing -------------------------------------------------------------------------------

function withTimeout(ms: number, start: (finish: (allowed: boolean, detail: string) => void) => () => void): Promise<{ allowed: boolean; detail: string }> {
  return new Promise((resolve) => {
    let cleanup: () => void = () => {};
    let settled = false;
    const finish = (allowed: boolean, detail: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      cleanup();
      resolve({ allowed, detail });
    };
    const timer = setTimeout(() => finish(false, `no answer within ${ms} ms`), ms);
    cleanup = start(finish);
  });
}

function connectTcp(dst: string, port: number, src: string | undefined, ms: number) {
  return withTimeout(ms, (finish) => {
    const opts: net.NetConnectOpts = { host: dst, port };
    if (src !== undefined) opts.localAddress = src;
    const sock = net.connect(opts);
    sock.on('connect', () => finish(true, 'TCP connection established'));
    sock.on('error', (e: NodeJS.ErrnoException) => finish(false, e.code === 'ECONNREFUSED' ? 'connection refused' : `TCP error ${e.code ?? e.message}`));
    return () => sock.destroy();
  });
}

function connectUdp(dst: string, port: number, src: string | undefined, ms: number) {
  return withTimeout(ms, (finish) => {
    const s = dgram.createSocket(net.isIPv6(dst) ? 'udp6' : 'udp4');
    const token = Buffer.from(`twinpath-probe-${randomBytes(8).toString('hex')}`);
    s.on('error', (e: NodeJS.ErrnoException) => finish(false, e.code === 'ECONNREFUSED' ? 'port unreachable' : `UDP error ${e.code ?? e.message}`));
    s.on('message', (msg) => {
      if (msg.equals(token)) finish(true, 'UDP echo received');
    });
    s.bind({ port: 0, ...(src !== undefined ? { address: src } : {}) }, () => {
      s.connect(port, dst, () => s.send(token));
    });
    return () => {
      try {
        s.close();
      } catch {
        // already closed by an error
      }
    };
  });
}

function connectSctp(dst: string, port: number, src: string | undefined, ms: number) {
  return withTimeout(ms, (finish) => {
    const v6 = net.isIPv6(dst);
    let tag = 0;
    while (tag === 0 || waiting.has(tag)) tag = randomBytes(4).readUInt32BE(0);
    const sport = 32768 + (randomBytes(2).readUInt16BE(0) % 28000);
    waiting.set(tag, { sport, dport: port, done: () => finish(true, 'SCTP INIT-ACK received') });
    try {
      const init = sctpInit(sport, port, tag);
      const sock = rawSocket(v6);
      if (v6 || src === undefined) sock.send(init, 0, init.length, dst, (e) => e && finish(false, `SCTP send failed: ${e.message}`));
      else {
        const pkt = ipv4Packet(src, dst, IPPROTO_SCTP, init);
        sock.send(pkt, 0, pkt.length, dst, (e) => e && finish(false, `SCTP send failed: ${e.message}`));
      }
    } catch (e) {
      finish(false, (e as Error).message);
    }
    return () => waiting.delete(tag);
  });
}

async function handle(r: Request): Promise<Answer> {
  switch (r.op) {
    case 'ping':
      return { id: r.id, ok: true };
    case 'listen': {
      const port = r.port!;
      if (r.protocol === 'TCP') await listenTcp(port);
      else if (r.protocol === 'UDP') await listenUdp(port);
      else listenSctp(port);
      return { id: r.id, ok: true };
    }
    case 'connect': {
      const ms = r.timeoutMs ?? 1000;
      const dst = r.dst!;
      const port = r.port!;
      const res =
        r.protocol === 'TCP' ? await connectTcp(dst, port, r.src, ms) : r.protocol === 'UDP' ? await connectUdp(dst, port, r.src, ms) : await connectSctp(dst, port, r.src, ms);
      return { id: r.id, ok: true, ...res };
    }
    default:
      return { id: r.id, ok: false, error: `unknown op ${String((r as { op: unknown }).op)}` };
  }
}

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  let r: Request;
  try {
    r = JSON.parse(line) as Request;
  } catch {
    return;
  }
  handle(r).then(reply, (e: unknown) => reply({ id: r.id, ok: false, error: e instanceof Error ? e.message : String(e) }));
});
lines.on('close', () => process.exit(0));

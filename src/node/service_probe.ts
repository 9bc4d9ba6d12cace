// Live connections to service addresses in a sandbox, and which backend answered. The sandbox's
// probe agents (src/sandbox/live.ts) echo what they are sent, so a connection through a
// ClusterIP cannot tell which backend it reached; here each backend runs a small "who am I"
// server that first writes the address the connection arrived at (the backend's own address
// after the datapath's DNAT) and then echoes. A connection can be held open, so a test can
// change the services underneath it and see it keep its backend.
//
// Every process is a short Node script run with `nsenter --net=...` in the namespace it
// belongs to (ip netns exec would remount /sys and hide bpffs); it exits when its stdin closes,
// so a dead parent never leaves one behind.

import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { TwinpathError } from '../errors.js';
import type { SandboxState } from '../sandbox/state.js';

const SERVER = `
const net = require('net');
const unmap = (a) => (a && a.startsWith('::ffff:') ? a.slice(7) : a);
const s = net.createServer((c) => {
  c.on('error', () => c.destroy());
  c.write(JSON.stringify({ backend: unmap(c.localAddress), client: unmap(c.remoteAddress) }) + '\\n');
  c.pipe(c);
});
s.on('error', (e) => { process.stdout.write(JSON.stringify({ error: e.message }) + '\\n'); process.exit(1); });
s.listen({ port: Number(process.argv[1]), host: '::', ipv6Only: false }, () => process.stdout.write('{"ready":true}\\n'));
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
`;

// Opens one connection, prints the server's first line (or why there is none), then echoes
// each stdin line through the connection and prints the answer, until stdin closes.
const CLIENT = `
const net = require('net');
const [dst, port, timeoutMs, src] = process.argv.slice(1);
const say = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
let buf = '';
let greeted = false;
const c = net.connect({ host: dst, port: Number(port), ...(src ? { localAddress: src } : {}) });
const timer = setTimeout(() => { if (!greeted) { say({ connected: false, detail: 'no answer within ' + timeoutMs + ' ms' }); process.exit(0); } }, Number(timeoutMs));
c.on('data', (d) => {
  buf += d;
  let i;
  while ((i = buf.indexOf('\\n')) >= 0) {
    const line = buf.slice(0, i);
    buf = buf.slice(i + 1);
    if (!greeted) { greeted = true; clearTimeout(timer); say({ connected: true, hello: JSON.parse(line), localPort: c.localPort }); }
    else say({ echo: line });
  }
});
c.on('error', (e) => { if (!greeted) { say({ connected: false, detail: e.code || e.message }); process.exit(0); } else { say({ closed: e.code || e.message }); } });
c.on('close', () => { if (greeted) say({ closed: 'closed' }); });
require('readline').createInterface({ input: process.stdin }).on('line', (l) => c.write(l + '\\n'));
process.stdin.on('end', () => { c.destroy(); process.exit(0); });
`;

/** One connection's outcome. */
export interface ServiceConnection {
  connected: boolean;
  /** The backend's address as the connection arrived at it (after DNAT). */
  backend?: string;
  /** The client's address as the backend saw it. */
  client?: string;
  /** Why it did not connect. */
  detail?: string;
}

class Proc {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly lines: string[] = [];
  private waiting: ((l: string | undefined) => void) | undefined;
  private ended = false;

  constructor(netns: string, script: string, args: string[], onExit: (p: Proc) => void) {
    this.child = spawn('nsenter', [`--net=/run/netns/${netns}`, '--', process.execPath, '-e', script, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr.resume();
    createInterface({ input: this.child.stdout }).on('line', (l) => {
      if (this.waiting) {
        const w = this.waiting;
        this.waiting = undefined;
        w(l);
      } else this.lines.push(l);
    });
    this.child.on('exit', () => {
      this.ended = true;
      onExit(this);
      if (this.waiting) {
        const w = this.waiting;
        this.waiting = undefined;
        w(undefined);
      }
    });
    this.child.on('error', () => undefined);
  }

  /** The next line of output, or undefined once the process has ended. */
  next(): Promise<string | undefined> {
    const l = this.lines.shift();
    if (l !== undefined) return Promise.resolve(l);
    if (this.ended) return Promise.resolve(undefined);
    return new Promise((resolve) => (this.waiting = resolve));
  }

  write(line: string): void {
    this.child.stdin.write(`${line}\n`);
  }

  close(): void {
    this.child.stdin.end();
    this.child.kill('SIGKILL');
  }
}

/** A connection kept open: send lines through it and read their echo. */
export class HeldConnection {
  constructor(private readonly proc: Proc, readonly result: ServiceConnection) {}

  /** Sends a line; resolves with its echo, or undefined when nothing came back in time. */
  async echo(line: string, timeoutMs = 1000): Promise<string | undefined> {
    this.proc.write(line);
    const answer = await Promise.race([this.proc.next(), new Promise<undefined>((r) => setTimeout(() => r(undefined), timeoutMs))]);
    if (answer === undefined) return undefined;
    const o = JSON.parse(answer) as { echo?: string };
    return o.echo;
  }

  close(): void {
    this.proc.close();
  }
}

/** Who-am-I servers on backend pods, and connections to service addresses from pods. */
export class ServiceProber {
  private readonly procs = new Set<Proc>();

  constructor(readonly state: SandboxState) {}

  private netnsOf(endpoint: string): string {
    if (endpoint.startsWith('ip:')) {
      const ip = endpoint.slice(3);
      if (!this.state.externals.includes(ip)) throw new TwinpathError('PROBE_UNKNOWN_ENDPOINT', `${ip} is not an outside address of sandbox "${this.state.name}"`);
      return this.state.outside;
    }
    const p = this.state.pods[endpoint];
    if (p === undefined) throw new TwinpathError('PROBE_UNKNOWN_ENDPOINT', `no pod ${endpoint} in sandbox "${this.state.name}"`);
    return p.netns;
  }

  private start(netns: string, script: string, args: string[]): Proc {
    const p = new Proc(netns, script, args, (x) => this.procs.delete(x));
    this.procs.add(p);
    return p;
  }

  /** Starts a who-am-I server on TCP `port` in each pod, and waits until all listen. */
  async serve(pods: string[], port: number): Promise<void> {
    await Promise.all(
      pods.map(async (pod) => {
        const p = this.start(this.netnsOf(pod), SERVER, [String(port)]);
        const first = await p.next();
        const o = first !== undefined ? (JSON.parse(first) as { ready?: boolean; error?: string }) : { error: 'exited' };
        if (o.ready !== true) throw new TwinpathError('SANDBOX_ERROR', `cannot serve TCP port ${port} in ${pod}: ${o.error ?? first}`);
      }),
    );
  }

  /** Opens a TCP connection from `from` (`namespace/pod`, or `ip:ADDR` of the outside) to
   * `address:port` and keeps it open. */
  async hold(from: string, address: string, port: number, opts: { timeoutMs?: number; src?: string } = {}): Promise<HeldConnection> {
    const p = this.start(this.netnsOf(from), CLIENT, [address, String(port), String(opts.timeoutMs ?? 1000), ...(opts.src !== undefined ? [opts.src] : [])]);
    const first = await p.next();
    const o = (first !== undefined ? JSON.parse(first) : { connected: false, detail: 'client exited' }) as {
      connected: boolean; detail?: string; hello?: { backend: string; client: string };
    };
    const result: ServiceConnection = o.connected
      ? { connected: true, backend: o.hello!.backend, client: o.hello!.client }
      : { connected: false, detail: o.detail ?? 'no answer' };
    return new HeldConnection(p, result);
  }

  /** Opens connections (all at once), notes who answered, and closes them. */
  async connect(from: string, address: string, port: number, count = 1, opts: { timeoutMs?: number; src?: string } = {}): Promise<ServiceConnection[]> {
    const held = await Promise.all(Array.from({ length: count }, () => this.hold(from, address, port, opts)));
    for (const h of held) h.close();
    return held.map((h) => h.result);
  }

  close(): void {
    for (const p of [...this.procs]) p.close();
    this.procs.clear();
  }
}

// Live probes: a probe file answered by real connections inside a sandbox, as the Kubernetes
// network policy conformance tests probe a cluster. One agent process runs in each namespace a
// probe touches (src/sandbox/agent.ts); servers listen first, then every probe runs at once,
// so a blocked probe costs one timeout however many there are.
//
// Endpoints: `namespace/pod` (the pod's namespace and addresses), `host` (the node namespace of
// the other endpoint's pod), `ip:ADDR` (the outside namespace, which must hold ADDR). The
// address family is IPv4 when both ends have one, else IPv6.

import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { isIP } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { TwinpathError } from '../errors.js';
import { family } from './layout.js';
import { openSandbox } from './sandbox.js';
import type { SandboxState } from './state.js';

export type LiveProtocol = 'TCP' | 'UDP' | 'SCTP';

export interface LiveProbeSpec {
  from: string;
  to: string;
  port: number;
  protocol: LiveProtocol;
}

export interface LiveProbeResult extends LiveProbeSpec {
  allowed: boolean;
  /** What happened: "TCP connection established", "no answer within 1000 ms", ... */
  detail: string;
  /** The addresses used, when both ends resolved. */
  src?: string;
  dst?: string;
}

export interface LiveProbeOptions {
  /** How long one probe waits for its answer; default 1000 ms. */
  timeoutMs?: number;
}

/** The compiled agent: dist/sandbox/agent.js, two levels below the package root from either
 * src/sandbox or dist/sandbox. TWINPATH_SANDBOX_AGENT overrides it. */
export function agentPath(): string {
  const o = process.env.TWINPATH_SANDBOX_AGENT;
  if (o !== undefined && o !== '') return o;
  return fileURLToPath(new URL('../../dist/sandbox/agent.js', import.meta.url));
}

// ---- agents --------------------------------------------------------------------------------

interface AgentAnswer {
  id: number;
  ok: boolean;
  allowed?: boolean;
  detail?: string;
  error?: string;
}

const running = new Set<ChildProcessWithoutNullStreams>();
let exitHook = false;

/** Agents die with this process even when nobody closes them. */
function killAllOnExit(): void {
  if (exitHook) return;
  exitHook = true;
  process.on('exit', () => {
    for (const c of running) c.kill('SIGKILL');
  });
}

class Agent {
  private readonly child: ChildProcessWithoutNullStreams;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (a: AgentAnswer) => void; reject: (e: Error) => void }>();
  private stderr = '';
  private exited: Error | undefined;

  constructor(readonly netns: string) {
    const path = agentPath();
    if (!existsSync(path)) {
      throw new TwinpathError('SANDBOX_ERROR', `the probe agent is not built (${path} is missing): run npm run build`);
    }
    killAllOnExit();
    this.child = spawn('nsenter', [`--net=/run/netns/${netns}`, '--', process.execPath, path], { stdio: ['pipe', 'pipe', 'pipe'] });
    running.add(this.child);
    this.child.stderr.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-2000);
    });
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      let a: AgentAnswer;
      try {
        a = JSON.parse(line) as AgentAnswer;
      } catch {
        return;
      }
      const p = this.pending.get(a.id);
      if (p !== undefined) {
        this.pending.delete(a.id);
        p.resolve(a);
      }
    });
    const fail = (why: string): void => {
      running.delete(this.child);
      this.exited = new TwinpathError('SANDBOX_ERROR', `probe agent in ${netns} ${why}${this.stderr ? `: ${this.stderr.trim().split('\n').slice(-3).join('; ')}` : ''}`);
      for (const p of this.pending.values()) p.reject(this.exited);
      this.pending.clear();
    };
    this.child.on('error', (e) => fail(`could not start (${e.message})`));
    this.child.on('exit', (code, signal) => fail(`exited (${signal ?? `status ${code}`})`));
  }

  request(body: Record<string, unknown>): Promise<AgentAnswer> {
    if (this.exited) return Promise.reject(this.exited);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.stdin.write(JSON.stringify({ id, ...body }) + '\n');
    });
  }

  close(): void {
    running.delete(this.child);
    this.child.stdin.end();
    this.child.kill('SIGKILL');
  }
}

// ---- endpoints ----------------------------------------------------------------------------

interface Resolved {
  netns: string;
  addresses: string[];
}

function podOf(state: SandboxState, key: string, where: string) {
  const p = state.pods[key];
  if (p === undefined) throw new TwinpathError('PROBE_UNKNOWN_ENDPOINT', `no pod ${key} in sandbox "${state.name}"`, { path: where });
  return p;
}

function resolve(state: SandboxState, ep: string, other: string, where: string): Resolved {
  if (ep.startsWith('ip:')) {
    const ip = ep.slice(3);
    if (isIP(ip) === 0) throw new TwinpathError('PROBE_UNKNOWN_ENDPOINT', `"${ip}" is not an IP address`, { path: where });
    if (!state.externals.includes(ip)) {
      throw new TwinpathError('PROBE_UNKNOWN_ENDPOINT', `${ip} is not an outside address of sandbox "${state.name}" (it has ${state.externals.join(', ')}; add more with sandbox up --external)`, { path: where });
    }
    return { netns: state.outside, addresses: [ip] };
  }
  if (ep === 'host') {
    if (other === 'host' || other.startsWith('ip:')) {
      throw new TwinpathError('PROBE_UNKNOWN_ENDPOINT', '"host" names the node of the other endpoint, which must be a pod', { path: where });
    }
    const pod = podOf(state, other, where);
    const node = state.nodes.find((n) => n.name === pod.node)!;
    return { netns: node.netns, addresses: node.addresses };
  }
  if (!/^[^/\s]+\/[^/\s]+$/.test(ep)) {
    throw new TwinpathError('PROBE_UNKNOWN_ENDPOINT', `"${ep}" is not an endpoint: use namespace/pod, host or ip:ADDRESS`, { path: where });
  }
  const pod = podOf(state, ep, where);
  return { netns: pod.netns, addresses: pod.ips };
}

function pickPair(from: Resolved, to: Resolved): { src: string; dst: string } | undefined {
  for (const f of [4, 6] as const) {
    const src = from.addresses.find((a) => family(a) === f);
    const dst = to.addresses.find((a) => family(a) === f);
    if (src !== undefined && dst !== undefined) return { src, dst };
  }
  return undefined;
}

function checkProbe(p: LiveProbeSpec, where: string): void {
  if (typeof p !== 'object' || p === null || typeof p.from !== 'string' || typeof p.to !== 'string') {
    throw new TwinpathError('PROBE_BAD_FILE', 'a probe needs "from" and "to" strings', { path: where });
  }
  if (!Number.isInteger(p.port) || p.port < 1 || p.port > 65535) {
    throw new TwinpathError('PROBE_BAD_FILE', `port ${String(p.port)} is not 1-65535`, { path: `${where}.port` });
  }
  if (!['TCP', 'UDP', 'SCTP'].includes(p.protocol)) {
    throw new TwinpathError('PROBE_BAD_FILE', `protocol ${String(p.protocol)} is not TCP, UDP or SCTP`, { path: `${where}.protocol` });
  }
}

// ---- probing ------------------------------------------------------------------------------

/** Agents kept open over several batches of probes (servers stay up between batches). */
export class LiveProber {
  private readonly agents = new Map<string, Agent>();
  private readonly listening = new Set<string>();
  readonly state: SandboxState;

  constructor(sandbox: SandboxState | string) {
    this.state = typeof sandbox === 'string' ? openSandbox(sandbox) : sandbox;
  }

  private agent(netns: string): Agent {
    let a = this.agents.get(netns);
    if (a === undefined) {
      a = new Agent(netns);
      this.agents.set(netns, a);
    }
    return a;
  }

  async probe(probes: LiveProbeSpec[], opts: LiveProbeOptions = {}): Promise<LiveProbeResult[]> {
    const timeoutMs = opts.timeoutMs ?? 1000;
    // Resolve everything first: a bad endpoint fails the batch before any traffic.
    const plan = probes.map((p, i) => {
      const where = `probes[${i}]`;
      checkProbe(p, where);
      const from = resolve(this.state, p.from, p.to, `${where}.from`);
      const to = resolve(this.state, p.to, p.from, `${where}.to`);
      return { p, from, to, pair: pickPair(from, to) };
    });
    const listens: Promise<void>[] = [];
    for (const { p, to, pair } of plan) {
      if (pair === undefined) continue;
      const key = `${to.netns} ${p.protocol} ${p.port}`;
      if (this.listening.has(key)) continue;
      this.listening.add(key);
      listens.push(
        this.agent(to.netns)
          .request({ op: 'listen', protocol: p.protocol, port: p.port })
          .then((a) => {
            if (!a.ok) throw new TwinpathError('SANDBOX_ERROR', `cannot serve ${p.protocol} port ${p.port} in ${to.netns}: ${a.error}`);
          }),
      );
    }
    for (const { from, pair } of plan) if (pair !== undefined) this.agent(from.netns);
    await Promise.all(listens);
    return Promise.all(
      plan.map(async ({ p, from, pair }): Promise<LiveProbeResult> => {
        const base = { from: p.from, to: p.to, port: p.port, protocol: p.protocol };
        if (pair === undefined) return { ...base, allowed: false, detail: 'the two endpoints have no address family in common' };
        const a = await this.agent(from.netns).request({ op: 'connect', protocol: p.protocol, dst: pair.dst, port: p.port, src: pair.src, timeoutMs });
        if (!a.ok) throw new TwinpathError('SANDBOX_ERROR', `probe ${p.from} -> ${p.to} ${p.protocol}/${p.port}: ${a.error}`);
        return { ...base, allowed: a.allowed === true, detail: a.detail ?? '', src: pair.src, dst: pair.dst };
      }),
    );
  }

  close(): void {
    for (const a of this.agents.values()) a.close();
    this.agents.clear();
    this.listening.clear();
  }
}

/** Runs probes in a sandbox (its state, or its name) and returns them with their verdicts, in order. */
export async function liveProbe(sandbox: SandboxState | string, probes: LiveProbeSpec[], opts: LiveProbeOptions = {}): Promise<LiveProbeResult[]> {
  const prober = new LiveProber(sandbox);
  try {
    return await prober.probe(probes, opts);
  } finally {
    prober.close();
  }
}

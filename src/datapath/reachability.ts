// The reachability truth table: every pod (and on request the node of the other pod, and
// addresses outside the cluster) against every other, one matrix per port and protocol, each
// cell a probe run through the datapath programs (src/datapath/probe.ts). Printed as the
// upstream NetworkPolicy conformance tests print theirs: rows are clients, columns servers,
// `.` allowed, `X` denied. A cell that names no connection the datapath could see (host to
// host, or two addresses outside the cluster) or that cannot be formed (no shared address
// family) is `-` in text and null in JSON.

import type { EngineKind } from '../engine/engine.js';
import { TwinpathError, isTwinpathError } from '../errors.js';
import type { CompiledPolicy } from '../policy/model.js';
import { parseIp } from '../pcap/build.js';
import { PROBE_PROTOCOLS, Prober, type ProbePlan, type ProbeProtocol, type ProbeResult } from './probe.js';

export interface ReachabilityOptions {
  compiled: CompiledPolicy;
  engine: EngineKind;
  ports: number[];
  protocols: ProbeProtocol[];
  /** Add `host` as a row and a column: the node of the pod on the other side. */
  includeHost?: boolean;
  /** Addresses outside the cluster, as rows and columns `ip:ADDRESS`. */
  external?: string[];
}

export interface ReachabilityMatrix {
  port: number;
  protocol: ProbeProtocol;
  /** cells[from][to], indexes into Reachability.endpoints; null where no probe applies. */
  cells: Array<Array<boolean | null>>;
  /** Verdict details of the denied cells, for a reader who wants the why. */
  denied: Array<Pick<ProbeResult, 'from' | 'to' | 'dropReason' | 'dropReasonCode' | 'deniedAt' | 'ruleId' | 'rule' | 'policy'>>;
  allowedCount: number;
  deniedCount: number;
}

export interface Reachability {
  engine: EngineKind;
  /** Row and column names, in order: pods by namespace/name, then `host`, then `ip:` addresses. */
  endpoints: string[];
  matrices: ReachabilityMatrix[];
}

export async function reachability(opts: ReachabilityOptions): Promise<Reachability> {
  if (opts.ports.length === 0) throw new TwinpathError('USAGE', 'reachability needs at least one port');
  for (const p of opts.ports) {
    if (!Number.isInteger(p) || p < 1 || p > 65535) throw new TwinpathError('USAGE', `port ${p} is not an integer in 1..65535`);
  }
  for (const p of opts.protocols) {
    if (!PROBE_PROTOCOLS.includes(p)) throw new TwinpathError('USAGE', `protocol ${String(p)} is not one of ${PROBE_PROTOCOLS.join(', ')}`);
  }
  for (const ip of opts.external ?? []) {
    try {
      parseIp(ip);
    } catch {
      throw new TwinpathError('USAGE', `--external ${ip}: not an IPv4 or IPv6 address`);
    }
  }
  const endpoints = opts.compiled.endpoints.map((e) => `${e.namespace}/${e.pod}`);
  if (opts.includeHost) endpoints.push('host');
  for (const ip of opts.external ?? []) endpoints.push(`ip:${ip}`);

  const prober = await Prober.open(opts.compiled, opts.engine);
  try {
    // Plan every cell once (the path does not depend on port or protocol); a cell that
    // cannot be planned is not applicable. A bad external address is an error, not a cell.
    const plans = endpoints.map((from) => endpoints.map((to) => planCell(prober, from, to)));
    const matrices: ReachabilityMatrix[] = [];
    for (const protocol of opts.protocols) {
      for (const port of opts.ports) {
        const m: ReachabilityMatrix = { port, protocol, cells: [], denied: [], allowedCount: 0, deniedCount: 0 };
        for (const row of plans) {
          m.cells.push(row.map((plan) => {
            if (plan === undefined) return null;
            const r = prober.run({ ...plan, spec: { ...plan.spec, port, protocol } });
            if (r.allowed) {
              m.allowedCount++;
            } else {
              m.deniedCount++;
              m.denied.push(details(r));
            }
            return r.allowed;
          }));
        }
        matrices.push(m);
      }
    }
    return { engine: opts.engine, endpoints, matrices };
  } finally {
    prober.close();
  }
}

function planCell(prober: Prober, from: string, to: string): ProbePlan | undefined {
  try {
    return prober.plan({ from, to, port: 1, protocol: 'TCP' }, 0);
  } catch (e) {
    if (isTwinpathError(e) && e.code === 'PROBE_UNKNOWN_ENDPOINT') return undefined;
    throw e;
  }
}

function details(r: ProbeResult): ReachabilityMatrix['denied'][number] {
  const d: ReachabilityMatrix['denied'][number] = { from: r.from, to: r.to };
  if (r.dropReason !== undefined) d.dropReason = r.dropReason;
  if (r.dropReasonCode !== undefined) d.dropReasonCode = r.dropReasonCode;
  if (r.deniedAt !== undefined) d.deniedAt = r.deniedAt;
  if (r.ruleId !== undefined) d.ruleId = r.ruleId;
  if (r.rule !== undefined) d.rule = r.rule;
  if (r.policy !== undefined) d.policy = r.policy;
  return d;
}

/** The matrices as text: a title line per matrix, then the table with aligned columns. */
export function formatReachability(r: Reachability): string {
  const out: string[] = [];
  const width = Math.max(1, ...r.endpoints.map((e) => e.length));
  for (const m of r.matrices) {
    const total = m.allowedCount + m.deniedCount;
    out.push(`${m.protocol}/${m.port} (${r.engine} engine): ${m.allowedCount} of ${total} allowed`);
    out.push(['-'.padEnd(width), ...r.endpoints.map((e) => e.padEnd(width))].join('  ').trimEnd());
    m.cells.forEach((row, i) => {
      const marks = row.map((c) => (c === null ? '-' : c ? '.' : 'X').padEnd(width));
      out.push([r.endpoints[i]!.padEnd(width), ...marks].join('  ').trimEnd());
    });
    out.push('');
  }
  return out.join('\n');
}

// `bench scaling`: per-packet cost of finding a service, as the number of services grows, in the
// two designs side by side, on the same engine:
//   maps      the eBPF load balancer (bpf/test/lb/lb.bpf.o, bpf/lib/lb.h): a hash lookup of the
//             frontend, conntrack, Maglev slot and backend lookups, DNAT. Cost independent of N.
//   iptables  kube-proxy's KUBE-SERVICES chain modelled by bpf/bench/linear.bpf.o: one rule per
//             service, walked in order until the first match. Cost proportional to the rule's
//             position.
// Each is timed on packets to the LAST service (the iptables worst case) and to services drawn
// at random (its average case, about half the chain). Before timing, both programs must give the
// right answer for a sample of services and for a packet that matches none; a wrong verdict
// stops the benchmark (BENCH_ERROR), since timing a broken path would mean nothing.
//
// The clusters are built by cluster.ts and compiled by src/lb like any other. Maglev tables are
// small here (7 slots for 3 backends): selection costs one hash and one array lookup whatever the
// table size, 50,000 services x 16,381 slots would not fit in memory, and every slot is a map
// update to make before the first packet (a system call each in the kernel).

import { fileURLToPath } from 'node:url';
import { TwinpathError, isTwinpathError } from '../errors.js';
import { EBPF_DEFAULT_BUDGET } from '../vm/constants.generated.js';
import type { EngineKind } from '../engine/engine.js';
import { compileServices } from '../lb/compile.js';
import { LB_MAPS, lbGlobals, lbMapEntries } from '../lb/maps.js';
import type { LbModel } from '../lb/model.js';
import { MAX_BENCH_SERVICES, scalingCluster } from './cluster.js';
import { LINEAR, TC_ACT_OK, TC_ACT_SHOT, encodeLinearRule, kubeServicesRules, u32le, type LinearRule } from './linear.js';
import { destinationOf, firstPacket } from './packets.js';
import { mulberry32 } from '../util/prng.js';
import { openTarget, type BenchTarget } from './target.js';

export const LB_OBJECT: string = fileURLToPath(new URL('../../bpf/test/lb/lb.bpf.o', import.meta.url));
export const LINEAR_OBJECT: string = fileURLToPath(new URL('../../bpf/bench/linear.bpf.o', import.meta.url));
const LB_PROGRAM = 'lb_test';
/** lb.h's results, as lb_test leaves them in cb[1]. */
const LB_NONE = 0;
const LB_XLATED = 1;

export const DEFAULT_SIZES = [10, 100, 1000, 10000, 50000];
export const BENCH_MAGLEV_TABLE_SIZE = 7;
/** Untimed rounds first, at least this many and for at least this long: V8 compiles the VM's
 * hot code in tiers (on background threads whose work would otherwise land in the first timed
 * rounds), the kernel warms its caches. */
const WARMUP_ROUNDS = 2;
const WARMUP_MS = 300;
const WARMUP_MAX_ROUNDS = 50;

export interface ScalingOptions {
  sizes: number[];
  engine: EngineKind;
  /** Packets per round and series. */
  packets: number;
  /** Timed rounds per series (after the warm-up rounds); the median is reported. */
  rounds: number;
  backends?: number;
  seed?: number;
  /** Called with each size's result as soon as it is measured. */
  onPoint?: (p: ScalingPoint) => void;
  lbObject?: string;
  linearObject?: string;
}

/** ns per packet, median of rounds. */
export interface PathCost {
  last: number;
  random: number;
}

export interface ScalingPoint {
  services: number;
  /** Rules in the iptables model (one per service port). */
  rules: number;
  maps: PathCost;
  /** null when the walk cannot run on this engine (`skipped` says why). */
  iptables: PathCost | null;
  skipped?: string;
  /** Services whose verdicts were checked in both paths before timing (plus one non-service). */
  checked: number;
}

export interface ScalingResult {
  engine: EngineKind;
  packets: number;
  rounds: number;
  backends: number;
  maglevTableSize: number;
  points: ScalingPoint[];
}

export function checkScalingOptions(o: Pick<ScalingOptions, 'sizes' | 'packets' | 'rounds'>): void {
  if (o.sizes.length === 0) throw new TwinpathError('USAGE', '--services: give at least one count');
  for (const n of o.sizes) {
    if (!Number.isInteger(n) || n < 1 || n > MAX_BENCH_SERVICES) throw new TwinpathError('USAGE', `--services: ${n} is not a count in 1..${MAX_BENCH_SERVICES}`);
  }
  if (new Set(o.sizes).size !== o.sizes.length) throw new TwinpathError('USAGE', '--services: a count is listed twice');
  if (!Number.isInteger(o.packets) || o.packets < 1 || o.packets > 100_000) throw new TwinpathError('USAGE', `--packets: ${o.packets} is not a count in 1..100000`);
  if (!Number.isInteger(o.rounds) || o.rounds < 1 || o.rounds > 101) throw new TwinpathError('USAGE', `--rounds: ${o.rounds} is not a count in 1..101`);
}

export async function benchScaling(opts: ScalingOptions): Promise<ScalingResult> {
  checkScalingOptions(opts);
  const sizes = [...opts.sizes].sort((a, b) => a - b);
  const backends = opts.backends ?? 3;
  const result: ScalingResult = { engine: opts.engine, packets: opts.packets, rounds: opts.rounds, backends, maglevTableSize: BENCH_MAGLEV_TABLE_SIZE, points: [] };
  for (const n of sizes) {
    const p = await measureSize(n, backends, opts);
    result.points.push(p);
    opts.onPoint?.(p);
  }
  return result;
}

/** Both paths for one cluster of n services: loaded, checked, then timed. */
export async function measureSize(n: number, backends: number, opts: ScalingOptions): Promise<ScalingPoint> {
  const model = compileServices(scalingCluster(n, backends), { maglevTableSize: BENCH_MAGLEV_TABLE_SIZE });
  const rules = kubeServicesRules(model);
  const targets = await openPaths(opts.engine, model, rules, opts);
  try {
    const skipped = linearSkipped(targets.linear, rules);
    const checked = verifyPaths(targets, model, rules, opts.seed ?? 1, skipped === undefined);
    const samples: Record<'mapsLast' | 'mapsRandom' | 'linLast' | 'linRandom', number[]> = { mapsLast: [], mapsRandom: [], linLast: [], linRandom: [] };
    // Rounds interleave the four series, so that a slow moment of a shared machine is spread
    // over all of them rather than landing on one. Warm-up rounds are numbered after the timed
    // ones, so that their flows are new ones too.
    const round = (r: number, keep: boolean) => {
      const traffic = roundTraffic(rules, opts.packets, r, opts.seed ?? 1);
      const time = (k: keyof typeof samples, t: BenchTarget, program: string, packets: Uint8Array[]) => {
        const ns = t.time(program, packets);
        if (keep) samples[k].push(ns);
      };
      time('mapsLast', targets.lb, LB_PROGRAM, traffic.last.maps);
      time('mapsRandom', targets.lb, LB_PROGRAM, traffic.random.maps);
      if (skipped !== undefined) return;
      time('linLast', targets.linear, LINEAR.program, traffic.last.linear);
      time('linRandom', targets.linear, LINEAR.program, traffic.random.linear);
    };
    const started = Date.now();
    for (let w = 0; w < WARMUP_MAX_ROUNDS && (w < WARMUP_ROUNDS || Date.now() - started < WARMUP_MS); w++) round(opts.rounds + w, false);
    for (let r = 0; r < opts.rounds; r++) round(r, true);
    return {
      services: n,
      rules: rules.length,
      maps: { last: median(samples.mapsLast), random: median(samples.mapsRandom) },
      iptables: skipped === undefined ? { last: median(samples.linLast), random: median(samples.linRandom) } : null,
      ...(skipped !== undefined ? { skipped } : {}),
      checked,
    };
  } finally {
    targets.lb.close();
    targets.linear.close();
  }
}

interface Paths {
  lb: BenchTarget;
  linear: BenchTarget;
}

/** Opens both objects with maps big enough for the model and fills them. */
export async function openPaths(engine: EngineKind, model: LbModel, rules: LinearRule[], opts: Pick<ScalingOptions, 'lbObject' | 'linearObject'> = {}): Promise<Paths> {
  if (rules.length > LINEAR.max) throw new TwinpathError('USAGE', `${rules.length} rules exceed the iptables model's ${LINEAR.max}`);
  const entries = lbMapEntries(model);
  const rows = model.services.reduce((mx, s) => Math.max(mx, s.id + 1), 0);
  const minEntries: Record<string, number> = {};
  for (const [name, list] of Object.entries(entries)) minEntries[name] = Math.max(1, list.length);
  minEntries[LB_MAPS.maglev] = Math.max(1, rows * model.maglevTableSize);
  const lb = await openTarget(engine, opts.lbObject ?? LB_OBJECT, { globals: lbGlobals(model), minEntries });
  let linear: BenchTarget | undefined;
  try {
    for (const [name, list] of Object.entries(entries)) for (const [k, v] of list) lb.update(name, k, v);
    linear = await openTarget(engine, opts.linearObject ?? LINEAR_OBJECT, { globals: { [LINEAR.count]: u32le(rules.length) } });
    rules.forEach((r, i) => linear!.update(LINEAR.rules, u32le(i), encodeLinearRule(r)));
    return { lb, linear };
  } catch (e) {
    lb.close();
    linear?.close();
    throw e;
  }
}

/**
 * Why the iptables model cannot be timed here, if it cannot: the VM stops a run after
 * EBPF_DEFAULT_BUDGET instructions (the kernel's bpf_loop has no such limit below 8M
 * iterations), and a walk to the last of tens of thousands of rules takes more.
 */
export function linearSkipped(linear: BenchTarget, rules: LinearRule[]): string | undefined {
  try {
    linear.run(LINEAR.program, firstPacket(CHECK_FLOW_BASE - 1, rules[rules.length - 1]!));
    return undefined;
  } catch (e) {
    if (linear.engine === 'vm' && isTwinpathError(e) && e.code === 'VM_BUDGET_EXHAUSTED') {
      return `walking ${rules.length} rules takes more than the VM's budget of ${EBPF_DEFAULT_BUDGET.toLocaleString('en-US')} instructions per run`;
    }
    throw e;
  }
}

/** Flows used by the checks: above every measured one ((rounds + warm-up rounds) x 4 series x
 * packets), so no check leaves conntrack behind that a measured packet would find. */
const CHECK_FLOW_BASE = 100_000_000;

/**
 * The verdicts both paths must give: for the first, middle and last services and a few random
 * ones, the iptables model accepts at that service's rule and the load balancer translates to
 * one of the service's backends (the packet leaves addressed to it); for the last service's
 * address on a port it does not serve, the chain drops (its default) after every rule and the
 * load balancer leaves the packet alone. `linear: false` checks the load balancer only (the
 * iptables model cannot run here). Returns how many services were checked.
 */
export function verifyPaths(paths: Paths, model: LbModel, rules: LinearRule[], seed: number, linear = true): number {
  const rnd = mulberry32(seed ^ 0x5a5a);
  const picks = [...new Set([0, rules.length >> 1, rules.length - 1, ...Array.from({ length: 5 }, () => Math.floor(rnd() * rules.length))])];
  const frontends = new Map(model.frontends.map((f) => [`${f.address}|${f.port}|${f.protocol === 'UDP' ? 17 : f.protocol === 'SCTP' ? 132 : 6}`, f]));
  const services = new Map(model.services.map((s) => [s.id, s]));
  const backends = new Map(model.backends.map((b) => [b.id, b]));
  let flow = CHECK_FLOW_BASE;
  const fail = (what: string) => {
    throw new TwinpathError('BENCH_ERROR', `${paths.lb.engine}, ${rules.length} services: ${what}`);
  };
  for (const i of picks) {
    const rule = rules[i]!;
    const name = `service ${i} (${rule.address}:${rule.port}/${rule.proto})`;
    if (linear) {
      const lin = paths.linear.run(LINEAR.program, firstPacket(flow++, rule));
      if (lin.retval !== TC_ACT_OK || lin.cb[0] !== i) fail(`iptables model: ${name} gave verdict ${lin.retval} at rule ${lin.cb[0]}, expected accept at rule ${i}`);
    }
    const out = paths.lb.run(LB_PROGRAM, firstPacket(flow++, rule));
    const fe = frontends.get(`${rule.address}|${rule.port}|${rule.proto}`);
    const svc = fe ? services.get(fe.serviceId) : undefined;
    if (!svc) return fail(`${name} is not a frontend of the model`);
    if (out.cb[1] !== LB_XLATED || !svc.backendIds.includes(out.cb[2]!)) fail(`maps: ${name} gave result ${out.cb[1] | 0} with backend ${out.cb[2]}, expected a translation to one of ${svc.backendIds.join(', ')}`);
    const be = backends.get(out.cb[2]!)!;
    const dst = destinationOf(out.packet);
    if (dst.address !== be.address || dst.port !== be.port) fail(`maps: ${name} left addressed to ${dst.address}:${dst.port}, not its backend ${be.address}:${be.port}`);
  }
  const last = rules[rules.length - 1]!;
  const stray: LinearRule = { ...last, port: last.port === 1 ? 2 : last.port - 1 };
  if (linear) {
    const lin = paths.linear.run(LINEAR.program, firstPacket(flow++, stray));
    if (lin.retval !== TC_ACT_SHOT || lin.cb[0] !== rules.length) fail(`iptables model: ${stray.address}:${stray.port} (no service) gave verdict ${lin.retval} at rule ${lin.cb[0]}, expected the chain's drop after ${rules.length} rules`);
  }
  const out = paths.lb.run(LB_PROGRAM, firstPacket(flow++, stray));
  if (out.cb[1] !== LB_NONE || destinationOf(out.packet).port !== stray.port) fail(`maps: ${stray.address}:${stray.port} (no service) gave result ${out.cb[1] | 0}, expected no translation`);
  return picks.length;
}

interface PathPackets {
  maps: Uint8Array[];
  linear: Uint8Array[];
}

/**
 * Round r's packets: to the last service, and to services drawn at random (the same draws for
 * both paths), each packet the first of its own flow. A pure function of its arguments: flows
 * r*4*packets and up, draws from a generator seeded by seed and r.
 */
export function roundTraffic(rules: LinearRule[], packets: number, r: number, seed: number): { last: PathPackets; random: PathPackets } {
  const rnd = mulberry32(Math.imul(seed, 0x9e3779b1) ^ r);
  const last = rules[rules.length - 1]!;
  const picks = Array.from({ length: packets }, () => rules[Math.floor(rnd() * rules.length)]!);
  let flow = r * 4 * packets;
  const to = (list: LinearRule[]) => list.map((rule) => firstPacket(flow++, rule));
  const lasts = Array.from({ length: packets }, () => last);
  return { last: { maps: to(lasts), linear: to(lasts) }, random: { maps: to(picks), linear: to(picks) } };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

// What the explanation of one flow runs, and the record of it: a flow spec (a connection's first
// packet, or packet N of a capture) goes through the replay's Replayer (src/datapath/replay.ts),
// which decides the path exactly as `twinpath replay` does (the sending pod's cil_from_container
// with its service translation, the receiving pod's cil_to_container, a node's cil_from_netdev
// for traffic from outside to a NodePort or externalIP), skips duplicates and does not run the
// answers to a dropped opening. While the packets to be explained run, every program run is
// recorded with its flow event and the node's conntrack just before and just after.
//
// The record is taken at the engine objects (the run() of each node's object is wrapped while a
// recorded packet is in flight), not by running the packet a second time beside the replay: what
// is explained is what the replay did.
//
// Running happens per Datapath, not once: a suggested policy change is verified by compiling the
// changed inputs and running the same spec again through a fresh replay.

import { TwinpathError, type ErrorLocation } from '../errors.js';
import type { EngineKind, EngineObject, RunInput, RunOutput, RunTrace } from '../engine/engine.js';
import type { Datapath, DatapathProgram } from '../datapath/datapath.js';
import { flowEvents, type FlowEvent } from '../datapath/flow.js';
import { PROG_FROM_ENDPOINT, PROG_FROM_NETDEV, PROG_TO_ENDPOINT, type ConntrackEntry, type DatapathMaps } from '../datapath/maps.js';
import { connectionPackets, EPHEMERAL_FIRST } from '../datapath/packets.js';
import { Prober, type ProbeProtocol, type ProbeSpec } from '../datapath/probe.js';
import { Replayer, type PacketOutcome, type PacketResult } from '../datapath/replay.js';
import type { Cluster } from '../policy/ast.js';
import type { CompiledPolicy, EndpointInfo } from '../policy/model.js';
import { LINKTYPE_ETHERNET } from '../pcap/linktype.js';
import { formatIp } from '../datapath/flow.js';
import { resolveServiceTarget, type ServiceTarget } from './target.js';

/** A connection's first packet. Endpoints as probe takes them (`ns/pod`, `host`, `ip:ADDR`), and
 * as a destination also `svc:NAMESPACE/NAME[:PORT]` (the service's ClusterIP; PORT a service
 * port's name or number); with a service, `port` and `protocol` may be left to the service port. */
export interface ConnectionFlowSpec extends Omit<ProbeSpec, 'port' | 'protocol'> {
  kind: 'connection';
  port?: number;
  protocol?: ProbeProtocol;
}

/** Packet `index` (0-based, as `run --json` counts; the replay prints it as #index+1) of a
 * capture already read into Ethernet frames. */
export interface CaptureFlowSpec {
  kind: 'capture';
  file: string;
  /** Every packet of the capture as an Ethernet frame, or null where it has none (skipped link type). */
  frames: Array<Uint8Array | null>;
  index: number;
  /** Each packet's capture time, parallel to `frames`: the programs' clock, duplicate windows and
   * how long a dropped opening is remembered follow it. Without it, packets are 1 ms apart. */
  timestampsNs?: bigint[];
}

export type FlowSpec = ConnectionFlowSpec | CaptureFlowSpec;

/** One endpoint program a packet passes through. */
export interface Step {
  node: string;
  program: DatapathProgram;
  ifindex: number;
  endpoint: EndpointInfo;
}

/** One program run of a recorded packet. `endpoint` is the endpoint whose policy the program
 * applied; a cil_from_netdev run for no local endpoint (a NodePort whose backend is on another
 * node) has none. */
export interface HopRun extends Omit<Step, 'endpoint'> {
  endpoint?: EndpointInfo;
  verdict: 'FORWARDED' | 'DROPPED';
  /** The decision's flow event (the run's last). */
  event: FlowEvent;
  ctBefore: ConntrackEntry[];
  ctAfter: ConntrackEntry[];
  /** With tracing: the instructions the run executed. */
  trace?: RunTrace;
}

/** A program run for an endpoint: the runs an explanation analyses. */
export interface StepRun extends HopRun {
  endpoint: EndpointInfo;
}

/** One packet as the replay handled it, with its program runs when it ran. */
export interface PacketRuns {
  /** From 1, as the replay numbers packets. */
  packet: number;
  /** The frame as captured (or built, for a connection), null when it had none. */
  input: Uint8Array | null;
  result: PacketResult;
  hops: HopRun[];
  runs: StepRun[];
}

/** What became of the packets before the explained one. */
export type OutcomeCounts = Record<PacketOutcome, number>;

export interface FlowRuns {
  /** The explained packet. */
  target: PacketRuns;
  /** The packet whose program runs decided the explained one: itself when it ran, else (a
   * consequence, a duplicate) the earlier packet it follows. Undefined for an unhandled or skipped
   * packet. */
  decider?: PacketRuns;
  /** Captures: the outcomes of the packets before. */
  before?: OutcomeCounts;
  /** A connection to a service given as `svc:`: what it resolved to. */
  service?: ServiceTarget;
  /** The connection as it ran (for a connection spec): endpoints, port and protocol resolved. */
  probe?: ProbeSpec;
}

export interface RunOptions {
  compiled: CompiledPolicy;
  cluster: Cluster;
  engine: EngineKind;
  object?: string;
  /** Trace the program runs of the recorded packets (VM only). */
  trace?: { limit?: number };
}

/** Where the fields of a connection spec came from, for error locations (the CLI's options). */
const OPTION: Record<keyof ProbeSpec, ErrorLocation> = {
  from: { path: '--from' },
  to: { path: '--to' },
  port: { path: '--port' },
  protocol: { path: '--protocol' },
  http: { path: '--http-method' },
};

/** A connection's packet runs on the Datapath's clock origin. */
const CONNECTION_TIME_NS = 1_000_000_000n;
/** Capture packets without timestamps are this far apart. */
const DEFAULT_GAP_NS = 1_000_000n;

/** Opens a replay for the spec's datapath (the cluster's services load balanced). */
export async function openReplay(o: RunOptions): Promise<Replayer> {
  return Replayer.open({ compiled: o.compiled, engine: o.engine, cluster: o.cluster, ...(o.object === undefined ? {} : { object: o.object }) });
}

/** Runs a spec on a fresh replay and records the explained packet (and the one that decided it). */
export async function runSpec(replayer: Replayer, spec: FlowSpec, o: RunOptions): Promise<FlowRuns> {
  if (spec.kind === 'connection') return runConnection(replayer, spec, o);
  return runCapture(replayer, spec, o);
}

// ---- connections ----

function runConnection(replayer: Replayer, spec: ConnectionFlowSpec, o: RunOptions): FlowRuns {
  const dp = replayer.datapath;
  const resolved = resolveConnection(dp, spec);
  const packet = connectionPackets({ protocol: resolved.protocol, client: resolved.client, server: resolved.server, clientPort: EPHEMERAL_FIRST, serverPort: resolved.port }).request;
  const rec = new Recorder(dp, o.trace);
  try {
    const target = rec.record(1, packet, () => replayer.packet({ index: 0, linkType: LINKTYPE_ETHERNET, data: packet, timestampNs: CONNECTION_TIME_NS }));
    const out: FlowRuns = { target, probe: resolved.probe };
    if (target.result.outcome === 'forwarded' || target.result.outcome === 'dropped') out.decider = target;
    if (resolved.service) out.service = resolved.service;
    return out;
  } finally {
    rec.uninstall();
  }
}

interface ResolvedConnection {
  client: string;
  server: string;
  port: number;
  protocol: ProbeProtocol;
  probe: ProbeSpec;
  service?: ServiceTarget;
}

/** The connection's addresses: as probe resolves them, with `svc:` replaced by the ClusterIP, and
 * a client outside the pods allowed when the destination is a frontend some node offers (a
 * NodePort or externalIP reached from outside, which arrives through cil_from_netdev). */
export function resolveConnection(dp: Datapath, spec: ConnectionFlowSpec): ResolvedConnection {
  let to = spec.to;
  let port = spec.port;
  let protocol = spec.protocol;
  let service: ServiceTarget | undefined;
  if (to.startsWith('svc:')) {
    service = resolveServiceTarget(dp, spec, OPTION);
    to = `ip:${service.clusterIP}`;
    port = service.port;
    protocol = service.protocol;
  }
  if (port === undefined) throw new TwinpathError('USAGE', 'the flow needs a destination port (--port)', OPTION.port);
  if (protocol === undefined) throw new TwinpathError('USAGE', 'the flow needs a protocol (--protocol)', OPTION.protocol);
  const probe: ProbeSpec = { from: spec.from, to, port, protocol, ...(spec.http ? { http: spec.http } : {}) };
  let p;
  try {
    p = new Prober(dp).plan({ from: spec.from, to, port, protocol }, 0, (_i, field) => OPTION[field]);
  } catch (e) {
    const outside = frontendFromOutside(dp, spec.from, to, port, protocol);
    if (outside) return { ...outside, port, protocol, probe, ...(service ? { service } : {}) };
    // The prober numbers probes; there is only one flow here.
    if (e instanceof TwinpathError) throw new TwinpathError(e.code, e.detail.replace(/^probe 0: /, ''), e.location, { cause: e });
    throw e;
  }
  return { client: p.client, server: p.server, port, protocol, probe, ...(service ? { service } : {}) };
}

function frontendFromOutside(dp: Datapath, from: string, to: string, port: number, protocol: ProbeProtocol): { client: string; server: string } | undefined {
  if (!from.startsWith('ip:') || !to.startsWith('ip:') || !dp.servicesEnabled()) return undefined;
  const client = from.slice(3);
  const server = to.slice(3);
  if (client.includes(':') !== server.includes(':')) return undefined;
  if (dp.compiled.endpoints.some((e) => e.ips.includes(client))) return undefined;
  return dp.nodes().some((n) => dp.frontend(n, server, port, protocol) !== undefined) ? { client, server } : undefined;
}

// ---- captures ----

async function runCapture(replayer: Replayer, spec: CaptureFlowSpec, o: RunOptions): Promise<FlowRuns> {
  const where: ErrorLocation = { file: spec.file, path: '--packet' };
  const n = spec.frames.length;
  if (!Number.isInteger(spec.index) || spec.index < 0 || spec.index >= n) {
    throw new TwinpathError('USAGE', `packet ${spec.index} is out of range: the capture has ${n} packet${n === 1 ? '' : 's'} (0..${n - 1})`, where);
  }
  const results: Array<{ outcome: PacketOutcome; related?: number }> = [];
  const target = replayCapture(replayer, spec, o, new Set([spec.index + 1]), results).get(spec.index + 1)!;
  const before = countOutcomes(results.slice(0, spec.index));
  const out: FlowRuns = { target, before };
  const deciding = decidingPacket(results, spec.index + 1);
  if (deciding === spec.index + 1) out.decider = target;
  else if (deciding !== undefined) {
    // The packet that decided this one ran earlier, unrecorded: replay the capture again on a
    // fresh datapath, recording it (the replay is deterministic, so it runs as it did).
    const again = await openReplay(o);
    try {
      out.decider = replayCapture(again, { ...spec, index: deciding - 1 }, o, new Set([deciding]), []).get(deciding)!;
    } finally {
      again.close();
    }
  }
  return out;
}

/** The packet whose program runs decided packet `n`: itself when it ran; for a consequence or a
 * duplicate, the packet it follows (followed further while that one did not run either). */
export function decidingPacket(results: Array<{ outcome: PacketOutcome; related?: number }>, n: number): number | undefined {
  for (let k = n, hops = 0; hops < results.length; hops++) {
    const r = results[k - 1];
    if (!r) return undefined;
    if (r.outcome === 'forwarded' || r.outcome === 'dropped') return k;
    if ((r.outcome !== 'consequence' && r.outcome !== 'duplicate') || r.related === undefined) return undefined;
    k = r.related;
  }
  return undefined;
}

function countOutcomes(rs: Array<{ outcome: PacketOutcome }>): OutcomeCounts {
  const c: OutcomeCounts = { forwarded: 0, dropped: 0, consequence: 0, duplicate: 0, unhandled: 0, skipped: 0 };
  for (const r of rs) c[r.outcome]++;
  return c;
}

/** Replays packets 0..spec.index through `replayer`, recording the packets numbered in `record`;
 * each packet's outcome (and the packet it follows) is appended to `results`. */
function replayCapture(
  replayer: Replayer,
  spec: CaptureFlowSpec,
  o: RunOptions,
  record: Set<number>,
  results: Array<{ outcome: PacketOutcome; related?: number }>,
): Map<number, PacketRuns> {
  const rec = new Recorder(replayer.datapath, o.trace);
  const recorded = new Map<number, PacketRuns>();
  try {
    for (let i = 0; i <= spec.index; i++) {
      const frame = spec.frames[i];
      const timestampNs = spec.timestampsNs?.[i] ?? CONNECTION_TIME_NS + BigInt(i) * DEFAULT_GAP_NS;
      let result: PacketResult;
      let runs: PacketRuns | undefined;
      const run = (): PacketResult => {
        if (!frame) return { packet: i + 1, timeNs: timestampNs, outcome: 'skipped', flows: [], reason: 'its link type has no Ethernet frame' };
        return replayer.packet({ index: i, linkType: LINKTYPE_ETHERNET, data: frame, timestampNs });
      };
      if (record.has(i + 1)) {
        runs = rec.record(i + 1, frame ?? null, run);
        result = runs.result;
        recorded.set(i + 1, runs);
      } else {
        result = run();
      }
      results.push({ outcome: result.outcome, ...(result.relatedPacket === undefined ? {} : { related: result.relatedPacket }) });
    }
  } finally {
    rec.uninstall();
  }
  return recorded;
}

// ---- recording ----

/**
 * Records the program runs of chosen packets at the engine objects. Datapath.maps(node) is how
 * the replay reaches a node's object (opening it on first use), so it is wrapped on this
 * Datapath instance: every object it hands out gets its run() wrapped once, recording only while
 * a chosen packet runs. With tracing, that run goes through runTraced() instead: the traced runs
 * are the recorded ones.
 */
class Recorder {
  private readonly restore: Array<() => void> = [];
  private readonly wrapped = new WeakSet<EngineObject>();
  private current: HopRun[] | undefined;

  constructor(private readonly dp: Datapath, private readonly trace?: { limit?: number }) {
    const own = Object.prototype.hasOwnProperty.call(dp, 'maps');
    const original = dp.maps;
    dp.maps = (node: string): DatapathMaps => {
      const m = original.call(dp, node);
      this.wrap(m, node);
      return m;
    };
    this.restore.push(() => {
      if (own) dp.maps = original;
      else delete (dp as { maps?: unknown }).maps;
    });
  }

  record(packet: number, input: Uint8Array | null, run: () => PacketResult): PacketRuns {
    const hops: HopRun[] = [];
    this.current = hops;
    let result: PacketResult;
    try {
      result = run();
    } finally {
      this.current = undefined;
    }
    const runs = hops.filter((h): h is StepRun => h.endpoint !== undefined);
    return { packet, input, result, hops, runs };
  }

  uninstall(): void {
    for (const undo of this.restore.reverse()) undo();
    this.restore.length = 0;
  }

  private wrap(maps: DatapathMaps, node: string): void {
    const obj = maps.obj;
    if (this.wrapped.has(obj)) return;
    this.wrapped.add(obj);
    const own = Object.prototype.hasOwnProperty.call(obj, 'run');
    const original = obj.run;
    const traced = obj.runTraced?.bind(obj);
    const trace = this.trace;
    if (trace && !traced) throw new TwinpathError('USAGE', 'the kernel cannot trace a program; use --engine vm');
    obj.run = (program: string, input: RunInput): RunOutput => {
      const into = this.current;
      if (!into) return original.call(obj, program, input);
      const ctBefore = maps.conntrack();
      let out: RunOutput;
      let runTrace: RunTrace | undefined;
      if (trace) {
        const r = traced!(program, input, trace);
        out = r;
        runTrace = r.trace;
      } else {
        out = original.call(obj, program, input);
      }
      const event = flowEvents(out).at(-1);
      if (!event) throw new TwinpathError('DATAPATH_ERROR', `${program} on node "${node}" emitted no flow event`);
      const ifindex = input.ctx?.cb?.[0] ?? 0;
      const endpoint = endpointOf(this.dp, program, ifindex, event);
      into.push({
        node,
        program: program as DatapathProgram,
        ifindex,
        ...(endpoint ? { endpoint } : {}),
        verdict: event.verdict,
        event,
        ctBefore,
        ctAfter: maps.conntrack(),
        ...(runTrace ? { trace: runTrace } : {}),
      });
      return out;
    };
    this.restore.push(() => {
      if (own) obj.run = original;
      else delete (obj as { run?: unknown }).run;
    });
  }
}

/** The endpoint a program ran for: the pod on the interface, or for cil_from_netdev the local
 * endpoint it found by address (the event's endpoint id). */
function endpointOf(dp: Datapath, program: string, ifindex: number, e: FlowEvent): EndpointInfo | undefined {
  if (program === PROG_FROM_ENDPOINT || program === PROG_TO_ENDPOINT) return dp.compiled.endpoints.find((ep) => dp.ifindexOf(ep) === ifindex);
  if (program === PROG_FROM_NETDEV && !e.noEndpoint && e.endpointId !== 0) return dp.compiled.endpoints.find((ep) => ep.id === e.endpointId);
  return undefined;
}

const ETH_P_IP = 0x0800;
const ETH_P_IPV6 = 0x86dd;
const VLAN_TPIDS = new Set([0x8100, 0x88a8]);

/** Source and destination of an Ethernet frame carrying IP (after up to two VLAN tags), as
 * formatIp writes them, so they compare with the compiled policy's addresses. */
export function addresses(frame: Uint8Array): { src: string; dst: string } | undefined {
  let off = 12;
  const u16 = (o: number): number => (frame[o]! << 8) | frame[o + 1]!;
  if (frame.length < off + 2) return undefined;
  let type = u16(off);
  for (let tags = 0; tags < 2 && VLAN_TPIDS.has(type) && frame.length >= off + 6; tags++) {
    off += 4;
    type = u16(off);
  }
  const ip = off + 2;
  if (type === ETH_P_IP && frame.length >= ip + 20) {
    return { src: formatIp(frame.subarray(ip + 12, ip + 16)), dst: formatIp(frame.subarray(ip + 16, ip + 20)) };
  }
  if (type === ETH_P_IPV6 && frame.length >= ip + 40) {
    return { src: formatIp(frame.subarray(ip + 8, ip + 24)), dst: formatIp(frame.subarray(ip + 24, ip + 40)) };
  }
  return undefined;
}

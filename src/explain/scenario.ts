// What `explain` runs: one flow, named either as a connection (endpoints, port, protocol: its
// first packet) or as a packet of a capture (the packets before it replayed first, so that
// conntrack holds what the capture built up). This module turns such a spec into packets and
// the endpoint programs each passes through, against one Datapath, and runs them, keeping what
// the explanation needs of each program run of the explained packet: the flow events and the
// node's conntrack table just before and just after.
//
// Planning happens per Datapath, not once: a suggested policy change is verified by compiling
// the changed inputs and running the same spec again, and endpoint ids may differ there.

import { TwinpathError, type ErrorLocation } from '../errors.js';
import type { Datapath, DatapathProgram } from '../datapath/datapath.js';
import type { FlowEvent } from '../datapath/flow.js';
import { PROG_FROM_ENDPOINT, PROG_TO_ENDPOINT, type ConntrackEntry } from '../datapath/maps.js';
import { connectionPackets, EPHEMERAL_FIRST } from '../datapath/packets.js';
import { Prober, type ProbeSpec } from '../datapath/probe.js';
import type { EndpointInfo } from '../policy/model.js';
import { formatIp } from '../datapath/flow.js';

/** A connection's first packet: `ns/pod`, `host` or `ip:ADDR` on each side, as probe takes them. */
export interface ConnectionFlowSpec extends ProbeSpec {
  kind: 'connection';
}

/** Packet `index` (0-based, as `run --json` counts) of a capture already read into Ethernet frames. */
export interface CaptureFlowSpec {
  kind: 'capture';
  file: string;
  /** Every packet of the capture as an Ethernet frame, or null where it has none (skipped link type). */
  frames: Array<Uint8Array | null>;
  index: number;
}

export type FlowSpec = ConnectionFlowSpec | CaptureFlowSpec;

/** One endpoint program a packet passes through. */
export interface Step {
  node: string;
  program: DatapathProgram;
  ifindex: number;
  endpoint: EndpointInfo;
}

export interface PacketPlan {
  packet: Uint8Array;
  steps: Step[];
}

export interface Plan {
  /** Packets replayed before the explained one (capture only). */
  before: PacketPlan[];
  target: PacketPlan;
}

/** One program run of the explained packet. */
export interface StepRun extends Step {
  verdict: 'FORWARDED' | 'DROPPED';
  /** The decision's flow event (the run's last). */
  event: FlowEvent;
  ctBefore: ConntrackEntry[];
  ctAfter: ConntrackEntry[];
}

/** Where the fields of a connection spec came from, for error locations (the CLI's options). */
const OPTION: Record<keyof ProbeSpec, ErrorLocation> = {
  from: { path: '--from' },
  to: { path: '--to' },
  port: { path: '--port' },
  protocol: { path: '--protocol' },
  http: { path: '--http-method' },
};

export function plan(dp: Datapath, spec: FlowSpec): Plan {
  return spec.kind === 'connection' ? planConnection(dp, spec) : planCapture(dp, spec);
}

function planConnection(dp: Datapath, spec: ConnectionFlowSpec): Plan {
  const { from, to, port, protocol } = spec;
  let p;
  try {
    p = new Prober(dp).plan({ from, to, port, protocol }, 0, (_i, field) => OPTION[field]);
  } catch (e) {
    // The prober numbers probes; there is only one flow here.
    if (e instanceof TwinpathError) throw new TwinpathError(e.code, e.detail.replace(/^probe 0: /, ''), e.location, { cause: e });
    throw e;
  }
  const conn = connectionPackets({ protocol, client: p.client, server: p.server, clientPort: EPHEMERAL_FIRST, serverPort: port });
  const steps = p.stages.filter((s) => !s.reply).map((s) => ({ node: s.node, program: s.program, ifindex: s.ifindex, endpoint: endpointAt(dp, s.ifindex) }));
  return { before: [], target: { packet: conn.request, steps } };
}

function endpointAt(dp: Datapath, ifindex: number): EndpointInfo {
  const ep = dp.compiled.endpoints.find((e) => dp.ifindexOf(e) === ifindex);
  if (!ep) throw new TwinpathError('DATAPATH_ERROR', `no endpoint on interface ${ifindex}`);
  return ep;
}

function planCapture(dp: Datapath, spec: CaptureFlowSpec): Plan {
  const where: ErrorLocation = { file: spec.file, path: '--packet' };
  const n = spec.frames.length;
  if (!Number.isInteger(spec.index) || spec.index < 0 || spec.index >= n) {
    throw new TwinpathError('USAGE', `packet ${spec.index} is out of range: the capture has ${n} packet${n === 1 ? '' : 's'} (0..${n - 1})`, where);
  }
  const before: PacketPlan[] = [];
  for (let i = 0; i < spec.index; i++) {
    const frame = spec.frames[i];
    const steps = frame ? stepsFor(dp, frame) : undefined;
    if (frame && steps && steps.length > 0) before.push({ packet: frame, steps });
  }
  const frame = spec.frames[spec.index];
  if (!frame) throw new TwinpathError('DATAPATH_ERROR', `packet ${spec.index} has no Ethernet frame (its link type is not converted)`, where);
  const steps = stepsFor(dp, frame);
  if (steps === undefined) throw new TwinpathError('DATAPATH_ERROR', `packet ${spec.index} is not IPv4 or IPv6: no policy applies to it`, where);
  if (steps.length === 0) {
    const a = addresses(frame)!;
    throw new TwinpathError('PROBE_UNKNOWN_ENDPOINT', `packet ${spec.index} (${a.src} -> ${a.dst}) neither leaves nor reaches a pod: no endpoint program sees it`, where);
  }
  return { before, target: { packet: frame, steps } };
}

/** The programs a captured packet passes: the sending pod's from_container, then the receiving
 * pod's to_container. Undefined when the frame is not IP. */
function stepsFor(dp: Datapath, frame: Uint8Array): Step[] | undefined {
  const a = addresses(frame);
  if (!a) return undefined;
  const podOf = (ip: string): EndpointInfo | undefined => dp.compiled.endpoints.find((ep) => ep.ips.some((x) => sameIp(x, ip)));
  const steps: Step[] = [];
  const src = podOf(a.src);
  const dst = podOf(a.dst);
  if (src) steps.push({ node: dp.nodeOf(src), program: PROG_FROM_ENDPOINT, ifindex: dp.ifindexOf(src), endpoint: src });
  if (dst) steps.push({ node: dp.nodeOf(dst), program: PROG_TO_ENDPOINT, ifindex: dp.ifindexOf(dst), endpoint: dst });
  return steps;
}

function sameIp(a: string, b: string): boolean {
  return a === b || (a.includes(':') && b.includes(':') && a.toLowerCase() === b.toLowerCase());
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

/** Runs a plan: the packets before, each until a program drops it, then the explained packet
 * until a program drops it, recording every run of it. */
export function runPlan(dp: Datapath, p: Plan): StepRun[] {
  for (const b of p.before) {
    let packet = b.packet;
    for (const s of b.steps) {
      const r = dp.run(s.node, s.program, s.ifindex, packet);
      if (r.verdict === 'DROPPED') break;
      packet = r.packet;
    }
  }
  const runs: StepRun[] = [];
  let packet = p.target.packet;
  for (const s of p.target.steps) {
    const maps = dp.maps(s.node);
    const ctBefore = maps.conntrack();
    const r = dp.run(s.node, s.program, s.ifindex, packet);
    const event = r.flows.at(-1);
    if (!event) throw new TwinpathError('DATAPATH_ERROR', `${s.program} on node "${s.node}" emitted no flow event`);
    runs.push({ ...s, verdict: r.verdict, event, ctBefore, ctAfter: maps.conntrack() });
    if (r.verdict === 'DROPPED') break;
    packet = r.packet;
  }
  return runs;
}

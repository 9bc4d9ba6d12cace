// Replaying a capture through the cluster's datapath. Each packet enters where it would on a
// node: a packet from a pod leaves through that pod's cil_from_container on the pod's node (which
// translates a service address to a backend) and, if forwarded to an address (possibly
// translated) that is a pod's, arrives through that pod's cil_to_container on its node; a packet
// from outside the cluster's pods to a pod only arrives (cil_to_container); a packet from outside
// to a service frontend of a node (a NodePort on the node's address, an externalIP) arrives
// through that node's cil_from_netdev, which translates it and gives the local backend's ingress
// verdict (a backend on another node gets the packet, translated, through its own node's
// cil_from_netdev); a packet with no pod and no frontend on either side is handled by no
// endpoint and is counted, without a flow (no endpoint program would see it). Programs run on the capture's
// clock (RunInput.timeNs), so conntrack ages entries as the recorded traffic did; the kernel
// engine cannot set its clock and ages them in real time, which only matters for captures
// whose gaps approach conntrack timeouts (10 s for closing TCP, 60 s otherwise).
//
// A capture records what happened without the policy being replayed. When the datapath drops
// a connection's opening packet, the answers in the capture (SYN-ACK, RST, a UDP response, an
// echo reply) exist only because it got through when recorded; running them would open
// conntrack entries the dropped packet never made. They are reported as consequences of that
// drop (DROPPED, its reason, is_reply) and not run. Retransmissions and later packets of the
// connection in the opening direction are run again. Packets seen twice within a short window
// (the same packet captured on two interfaces) are skipped as duplicates.
//
// One packet at a time, with bounded memories: the replay's memory does not grow with the
// capture.

import { TwinpathError, isTwinpathError } from '../errors.js';
import type { EngineKind, RunContext } from '../engine/engine.js';
import { readCapture, type CaptureSource } from '../pcap/reader.js';
import { toEthernet } from '../pcap/linktype.js';
import type { CaptureRecord, ReadOptions } from '../pcap/types.js';
import type { CompiledPolicy, EndpointInfo } from '../policy/model.js';
import type { Cluster } from '../policy/ast.js';
import { FlowBuilder, type Decision } from '../flows/build.js';
import type { ReplayFlow } from '../flows/hubble.js';
import { Datapath, NETDEV_IFINDEX, type DatapathProgram } from './datapath.js';
import { flowEvents, type FlowEvent } from './flow.js';
import { endpointContext, PROG_FROM_ENDPOINT, PROG_FROM_NETDEV, PROG_TO_ENDPOINT } from './maps.js';
import { canOpen, packetFacts, reverseTupleKey, tupleKey, type PacketFacts } from './replay_packet.js';
import { DEFAULT_DUPLICATE_WINDOW_NS, DEFAULT_OPENINGS_CAPACITY, DuplicateDetector, LruMap, OPENING_MEMORY_NS } from './replay_memory.js';

const TC_ACT_SHOT = 2;

export interface ReplayOptions {
  compiled: CompiledPolicy;
  engine: EngineKind;
  /** The endpoint object (defaults to the committed bpf/datapath/endpoint.bpf.o). */
  object?: string;
  /** The cluster the policy was compiled from: its Services are load balanced (Datapath.open's
   * `services`, default true when a cluster is given). Without it no address is translated. */
  cluster?: Cluster;
  services?: boolean;
  /** Packets with equal bytes from the IP header on, this close in time, are one packet. 0 turns detection off. */
  duplicateWindowNs?: bigint;
  /** How many dropped openings are remembered for consequence tracking. */
  openingsCapacity?: number;
}

/** What became of one captured packet. */
export type PacketOutcome =
  /** Ran through the programs of its path. */
  | 'forwarded'
  | 'dropped'
  /** An answer to a connection whose opening the datapath dropped: not run. */
  | 'consequence'
  /** The same bytes as a packet just before it (seen on another interface). */
  | 'duplicate'
  /** IP, but neither address is a pod's or a service frontend's: no endpoint program sees it. */
  | 'unhandled'
  /** Not IP, or a link type that cannot become Ethernet. */
  | 'skipped';

export interface PacketResult {
  /** The packet's number in the capture, from 1 (as Wireshark counts). */
  packet: number;
  timeNs: bigint;
  outcome: PacketOutcome;
  /** Flows in the order they happened (empty for duplicates, unhandled and skipped packets). */
  flows: ReplayFlow[];
  /** For a drop or a consequence: the reason (Cilium's number) and where. */
  dropReason?: number;
  /** The node and program that dropped it, and the pod whose policy did. */
  droppedAt?: { node: string; program: string; pod?: string; direction: 'ingress' | 'egress' };
  /** For a consequence, the packet whose drop it follows; for a duplicate, the packet it repeats. */
  relatedPacket?: number;
  /** Why a packet was skipped or unhandled. */
  reason?: string;
  /** The frame as it left the datapath (after any translation), or as the dropping program saw
   * it; for a consequence, the frame as captured. Absent for duplicate, unhandled and skipped. */
  frame?: Uint8Array;
  /** The link-layer type of `frame` (always Ethernet: programs at tc see Ethernet). */
  linkType?: number;
}

/** What an answer's consequence flow needs of the drop: no frame, so entries stay small. */
interface DroppedOpening {
  packet: number;
  timeNs: bigint;
  event: FlowEvent;
  node: string;
  program: string;
  pod?: string;
}

interface Stage {
  node: string;
  program: DatapathProgram;
  ifindex: number;
  /** The endpoint the program runs for; for cil_from_netdev, the one it found by address (if any). */
  ep?: EndpointInfo;
}

const PROTOCOL_NAMES: Record<number, 'TCP' | 'UDP' | 'SCTP'> = { 6: 'TCP', 17: 'UDP', 132: 'SCTP' };

/** Replays packets one at a time over one Datapath (one engine object per node). */
export class Replayer {
  readonly builder: FlowBuilder;
  private readonly duplicates: DuplicateDetector | undefined;
  private readonly openings: LruMap<string, DroppedOpening>;
  /** One context object per interface, never changed: the engines keep what they build from it. */
  private readonly contexts = new Map<number, RunContext>();

  private constructor(readonly datapath: Datapath, opts: ReplayOptions) {
    this.builder = new FlowBuilder(opts.compiled);
    const window = opts.duplicateWindowNs ?? DEFAULT_DUPLICATE_WINDOW_NS;
    this.duplicates = window > 0n ? new DuplicateDetector(window) : undefined;
    this.openings = new LruMap(opts.openingsCapacity ?? DEFAULT_OPENINGS_CAPACITY);
  }

  static async open(opts: ReplayOptions): Promise<Replayer> {
    const dp = await Datapath.open(opts.compiled, {
      engine: opts.engine,
      ...(opts.object === undefined ? {} : { object: opts.object }),
      ...(opts.cluster === undefined ? {} : { cluster: opts.cluster }),
      ...(opts.services === undefined ? {} : { services: opts.services }),
    });
    return new Replayer(dp, opts);
  }

  /** Dropped openings remembered now (for tests of the bound). */
  get rememberedOpenings(): number {
    return this.openings.size;
  }

  /** Replays one captured packet. `record.index` counts from 0; results count from 1. */
  packet(record: Pick<CaptureRecord, 'index' | 'linkType' | 'data' | 'timestampNs'>): PacketResult {
    const packet = record.index + 1;
    const timeNs = record.timestampNs;
    const eth = toEthernet(record);
    if ('skipped' in eth) return { packet, timeNs, outcome: 'skipped', flows: [], reason: eth.skipped };
    const frame = eth.frame;
    const facts = packetFacts(frame);
    if (!facts) return { packet, timeNs, outcome: 'skipped', flows: [], reason: 'not an IPv4 or IPv6 packet' };
    const repeats = this.duplicates?.check(frame.subarray(facts.l3), timeNs, packet);
    if (repeats !== undefined) return { packet, timeNs, outcome: 'duplicate', flows: [], relatedPacket: repeats };

    const opening = this.openings.get(reverseTupleKey(facts));
    if (opening && timeNs - opening.timeNs <= OPENING_MEMORY_NS) return this.consequence(packet, timeNs, frame, facts, opening);

    const src = this.builder.podByIp(facts.src);
    const dst = this.builder.podByIp(facts.dst);
    let first: Stage;
    if (src) first = { node: this.datapath.nodeOf(src), program: PROG_FROM_ENDPOINT, ifindex: this.datapath.ifindexOf(src), ep: src };
    else if (dst) first = { node: this.datapath.nodeOf(dst), program: PROG_TO_ENDPOINT, ifindex: this.datapath.ifindexOf(dst), ep: dst };
    else {
      const node = this.frontendNode(facts);
      if (node === undefined) return { packet, timeNs, outcome: 'unhandled', flows: [], reason: 'neither address is a pod or a service frontend' };
      first = { node, program: PROG_FROM_NETDEV, ifindex: NETDEV_IFINDEX };
    }
    try {
      return this.run(packet, timeNs, frame, facts, first);
    } catch (e) {
      if (isTwinpathError(e)) throw new TwinpathError(e.code, `packet #${packet}: ${e.detail}`, e.location, { cause: e });
      throw e;
    }
  }

  close(): void {
    this.datapath.close();
  }

  /** The node whose cil_from_netdev a packet from outside to a service frontend arrives at: the
   * node whose address it is sent to (a NodePort), else the first node, in name order, that
   * offers the frontend (an externalIP, routed to some node). Undefined without services. */
  private frontendNode(f: PacketFacts): string | undefined {
    if (!this.datapath.servicesEnabled() || f.laterFragment) return undefined;
    const protocol = PROTOCOL_NAMES[f.protocol];
    if (protocol === undefined) return undefined;
    const offers = (node: string) => this.datapath.frontend(node, f.dst, f.dstPort, protocol) !== undefined;
    const owner = this.datapath.nodeByAddress(f.dst);
    if (owner !== undefined) return offers(owner) ? owner : undefined;
    return this.datapath.nodes().find(offers);
  }

  private run(packet: number, timeNs: bigint, frame: Uint8Array, facts: PacketFacts, first: Stage): PacketResult {
    const flows: ReplayFlow[] = [];
    let current = frame;
    let currentFacts = facts;
    const stages: Stage[] = [first];
    for (let i = 0; i < stages.length; i++) {
      const stage = stages[i]!;
      const { retval, events, out } = this.runStage(stage, current, timeNs);
      for (const event of events) flows.push(...this.builder.flows({ event, node: stage.node, program: stage.program, frame: current, timeNs, packet }));
      // The packet as the program left it: translated (a service backend), or as it came.
      const translated = events.some((e) => e.service !== undefined && e.service.translation !== 'none');
      const outFacts = translated ? packetFacts(out) ?? currentFacts : currentFacts;
      if (retval === TC_ACT_SHOT) {
        const drop = events.find((e) => e.verdict === 'DROPPED') ?? events[0];
        const reason = drop?.dropReason ?? 0;
        // cil_from_netdev drops for the endpoint whose ingress it decided on: the translated destination's.
        const ep = stage.ep ?? this.builder.podByIp(outFacts.dst);
        const pod = ep ? `${ep.namespace}/${ep.pod}` : undefined;
        const direction = stage.program === PROG_FROM_ENDPOINT ? 'egress' : 'ingress';
        // An opening: a packet that could start a connection and found none in the dropping program.
        if (drop && canOpen(facts) && drop.ctState === 'new') {
          const remembered: DroppedOpening = { packet, timeNs, event: drop, node: stage.node, program: stage.program, ...(pod === undefined ? {} : { pod }) };
          this.openings.set(tupleKey(facts), remembered);
          // Answers come from the translated address (a service backend) as well.
          for (const f of new Set([currentFacts, outFacts])) if (f !== facts) this.openings.set(tupleKey(f), remembered);
        }
        const droppedAt = { node: stage.node, program: stage.program, direction, ...(pod === undefined ? {} : { pod }) } as const;
        return { packet, timeNs, outcome: 'dropped', flows, dropReason: reason, droppedAt, frame: current, linkType: 1 };
      }
      current = out;
      currentFacts = outFacts;
      // Leaving a pod: it arrives next at the pod its (possibly translated) destination is.
      // From the network: a backend on another node gets it through that node's netdev program.
      const to = stage.program === PROG_TO_ENDPOINT ? undefined : this.builder.podByIp(currentFacts.dst);
      if (to && stage.program === PROG_FROM_ENDPOINT) {
        stages.push({ node: this.datapath.nodeOf(to), program: PROG_TO_ENDPOINT, ifindex: this.datapath.ifindexOf(to), ep: to });
      } else if (to && stage.program === PROG_FROM_NETDEV && this.datapath.nodeOf(to) !== stage.node) {
        stages.push({ node: this.datapath.nodeOf(to), program: PROG_FROM_NETDEV, ifindex: NETDEV_IFINDEX, ep: to });
      }
    }
    // A packet of the connection got through: its answers are real answers again.
    this.openings.delete(tupleKey(facts));
    if (currentFacts !== facts) this.openings.delete(tupleKey(currentFacts));
    return { packet, timeNs, outcome: 'forwarded', flows, frame: current, linkType: 1 };
  }

  private runStage(stage: Stage, packet: Uint8Array, timeNs: bigint): { retval: number; events: FlowEvent[]; out: Uint8Array } {
    // The node's own engine object, run on the capture's clock (Datapath.run keeps a clock of
    // its own for probes, which are not tied to recorded time).
    const obj = this.datapath.maps(stage.node).obj;
    try {
      let ctx = this.contexts.get(stage.ifindex);
      if (ctx === undefined) this.contexts.set(stage.ifindex, (ctx = endpointContext(stage.ifindex)));
      const out = obj.run(stage.program, { packet, ctx, timeNs });
      return { retval: out.retval, events: flowEvents(out), out: out.packet };
    } catch (e) {
      if (isTwinpathError(e)) throw e.within({ program: stage.program });
      throw e;
    }
  }

  private consequence(packet: number, timeNs: bigint, frame: Uint8Array, facts: PacketFacts, opening: DroppedOpening): PacketResult {
    const o = opening.event;
    // The answer as the dropping endpoint's program would have seen it travel back: the other
    // program of the same endpoint, the identities swapped, this packet's own header fields.
    const event: FlowEvent = {
      ...o,
      direction: o.direction === 'ingress' ? 'egress' : 'ingress',
      // An opening dropped on its way in (to-endpoint, or from-network at a NodePort) is answered
      // from the endpoint; one dropped on its way out is answered towards it.
      observationPoint: o.observationPoint === 'from-endpoint' ? 'to-endpoint' : 'from-endpoint',
      src: facts.src,
      dst: facts.dst,
      srcPort: facts.srcPort,
      dstPort: facts.dstPort,
      srcIdentity: o.dstIdentity,
      dstIdentity: o.srcIdentity,
      protocol: facts.protocol,
      family: facts.family,
      tcpFlags: facts.tcpFlags,
      icmpType: Math.max(facts.icmpType, 0),
      icmpCode: Math.max(facts.icmpCode, 0),
      isReply: true,
      ctState: 'reply',
      policyMatch: 'none',
      length: frame.length,
    };
    const d: Decision = { event, node: opening.node, frame, timeNs, packet, consequenceOf: opening.packet };
    const droppedAt = { node: opening.node, program: opening.program, direction: o.direction, ...(opening.pod === undefined ? {} : { pod: opening.pod }) };
    return {
      packet, timeNs, outcome: 'consequence', flows: this.builder.flows(d), dropReason: o.dropReason, droppedAt, relatedPacket: opening.packet, frame, linkType: 1,
    };
  }
}

/** Streams a capture through the datapath, one result per packet, in capture order. */
export async function* replayCapture(source: CaptureSource, opts: ReplayOptions & { read?: ReadOptions }): AsyncGenerator<PacketResult> {
  const replayer = await Replayer.open(opts);
  try {
    for await (const record of readCapture(source, opts.read ?? {})) yield replayer.packet(record);
  } finally {
    replayer.close();
  }
}

// From datapath decisions to Hubble flows. One program's flow event becomes what Cilium's
// monitor would have sent for it and Hubble would have printed: a policy verdict when the
// program looked the packet up in the policy map (a new connection of an isolated endpoint),
// then a trace (forwarded) or a drop. Endpoints are named the way Hubble names them: by address,
// with the pod's namespace and name, the identity's labels, and the endpoint id only on the node
// that observed the flow (endpoint ids are node-local in Cilium).

import type { FlowEvent } from '../datapath/flow.js';
import { DROP_POLICY, DROP_POLICY_DENY, DROP_REASONS } from '../datapath/flow.js';
import { IMPLICIT_NODE } from '../datapath/datapath.js';
import { parseIp } from '../pcap/build.js';
import { formatIp } from '../datapath/flow.js';
import type { CompiledPolicy, EndpointInfo, IdentityInfo, RuleInfo } from '../policy/model.js';
import {
  dropReasonDesc, MESSAGE_TYPE, rfc3339, TRACE_FROM_LXC, TRACE_FROM_NETWORK, TRACE_TO_LXC,
  type HubbleEndpoint, type HubbleFlow, type HubblePolicy, type Layer4Json, type ReplayFlow, type TcpFlagsJson, type TrafficDirection,
} from './hubble.js';
import { icmpSummary } from './icmp.js';

/** One program's decision on one packet, with where and when it happened. */
export interface Decision {
  event: FlowEvent;
  node: string;
  /** The program that ran (cil_from_container, cil_to_container, cil_from_netdev). */
  program?: string;
  /** The packet as the program saw it (its MAC addresses go into the flow). */
  frame: Uint8Array;
  timeNs: bigint;
  /** The packet's number in the capture, from 1. */
  packet: number;
  /** Set for an answer to a dropped connection: the number of the packet whose drop it follows. */
  consequenceOf?: number;
}

const POLICY_DROPS = new Set([DROP_POLICY, DROP_POLICY_DENY]);
const ENDPOINT_CACHE_MAX = 65_536;

// Each kind of flow is built with its fields assigned in flow.proto's declaration order (time,
// verdict, drop_reason, ethernet, IP, l4, source, destination, Type, node_name, reply,
// event_type, traffic_direction, policy_match_type, trace_observation_point, drop_reason_desc,
// is_reply, proxy_port, the *_by lists, Summary last): JSON keeps insertion order, and building in
// order costs less than reordering every flow.

/** What every flow of one decision shows alike: built once, shared by its flows (never mutated). */
interface Shared {
  ethernet?: HubbleFlow['ethernet'];
  IP?: HubbleFlow['IP'];
  l4?: Layer4Json;
  source: HubbleEndpoint;
  destination: HubbleEndpoint;
  Summary: string;
}

/** Turns decisions into flows with the cluster's names for addresses, identities and rules. */
export class FlowBuilder {
  private readonly pods = new Map<string, EndpointInfo>();
  private readonly identities = new Map<number, IdentityInfo>();
  private readonly rules = new Map<number, RuleInfo>();
  // The flows of one packet share its time: formatted once.
  private lastTime = -1n;
  private lastTimeText = '';
  /** Endpoints as flows name them, by observing node and address (with the identity they were
   * made for): the same few appear in every packet. Shared by the flows, which never change
   * them; bounded, started again when full. */
  private readonly endpoints = new Map<string, Map<string, HubbleEndpoint>>();
  private endpointCount = 0;

  constructor(compiled: CompiledPolicy) {
    for (const ep of compiled.endpoints) for (const ip of ep.ips) this.pods.set(canonicalIp(ip), ep);
    for (const i of compiled.identities) this.identities.set(i.id, i);
    for (const r of compiled.rules) this.rules.set(r.id, r);
  }

  /** The pod an address belongs to, if any (addresses in any textual form). */
  podByIp(ip: string): EndpointInfo | undefined {
    // Addresses decoded from packets are canonical already; only other spellings pay for parsing.
    return this.pods.get(ip) ?? (ip.includes(':') ? this.pods.get(canonicalIp(ip)) : undefined);
  }

  rule(id: number): RuleInfo | undefined {
    return this.rules.get(id);
  }

  /** The flows of one decision, in the order Hubble would show them. */
  flows(d: Decision): ReplayFlow[] {
    const ev = d.event;
    const out: ReplayFlow[] = [];
    const shared = this.shared(d);
    const consulted = ev.ctState === 'new' && (ev.policyMatch === 'exact' || ev.policyMatch === 'wildcard' || ev.policyMatch === 'default-deny');
    if (consulted && d.consequenceOf === undefined) out.push(this.policyVerdict(d, shared));
    out.push(ev.verdict === 'DROPPED' ? this.drop(d, shared) : this.trace(d, shared));
    return out;
  }

  private shared(d: Decision): Shared {
    const ev = d.event;
    const s: Shared = { source: this.endpoint(ev.src, ev.srcIdentity, d.node), destination: this.endpoint(ev.dst, ev.dstIdentity, d.node), Summary: summary(ev) };
    if (d.frame.length >= 12) s.ethernet = { source: mac(d.frame.subarray(6, 12)), destination: mac(d.frame.subarray(0, 6)) };
    if (ev.family !== 0) {
      s.IP = { source: ev.src, destination: ev.dst, ipVersion: ev.family === 4 ? 'IPv4' : 'IPv6' };
      const l4 = layer4(ev);
      if (l4) s.l4 = l4;
    }
    return s;
  }

  private policyVerdict(d: Decision, shared: Shared): ReplayFlow {
    const ev = d.event;
    const denied = ev.verdict === 'DROPPED' && POLICY_DROPS.has(ev.dropReason);
    const f = this.common(d, shared, denied ? 'DROPPED' : 'FORWARDED', denied ? ev.dropReason : 0);
    f.event_type = { type: MESSAGE_TYPE.policyVerdict };
    f.traffic_direction = ev.direction === 'ingress' ? 'INGRESS' : 'EGRESS';
    const match = policyMatchType(ev);
    if (match !== 0) f.policy_match_type = match;
    if (denied) f.drop_reason_desc = dropReasonDesc(ev.dropReason);
    // Forwarded policy verdicts are a connection's first packet, never a reply.
    f.is_reply = false;
    const rule = this.rules.get(ev.ruleId);
    if (rule && ev.ruleId !== 0 && (!denied || rule.deny)) {
      // Only one list is ever set; flow.proto's order among them is allowed, then denied.
      if (ev.direction === 'egress') {
        if (denied) f.egress_denied_by = [policyOf(rule)];
        else f.egress_allowed_by = [policyOf(rule)];
      } else if (denied) {
        f.ingress_denied_by = [policyOf(rule)];
      } else {
        f.ingress_allowed_by = [policyOf(rule)];
      }
    }
    return this.finish(f, d, shared);
  }

  private drop(d: Decision, shared: Shared): ReplayFlow {
    const ev = d.event;
    const f = this.common(d, shared, 'DROPPED', ev.dropReason);
    if (ev.isReply) f.reply = true;
    f.event_type = { type: MESSAGE_TYPE.drop, sub_type: ev.dropReason };
    f.traffic_direction = direction(ev);
    f.drop_reason_desc = dropReasonDesc(ev.dropReason);
    f.is_reply = ev.isReply;
    return this.finish(f, d, shared);
  }

  private trace(d: Decision, shared: Shared): ReplayFlow {
    const ev = d.event;
    const f = this.common(d, shared, 'FORWARDED', 0);
    if (ev.isReply) f.reply = true;
    const point = ev.observationPoint;
    const subType = point === 'from-endpoint' ? TRACE_FROM_LXC : point === 'from-network' ? TRACE_FROM_NETWORK : TRACE_TO_LXC;
    f.event_type = { type: MESSAGE_TYPE.trace, sub_type: subType };
    f.traffic_direction = direction(ev);
    f.trace_observation_point = point === 'from-endpoint' ? 'FROM_ENDPOINT' : point === 'from-network' ? 'FROM_NETWORK' : 'TO_ENDPOINT';
    f.is_reply = ev.isReply;
    if (ev.proxyPort !== 0) f.proxy_port = ev.proxyPort;
    return this.finish(f, d, shared);
  }

  /** The fields every kind of flow has, in flow.proto's order; the caller adds its own after. */
  private common(d: Decision, s: Shared, verdict: HubbleFlow['verdict'], dropReason: number): HubbleFlow {
    if (d.timeNs !== this.lastTime) {
      this.lastTime = d.timeNs;
      this.lastTimeText = rfc3339(d.timeNs);
    }
    const f = { time: this.lastTimeText, verdict } as HubbleFlow;
    if (dropReason !== 0) f.drop_reason = dropReason;
    if (s.ethernet) f.ethernet = s.ethernet;
    if (s.IP) f.IP = s.IP;
    if (s.l4) f.l4 = s.l4;
    f.source = s.source;
    f.destination = s.destination;
    f.Type = 'L3_L4';
    f.node_name = d.node;
    return f;
  }

  /** Adds the Summary (last) and attaches twinpath's extras. */
  private finish(f: HubbleFlow, d: Decision, shared: Shared): ReplayFlow {
    const ev = d.event;
    f.Summary = shared.Summary;
    const extras: ReplayFlow['twinpath'] = { packet: d.packet };
    if (d.program !== undefined) extras.program = d.program;
    if (d.consequenceOf === undefined) extras.ct_state = ev.ctState;
    const rule = ev.ruleId !== 0 ? this.rules.get(ev.ruleId) : undefined;
    if (rule) {
      extras.rule_id = rule.id;
      extras.rule = rule.text;
    }
    if (d.consequenceOf !== undefined) extras.consequence_of = d.consequenceOf;
    return { flow: f, timeNs: d.timeNs, twinpath: extras };
  }

  private endpoint(ip: string, identity: number, node: string): HubbleEndpoint {
    let byIp = this.endpoints.get(node);
    if (byIp === undefined) this.endpoints.set(node, (byIp = new Map()));
    const known = byIp.get(ip);
    if (known !== undefined && (known.identity ?? 0) === identity) return known;
    if (this.endpointCount >= ENDPOINT_CACHE_MAX) {
      this.endpoints.clear();
      this.endpointCount = 0;
      this.endpoints.set(node, (byIp = new Map()));
    }
    const made = this.makeEndpoint(ip, identity, node);
    if (known === undefined) this.endpointCount++;
    byIp.set(ip, made);
    return made;
  }

  private makeEndpoint(ip: string, identity: number, node: string): HubbleEndpoint {
    const ep = ip === '' ? undefined : this.podByIp(ip);
    const out: HubbleEndpoint = {};
    if (ep && (ep.node === '' ? IMPLICIT_NODE : ep.node) === node) out.ID = ep.id;
    if (identity !== 0) out.identity = identity;
    if (ep) out.namespace = ep.namespace;
    const labels = this.identities.get(identity)?.labels;
    if (labels && labels.length > 0) out.labels = [...labels];
    if (ep) out.pod_name = ep.pod;
    return out;
  }
}

/** Hubble's direction of the connection: a reply travels against it. */
function direction(ev: FlowEvent): TrafficDirection {
  const egress = ev.direction === 'egress';
  return egress !== ev.isReply ? 'EGRESS' : 'INGRESS';
}

/** Cilium's match type from how the lookup matched: the exact identity or any identity, and
 * how much of protocol and port the entry named (its prefix beyond the identity). */
export function policyMatchType(ev: Pick<FlowEvent, 'policyMatch' | 'matchPrefix'>): number {
  const l4 = ev.matchPrefix > 8 ? 'port' : ev.matchPrefix === 8 ? 'proto' : 'any';
  if (ev.policyMatch === 'exact') return l4 === 'port' ? 2 : l4 === 'proto' ? 5 : 1;
  if (ev.policyMatch === 'wildcard') return l4 === 'port' ? 3 : l4 === 'proto' ? 6 : 4;
  return 0;
}

/** A policy as Hubble lists it under *_allowed_by / *_denied_by, labelled as Cilium labels rules
 * derived from Kubernetes objects. */
export function policyOf(rule: RuleInfo): HubblePolicy {
  const { kind, namespace, name } = rule.policy;
  const labels = [`k8s:io.cilium.k8s.policy.derived-from=${kind}`, `k8s:io.cilium.k8s.policy.name=${name}`];
  if (namespace !== '') labels.push(`k8s:io.cilium.k8s.policy.namespace=${namespace}`);
  return namespace === '' ? { name, labels, kind } : { name, namespace, labels, kind };
}

const TCP_FLAG_NAMES: Array<[number, keyof TcpFlagsJson]> = [
  [0x02, 'SYN'], [0x10, 'ACK'], [0x04, 'RST'], [0x01, 'FIN'], [0x08, 'PSH'], [0x20, 'URG'], [0x40, 'ECE'], [0x80, 'CWR'],
];
// Every packet of a TCP flow has one of 256 summaries: made once.
const TCP_SUMMARIES = Array.from({ length: 256 }, (_, bits) => `TCP Flags: ${TCP_FLAG_NAMES.filter(([bit]) => (bits & bit) !== 0).map(([, n]) => n).join(', ')}`);
// The JSON lists flags in flow.proto's order; the summary in Hubble's (SYN first).
const TCP_FLAG_JSON_ORDER: Array<[number, keyof TcpFlagsJson]> = [
  [0x01, 'FIN'], [0x02, 'SYN'], [0x04, 'RST'], [0x08, 'PSH'], [0x10, 'ACK'], [0x20, 'URG'], [0x40, 'ECE'], [0x80, 'CWR'],
];

// The flags object of each of the 256 flag bytes, made once and shared (flows never change them).
const TCP_FLAGS_JSON: TcpFlagsJson[] = Array.from({ length: 256 }, (_, bits) => {
  const flags: TcpFlagsJson = {};
  for (const [bit, name] of TCP_FLAG_JSON_ORDER) if ((bits & bit) !== 0) flags[name] = true;
  return flags;
});

function ports(ev: FlowEvent): { source_port?: number; destination_port?: number; flags?: TcpFlagsJson } {
  const p: { source_port?: number; destination_port?: number; flags?: TcpFlagsJson } = {};
  if (ev.srcPort !== 0) p.source_port = ev.srcPort;
  if (ev.dstPort !== 0) p.destination_port = ev.dstPort;
  return p;
}

function icmp(ev: FlowEvent): { type?: number; code?: number } {
  const m: { type?: number; code?: number } = {};
  if (ev.icmpType !== 0) m.type = ev.icmpType;
  if (ev.icmpCode !== 0) m.code = ev.icmpCode;
  return m;
}

function layer4(ev: FlowEvent): Layer4Json | undefined {
  if (ev.laterFragment) return undefined;
  switch (ev.protocol) {
    case 6: {
      const p = ports(ev);
      if (ev.tcpFlags !== 0) p.flags = TCP_FLAGS_JSON[ev.tcpFlags & 0xff]!;
      return { TCP: p };
    }
    case 17:
      return { UDP: ports(ev) };
    case 132:
      return { SCTP: ports(ev) };
    case 1:
      return { ICMPv4: icmp(ev) };
    case 58:
      return { ICMPv6: icmp(ev) };
    default:
      return undefined;
  }
}

/** Hubble's Summary: the TCP flags, or the name of the innermost layer it decoded. */
export function summary(ev: FlowEvent): string {
  if (ev.family === 0) return 'Ethernet';
  const ip = ev.family === 4 ? 'IPv4' : 'IPv6';
  if (ev.laterFragment) return ip;
  switch (ev.protocol) {
    case 6:
      return TCP_SUMMARIES[ev.tcpFlags & 0xff]!;
    case 17:
      return 'UDP';
    case 132:
      return 'SCTP';
    case 1:
      return `ICMPv4 ${icmpSummary(4, ev.icmpType, ev.icmpCode)}`;
    case 58:
      return `ICMPv6 ${icmpSummary(6, ev.icmpType, ev.icmpCode)}`;
    default:
      return ip;
  }
}

/** Cilium's words for a drop reason: the type column of a drop line. */
export function dropReasonText(reason: number): string {
  return DROP_REASONS[reason] ?? String(reason);
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

function mac(b: Uint8Array): string {
  return `${HEX[b[0]!]}:${HEX[b[1]!]}:${HEX[b[2]!]}:${HEX[b[3]!]}:${HEX[b[4]!]}:${HEX[b[5]!]}`;
}

/** One spelling per address (RFC 5952 for IPv6), so lookups do not depend on how YAML wrote it. */
export function canonicalIp(ip: string): string {
  try {
    return formatIp(parseIp(ip));
  } catch {
    return ip;
  }
}

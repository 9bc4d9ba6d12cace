// Hubble's flow format: the shape of `flow.Flow` (cilium api/v1/flow/flow.proto) as
// `hubble observe -o json` prints it (protobuf JSON with the .proto field names, enums by
// name, zero values left out), and the numbers behind it (Cilium's monitor message types,
// trace observation points, policy match types, drop reason enum names). Users' tools that
// read Hubble's JSON read ours; what twinpath adds sits outside `flow`, under `twinpath`.

/** Cilium's monitor message types (pkg/monitor/api), Hubble's event_type.type. */
export const MESSAGE_TYPE = { drop: 1, trace: 4, policyVerdict: 5 } as const;

/** Trace sub-types (observation points) of the programs a replay runs. */
export const TRACE_TO_LXC = 0;
export const TRACE_FROM_LXC = 5;
/** A packet arriving at the node from outside (cil_from_netdev). */
export const TRACE_FROM_NETWORK = 10;

/** Cilium's policy match types (pkg/monitor/api), Hubble's policy_match_type, and their words. */
export const POLICY_MATCH_TYPES = ['none', 'L3-Only', 'L3-L4', 'L4-Only', 'all', 'L3-Proto', 'Proto-Only'] as const;

/** flow.proto's DropReason enum names, by number: drop_reason_desc. */
export const DROP_REASON_DESC: Record<number, string> = {
  130: 'INVALID_SOURCE_MAC',
  131: 'INVALID_DESTINATION_MAC',
  132: 'INVALID_SOURCE_IP',
  133: 'POLICY_DENIED',
  134: 'INVALID_PACKET_DROPPED',
  135: 'CT_TRUNCATED_OR_INVALID_HEADER',
  136: 'CT_MISSING_TCP_ACK_FLAG',
  137: 'CT_UNKNOWN_L4_PROTOCOL',
  138: 'CT_CANNOT_CREATE_ENTRY_FROM_PACKET',
  139: 'UNSUPPORTED_L3_PROTOCOL',
  140: 'MISSED_TAIL_CALL',
  141: 'ERROR_WRITING_TO_PACKET',
  142: 'UNKNOWN_L4_PROTOCOL',
  143: 'UNKNOWN_ICMPV4_CODE',
  144: 'UNKNOWN_ICMPV4_TYPE',
  145: 'UNKNOWN_ICMPV6_CODE',
  146: 'UNKNOWN_ICMPV6_TYPE',
  150: 'UNKNOWN_L3_TARGET_ADDRESS',
  151: 'STALE_OR_UNROUTABLE_IP',
  152: 'NO_MATCHING_LOCAL_CONTAINER_FOUND',
  153: 'ERROR_WHILE_CORRECTING_L3_CHECKSUM',
  154: 'ERROR_WHILE_CORRECTING_L4_CHECKSUM',
  155: 'CT_MAP_INSERTION_FAILED',
  156: 'INVALID_IPV6_EXTENSION_HEADER',
  157: 'IP_FRAGMENTATION_NOT_SUPPORTED',
  158: 'SERVICE_BACKEND_NOT_FOUND',
  163: 'UNKNOWN_CONNECTION_TRACKING_STATE',
  166: 'UNSUPPORTED_L2_PROTOCOL',
  171: 'INVALID_IDENTITY',
  174: 'IS_A_CLUSTERIP',
  175: 'FIRST_LOGICAL_DATAGRAM_FRAGMENT_NOT_FOUND',
  176: 'FORBIDDEN_ICMPV6_MESSAGE',
  177: 'DENIED_BY_LB_SRC_RANGE_CHECK',
  180: 'PROXY_REDIRECTION_NOT_SUPPORTED_FOR_PROTOCOL',
  181: 'POLICY_DENY',
  182: 'VLAN_FILTERED',
  189: 'AUTH_REQUIRED',
  196: 'TTL_EXCEEDED',
};

export function dropReasonDesc(reason: number): string {
  return DROP_REASON_DESC[reason] ?? 'DROP_REASON_UNKNOWN';
}

export type Verdict = 'FORWARDED' | 'DROPPED';
export type TrafficDirection = 'INGRESS' | 'EGRESS';

export interface HubbleEndpoint {
  ID?: number;
  identity?: number;
  namespace?: string;
  labels?: string[];
  pod_name?: string;
}

export interface HubblePolicy {
  name: string;
  namespace?: string;
  labels: string[];
  revision?: number;
  kind: string;
}

export interface TcpFlagsJson {
  FIN?: true;
  SYN?: true;
  RST?: true;
  PSH?: true;
  ACK?: true;
  URG?: true;
  ECE?: true;
  CWR?: true;
}

export interface PortsJson {
  source_port?: number;
  destination_port?: number;
}

export type Layer4Json =
  | { TCP: PortsJson & { flags?: TcpFlagsJson } }
  | { UDP: PortsJson }
  | { SCTP: PortsJson }
  | { ICMPv4: { type?: number; code?: number } }
  | { ICMPv6: { type?: number; code?: number } };

/** One flow, field for field as Hubble names it, in flow.proto's declaration order. */
export interface HubbleFlow {
  time: string;
  verdict: Verdict;
  drop_reason?: number;
  ethernet?: { source: string; destination: string };
  IP?: { source: string; destination: string; ipVersion: 'IPv4' | 'IPv6' };
  l4?: Layer4Json;
  source?: HubbleEndpoint;
  destination?: HubbleEndpoint;
  Type: 'L3_L4';
  node_name: string;
  reply?: true;
  event_type: { type: number; sub_type?: number };
  traffic_direction?: TrafficDirection;
  policy_match_type?: number;
  trace_observation_point?: 'TO_ENDPOINT' | 'FROM_ENDPOINT' | 'FROM_NETWORK';
  drop_reason_desc?: string;
  is_reply?: boolean;
  proxy_port?: number;
  egress_allowed_by?: HubblePolicy[];
  ingress_allowed_by?: HubblePolicy[];
  egress_denied_by?: HubblePolicy[];
  ingress_denied_by?: HubblePolicy[];
  Summary: string;
}

/** What twinpath knows about a flow beyond Hubble's fields. */
export interface TwinpathExtras {
  /** The packet's number in the capture, counting from 1 as Wireshark does. */
  packet: number;
  /** The program that decided (absent for a consequence, which ran through none). */
  program?: string;
  /** The conntrack state the program found. */
  ct_state?: string;
  /** The policy rule behind the decision: its id in the compiled policy and its text. */
  rule_id?: number;
  rule?: string;
  /** For an answer to a dropped connection: the packet whose drop it follows from. */
  consequence_of?: number;
}

/** A flow as the replay produced it: Hubble's flow plus twinpath's extras and the exact time. */
export interface ReplayFlow {
  flow: HubbleFlow;
  timeNs: bigint;
  twinpath: TwinpathExtras;
}

/** RFC 3339 in UTC with 0, 3, 6 or 9 fractional digits, as protobuf JSON writes a Timestamp. */
export function rfc3339(ns: bigint, digits?: 0 | 3 | 6 | 9): string {
  const { second, frac } = split(ns);
  const base = second.iso;
  let d = digits;
  if (d === undefined) d = frac === 0 ? 0 : frac % 1_000_000 === 0 ? 3 : frac % 1000 === 0 ? 6 : 9;
  if (d === 0) return `${base}Z`;
  return `${base}.${String(frac).padStart(9, '0').slice(0, d)}Z`;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Go's time.StampMilli ("Jan _2 15:04:05.000"), Hubble's default, in UTC. */
export function stampMilli(ns: bigint): string {
  const { second, frac } = split(ns);
  return `${second.stamp}.${String(Math.floor(frac / 1_000_000)).padStart(3, '0')}`;
}

/** The texts of one whole second: a replay formats many times within the same second. */
interface SecondTexts {
  sec: bigint;
  /** YYYY-MM-DDTHH:MM:SS */
  iso: string;
  /** Mon _2 HH:MM:SS */
  stamp: string;
}

let lastSecond: SecondTexts = secondTexts(0n);

function secondTexts(sec: bigint): SecondTexts {
  const date = new Date(Number(sec) * 1000);
  const iso = date.toISOString();
  const day = String(date.getUTCDate()).padStart(2, ' ');
  return { sec, iso: iso.slice(0, 19), stamp: `${MONTHS[date.getUTCMonth()]} ${day} ${iso.slice(11, 19)}` };
}

function split(ns: bigint): { second: SecondTexts; frac: number } {
  const sec = ns / 1_000_000_000n;
  const frac = Number(ns - sec * 1_000_000_000n);
  if (sec !== lastSecond.sec) lastSecond = secondTexts(sec);
  return { second: lastSecond, frac };
}

export type TimeFormat = 'StampMilli' | 'RFC3339' | 'RFC3339Milli' | 'RFC3339Micro' | 'RFC3339Nano';
export const TIME_FORMATS: readonly TimeFormat[] = ['StampMilli', 'RFC3339', 'RFC3339Milli', 'RFC3339Micro', 'RFC3339Nano'];

// The flows of one packet share its time, and a replay prints several per packet: the last
// text is kept.
let lastNs = -1n;
let lastFormat: TimeFormat | undefined;
let lastText = '';

export function formatTime(ns: bigint, format: TimeFormat): string {
  if (ns === lastNs && format === lastFormat) return lastText;
  lastText = formatTimeUncached(ns, format);
  lastNs = ns;
  lastFormat = format;
  return lastText;
}

function formatTimeUncached(ns: bigint, format: TimeFormat): string {
  switch (format) {
    case 'StampMilli':
      return stampMilli(ns);
    case 'RFC3339':
      return rfc3339(ns, 0);
    case 'RFC3339Milli':
      return rfc3339(ns, 3);
    case 'RFC3339Micro':
      return rfc3339(ns, 6);
    case 'RFC3339Nano':
      return rfc3339(ns, 9);
  }
}

/** One line of `hubble observe -o json`: the GetFlowsResponse, plus twinpath's own object. */
export function flowJsonLine(f: ReplayFlow): string {
  return JSON.stringify({ flow: f.flow, node_name: f.flow.node_name, time: f.flow.time, twinpath: f.twinpath });
}

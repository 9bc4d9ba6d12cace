// Flow events of the endpoint datapath: the ring buffer record `struct flow_event`
// (bpf/lib/events.h) decoded into a plain object (with the service translation the packet went
// through), Cilium's names for the drop reasons the programs use, and address formatting
// (RFC 5952 for IPv6) shared with the map layer.

import { TwinpathError } from '../errors.js';
import type { RunOutput } from '../engine/engine.js';
import { formatIPv6 } from '../util/ip.js';

/** The ring buffer the programs write flow events to. */
export const EVENTS_MAP = 'cilium_events';

/** Cilium's names (pkg/monitor/api, flow.proto) for the drop reasons the datapath reports. */
export const DROP_REASONS: Record<number, string> = {
  133: 'Policy denied',
  134: 'Invalid packet',
  137: 'CT: Unknown L4 protocol',
  139: 'Unsupported L3 protocol',
  141: 'Failed to write or cast packet',
  155: 'CT: Map insertion failed',
  156: 'Invalid IPv6 extension header',
  158: 'Service backend not found',
  168: 'Unsupported protocol for NAT masquerade',
  175: 'First logical datagram fragment not found',
  181: 'Policy denied by denylist',
};

export const DROP_POLICY = 133;
export const DROP_INVALID = 134;
export const DROP_CT_UNKNOWN_PROTO = 137;
export const DROP_UNKNOWN_L3 = 139;
export const DROP_WRITE_ERROR = 141;
export const DROP_CT_CREATE_FAILED = 155;
export const DROP_INVALID_EXTHDR = 156;
/** A service frontend without (usable) backends. */
export const DROP_NO_SERVICE = 158;
/** An SCTP service whose backend port differs from the frontend's (CRC32c cannot be fixed up). */
export const DROP_NAT_UNSUPP_PROTO = 168;
export const DROP_FRAG_NOT_FOUND = 175;
export const DROP_POLICY_DENY = 181;

/** struct flow_event, byte offsets (checked against the object's BTF in test/datapath). */
export const FLOW_EVENT_LAYOUT = {
  size: 112,
  fields: {
    verdict: 0, drop_reason: 1, direction: 2, obs_point: 3, ct_state: 4, family: 5, protocol: 6, tcp_flags: 7,
    endpoint_id: 8, src_port: 10, dst_port: 12, proxy_port: 14, ifindex: 16, src_identity: 20, dst_identity: 24,
    rule_id: 28, length: 32, is_reply: 36, icmp_type: 37, icmp_code: 38, flags: 39, policy_match: 40,
    match_prefix: 41, ethertype: 42, vlan_id: 44, pad: 46, src: 48, dst: 64,
    svc_addr: 80, backend_id: 96, svc_port: 100, rev_nat: 102, lb_xlate: 104, lb_sel: 105, svc_flags: 106, pad2: 108,
  },
} as const;

/** The observation points, by struct flow_event.obs_point (bpf/lib/events.h OBS_*). */
const OBS_POINTS = [undefined, 'from-endpoint', 'to-endpoint', 'from-network'] as const;
const LB_XLATES = ['none', 'dnat', 'rev-nat'] as const;
const LB_SELECTIONS = [undefined, 'conntrack', 'affinity', 'maglev'] as const;
/** Frontend flags (bpf/lib/lb.h LB_SVC_F_*, src/lb/model.ts SVC_FLAGS). */
const SVC_F_AFFINITY = 0x1;
const SVC_F_CLUSTER_IP = 0x2;
const SVC_F_NODE_PORT = 0x4;
const SVC_F_EXTERNAL_IP = 0x8;
const SVC_F_LOCAL = 0x10;

/** What service translation did to a packet whose destination was a frontend, or whose
 * connection's first packet had one. */
export interface ServiceTranslation {
  /** 'dnat': a request's destination (the frontend) was rewritten to the backend; 'rev-nat': a
   * reply's source (the backend) was rewritten back to the frontend; 'none': a frontend matched
   * but the packet was dropped before translation (no backend, SCTP port rewrite). */
  translation: 'dnat' | 'rev-nat' | 'none';
  /** The frontend: a request's original destination, a reply's new source. */
  frontend: string;
  frontendPort: number;
  /** 0 when no backend was chosen. */
  backendId: number;
  revNatIndex: number;
  /** Requests: how the backend was chosen (the flow's service entry, ClientIP affinity, Maglev). */
  selection?: 'conntrack' | 'affinity' | 'maglev';
  /** Requests: the frontend's kind and flags. */
  frontendType?: 'ClusterIP' | 'NodePort' | 'ExternalIP';
  local?: boolean;
  affinity?: boolean;
}

const CT_STATES = ['none', 'new', 'established', 'reply', 'related'] as const;
const POLICY_MATCHES = ['none', 'exact', 'wildcard', 'unenforced', 'default-deny'] as const;

/** How the verdict was reached: no policy lookup ('none': conntrack, no endpoint, not IP, invalid),
 * an entry for the remote identity ('exact') or for any identity ('wildcard'), no entry but the
 * endpoint is not isolated ('unenforced'), or no entry ('default-deny'). */
export type PolicyMatch = (typeof POLICY_MATCHES)[number];

const PKT_F_FRAGMENT = 0x01;
const PKT_F_LATER_FRAG = 0x02;
const PKT_F_ICMP_ERROR = 0x04;
const PKT_F_VLAN = 0x08;
const FLOW_F_NO_ENDPOINT = 0x80;

export interface FlowEvent {
  verdict: 'FORWARDED' | 'DROPPED';
  /** 0 when forwarded; Cilium's numbers otherwise. */
  dropReason: number;
  dropReasonName?: string;
  direction: 'ingress' | 'egress';
  /** from-endpoint: cil_from_container; to-endpoint: cil_to_container; from-network:
   * cil_from_netdev (arrived at the node from outside; endpointId names the local endpoint it
   * was for, 0 when none). */
  observationPoint: 'from-endpoint' | 'to-endpoint' | 'from-network';
  /** 0 when the interface is no endpoint (then `noEndpoint` is true and no policy applied). */
  endpointId: number;
  ifindex: number;
  srcIdentity: number;
  dstIdentity: number;
  ruleId: number;
  isReply: boolean;
  ctState: 'new' | 'established' | 'reply' | 'related' | 'none';
  /** 0 for a packet that is not IP (ARP, or an unsupported EtherType). */
  family: 4 | 6 | 0;
  src: string;
  dst: string;
  /** Conntrack ports: TCP/UDP/SCTP ports; ICMP echo request identifier as srcPort, echo reply
   * identifier as dstPort; 0 otherwise. */
  srcPort: number;
  dstPort: number;
  protocol: number;
  tcpFlags: number;
  /** The packet's length (skb->len). */
  length: number;
  proxyPort: number;
  /** ICMP and ICMPv6: message type and code (0 otherwise). */
  icmpType: number;
  icmpCode: number;
  policyMatch: PolicyMatch;
  /** The matched policy entry's prefix beyond identity: 0 any protocol, 8 one protocol, 8 + N
   * the protocol and N port bits. */
  matchPrefix: number;
  noEndpoint: boolean;
  fragment: boolean;
  laterFragment: boolean;
  icmpError: boolean;
  /** EtherType after VLAN tags, and the outer VLAN id (0 when untagged). */
  ethertype: number;
  vlanId: number;
  vlan: boolean;
  /** Present when a service frontend was involved. src/dst and the ports above are what policy
   * and conntrack saw: the backend (after DNAT for a request, before reverse NAT for a reply). */
  service?: ServiceTranslation;
}

// A replay formats the same few addresses for every packet: their IPv4 text is kept by value.
// Bounded: the cache starts again when full, so a capture of many addresses costs no memory.
const IPV4_CACHE_MAX = 65_536;
const ipv4Texts = new Map<number, string>();

/** The dotted quad of the 4 bytes at `at`, without an intermediate array or view. */
export function ipv4Text(b: Uint8Array, at = 0): string {
  const key = ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
  let text = ipv4Texts.get(key);
  if (text === undefined) {
    if (ipv4Texts.size >= IPV4_CACHE_MAX) ipv4Texts.clear();
    text = `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
    ipv4Texts.set(key, text);
  }
  return text;
}

/** Formats 4 bytes as dotted quad, 16 as RFC 5952 IPv6 text. */
export function formatIp(b: Uint8Array): string {
  if (b.length === 4) return ipv4Text(b);
  if (b.length !== 16) throw new TwinpathError('DATAPATH_ERROR', `an address has 4 or 16 bytes, not ${b.length}`);
  return formatIPv6(b);
}

// Little-endian reads by byte arithmetic: every program run decodes its events, and a DataView
// per record costs more than the reads.
function u16(b: Uint8Array, at: number): number {
  return b[at]! | (b[at + 1]! << 8);
}

function u32(b: Uint8Array, at: number): number {
  return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
}

function addressAt(data: Uint8Array, at: number, family: 0 | 4 | 6): string {
  if (family === 0) return '';
  return family === 4 ? ipv4Text(data, at) : formatIPv6(data, at);
}

export function decodeFlowEvent(data: Uint8Array): FlowEvent {
  // Records of objects built before the service fields were added end at svc_addr: still read.
  if (data.length < FLOW_EVENT_LAYOUT.size && data.length !== FLOW_EVENT_LAYOUT.fields.svc_addr) {
    throw new TwinpathError('DATAPATH_ERROR', `a flow event is ${FLOW_EVENT_LAYOUT.size} bytes, this record has ${data.length}`);
  }
  const f = FLOW_EVENT_LAYOUT.fields;
  const reason = data[f.drop_reason]!;
  const family = data[f.family] === 4 ? 4 : data[f.family] === 6 ? 6 : 0;
  const flags = data[f.flags]!;
  const ev: FlowEvent = {
    verdict: data[f.verdict] === 2 ? 'DROPPED' : 'FORWARDED',
    dropReason: reason,
    direction: data[f.direction] === 1 ? 'egress' : 'ingress',
    observationPoint: OBS_POINTS[data[f.obs_point]!] ?? 'to-endpoint',
    endpointId: u16(data, f.endpoint_id),
    ifindex: u32(data, f.ifindex),
    srcIdentity: u32(data, f.src_identity),
    dstIdentity: u32(data, f.dst_identity),
    ruleId: u32(data, f.rule_id),
    isReply: data[f.is_reply] !== 0,
    ctState: CT_STATES[data[f.ct_state]!] ?? 'none',
    family,
    src: addressAt(data, f.src, family),
    dst: addressAt(data, f.dst, family),
    srcPort: u16(data, f.src_port),
    dstPort: u16(data, f.dst_port),
    protocol: data[f.protocol]!,
    tcpFlags: data[f.tcp_flags]!,
    length: u32(data, f.length),
    proxyPort: u16(data, f.proxy_port),
    icmpType: data[f.icmp_type]!,
    icmpCode: data[f.icmp_code]!,
    policyMatch: POLICY_MATCHES[data[f.policy_match]!] ?? 'none',
    matchPrefix: data[f.match_prefix]!,
    noEndpoint: (flags & FLOW_F_NO_ENDPOINT) !== 0,
    fragment: (flags & PKT_F_FRAGMENT) !== 0,
    laterFragment: (flags & PKT_F_LATER_FRAG) !== 0,
    icmpError: (flags & PKT_F_ICMP_ERROR) !== 0,
    ethertype: u16(data, f.ethertype),
    vlanId: u16(data, f.vlan_id),
    vlan: (flags & PKT_F_VLAN) !== 0,
  };
  if (reason !== 0) ev.dropReasonName = DROP_REASONS[reason] ?? `unknown reason ${reason}`;
  if (data.length < FLOW_EVENT_LAYOUT.size) return ev;
  const xlate = LB_XLATES[data[f.lb_xlate]!] ?? 'none';
  const revNat = u16(data, f.rev_nat);
  if (xlate !== 'none' || revNat !== 0) {
    const svc: ServiceTranslation = {
      translation: xlate,
      frontend: addressAt(data, f.svc_addr, family),
      frontendPort: u16(data, f.svc_port),
      backendId: u32(data, f.backend_id),
      revNatIndex: revNat,
    };
    const sel = LB_SELECTIONS[data[f.lb_sel]!];
    if (sel) svc.selection = sel;
    const flags = u16(data, f.svc_flags);
    if (flags & (SVC_F_CLUSTER_IP | SVC_F_NODE_PORT | SVC_F_EXTERNAL_IP)) {
      svc.frontendType = flags & SVC_F_NODE_PORT ? 'NodePort' : flags & SVC_F_EXTERNAL_IP ? 'ExternalIP' : 'ClusterIP';
      svc.local = (flags & SVC_F_LOCAL) !== 0;
      svc.affinity = (flags & SVC_F_AFFINITY) !== 0;
    }
    ev.service = svc;
  }
  return ev;
}

/** The flow events of a run, decoded, in the order the program wrote them. */
export function flowEvents(out: RunOutput): FlowEvent[] {
  const events: FlowEvent[] = [];
  for (const e of out.events) if (e.kind === 'ringbuf' && (e.map === undefined || e.map === EVENTS_MAP)) events.push(decodeFlowEvent(e.data));
  return events;
}

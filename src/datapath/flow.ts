// Flow events of the endpoint datapath: the ring buffer record `struct flow_event`
// (bpf/lib/events.h) decoded into a plain object (with the service translation the packet went
// through), Cilium's names for the drop reasons the programs use, and address formatting
// (RFC 5952 for IPv6) shared with the map layer.

import { TwinpathError } from '../errors.js';
import type { RunOutput } from '../engine/engine.js';

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

/** Formats 4 bytes as dotted quad, 16 as RFC 5952 IPv6 text. */
export function formatIp(b: Uint8Array): string {
  if (b.length === 4) return Array.from(b).join('.');
  if (b.length !== 16) throw new TwinpathError('DATAPATH_ERROR', `an address has 4 or 16 bytes, not ${b.length}`);
  const groups = Array.from({ length: 8 }, (_, i) => (b[2 * i]! << 8) | b[2 * i + 1]!);
  // The longest run of two or more zero groups (the first of equals) becomes "::".
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (g: number[]) => g.map((x) => x.toString(16)).join(':');
  if (best < 0) return hex(groups);
  return `${hex(groups.slice(0, best))}::${hex(groups.slice(best + bestLen))}`;
}

export function decodeFlowEvent(data: Uint8Array): FlowEvent {
  // Records of objects built before the service fields were added end at svc_addr: still read.
  if (data.length < FLOW_EVENT_LAYOUT.size && data.length !== FLOW_EVENT_LAYOUT.fields.svc_addr) {
    throw new TwinpathError('DATAPATH_ERROR', `a flow event is ${FLOW_EVENT_LAYOUT.size} bytes, this record has ${data.length}`);
  }
  const f = FLOW_EVENT_LAYOUT.fields;
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const reason = data[f.drop_reason]!;
  const family = data[f.family] === 4 ? 4 : data[f.family] === 6 ? 6 : 0;
  const alen = family === 6 ? 16 : 4;
  const flags = data[f.flags]!;
  const ev: FlowEvent = {
    verdict: data[f.verdict] === 2 ? 'DROPPED' : 'FORWARDED',
    dropReason: reason,
    direction: data[f.direction] === 1 ? 'egress' : 'ingress',
    observationPoint: OBS_POINTS[data[f.obs_point]!] ?? 'to-endpoint',
    endpointId: dv.getUint16(f.endpoint_id, true),
    ifindex: dv.getUint32(f.ifindex, true),
    srcIdentity: dv.getUint32(f.src_identity, true),
    dstIdentity: dv.getUint32(f.dst_identity, true),
    ruleId: dv.getUint32(f.rule_id, true),
    isReply: data[f.is_reply] !== 0,
    ctState: CT_STATES[data[f.ct_state]!] ?? 'none',
    family,
    src: family === 0 ? '' : formatIp(data.subarray(f.src, f.src + alen)),
    dst: family === 0 ? '' : formatIp(data.subarray(f.dst, f.dst + alen)),
    srcPort: dv.getUint16(f.src_port, true),
    dstPort: dv.getUint16(f.dst_port, true),
    protocol: data[f.protocol]!,
    tcpFlags: data[f.tcp_flags]!,
    length: dv.getUint32(f.length, true),
    proxyPort: dv.getUint16(f.proxy_port, true),
    icmpType: data[f.icmp_type]!,
    icmpCode: data[f.icmp_code]!,
    policyMatch: POLICY_MATCHES[data[f.policy_match]!] ?? 'none',
    matchPrefix: data[f.match_prefix]!,
    noEndpoint: (flags & FLOW_F_NO_ENDPOINT) !== 0,
    fragment: (flags & PKT_F_FRAGMENT) !== 0,
    laterFragment: (flags & PKT_F_LATER_FRAG) !== 0,
    icmpError: (flags & PKT_F_ICMP_ERROR) !== 0,
    ethertype: dv.getUint16(f.ethertype, true),
    vlanId: dv.getUint16(f.vlan_id, true),
    vlan: (flags & PKT_F_VLAN) !== 0,
  };
  if (reason !== 0) ev.dropReasonName = DROP_REASONS[reason] ?? `unknown reason ${reason}`;
  if (data.length < FLOW_EVENT_LAYOUT.size) return ev;
  const xlate = LB_XLATES[data[f.lb_xlate]!] ?? 'none';
  const revNat = dv.getUint16(f.rev_nat, true);
  if (xlate !== 'none' || revNat !== 0) {
    const svc: ServiceTranslation = {
      translation: xlate,
      frontend: family === 0 ? '' : formatIp(data.subarray(f.svc_addr, f.svc_addr + alen)),
      frontendPort: dv.getUint16(f.svc_port, true),
      backendId: dv.getUint32(f.backend_id, true),
      revNatIndex: revNat,
    };
    const sel = LB_SELECTIONS[data[f.lb_sel]!];
    if (sel) svc.selection = sel;
    const flags = dv.getUint16(f.svc_flags, true);
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
  return out.events.filter((e) => e.kind === 'ringbuf' && (e.map === undefined || e.map === EVENTS_MAP)).map((e) => decodeFlowEvent(e.data));
}

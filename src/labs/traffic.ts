// A lab's traffic: the spec (`traffic.json`, a list of named conversations between pods and
// outside addresses) and the packets it stands for, built with the project's packet builder.
// scripts/gen-lab-captures.mjs writes them as the capture beside the spec; a check replays that
// capture and uses the same expansion to know which packet belongs to which named flow. Pure:
// the same spec always gives the same bytes, ports and timestamps.
//
// A spec:
//   { "description": "...",
//     "addresses": { "default/xwing": "10.0.1.12", ... },      pod -> address, as in the cluster
//     "flows": [ { "name": "xwing-lands", "from": "default/xwing", "to": "default/deathstar",
//                  "protocol": "TCP", "port": 80,
//                  "request": "text", "response": "text",      optional payloads (TCP, UDP)
//                  "answer": false,                            no packets back (default: answered)
//                  "replyFrom": "shop/cart-0", "replyPort": 8080,   who answered (below)
//                  "truncate": 38 } ] }                        cut every frame to this many bytes
// An endpoint is `namespace/pod` (from `addresses`) or `ip:ADDRESS`.
//
// A flow to a service frontend (a ClusterIP) is answered by a backend, not by the frontend:
// `replyFrom` (and `replyPort`, default `port`) names the pod whose replies the capture holds, as
// they left that pod, before the datapath's reverse NAT rewrote their source to the frontend. So
// a replay runs both translations: DNAT on the requests, reverse NAT on the replies. A check
// whose datapath picks another backend than the recorded one asks for that backend's replies
// instead (ExpandOptions.replyFrom).
//
// What a flow becomes: TCP: SYN, SYN-ACK, ACK, then the request and the response as PSH-ACK
// segments when given; UDP: the datagram and its response; ICMP (echo): request and reply.
// Packets are 1 ms apart from 2024-01-01T00:00:00Z; client ports count up from 32768.

import { TwinpathError } from '../errors.js';
import { icmpEcho, tcp, udp } from '../pcap/build.js';
import { CLIENT_MAC, SERVER_MAC, SourcePorts } from '../datapath/packets.js';
import { LabNode, readLabFile } from './yamlfile.js';
import { parseIPBytes } from '../util/ip.js';

export const TRAFFIC_PROTOCOLS = ['TCP', 'UDP', 'ICMP', 'ICMPv6'] as const;
export type TrafficProtocol = (typeof TRAFFIC_PROTOCOLS)[number];

export const TRAFFIC_START_NS = 1_704_067_200_000_000_000n;
export const TRAFFIC_STEP_NS = 1_000_000n;

export interface TrafficFlowSpec {
  name: string;
  from: string;
  to: string;
  protocol: TrafficProtocol;
  /** Destination port (TCP, UDP); 0 for ICMP. */
  port: number;
  request?: string;
  response?: string;
  answer: boolean;
  /** Who answers, when not `to` (a service's backend): an endpoint as `from` and `to` are. */
  replyFrom?: string;
  /** The port the replies come from (default `port`). */
  replyPort?: number;
  truncate?: number;
}

export interface TrafficSpec {
  file: string;
  description: string;
  addresses: Map<string, string>;
  flows: TrafficFlowSpec[];
}

export interface TrafficPacket {
  /** From 1, as the replay counts. */
  packet: number;
  flow: string;
  direction: 'request' | 'reply';
  timeNs: bigint;
  frame: Uint8Array;
  /** The frame's length before truncation. */
  originalLength: number;
}

/** A flow of the spec with the numbers of its packets in the capture. */
export interface TrafficFlow extends TrafficFlowSpec {
  fromIp: string;
  toIp: string;
  /** The address and port the replies come from (`toIp` and `port` unless `replyFrom` says otherwise). */
  replyIp: string;
  replyPortNumber: number;
  clientPort: number;
  requests: number[];
  replies: number[];
}

export interface Traffic {
  spec: TrafficSpec;
  flows: TrafficFlow[];
  packets: TrafficPacket[];
}

const SPEC_FIELDS = ['description', 'addresses', 'flows'] as const;
const FLOW_FIELDS = ['name', 'from', 'to', 'protocol', 'port', 'request', 'response', 'answer', 'replyFrom', 'replyPort', 'truncate'] as const;

export function readTrafficSpec(file: string): TrafficSpec {
  return parseTrafficSpec(readLabFile(file));
}

export function parseTrafficSpec(root: LabNode): TrafficSpec {
  const f = root.fields(SPEC_FIELDS);
  const addresses = new Map<string, string>();
  const addrNode = LabNode.field(f, root, 'addresses');
  if (!addrNode.missing) {
    for (const [name, n] of addrNode.entries()) {
      if (!/^[a-z0-9.-]+\/[a-z0-9.-]+$/.test(name)) n.fail('an address is named namespace/pod');
      const ip = n.string();
      if (!isIp(ip)) n.fail(`"${ip}" is not an IPv4 or IPv6 address`);
      addresses.set(name, ip);
    }
  }
  const flows: TrafficFlowSpec[] = [];
  const names = new Set<string>();
  for (const n of LabNode.field(f, root, 'flows').required().seq()) {
    const ff = n.fields(FLOW_FIELDS);
    const get = (k: (typeof FLOW_FIELDS)[number]) => LabNode.field(ff, n, k);
    const name = get('name').string();
    if (names.has(name)) get('name').fail(`flow "${name}" is named twice`);
    names.add(name);
    const protocol = get('protocol').oneOf(TRAFFIC_PROTOCOLS);
    const flow: TrafficFlowSpec = {
      name,
      from: endpoint(get('from'), addresses),
      to: endpoint(get('to'), addresses),
      protocol,
      port: protocol.startsWith('ICMP') ? 0 : get('port').int(1, 65535),
      answer: get('answer').missing ? true : get('answer').bool(),
    };
    if (protocol.startsWith('ICMP') && !get('port').missing) get('port').fail('ICMP flows have no port');
    for (const k of ['request', 'response'] as const) {
      if (get(k).missing) continue;
      if (protocol.startsWith('ICMP')) get(k).fail('ICMP echo flows carry no payload');
      flow[k] = get(k).string();
    }
    if (!get('truncate').missing) flow.truncate = get('truncate').int(14, 1514);
    if (!get('replyFrom').missing) {
      if (!flow.answer) get('replyFrom').fail('an unanswered flow has no replies');
      flow.replyFrom = endpoint(get('replyFrom'), addresses);
    }
    if (!get('replyPort').missing) {
      if (protocol.startsWith('ICMP')) get('replyPort').fail('ICMP flows have no port');
      if (flow.replyFrom === undefined) get('replyPort').fail('replyPort goes with replyFrom');
      flow.replyPort = get('replyPort').int(1, 65535);
    }
    const ends = [flow.from, flow.to, ...(flow.replyFrom === undefined ? [] : [flow.replyFrom])];
    const v6 = ends.map((e) => resolve(e, addresses).includes(':'));
    if (v6.some((x) => x !== v6[0])) n.fail('the ends of a flow must be of the same address family');
    if ((protocol === 'ICMPv6') !== v6[0] && protocol.startsWith('ICMP')) get('protocol').fail(`${protocol} does not go with ${v6[0] ? 'IPv6' : 'IPv4'} addresses`);
    flows.push(flow);
  }
  const desc = LabNode.field(f, root, 'description');
  return { file: root.file, description: desc.missing ? '' : desc.string(), addresses, flows };
}

function endpoint(n: LabNode, addresses: Map<string, string>): string {
  const v = n.string();
  if (v.startsWith('ip:')) {
    if (!isIp(v.slice(3))) n.fail(`"${v.slice(3)}" is not an IPv4 or IPv6 address`);
    return v;
  }
  if (!addresses.has(v)) n.fail(`"${v}" is neither ip:ADDRESS nor a pod named in "addresses"`);
  return v;
}

function resolve(ep: string, addresses: Map<string, string>): string {
  return ep.startsWith('ip:') ? ep.slice(3) : addresses.get(ep)!;
}

function isIp(s: string): boolean {
  return parseIPBytes(s) !== undefined;
}

// Fixed sequence numbers: arbitrary, distinct per side, so a reader of a dump can tell them apart.
const CLIENT_ISN = 0x1000_0000;
const SERVER_ISN = 0x2000_0000;

export interface ExpandOptions {
  /** Per flow name: the address and port its replies come from instead of the spec's (a check
   * whose datapath chose another backend than the recorded one). */
  replyFrom?: ReadonlyMap<string, { ip: string; port: number }>;
}

/** Every packet of the spec, in capture order, and each flow's packet numbers. */
export function expandTraffic(spec: TrafficSpec, opts: ExpandOptions = {}): Traffic {
  const ports = new SourcePorts();
  const packets: TrafficPacket[] = [];
  const flows: TrafficFlow[] = [];
  let time = TRAFFIC_START_NS;
  for (const s of spec.flows) {
    const toIp = resolve(s.to, spec.addresses);
    const other = opts.replyFrom?.get(s.name);
    const flow: TrafficFlow = {
      ...s,
      fromIp: resolve(s.from, spec.addresses),
      toIp,
      replyIp: other?.ip ?? (s.replyFrom === undefined ? toIp : resolve(s.replyFrom, spec.addresses)),
      replyPortNumber: other?.port ?? s.replyPort ?? s.port,
      clientPort: ports.next(),
      requests: [],
      replies: [],
    };
    const push = (direction: 'request' | 'reply', frame: Uint8Array) => {
      const packet = packets.length + 1;
      const cut = s.truncate !== undefined && s.truncate < frame.length ? frame.slice(0, s.truncate) : frame;
      packets.push({ packet, flow: s.name, direction, timeNs: time, frame: cut, originalLength: frame.length });
      (direction === 'request' ? flow.requests : flow.replies).push(packet);
      time += TRAFFIC_STEP_NS;
    };
    const there = { srcMac: CLIENT_MAC, dstMac: SERVER_MAC, src: flow.fromIp, dst: flow.toIp };
    const back = { srcMac: SERVER_MAC, dstMac: CLIENT_MAC, src: flow.replyIp, dst: flow.fromIp };
    const c = flow.clientPort;
    const r = flow.replyPortNumber;
    switch (s.protocol) {
      case 'TCP': {
        push('request', tcp({ ...there, sport: c, dport: s.port, flags: 'S', seq: CLIENT_ISN }));
        if (!s.answer) break;
        push('reply', tcp({ ...back, sport: r, dport: c, flags: 'SA', seq: SERVER_ISN, ack: CLIENT_ISN + 1 }));
        push('request', tcp({ ...there, sport: c, dport: s.port, flags: 'A', seq: CLIENT_ISN + 1, ack: SERVER_ISN + 1 }));
        const req = s.request ?? '';
        if (req !== '') push('request', tcp({ ...there, sport: c, dport: s.port, flags: 'PA', seq: CLIENT_ISN + 1, ack: SERVER_ISN + 1, payload: req }));
        if (s.response !== undefined) {
          push('reply', tcp({ ...back, sport: r, dport: c, flags: 'PA', seq: SERVER_ISN + 1, ack: CLIENT_ISN + 1 + req.length, payload: s.response }));
        }
        break;
      }
      case 'UDP':
        push('request', udp({ ...there, sport: c, dport: s.port, payload: s.request ?? 'request' }));
        if (s.answer) push('reply', udp({ ...back, sport: r, dport: c, payload: s.response ?? 'response' }));
        break;
      case 'ICMP':
      case 'ICMPv6':
        push('request', icmpEcho({ ...there, identifier: c, sequence: 1 }));
        if (s.answer) push('reply', icmpEcho({ ...back, reply: true, identifier: c, sequence: 1 }));
        break;
    }
    flows.push(flow);
  }
  return { spec, flows, packets };
}

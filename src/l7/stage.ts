// The L7 stage: what Cilium's proxy does with the connections the datapath redirects to it,
// run over captured packets. The replay (or a probe) hands it every TCP packet it forwarded,
// with the datapath's mark when the deciding program found a proxy port; the stage starts
// tracking a connection at its first marked packet and from then on takes both directions of it
// by address and port alone. Each side is reassembled into its byte stream, the client's parsed
// as HTTP requests and the server's as responses; each request is judged by the HTTP rules that
// apply (src/l7/resolve.ts, src/l7/policy.ts) and reported as an L7 flow; a denied request gets
// the proxy's own 403 answer, and the server's answer to it in the capture (recorded without
// the policy) is not reported. A malformed request gets 400, and that side is parsed no more.
// Connections picked up without their handshake are tracked but not parsed: a proxy always sees
// a connection from its start.

import type { FlowEvent } from '../datapath/flow.js';
import type { HubbleEndpoint, TrafficDirection } from '../flows/hubble.js';
import type { Direction } from '../policy/model.js';
import { HttpParser, type HttpEvent, type HttpLimits, type HttpRequest, type HttpResponse } from './http.js';
import { ACCESS_DENIED, describeHttpRule, l7Verdict, type HttpRuleMatcher } from './policy.js';
import { connectionKey, TcpReassembler, type Connection, type EvictCause, type ReassemblyLimits, type Side, type StreamEvent } from './reassembly.js';
import type { L7Policy, L7RuleSet } from './resolve.js';
import { tcpSegmentOf, TH_ACK, TH_SYN, type TcpSegment } from './segment.js';
import {
  headersJson, l7Summary, flowTime, MESSAGE_TYPE_ACCESS_LOG, requestUrl,
  type L7Extras, type L7Flow, type L7Notice, type Layer7Json,
} from './flow.js';

/** What the datapath said about a packet it redirected (from its flow event and the flow builder). */
export interface L7Mark {
  /** The entry's proxy port (FlowEvent.proxyPort); 0 means not redirected. */
  proxyPort: number;
  /** The endpoint whose policy decided, and the direction of that policy. */
  endpointId: number;
  direction: Direction;
  srcIdentity: number;
  dstIdentity: number;
  /** Whether this packet travels server -> client (FlowEvent.isReply). */
  isReply: boolean;
  /** The server port the policy was looked up with (after service translation); the packet's when absent. */
  serverPort?: number;
  /** Hubble's description of the packet's source and destination, as the L3/L4 flow has them. */
  source?: HubbleEndpoint;
  destination?: HubbleEndpoint;
  /** The node whose proxy handles the connection. */
  node?: string;
}

/** The mark of a datapath flow event, or null when its entry had no proxy port. `names` are the
 * source and destination of the Hubble flow built from the same event (src/flows/build.ts). */
export function markOf(ev: FlowEvent, node: string, names?: { source?: HubbleEndpoint; destination?: HubbleEndpoint }): L7Mark | null {
  if (ev.proxyPort === 0 || ev.verdict !== 'FORWARDED') return null;
  const mark: L7Mark = {
    proxyPort: ev.proxyPort,
    endpointId: ev.endpointId,
    direction: ev.direction,
    srcIdentity: ev.srcIdentity,
    dstIdentity: ev.dstIdentity,
    isReply: ev.isReply,
    serverPort: ev.isReply ? ev.srcPort : ev.dstPort,
    node,
  };
  if (names?.source) mark.source = names.source;
  if (names?.destination) mark.destination = names.destination;
  return mark;
}

export interface L7StageOptions {
  policy: L7Policy;
  reassembly?: Partial<ReassemblyLimits>;
  http?: Partial<HttpLimits>;
  /** Node name when marks carry none. */
  nodeName?: string;
}

export interface L7Output {
  flows: L7Flow[];
  notices: L7Notice[];
}

/** The output of a packet that produced nothing (most packets): shared, never modified. */
const NOTHING: L7Output = Object.freeze({ flows: Object.freeze([]) as unknown as L7Flow[], notices: Object.freeze([]) as unknown as L7Notice[] });

interface Pending {
  request: HttpRequest;
  url: string;
  timeNs: bigint;
  /** False when the proxy answered itself: the server's answer in the capture is not shown. */
  forwarded: boolean;
}

interface ConnState {
  key: string;
  client: { ip: string; port: number; ep?: HubbleEndpoint };
  server: { ip: string; port: number; ep?: HubbleEndpoint };
  family: 4 | 6;
  direction: Direction;
  node: string;
  rules: L7RuleSet | null;
  parsed: boolean;
  requests: HttpParser;
  responses: HttpParser;
  waiting: Pending[];
  /** The capture packet being processed (for the flows' extras). */
  packet?: number;
}

export interface L7Stats {
  connections: number;
  requests: number;
  forwarded: number;
  dropped: number;
  responses: number;
  /** Server answers in the capture to requests the proxy denied: not shown. */
  suppressedResponses: number;
  parseErrors: number;
  gaps: number;
  evictions: number;
}

export class L7Stage {
  private readonly reasm: TcpReassembler<ConnState>;
  private readonly policy: L7Policy;
  private readonly httpLimits: Partial<HttpLimits>;
  private readonly nodeName: string;
  private out: L7Output = { flows: [], notices: [] };
  /** The time of the packet being handled (evictions happen while handling one). */
  private now = 0n;
  readonly stats: L7Stats = {
    connections: 0, requests: 0, forwarded: 0, dropped: 0, responses: 0, suppressedResponses: 0, parseErrors: 0, gaps: 0, evictions: 0,
  };

  constructor(opts: L7StageOptions) {
    this.policy = opts.policy;
    this.httpLimits = opts.http ?? {};
    this.nodeName = opts.nodeName ?? '';
    this.reasm = new TcpReassembler<ConnState>(opts.reassembly, (conn, why) => this.evicted(conn, why));
  }

  /** Connections currently tracked. */
  get connections(): number {
    return this.reasm.size;
  }

  /** Feeds one forwarded packet (an Ethernet frame) with the datapath's mark, if it had one. */
  packet(frame: Uint8Array, timeNs: bigint, mark?: L7Mark | null, packetNumber?: number): L7Output {
    this.now = timeNs;
    const seg = tcpSegmentOf(frame);
    if (seg) {
      let r = this.reasm.segment(seg, timeNs);
      if (!r && mark && mark.proxyPort !== 0) {
        this.open(seg, mark, timeNs, packetNumber);
        r = this.reasm.segment(seg, timeNs);
      }
      if (r) {
        r.conn.data.packet = packetNumber;
        this.handle(r.conn, r.events);
      }
    }
    return this.take();
  }

  /** End of the capture: holes still open are reported as gaps. */
  finish(timeNs: bigint): L7Output {
    this.now = timeNs;
    for (const { conn, events } of this.reasm.flush(timeNs)) this.handle(conn, events);
    return this.take();
  }

  private take(): L7Output {
    const o = this.out;
    if (o.flows.length === 0 && o.notices.length === 0) return NOTHING;
    this.out = { flows: [], notices: [] };
    return o;
  }

  private open(seg: TcpSegment, mark: L7Mark, timeNs: bigint, packet: number | undefined): void {
    const fromClient = !mark.isReply;
    const client = fromClient ? { ip: seg.src, port: seg.srcPort, ep: mark.source } : { ip: seg.dst, port: seg.dstPort, ep: mark.destination };
    const server = fromClient ? { ip: seg.dst, port: seg.dstPort, ep: mark.destination } : { ip: seg.src, port: seg.srcPort, ep: mark.source };
    const identity = mark.direction === 'ingress' ? mark.srcIdentity : mark.dstIdentity;
    // The peer of the policy is the client on ingress (source of a request), the server on egress.
    const peerIdentity = mark.isReply ? (mark.direction === 'ingress' ? mark.dstIdentity : mark.srcIdentity) : identity;
    const rules = this.policy.rulesFor({ endpointId: mark.endpointId, direction: mark.direction, identity: peerIdentity, port: mark.serverPort ?? server.port });
    const key = connectionKey(client, server);
    // Only a client's SYN (no ACK) starts a connection as the proxy would see it.
    const parsed = fromClient && (seg.flags & (TH_SYN | TH_ACK)) === TH_SYN;
    const state: ConnState = {
      key,
      client,
      server,
      family: seg.family,
      direction: mark.direction,
      node: mark.node ?? this.nodeName,
      rules,
      parsed,
      requests: new HttpParser('request', this.httpLimits),
      responses: new HttpParser('response', this.httpLimits),
      waiting: [],
      packet,
    };
    this.reasm.open(client, server, state);
    this.stats.connections++;
    if (!parsed) this.notice(state, 'midstream', timeNs, 'the connection started before the capture (no SYN): not parsed');
  }

  private handle(conn: Connection<ConnState>, events: StreamEvent[]): void {
    const st = conn.data;
    for (const ev of events) {
      switch (ev.kind) {
        case 'data':
          if (st.parsed) this.http(st, ev.side, (ev.side === 'client' ? st.requests : st.responses).push(ev.bytes, ev.timeNs));
          break;
        case 'end':
          if (st.parsed) this.http(st, ev.side, (ev.side === 'client' ? st.requests : st.responses).end(ev.timeNs));
          break;
        case 'gap':
          this.stats.gaps++;
          if (st.parsed) {
            const known = ev.missing > 0 ? `${ev.missing} bytes` : 'bytes';
            this.notice(st, 'gap', ev.timeNs, `${known} missing from offset ${ev.offset} (${ev.cause}): no longer parsed`, ev.side);
            (ev.side === 'client' ? st.requests : st.responses).stopOpaque('gap', ev.timeNs);
          }
          break;
        case 'reset':
          break;
      }
    }
  }

  private http(st: ConnState, side: Side, events: HttpEvent[]): void {
    for (const ev of events) {
      switch (ev.kind) {
        case 'request':
          this.request(st, ev.request, ev.timeNs);
          break;
        case 'response':
          this.response(st, ev.response, ev.timeNs);
          break;
        case 'error':
          if (side === 'client') this.malformed(st, ev.error.reason, ev.timeNs);
          else this.notice(st, 'gap', ev.timeNs, `unparseable response: ${ev.error.reason}`, 'server');
          break;
        case 'opaque':
          this.notice(st, 'opaque', ev.timeNs, ev.reason, side);
          // Once one side has left HTTP, the other's bytes are not HTTP either.
          (side === 'client' ? st.responses : st.requests).stopOpaque(ev.reason, ev.timeNs);
          break;
        case 'message-end':
          break;
      }
    }
  }

  private request(st: ConnState, req: HttpRequest, timeNs: bigint): void {
    this.stats.requests++;
    st.responses.expectResponseTo(req.method);
    const url = requestUrl(req.host, req.path !== '' ? req.path : req.target, st.server);
    const extras: L7Extras = { connection: st.key, ...(st.packet !== undefined ? { packet: st.packet } : {}) };
    let verdict: 'FORWARDED' | 'DROPPED';
    const rules = st.rules;
    if (rules === null) {
      // Marked by the datapath but no HTTP rule found for it: the proxy has nothing that allows.
      verdict = 'DROPPED';
    } else if (rules.allowAllBy !== undefined) {
      verdict = 'FORWARDED';
      extras.allowed_by_l4_rule = rules.allowAllBy;
    } else {
      const v = l7Verdict(rules.rules, req);
      verdict = v.verdict;
      if (v.matchedRule) this.ruleExtras(extras, v.matchedRule);
    }
    const l7: Layer7Json = { type: 'REQUEST', http: { method: req.method, url, protocol: req.version, ...this.headers(req.headers) } };
    this.out.flows.push(this.flow(st, false, verdict, l7, timeNs, extras));
    st.waiting.push({ request: req, url, timeNs, forwarded: verdict === 'FORWARDED' });
    if (verdict === 'FORWARDED') this.stats.forwarded++;
    else {
      this.stats.dropped++;
      this.proxyAnswer(st, req, url, ACCESS_DENIED.code, timeNs);
    }
  }

  private malformed(st: ConnState, reason: string, timeNs: bigint): void {
    this.stats.parseErrors++;
    this.stats.dropped++;
    const extras: L7Extras = { connection: st.key, parse_error: reason, ...(st.packet !== undefined ? { packet: st.packet } : {}) };
    const url = requestUrl('', '', st.server);
    const l7: Layer7Json = { type: 'REQUEST', http: { method: '', url, protocol: 'HTTP/1.1' } };
    this.out.flows.push(this.flow(st, false, 'DROPPED', l7, timeNs, extras));
    this.proxyAnswer(st, undefined, url, 400, timeNs);
    // The proxy closes the connection after a malformed request: the server's answers in the
    // capture never reach the client.
    st.responses.stopOpaque('the request stream was malformed', timeNs);
  }

  /** The proxy's own answer, right away (latency 0). */
  private proxyAnswer(st: ConnState, req: HttpRequest | undefined, url: string, code: number, timeNs: bigint): void {
    const l7: Layer7Json = {
      type: 'RESPONSE',
      latency_ns: '0',
      http: { code, method: req?.method ?? '', url, protocol: req?.version ?? 'HTTP/1.1' },
    };
    this.out.flows.push(this.flow(st, true, 'FORWARDED', l7, timeNs, { connection: st.key, proxy_response: true, ...(st.packet !== undefined ? { packet: st.packet } : {}) }));
  }

  private response(st: ConnState, res: HttpResponse, timeNs: bigint): void {
    if (res.code >= 100 && res.code < 200 && res.code !== 101) return;
    const p = st.waiting.shift();
    if (!p) {
      this.notice(st, 'unsolicited-response', timeNs, `HTTP ${res.code} with no request waiting`, 'server');
      return;
    }
    if (!p.forwarded) {
      this.stats.suppressedResponses++;
      return;
    }
    this.stats.responses++;
    const l7: Layer7Json = {
      type: 'RESPONSE',
      latency_ns: String(timeNs > p.timeNs ? timeNs - p.timeNs : 0n),
      http: { code: res.code, method: p.request.method, url: p.url, protocol: res.version, ...this.headers(res.headers) },
    };
    this.out.flows.push(this.flow(st, true, 'FORWARDED', l7, timeNs, { connection: st.key, ...(st.packet !== undefined ? { packet: st.packet } : {}) }));
  }

  private headers(h: HttpRequest['headers']): { headers?: Array<{ key: string; value: string }> } {
    const j = headersJson(h);
    return j ? { headers: j } : {};
  }

  private ruleExtras(extras: L7Extras, m: HttpRuleMatcher): void {
    const info = this.policy.rule(m.ruleId);
    extras.rule_id = m.ruleId;
    if (info) extras.rule = info.text;
    extras.http_rule = `http[${m.index}]: ${describeHttpRule(m.rule)} (${m.rule.src.file}:${m.rule.src.line}:${m.rule.src.column})`;
  }

  private flow(st: ConnState, reply: boolean, verdict: 'FORWARDED' | 'DROPPED', l7: Layer7Json, timeNs: bigint, extras: L7Extras): L7Flow {
    const [from, to] = reply ? [st.server, st.client] : [st.client, st.server];
    const dir: TrafficDirection = st.direction === 'ingress' ? 'INGRESS' : 'EGRESS';
    return {
      flow: {
        time: flowTime(timeNs),
        verdict,
        IP: { source: from.ip, destination: to.ip, ipVersion: st.family === 4 ? 'IPv4' : 'IPv6' },
        l4: { TCP: { source_port: from.port, destination_port: to.port } },
        ...(from.ep ? { source: from.ep } : {}),
        ...(to.ep ? { destination: to.ep } : {}),
        Type: 'L7',
        node_name: st.node,
        l7,
        event_type: { type: MESSAGE_TYPE_ACCESS_LOG },
        traffic_direction: dir,
        is_reply: reply,
        ...(st.rules ? { proxy_port: st.rules.proxyPort } : {}),
        Summary: l7Summary(l7),
      },
      timeNs,
      twinpath: extras,
    };
  }

  private notice(st: ConnState, kind: L7Notice['kind'], timeNs: bigint, detail: string, side?: Side): void {
    this.out.notices.push({ kind, timeNs, connection: st.key, detail, ...(side ? { side } : {}), ...(st.packet !== undefined ? { packet: st.packet } : {}) });
  }

  private evicted(conn: Connection<ConnState>, why: EvictCause): void {
    if (why === 'reused') return;
    this.stats.evictions++;
    this.notice(conn.data, 'evicted', this.now, 'connection limit reached: no longer tracked');
  }
}

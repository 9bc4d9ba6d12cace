// L7 flows: what Cilium's proxy reports to Hubble for each HTTP request and response, in
// Hubble's shape (flow.proto `Flow` with `Type: L7` and a `Layer7` record holding `HTTP`:
// code, method, url, protocol, headers; latency_ns on responses), plus twinpath's extras, and
// the notices of the L7 stage that are not flows (gaps in a capture, connections evicted,
// streams that stop being HTTP). Plain data; the compact line follows `hubble observe`:
//
//   x/a:40000 (ID:256) -> y/b:80 (ID:257) http-request FORWARDED (HTTP/1.1 GET http://y-b/path)
//   x/a:40000 (ID:256) <- y/b:80 (ID:257) http-response FORWARDED (HTTP/1.1 200 3ms (GET http://y-b/path))

import { RESERVED } from '../policy/model.js';
import { formatTime, rfc3339, type HubbleEndpoint, type TrafficDirection, type Verdict } from '../flows/hubble.js';
import type { RenderOptions } from '../flows/render.js';
import type { HttpHeader } from './http.js';

/** Cilium's monitor message type for proxy access logs (pkg/monitor/api MessageTypeAccessLog). */
export const MESSAGE_TYPE_ACCESS_LOG = 129;

export interface HttpJson {
  /** The response status; absent on requests (protobuf JSON leaves zero values out). */
  code?: number;
  method: string;
  url: string;
  protocol: string;
  headers?: Array<{ key: string; value: string }>;
}

export interface Layer7Json {
  type: 'REQUEST' | 'RESPONSE';
  /** uint64 in protobuf JSON is a string; on responses: the time since the request. */
  latency_ns?: string;
  http: HttpJson;
}

/** One L7 flow, field for field as Hubble names it, in flow.proto's declaration order. */
export interface L7HubbleFlow {
  time: string;
  verdict: Verdict;
  IP: { source: string; destination: string; ipVersion: 'IPv4' | 'IPv6' };
  l4: { TCP: { source_port: number; destination_port: number } };
  source?: HubbleEndpoint;
  destination?: HubbleEndpoint;
  Type: 'L7';
  node_name: string;
  l7: Layer7Json;
  event_type: { type: typeof MESSAGE_TYPE_ACCESS_LOG };
  traffic_direction: TrafficDirection;
  is_reply: boolean;
  proxy_port?: number;
  Summary: string;
}

export interface L7Extras {
  /** The capture packet that completed the request or response header section (from 1). */
  packet?: number;
  /** The policy rule whose HTTP rule decided (RuleInfo.id and text), and which HTTP rule. */
  rule_id?: number;
  rule?: string;
  http_rule?: string;
  /** An L4-only rule that opens the port fully at L7 (no HTTP rule was consulted). */
  allowed_by_l4_rule?: number;
  /** The request could not be parsed: why (the proxy answers 400 and closes). */
  parse_error?: string;
  /** The response is the proxy's own (403 for a denied request, 400 for a malformed one). */
  proxy_response?: true;
  /** The connection, `client > server`. */
  connection: string;
}

export interface L7Flow {
  flow: L7HubbleFlow;
  timeNs: bigint;
  twinpath: L7Extras;
}

export type L7NoticeKind =
  /** Bytes missing from the capture: that side of the connection is no longer parsed. */
  | 'gap'
  /** The connection was dropped from the stage's memory (connection limit). */
  | 'evicted'
  /** The stream stopped being HTTP (CONNECT, 101 Switching Protocols). */
  | 'opaque'
  /** The connection was picked up without its handshake: it is not parsed. */
  | 'midstream'
  /** A response with no request waiting for it. */
  | 'unsolicited-response';

export interface L7Notice {
  kind: L7NoticeKind;
  timeNs: bigint;
  connection: string;
  /** Which side's bytes it concerns. */
  side?: 'client' | 'server';
  detail: string;
  packet?: number;
}

/** The URL as Cilium's access log builds it: scheme, authority (Host, else the server address), path. */
export function requestUrl(host: string, path: string, server: { ip: string; port: number }): string {
  const authority = host !== '' ? host : server.ip.includes(':') ? `[${server.ip}]:${server.port}` : `${server.ip}:${server.port}`;
  return `http://${authority}${path}`;
}

export function headersJson(headers: HttpHeader[]): Array<{ key: string; value: string }> | undefined {
  return headers.length === 0 ? undefined : headers.map((h) => ({ key: h.name, value: h.value }));
}

/** Hubble's summary of an HTTP record. */
export function l7Summary(l7: Layer7Json): string {
  const h = l7.http;
  // A request that could not be parsed has no method: no empty word for it.
  const call = [h.method, h.url].filter((s) => s !== '').join(' ');
  if (l7.type === 'REQUEST') return `${h.protocol} ${call}`;
  const ms = Number(BigInt(l7.latency_ns ?? '0') / 1_000_000n);
  return `${h.protocol} ${h.code ?? 0} ${ms}ms (${call})`;
}

/** The time field as protobuf JSON writes it. */
export function flowTime(ns: bigint): string {
  return rfc3339(ns);
}

const RESERVED_NAMES = new Map<number, string>(Object.entries(RESERVED).map(([name, id]) => [id, name]));

function identity(ep: HubbleEndpoint | undefined): string {
  const id = ep?.identity ?? 0;
  const name = RESERVED_NAMES.get(id);
  return name !== undefined ? `(${name})` : `(ID:${id})`;
}

function hostname(ip: string, port: number, ep: HubbleEndpoint | undefined): string {
  const host = ep?.pod_name ? (ep.namespace ? `${ep.namespace}/${ep.pod_name}` : ep.pod_name) : ip;
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** One line for a person, as `hubble observe -o compact` prints an L7 flow. */
export function l7CompactLine(r: L7Flow, o: RenderOptions = { timeFormat: 'StampMilli', nodeName: false }): string {
  const f = r.flow;
  let src = `${hostname(f.IP.source, f.l4.TCP.source_port, f.source)} ${identity(f.source)}`;
  let dst = `${hostname(f.IP.destination, f.l4.TCP.destination_port, f.destination)} ${identity(f.destination)}`;
  let arrow = '->';
  if (f.is_reply) {
    [src, dst] = [dst, src];
    arrow = '<-';
  }
  const node = o.nodeName ? ` [${f.node_name}]` : '';
  const type = f.l7.type === 'REQUEST' ? 'http-request' : 'http-response';
  const extra = r.twinpath.parse_error !== undefined ? `; ${r.twinpath.parse_error}` : '';
  return `${formatTime(r.timeNs, o.timeFormat)}${node}: ${src} ${arrow} ${dst} ${type} ${f.verdict} (${f.Summary}${extra})\n`;
}

/** One line of `hubble observe -o json` for an L7 flow, with twinpath's extras beside it. */
export function l7JsonLine(r: L7Flow): string {
  return JSON.stringify({ flow: r.flow, node_name: r.flow.node_name, time: r.flow.time, twinpath: r.twinpath });
}

/** A notice for a person: `TIME: l7 gap client 10.0.0.1:40000 > 10.0.0.2:80 (...)`. */
export function l7NoticeLine(n: L7Notice, o: RenderOptions = { timeFormat: 'StampMilli', nodeName: false }): string {
  const side = n.side !== undefined ? ` ${n.side}` : '';
  const packet = n.packet !== undefined ? `; packet #${n.packet}` : '';
  return `${formatTime(n.timeNs, o.timeFormat)}: l7-${n.kind}${side} ${n.connection} (${n.detail}${packet})\n`;
}

// HTTP probes: "would this request get through?", answered the way the L3/L4 probe answers
// "would this connection open?" — from packets. A probe with an `http` request becomes one TCP
// conversation (src/l7/synth.ts: handshake, the request in segments, an answer, the close);
// the caller runs each frame through the datapath programs of its way and hands the forwarded
// ones here with their flow events. The events say whether the policy entry that allowed the
// connection carries a proxy port; from that packet on, an L7Stage plays the proxy and judges
// the request. The verdict is the request flow's; the code the answer the client got (the
// server's, or the proxy's own 403 / 400).
//
// This module owns the `http` part of a probe: its shape and checks, the request it becomes,
// and the L7 half of the result. The path through the nodes stays src/datapath/probe.ts's.

import type { FlowEvent } from '../datapath/flow.js';
import type { L7Flow } from './flow.js';
import type { L7Policy } from './resolve.js';
import { L7Stage, markOf, type L7Mark } from './stage.js';
import { httpConversation, type ConversationFrame, type HttpRequestSpec } from './synth.js';

/** The HTTP request of a probe, as a probe file writes it. */
export interface ProbeHttp {
  method: string;
  /** Path and query: `/v1/request-landing`, `/search?q=1`. */
  path: string;
  /** The Host header; by default the server's address (with the port unless it is 80), as curl sends it. */
  host?: string;
  /** Further header fields, in order. */
  headers?: Record<string, string>;
}

/** The L7 part of a probe's result. */
export interface ProbeL7Verdict {
  /** The request flow's verdict: FORWARDED when an HTTP rule (or an L4-only rule for the same
   * traffic) allows it, DROPPED when none does or the request is malformed. */
  verdict: 'FORWARDED' | 'DROPPED';
  /** The HTTP rule that allowed it, with its source position; or the L4-only rule that opens the port. */
  rule?: string;
  /** The compiled rule behind the verdict (RuleInfo.id), when one allowed it. */
  ruleId?: number;
  /** The status the client got: the server's answer, or the proxy's 403 (denied) or 400 (malformed). */
  code: number;
}

/** A probe without a request on a port whose policy entry redirects to the proxy. */
export const L7_NO_REQUEST = 'redirected to proxy (no request given)';
/** A probe with a request to a connection no entry redirects: the request is never looked at. */
export const L7_NOT_REDIRECTED = 'not redirected to a proxy (no HTTP rule covers this connection): the request passes with the connection';

/** What the server of a probe answers to a forwarded request. A probe has no real server; a
 * fixed, empty 200 keeps the exchange complete (its framing known), so the result's code tells
 * the proxy's own answers apart from the server's. */
export const PROBE_SERVER_RESPONSE = 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n';

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// Visible ASCII and spaces or tabs: what may stand in a header value or a request line's parts.
const FIELD_VALUE = /^[\t\x20-\x7e]*$/;

/** Why an `http` value is not a request a probe can send, or undefined when it is one. The
 * first element names the offending field (`method`, `path`, `host`, `headers`, `headers.NAME`). */
export function httpProblem(h: unknown): [field: string, detail: string] | undefined {
  if (h === null || typeof h !== 'object' || Array.isArray(h)) return ['', '"http" must be an object: {"method", "path", "host"?, "headers"?}'];
  const o = h as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!['method', 'path', 'host', 'headers'].includes(k)) return [k, `unknown field "${k}" in "http" (method, path, host, headers)`];
  }
  if (typeof o.method !== 'string' || !TOKEN.test(o.method)) return ['method', '"http.method" must be an HTTP method (a token such as GET or POST)'];
  if (typeof o.path !== 'string' || !/^\/[\x21-\x7e]*$/.test(o.path)) return ['path', '"http.path" must start with "/" and hold no spaces or control characters'];
  if (o.host !== undefined && (typeof o.host !== 'string' || !/^[\x21-\x7e]*$/.test(o.host))) return ['host', '"http.host" must be a string without spaces or control characters'];
  if (o.headers !== undefined) {
    if (o.headers === null || typeof o.headers !== 'object' || Array.isArray(o.headers)) return ['headers', '"http.headers" must be an object of header names to values'];
    for (const [name, value] of Object.entries(o.headers as Record<string, unknown>)) {
      if (!TOKEN.test(name)) return [`headers.${name}`, `header name "${name}" is not a token`];
      if (name.toLowerCase() === 'host') return [`headers.${name}`, 'give the Host header as "http.host"'];
      if (name.toLowerCase() === 'content-length' || name.toLowerCase() === 'transfer-encoding') return [`headers.${name}`, `a probe's request has no body: no ${name} header`];
      if (typeof value !== 'string' || !FIELD_VALUE.test(value)) return [`headers.${name}`, `header "${name}" must have a string value without line breaks or control characters`];
    }
  }
  return undefined;
}

/** The Host a client sends for a server address and port when none is given (curl's choice). */
export function defaultHost(server: string, port: number): string {
  const addr = server.includes(':') ? `[${server}]` : server;
  return port === 80 ? addr : `${addr}:${port}`;
}

/** The request a probe's `http` part becomes. */
export function probeRequest(h: ProbeHttp, server: string, port: number): HttpRequestSpec {
  return { method: h.method, path: h.path, host: h.host ?? defaultHost(server, port), headers: Object.entries(h.headers ?? {}) };
}

/** The frames of a probe's HTTP conversation, each with the way it travels. */
export function probeConversation(opts: { client: string; server: string; clientPort: number; serverPort: number; http: ProbeHttp; clientMac?: string; serverMac?: string }): ConversationFrame[] {
  return httpConversation({
    client: opts.client,
    server: opts.server,
    clientPort: opts.clientPort,
    serverPort: opts.serverPort,
    request: probeRequest(opts.http, opts.server, opts.serverPort),
    response: PROBE_SERVER_RESPONSE,
    ...(opts.clientMac ? { clientMac: opts.clientMac } : {}),
    ...(opts.serverMac ? { serverMac: opts.serverMac } : {}),
  });
}

/** The proxy's side of one probe: the conversation's forwarded frames in, the verdict out. */
export class L7ProbeSession {
  private readonly stage: L7Stage;
  private readonly flows: L7Flow[] = [];
  private redirected = false;
  private finished = false;
  private lastNs = 0n;

  constructor(policy: L7Policy, nodeName = '') {
    this.stage = new L7Stage({ policy, nodeName });
  }

  /** Whether some program's entry redirected the connection to the proxy. */
  get isRedirected(): boolean {
    return this.redirected;
  }

  /** One forwarded frame, as the server's interface sees it, with the flow events of the
   * programs it passed (and the node of each). */
  frame(frame: Uint8Array, timeNs: bigint, events: Array<{ event: FlowEvent; node: string }>, packet?: number): void {
    let mark: L7Mark | null = null;
    for (const { event, node } of events) mark = markOf(event, node) ?? mark;
    if (mark) this.redirected = true;
    this.lastNs = timeNs;
    this.flows.push(...this.stage.packet(frame, timeNs, mark, packet).flows);
  }

  /** The request's verdict, once every frame went through; undefined when no request was judged. */
  verdict(): ProbeL7Verdict | undefined {
    if (!this.finished) {
      this.finished = true;
      this.flows.push(...this.stage.finish(this.lastNs).flows);
    }
    const request = this.flows.find((f) => f.flow.l7.type === 'REQUEST');
    if (!request) return undefined;
    const answer = this.flows.find((f) => f.flow.l7.type === 'RESPONSE');
    const out: ProbeL7Verdict = { verdict: request.flow.verdict, code: answer?.flow.l7.http.code ?? 0 };
    const x = request.twinpath;
    if (x.http_rule !== undefined) out.rule = x.http_rule;
    else if (x.allowed_by_l4_rule !== undefined) out.rule = `rule ${x.allowed_by_l4_rule} allows every request (no HTTP rules)`;
    else if (x.parse_error !== undefined) out.rule = `malformed request: ${x.parse_error}`;
    const id = x.rule_id ?? x.allowed_by_l4_rule;
    if (id !== undefined) out.ruleId = id;
    return out;
  }

  /** Every L7 flow of the conversation (requests and answers), in order. */
  get l7Flows(): readonly L7Flow[] {
    return this.flows;
  }
}

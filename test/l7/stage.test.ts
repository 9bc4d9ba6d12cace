// End to end: synthesised TCP packets of HTTP conversations go through the endpoint programs
// (VM engine) of a compiled CiliumNetworkPolicy with `toPorts.rules.http`; the packets the
// datapath marks with a proxy port, and the rest of their connections, go through the L7 stage.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Datapath } from '../../src/datapath/datapath.js';
import { PROG_FROM_ENDPOINT, PROG_TO_ENDPOINT } from '../../src/datapath/maps.js';
import { FlowBuilder } from '../../src/flows/build.js';
import { l7CompactLine, l7JsonLine, l7NoticeLine, type L7Flow, type L7Notice } from '../../src/l7/flow.js';
import { L7Policy } from '../../src/l7/resolve.js';
import { L7Stage, markOf, type L7Mark } from '../../src/l7/stage.js';
import { compile } from '../../src/policy/compile.js';
import { parseDocuments } from '../../src/policy/load.js';
import type { CompiledPolicy, Inputs } from '../../src/policy/model.js';
import { tcp } from '../../src/pcap/build.js';
import { httpConversation, requestText } from '../../src/l7/synth.js';

const CLUSTER = `
apiVersion: v1
kind: List
items:
  - {apiVersion: v1, kind: Namespace, metadata: {name: x}}
  - apiVersion: v1
    kind: Node
    metadata: {name: node-1}
    status: {addresses: [{type: InternalIP, address: 192.168.0.1}]}
  - apiVersion: v1
    kind: Pod
    metadata: {name: a, namespace: x, labels: {app: a}}
    spec: {nodeName: node-1, containers: [{name: c, image: curl}]}
    status: {podIP: 10.0.1.10, podIPs: [{ip: 10.0.1.10}]}
  - apiVersion: v1
    kind: Pod
    metadata: {name: b, namespace: x, labels: {app: b}}
    spec: {nodeName: node-1, containers: [{name: web, image: nginx, ports: [{name: http, containerPort: 80, protocol: TCP}]}]}
    status: {podIP: 10.0.1.11, podIPs: [{ip: 10.0.1.11}]}
`;

const POLICY = `
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: b-http, namespace: x}
spec:
  endpointSelector: {matchLabels: {app: b}}
  ingress:
  - fromEndpoints: [{matchLabels: {app: a}}]
    toPorts:
    - ports: [{port: "80", protocol: TCP}]
      rules:
        http:
        - method: GET
          path: /public
        - method: GET
          path: "/api/v[0-9]+/.*"
          headers: ["X-Token"]
`;

const A = { ip: '10.0.1.10', mac: '02:00:00:00:00:0a' };
const B = { ip: '10.0.1.11', mac: '02:00:00:00:00:0b' };
const T0 = 1_700_000_000_000_000_000n;

let inputs: Inputs;
let compiled: CompiledPolicy;
let dp: Datapath;

beforeAll(async () => {
  inputs = parseDocuments([{ file: 'cluster.yaml', text: CLUSTER }, { file: 'policy.yaml', text: POLICY }]);
  compiled = compile(inputs);
  dp = await Datapath.open(compiled, { engine: 'vm' });
});

afterAll(() => dp?.close());

/** A replay in miniature: each packet leaves its sender's endpoint and enters its receiver's. */
class Wire {
  readonly builder = new FlowBuilder(compiled);
  readonly stage: L7Stage;
  readonly flows: L7Flow[] = [];
  readonly notices: L7Notice[] = [];
  readonly marks: L7Mark[] = [];
  private n = 0;

  constructor() {
    this.stage = new L7Stage({ policy: new L7Policy(compiled, inputs), nodeName: 'node-1' });
  }

  send(frame: Uint8Array, from: string, to: string, timeNs: bigint): 'FORWARDED' | 'DROPPED' {
    const packet = ++this.n;
    let mark: L7Mark | null = null;
    for (const [ip, prog] of [[from, PROG_FROM_ENDPOINT], [to, PROG_TO_ENDPOINT]] as const) {
      const ep = compiled.endpoints.find((e) => e.ips.includes(ip))!;
      const run = dp.run('node-1', prog, dp.ifindexOf(ep), frame);
      for (const ev of run.flows) {
        const hubble = this.builder.flows({ event: ev, node: 'node-1', program: prog, frame, timeNs, packet }).at(-1)?.flow;
        mark = markOf(ev, 'node-1', hubble) ?? mark;
      }
      if (run.verdict === 'DROPPED') return 'DROPPED';
    }
    if (mark) this.marks.push(mark);
    const out = this.stage.packet(frame, timeNs, mark, packet);
    this.flows.push(...out.flows);
    this.notices.push(...out.notices);
    return 'FORWARDED';
  }
}

/** One TCP connection between a (client) and b (server), keeping sequence numbers. */
function conversation(w: Wire, sport: number) {
  let cseq = 1000;
  let sseq = 9000;
  let t = T0;
  const c2s = (flags: string, payload = '', seq = cseq) => {
    t += 1_000_000n;
    const f = tcp({ srcMac: A.mac, dstMac: B.mac, src: A.ip, dst: B.ip, sport, dport: 80, flags, seq, ack: sseq, payload });
    return w.send(f, A.ip, B.ip, t);
  };
  const s2c = (flags: string, payload = '') => {
    t += 2_000_000n;
    const f = tcp({ srcMac: B.mac, dstMac: A.mac, src: B.ip, dst: A.ip, sport: 80, dport: sport, flags, seq: sseq, ack: cseq, payload });
    return w.send(f, B.ip, A.ip, t);
  };
  return {
    open() {
      expect(c2s('S', '', cseq++)).toBe('FORWARDED');
      s2c('SA');
      sseq++;
      c2s('A');
    },
    request(text: string) {
      c2s('PA', text);
      cseq += text.length;
    },
    /** The request in `size`-byte segments, sent in reverse order except the first. */
    requestScrambled(text: string, size: number) {
      const pieces: Array<[number, string]> = [];
      for (let i = 0; i < text.length; i += size) pieces.push([cseq + i, text.slice(i, i + size)]);
      const [first, ...rest] = pieces;
      for (const [seq, p] of rest.reverse()) c2s('A', p, seq);
      c2s('PA', first![1], first![0]);
      cseq += text.length;
    },
    respond(text: string) {
      s2c('PA', text);
      sseq += text.length;
    },
  };
}

const compact = (f: L7Flow) => l7CompactLine(f).replace(/^[^:]+:[^:]+:[^:]+: /, '');

describe('L7 stage end to end (VM datapath)', () => {
  it('forwards an allowed GET and denies a POST with the proxy\'s 403', () => {
    const w = new Wire();
    const c = conversation(w, 40000);
    c.open();
    expect(w.marks[0]).toMatchObject({ direction: 'ingress', isReply: false });
    expect(w.marks[0]!.proxyPort).toBeGreaterThan(15000);
    c.request('GET /public HTTP/1.1\r\nHost: b.x\r\nUser-Agent: curl\r\n\r\n');
    c.respond('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    c.request('POST /public HTTP/1.1\r\nHost: b.x\r\nContent-Length: 3\r\n\r\nabc');
    // The capture was recorded without the policy: the server answered the POST. Not shown.
    c.respond('HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n');

    expect(w.flows.map(compact)).toEqual([
      'x/a:40000 (ID:256) -> x/b:80 (ID:257) http-request FORWARDED (HTTP/1.1 GET http://b.x/public)\n',
      'x/a:40000 (ID:256) <- x/b:80 (ID:257) http-response FORWARDED (HTTP/1.1 200 2ms (GET http://b.x/public))\n',
      'x/a:40000 (ID:256) -> x/b:80 (ID:257) http-request DROPPED (HTTP/1.1 POST http://b.x/public)\n',
      'x/a:40000 (ID:256) <- x/b:80 (ID:257) http-response FORWARDED (HTTP/1.1 403 0ms (POST http://b.x/public))\n',
    ]);
    const [get, resp, post, denied] = w.flows as [L7Flow, L7Flow, L7Flow, L7Flow];
    expect(get.flow).toMatchObject({
      Type: 'L7',
      verdict: 'FORWARDED',
      traffic_direction: 'INGRESS',
      is_reply: false,
      event_type: { type: 129 },
      l7: { type: 'REQUEST', http: { method: 'GET', url: 'http://b.x/public', protocol: 'HTTP/1.1', headers: [{ key: 'Host', value: 'b.x' }, { key: 'User-Agent', value: 'curl' }] } },
      source: { namespace: 'x', pod_name: 'a', identity: 256 },
      destination: { namespace: 'x', pod_name: 'b', identity: 257 },
    });
    expect(get.twinpath).toMatchObject({ rule_id: 1, http_rule: expect.stringMatching(/^http\[0\]: method=GET path=\/public \(policy\.yaml:/) });
    expect(resp.flow.l7).toMatchObject({ type: 'RESPONSE', latency_ns: '2000000', http: { code: 200, method: 'GET' } });
    expect(post.twinpath.rule_id).toBeUndefined();
    expect(denied.twinpath.proxy_response).toBe(true);
    expect(w.stage.stats).toMatchObject({ requests: 2, forwarded: 1, dropped: 1, responses: 1, suppressedResponses: 1, parseErrors: 0 });
    const json = JSON.parse(l7JsonLine(get));
    expect(json.flow.Summary).toBe('HTTP/1.1 GET http://b.x/public');
    expect(w.notices).toEqual([]);
  });

  it('reassembles a request sent in tiny reordered segments and applies header rules', () => {
    const w = new Wire();
    const c = conversation(w, 40001);
    c.open();
    c.requestScrambled('GET /api/v2/items HTTP/1.1\r\nHost: b.x\r\nX-Token: s3cret\r\n\r\n', 3);
    c.respond('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
    c.request('GET /api/v2/items HTTP/1.1\r\nHost: b.x\r\n\r\n');
    expect(w.flows.map((f) => `${f.flow.l7.type} ${f.flow.verdict} ${f.flow.l7.http.code ?? ''}`)).toEqual([
      'REQUEST FORWARDED ',
      'RESPONSE FORWARDED 200',
      'REQUEST DROPPED ',
      'RESPONSE FORWARDED 403',
    ]);
    expect(w.flows[0]!.twinpath.http_rule).toMatch(/^http\[1\]: /);
  });

  it('reports a malformed request as dropped with the proxy\'s 400', () => {
    const w = new Wire();
    const c = conversation(w, 40002);
    c.open();
    c.request('GET /public HTTP/1.1\r\nHost: b.x\r\nBad Header: x\r\n\r\n');
    c.respond('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n');
    expect(w.flows.map(compact)).toEqual([
      'x/a:40002 (ID:256) -> x/b:80 (ID:257) http-request DROPPED (HTTP/1.1 http://10.0.1.11:80; bad header name "Bad Header")\n',
      'x/a:40002 (ID:256) <- x/b:80 (ID:257) http-response FORWARDED (HTTP/1.1 400 0ms (http://10.0.1.11:80))\n',
    ]);
    expect(w.flows[1]!.twinpath.proxy_response).toBe(true);
    expect(w.notices).toEqual([]);
    expect(w.stage.stats.parseErrors).toBe(1);
  });

  it('reports a gap when the capture misses request bytes the server acknowledged', () => {
    const w = new Wire();
    const c = conversation(w, 40003);
    c.open();
    const req = 'GET /public HTTP/1.1\r\nHost: b.x\r\n\r\n';
    // The first 10 bytes never appear in the capture; the rest does; the server acknowledges it all.
    const frame = (payload: string, seq: number) => tcp({ srcMac: A.mac, dstMac: B.mac, src: A.ip, dst: B.ip, sport: 40003, dport: 80, flags: 'PA', seq, ack: 9001, payload });
    w.send(frame(req.slice(10), 1001 + 10), A.ip, B.ip, T0 + 10_000_000n);
    w.send(tcp({ srcMac: B.mac, dstMac: A.mac, src: B.ip, dst: A.ip, sport: 80, dport: 40003, flags: 'A', seq: 9001, ack: 1001 + req.length }), B.ip, A.ip, T0 + 11_000_000n);
    expect(w.flows).toEqual([]);
    expect(w.notices.map((n) => l7NoticeLine(n).replace(/^[^:]+:[^:]+:[^:]+: /, ''))).toEqual([
      'l7-gap client 10.0.1.10:40003>10.0.1.11:80 (35 bytes missing from offset 0 (acked-unseen): no longer parsed; packet #5)\n',
    ]);
  });

  it('leaves connections without a proxy port alone', () => {
    const w = new Wire();
    const frame = tcp({ srcMac: B.mac, dstMac: A.mac, src: B.ip, dst: A.ip, sport: 5555, dport: 80, flags: 'S', seq: 1 });
    // b -> a is not policed at L7 (a has no policy): no mark, nothing tracked.
    w.send(frame, B.ip, A.ip, T0);
    expect(w.marks).toEqual([]);
    expect(w.stage.connections).toBe(0);
  });

  it('judges synthesised conversations (as a probe would), segmented at a small MSS', () => {
    const w = new Wire();
    const verdicts: string[] = [];
    const probes: Array<[string, string, Array<[string, string]>]> = [
      ['GET', '/api/v1/items?id=7', [['X-Token', 't']]],
      ['GET', '/api/v1/items', []],
      ['DELETE', '/public', []],
    ];
    probes.forEach(([method, path, headers], i) => {
      const conv = httpConversation({
        client: A.ip, server: B.ip, clientPort: 41000 + i, serverPort: 80, clientMac: A.mac, serverMac: B.mac, mss: 7,
        request: { method, path, host: 'b.x', headers },
        response: 'HTTP/1.1 204 No Content\r\n\r\n',
      });
      const before = w.flows.length;
      for (const f of conv) {
        const [from, to] = f.way === 'request' ? [A.ip, B.ip] : [B.ip, A.ip];
        w.send(f.frame, from, to, T0 + f.offsetNs);
      }
      verdicts.push(w.flows.slice(before).map((f) => `${f.flow.l7.type}:${f.flow.verdict}:${f.flow.l7.http.code ?? ''}`).join(' '));
    });
    expect(verdicts).toEqual([
      'REQUEST:FORWARDED: RESPONSE:FORWARDED:204',
      'REQUEST:DROPPED: RESPONSE:FORWARDED:403',
      'REQUEST:DROPPED: RESPONSE:FORWARDED:403',
    ]);
    expect(w.notices).toEqual([]);
    expect(requestText({ method: 'POST', path: '/', host: '', body: 'hi' })).toBe('POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi');
  });

  it('pairs pipelined requests with their responses in order', () => {
    const w = new Wire();
    const c = conversation(w, 40010);
    c.open();
    c.request('GET /public HTTP/1.1\r\nHost: b.x\r\n\r\nGET /secret HTTP/1.1\r\nHost: b.x\r\n\r\nGET /public?again HTTP/1.1\r\nHost: b.x\r\n\r\n');
    c.respond('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
    expect(w.flows.map((f) => `${f.flow.l7.type} ${f.flow.verdict} ${f.flow.l7.http.code ?? '-'} ${f.flow.l7.http.url}`)).toEqual([
      'REQUEST FORWARDED - http://b.x/public',
      'REQUEST DROPPED - http://b.x/secret',
      'RESPONSE FORWARDED 403 http://b.x/secret',
      'REQUEST DROPPED - http://b.x/public?again',
      'RESPONSE FORWARDED 403 http://b.x/public?again',
      'RESPONSE FORWARDED 200 http://b.x/public',
    ]);
    expect(w.stage.stats.suppressedResponses).toBe(2);
  });
});

// `twinpath replay` with an L7 stage: lab 5's capture (three HTTP conversations with the Death
// Star) against its solution policy, whose HTTP rule redirects port 80 to the proxy. The proxy's
// request and response flows follow the L3/L4 flows of the packet that completed each message in
// the compact, JSON and table outputs (golden files), pass the filters (--type, --verdict,
// --protocol http, pods), are counted in the summary; the kernel engine prints the same bytes.
// HTTP through a Service (the Star Wars cluster's ClusterIP with an HTTP rule added) is judged
// at the backend; a policy without HTTP rules makes no L7 stage; a refused regular expression
// stops the replay before any packet.
//   TWINPATH_UPDATE_GOLDEN=1 npx vitest run test/cli/replay-l7.test.ts   rewrites the golden files

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpConversation } from '../../src/l7/synth.js';
import { LINKTYPE_ETHERNET, PcapWriter } from '../../src/pcap/index.js';
import { CLUSTER as STARWARS_CLUSTER, DS, POLICY as STARWARS_POLICY, TF } from '../datapath/replay-fixture.js';
import { describeKernel } from '../helpers/kernel.js';
import { ROOT } from '../helpers/paths.js';
import { cli, golden } from './probe-golden.js';

const LAB = join(ROOT, 'labs/05-l7-http');
const CAPTURE = join(LAB, 'traffic.pcap');
const CLUSTER = join(LAB, 'cluster.yaml');
const POLICY = join(LAB, 'solution/deathstar-policy.yaml');

const tmp = mkdtempSync(join(tmpdir(), 'twinpath-replay-l7-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const replay = (...extra: string[]) => cli('replay', CAPTURE, '--cluster', CLUSTER, '--policy', POLICY, ...extra);

const L7_LINES = [
  'default/tiefighter:32768 (ID:257) -> default/deathstar:80 (ID:256) http-request FORWARDED (HTTP/1.1 POST http://deathstar.default.svc.cluster.local/v1/request-landing)',
  'default/tiefighter:32768 (ID:257) <- default/deathstar:80 (ID:256) http-response FORWARDED (HTTP/1.1 200 1ms (POST http://deathstar.default.svc.cluster.local/v1/request-landing))',
  'default/tiefighter:32769 (ID:257) -> default/deathstar:80 (ID:256) http-request DROPPED (HTTP/1.1 PUT http://deathstar.default.svc.cluster.local/v1/exhaust-port)',
  'default/tiefighter:32769 (ID:257) <- default/deathstar:80 (ID:256) http-response FORWARDED (HTTP/1.1 403 0ms (PUT http://deathstar.default.svc.cluster.local/v1/exhaust-port))',
];

const withoutTime = (l: string) => l.replace(/^.*?: /, '');

describe('twinpath replay: L7 flows', () => {
  it('compact: each HTTP message after the L3/L4 flows of the packet that completed it; the summary counts them', async () => {
    const r = await replay();
    expect(r.err).toBe('');
    expect(r.status).toBe(0);
    golden('replay/l7-http.txt', r.out);
    const lines = r.out.split('\n\n')[0]!.split('\n');
    expect(lines.filter((l) => l.includes(' http-')).map(withoutTime)).toEqual(L7_LINES);
    // The request is completed by the client's PSH packet: its to-endpoint flow comes first.
    const request = lines.findIndex((l) => l.includes('http-request FORWARDED'));
    expect(lines[request - 1]).toMatch(/-> default\/deathstar:80 \(ID:256\) to-endpoint FORWARDED \(TCP Flags: ACK, PSH\)$/);
    expect(r.out).toContain('\nflows: 40 (31 FORWARDED, 9 DROPPED)\nL7 flows: 4 (http-request: 1 FORWARDED, 1 DROPPED; http-response: 2 FORWARDED, 0 DROPPED)\n');
  });

  it('-o json: L7 flows in Hubble\'s shape, each after its packet\'s flows', async () => {
    const r = await replay('-o', 'json');
    expect(r.status).toBe(0);
    golden('replay/l7-http.jsonl', r.out);
    golden('replay/l7-http-summary.txt', r.err);
    const objs = r.out.trimEnd().split('\n').map((l) => JSON.parse(l) as { flow: Record<string, unknown> & { Type: string; l7?: { type: string } }; twinpath: { packet: number } });
    for (const o of objs) expect(Object.keys(o)).toEqual(['flow', 'node_name', 'time', 'twinpath']);
    const l7 = objs.map((o, i) => ({ o, i })).filter(({ o }) => o.flow.Type === 'L7');
    expect(l7.map(({ o }) => o.flow.l7!.type)).toEqual(['REQUEST', 'RESPONSE', 'REQUEST', 'RESPONSE']);
    for (const { o, i } of l7) {
      expect(o.flow).toMatchObject({ event_type: { type: 129 }, traffic_direction: 'INGRESS', proxy_port: 15001 });
      // The flow before it belongs to the same packet (or is an L7 flow of it).
      expect(objs[i - 1]!.twinpath.packet).toBe(o.twinpath.packet);
      // ... and no later packet's flow comes before it.
      expect(objs.slice(0, i).every((p) => p.twinpath.packet <= o.twinpath.packet)).toBe(true);
    }
    expect(Object.keys(l7[0]!.o.flow)).toEqual([
      'time', 'verdict', 'IP', 'l4', 'source', 'destination', 'Type', 'node_name', 'l7', 'event_type', 'traffic_direction', 'is_reply', 'proxy_port', 'Summary',
    ]);
  });

  it('-o table: TYPE http-request / http-response', async () => {
    const r = await replay('-o', 'table', '--time-format', 'RFC3339Milli');
    expect(r.status).toBe(0);
    golden('replay/l7-http-table.txt', r.out);
    const rows = r.out.split('\n').filter((l) => / http-(request|response) /.test(l));
    expect(rows).toHaveLength(4);
    expect(rows[2]).toMatch(/default\/tiefighter:32769 +default\/deathstar:80 +http-request +DROPPED +HTTP\/1\.1 PUT /);
  });
});

describe('twinpath replay: filters on L7 flows', () => {
  const flowLines = (out: string) => out.trimEnd().split('\n').filter((l) => l !== '');

  it('--type l7 shows the proxy\'s flows alone; --type trace:to-endpoint and drop leave them out', async () => {
    const l7 = await replay('--type', 'l7', '--no-summary');
    expect(flowLines(l7.out).map(withoutTime)).toEqual(L7_LINES);
    const traces = await replay('-t', 'trace:to-endpoint', '--no-summary');
    expect(flowLines(traces.out).length).toBe(10);
    expect(flowLines(traces.out).every((l) => l.includes(' to-endpoint FORWARDED '))).toBe(true);
    const drops = await replay('--type', 'drop', '--type', 'policy-verdict');
    const lines = flowLines(drops.out.split('\n\n')[0]!);
    expect(lines.every((l) => / (Policy denied DROPPED|policy-verdict:)/.test(l))).toBe(true);
    expect(drops.out).toContain('L7 flows: 0 (http-request: 0 FORWARDED, 0 DROPPED; http-response: 0 FORWARDED, 0 DROPPED)');
  });

  it('--verdict DROPPED keeps the denied request; --protocol http the HTTP flows; pods and ports apply', async () => {
    const dropped = await replay('--verdict', 'DROPPED', '--no-summary');
    expect(flowLines(dropped.out).filter((l) => l.includes(' http-')).map(withoutTime)).toEqual([L7_LINES[2]]);
    const http = await replay('--protocol', 'http', '--no-summary');
    expect(flowLines(http.out).map(withoutTime)).toEqual(L7_LINES);
    const xwing = await replay('--from-pod', 'default/xwing', '--no-summary');
    expect(xwing.out).not.toContain('http-');
    const port = await replay('--port', '32769', '--type', 'l7', '--no-summary');
    expect(flowLines(port.out).map(withoutTime)).toEqual(L7_LINES.slice(2));
  });

  it('a --type that names nothing is a usage error before anything runs', async () => {
    for (const t of ['http', 'trace:to-stack', 'drop:133']) {
      const r = await replay('--type', t);
      expect(r.status).toBe(2);
      expect(r.out).toBe('');
      expect(r.err).toContain('[USAGE]');
    }
  });
});

describe('twinpath replay: when there is no L7 stage, or it cannot be built', () => {
  it('a policy without HTTP rules redirects nothing: no L7 flows, no L7 line in the summary', async () => {
    const l4 = join(tmp, 'l4.yaml');
    writeFileSync(l4, readFileSync(POLICY, 'utf8').replace(/\n +rules:[\s\S]*$/, '\n'));
    const r = await cli('replay', CAPTURE, '--cluster', CLUSTER, '--policy', l4);
    expect(r.status).toBe(0);
    expect(r.out).not.toContain('http-');
    expect(r.out).not.toContain('L7 flows');
    expect(r.out).toContain('default/tiefighter:32769 (ID:257) <- default/deathstar:80 (ID:256) to-endpoint FORWARDED (TCP Flags: ACK, PSH)');
  });

  it('a path the proxy would refuse (not RE2) is POLICY_BAD_VALUE at its place, before any packet', async () => {
    const bad = join(tmp, 'bad.yaml');
    writeFileSync(bad, readFileSync(POLICY, 'utf8').replace('path: /v1/request-landing', 'path: /v1/(?=x)'));
    const r = await cli('replay', CAPTURE, '--cluster', CLUSTER, '--policy', bad);
    expect(r.status).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toContain('[POLICY_BAD_VALUE]');
    expect(r.err).toContain('bad.yaml:26:');
  });
});

describe('twinpath replay: HTTP to a ClusterIP', () => {
  // The Star Wars policy with an HTTP rule on port 80; the tiefighter calls the deathstar's
  // Service address and the deathstar answers from its own (the capture is taken at the backend).
  const VIP = '10.96.50.10';
  let capture = '';
  let policy = '';

  beforeAll(async () => {
    policy = join(tmp, 'starwars-l7.yaml');
    writeFileSync(policy, `${readFileSync(STARWARS_POLICY, 'utf8').trimEnd()}\n          rules:\n            http:\n              - method: POST\n                path: /v1/request-landing\n`);
    capture = join(tmp, 'via-service.pcap');
    const w = new PcapWriter({ path: capture }, { linkType: LINKTYPE_ETHERNET });
    const t0 = 1_700_560_800_000_000_000n;
    const calls = [
      { method: 'POST', path: '/v1/request-landing', response: 'HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nShip landed\n', port: 40001 },
      { method: 'PUT', path: '/v1/exhaust-port', response: 'HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n', port: 40002 },
    ];
    let at = t0;
    for (const c of calls) {
      const spec = { client: TF, clientPort: c.port, serverPort: 80, request: { method: c.method, path: c.path, host: 'deathstar.default.svc.cluster.local' }, response: c.response };
      // Same sequence numbers both times: requests to the Service address, answers from the pod's.
      const toVip = httpConversation({ ...spec, server: VIP });
      const fromPod = httpConversation({ ...spec, server: DS });
      for (let i = 0; i < toVip.length; i++) {
        await w.write({ timestampNs: at, data: toVip[i]!.way === 'request' ? toVip[i]!.frame : fromPod[i]!.frame });
        at += 1_000_000n;
      }
    }
    await w.close();
  });

  it('is judged at the backend after translation; answers are matched through reverse NAT', async () => {
    const r = await cli('replay', capture, '--cluster', STARWARS_CLUSTER, '--policy', policy, '--type', 'l7', '--print-node-name');
    expect(r.status).toBe(0);
    expect(r.out.split('\n\n')[0]!.split('\n').map(withoutTime)).toEqual([
      'default/tiefighter:40001 (ID:257) -> default/deathstar:80 (ID:256) http-request FORWARDED (HTTP/1.1 POST http://deathstar.default.svc.cluster.local/v1/request-landing)',
      'default/tiefighter:40001 (ID:257) <- default/deathstar:80 (ID:256) http-response FORWARDED (HTTP/1.1 200 1ms (POST http://deathstar.default.svc.cluster.local/v1/request-landing))',
      'default/tiefighter:40002 (ID:257) -> default/deathstar:80 (ID:256) http-request DROPPED (HTTP/1.1 PUT http://deathstar.default.svc.cluster.local/v1/exhaust-port)',
      'default/tiefighter:40002 (ID:257) <- default/deathstar:80 (ID:256) http-response FORWARDED (HTTP/1.1 403 0ms (PUT http://deathstar.default.svc.cluster.local/v1/exhaust-port))',
    ]);
    expect(r.out).toMatch(/^\S+ \S+ \S+ \[kind-worker\]: default\/tiefighter:40001/);
    const json = await cli('replay', capture, '--cluster', STARWARS_CLUSTER, '--policy', policy, '-o', 'json', '--type', 'l7');
    const first = JSON.parse(json.out.split('\n')[0]!) as { flow: { IP: { destination: string }; node_name: string } };
    expect(first.flow.IP.destination).toBe(DS);
    expect(first.flow.node_name).toBe('kind-worker');
  });
});

describeKernel('twinpath replay: L7 flows in the kernel', () => {
  it('prints the same compact, JSON and table output as the VM', async () => {
    for (const o of [[], ['-o', 'json'], ['-o', 'table']]) {
      const vm = await replay(...o);
      const kernel = await replay(...o, '--engine', 'kernel');
      expect(kernel.status).toBe(0);
      expect(kernel.out).toBe(vm.out);
      expect(kernel.err).toBe(vm.err);
    }
  });
});

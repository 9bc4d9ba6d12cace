// L7Replay behind the capture replay: lab 5's capture (three HTTP conversations) replayed with
// its solution policy, each replayed packet handed on with its captured frame; the L7 flows in
// capture order after their packet's L3/L4 flows, their compact lines, summary keys, marks
// read back from the Hubble flows; the same in the kernel.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Replayer } from '../../src/datapath/replay.js';
import { compactLine } from '../../src/flows/render.js';
import { l7CompactLine } from '../../src/l7/flow.js';
import { L7Replay, l7SummaryKey, markOfReplayFlows } from '../../src/l7/replay.js';
import { readCaptureSync, toEthernet } from '../../src/pcap/index.js';
import { compile } from '../../src/policy/compile.js';
import { parseDocuments } from '../../src/policy/load.js';
import type { EngineKind } from '../../src/engine/engine.js';
import { describeKernel } from '../helpers/kernel.js';
import { ROOT } from '../helpers/paths.js';

const LAB = join(ROOT, 'labs/05-l7-http');
const CAPTURE = join(LAB, 'traffic.pcap');

async function replay(engine: EngineKind) {
  const policy = 'solution/deathstar-policy.yaml';
  const inputs = parseDocuments(['cluster.yaml', policy].map((f) => ({ file: f, text: readFileSync(join(LAB, f), 'utf8') })));
  const compiled = compile(inputs);
  const l7 = new L7Replay({ compiled, inputs });
  const replayer = await Replayer.open({ compiled, engine });
  const lines: string[] = [];
  const keys = new Map<string, number>();
  const marks: number[] = [];
  try {
    let last = 0n;
    for (const record of readCaptureSync(readFileSync(CAPTURE), { file: CAPTURE })) {
      const r = replayer.packet(record);
      for (const f of r.flows) lines.push(compactLine(f).trimEnd());
      if (markOfReplayFlows(r.flows, compiled)) marks.push(r.packet);
      const eth = toEthernet(record);
      const out = l7.packet(r, 'frame' in eth ? eth.frame : undefined);
      for (const f of out.flows) {
        lines.push(l7CompactLine(f).trimEnd());
        keys.set(l7SummaryKey(f), (keys.get(l7SummaryKey(f)) ?? 0) + 1);
      }
      last = r.timeNs;
    }
    expect(l7.finish(last)).toEqual({ flows: [], notices: [] });
  } finally {
    replayer.close();
  }
  return { lines, keys, marks, stats: l7.stage.stats };
}

function semantics(engine: EngineKind): void {
  it('adds the proxy\'s flows after the L3/L4 flows of the packet that completed each message', async () => {
    const { lines, keys, marks, stats } = await replay(engine);
    const l7 = lines.filter((l) => l.includes('http-'));
    expect(l7.map((l) => l.replace(/^.*?: /, ''))).toEqual([
      'default/tiefighter:32768 (ID:257) -> default/deathstar:80 (ID:256) http-request FORWARDED (HTTP/1.1 POST http://deathstar.default.svc.cluster.local/v1/request-landing)',
      'default/tiefighter:32768 (ID:257) <- default/deathstar:80 (ID:256) http-response FORWARDED (HTTP/1.1 200 1ms (POST http://deathstar.default.svc.cluster.local/v1/request-landing))',
      'default/tiefighter:32769 (ID:257) -> default/deathstar:80 (ID:256) http-request DROPPED (HTTP/1.1 PUT http://deathstar.default.svc.cluster.local/v1/exhaust-port)',
      'default/tiefighter:32769 (ID:257) <- default/deathstar:80 (ID:256) http-response FORWARDED (HTTP/1.1 403 0ms (PUT http://deathstar.default.svc.cluster.local/v1/exhaust-port))',
    ]);
    // Each L7 line follows the to-endpoint flow of its packet.
    const first = lines.findIndex((l) => l.includes('http-request FORWARDED'));
    expect(lines[first - 1]).toMatch(/to-endpoint FORWARDED \(TCP Flags: ACK, PSH\)$/);
    expect(Object.fromEntries(keys)).toEqual({ 'http-request FORWARDED': 1, 'http-response FORWARDED': 2, 'http-request DROPPED': 1 });
    // The server's 503 to the exhaust-port call is in the capture but never reached the client.
    expect(stats).toMatchObject({ connections: 2, requests: 2, forwarded: 1, dropped: 1, responses: 1, suppressedResponses: 1 });
    // Every packet of the two TIE fighter conversations carries the proxy port (conntrack keeps it).
    expect(marks).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it('with an L4-only policy nothing is redirected: no L7 flows', async () => {
    const l4 = readFileSync(join(LAB, 'solution/deathstar-policy.yaml'), 'utf8').replace(/\n +rules:[\s\S]*$/, '\n');
    expect(l4).not.toContain('http');
    const inputs = parseDocuments([{ file: 'cluster.yaml', text: readFileSync(join(LAB, 'cluster.yaml'), 'utf8') }, { file: 'l4.yaml', text: l4 }]);
    const compiled = compile(inputs);
    const l7 = new L7Replay({ compiled, inputs });
    const replayer = await Replayer.open({ compiled, engine });
    try {
      for (const record of readCaptureSync(readFileSync(CAPTURE), { file: CAPTURE })) {
        const r = replayer.packet(record);
        expect(markOfReplayFlows(r.flows, compiled)).toBeNull();
        expect(l7.packet(r).flows).toEqual([]);
      }
    } finally {
      replayer.close();
    }
  });
}

describe('L7Replay in the VM', () => semantics('vm'));
describeKernel('L7Replay in the kernel', () => semantics('kernel'));

// explain and replay agree: for every packet of the bundled Star Wars capture, the decision
// explain gives equals what `twinpath replay` made of it (forwarded, dropped with its reason and
// where, a consequence of the drop it follows, a duplicate of the packet it repeats, unhandled),
// in the VM and in the kernel. Service packets are among them: the ClusterIP connections, their
// rev-NATed answers, the NodePort from outside.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { EngineKind } from '../../src/engine/engine.js';
import { explain, type Explanation, type FlowSpec } from '../../src/explain/index.js';
import { replayCapture, type PacketResult } from '../../src/datapath/replay.js';
import { readCaptureSync, toEthernet } from '../../src/pcap/index.js';
import { loadFiles } from '../../src/policy/load.js';
import { compile } from '../../src/policy/compile.js';
import { describeKernel } from '../helpers/kernel.js';
import { ROOT } from '../helpers/paths.js';

const DIR = join(ROOT, 'captures/starwars');
const CAPTURE = join(DIR, 'starwars.pcapng');
const inputs = () => loadFiles([join(DIR, 'cluster.yaml'), join(DIR, 'policy.yaml')]);

async function replayed(engine: EngineKind): Promise<PacketResult[]> {
  const i = inputs();
  const out: PacketResult[] = [];
  for await (const r of replayCapture(CAPTURE, { compiled: compile(i), cluster: i.cluster, engine })) out.push(r);
  return out;
}

function spec(index: number): FlowSpec {
  const records = readCaptureSync(readFileSync(CAPTURE), { file: CAPTURE });
  const frames = records.map((r) => {
    const e = toEthernet(r);
    return 'frame' in e ? e.frame : null;
  });
  return { kind: 'capture', file: CAPTURE, frames, index, timestampsNs: records.map((r) => r.timestampNs) };
}

/** The verdict replay gives a packet: a duplicate has the one of the packet it repeats. */
function replayVerdict(results: PacketResult[], r: PacketResult): string {
  switch (r.outcome) {
    case 'forwarded':
      return 'FORWARDED';
    case 'dropped':
    case 'consequence':
      return 'DROPPED';
    case 'duplicate':
      return replayVerdict(results, results[r.relatedPacket! - 1]!);
    default:
      return 'UNHANDLED';
  }
}

function agree(results: PacketResult[], r: PacketResult, x: Explanation): void {
  const what = `packet #${r.packet} (${r.outcome})`;
  expect(x.replay, what).toMatchObject({ packet: r.packet, outcome: r.outcome });
  expect(x.decision.verdict, what).toBe(replayVerdict(results, r));
  if (r.relatedPacket !== undefined) expect(x.replay!.relatedPacket, what).toBe(r.relatedPacket);
  if (r.outcome === 'dropped' || r.outcome === 'consequence') {
    expect(x.decision.dropReason, what).toBe(r.dropReason);
    expect([x.decision.node, x.decision.program], what).toEqual([r.droppedAt!.node, r.droppedAt!.program]);
    if (r.droppedAt!.pod !== undefined) expect(x.decision.endpoint, what).toBe(r.droppedAt!.pod);
  }
  if (r.outcome === 'consequence' || r.outcome === 'duplicate') expect(x.replay!.decidedBy, what).toBeDefined();
}

async function everyPacket(engine: EngineKind): Promise<Set<string>> {
  const results = await replayed(engine);
  const outcomes = new Set<string>();
  for (const r of results) {
    const x = await explain({ inputs: inputs(), spec: spec(r.packet - 1), engine, suggestions: false });
    agree(results, r, x);
    outcomes.add(r.outcome);
    if (x.loadBalancing.translated) outcomes.add(`lb:${x.loadBalancing.reverse ? 'rev-nat' : x.loadBalancing.frontend!.type}`);
  }
  return outcomes;
}

describe('explain agrees with replay on every packet of the Star Wars capture (VM)', () => {
  it('every packet', async () => {
    const seen = await everyPacket('vm');
    // The capture shows every kind of outcome, and services both ways.
    for (const o of ['forwarded', 'dropped', 'consequence', 'duplicate', 'unhandled', 'lb:ClusterIP', 'lb:NodePort', 'lb:rev-nat']) expect(seen).toContain(o);
  }, 300_000);
});

describeKernel('explain agrees with replay on every packet of the Star Wars capture (kernel)', () => {
  it('every packet', async () => {
    const seen = await everyPacket('kernel');
    expect(seen).toContain('consequence');
  }, 600_000);
});

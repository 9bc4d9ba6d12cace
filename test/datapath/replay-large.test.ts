// A large capture (200,000 packets, written to a temporary file) replayed by the command's own
// code path: the heap after the whole capture is about what it was a fifth of the way in, so
// memory does not grow with the capture. The traffic cycles through connections from outside
// to the tiefighter (allowed) and xwing SYNs to the deathstar (dropped, with SYN-ACK
// consequences), so every memory of the replay is in use.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterAll, describe, expect, it } from 'vitest';
import { replay } from '../../src/cli/commands/replay.js';
import { compileFilter } from '../../src/flows/filter.js';
import { tcp } from '../../src/pcap/build.js';
import { LINKTYPE_ETHERNET } from '../../src/pcap/linktype.js';
import { PcapWriter } from '../../src/pcap/writer.js';
import { DS, OUT, starwars, T0, TF, XW } from './replay-fixture.js';

const PACKETS = 200_000;
const CONVERSATIONS = 250;
const tmp = mkdtempSync(join(tmpdir(), 'twinpath-replay-large-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function templates(): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let c = 0; c < CONVERSATIONS; c++) {
    const op = 50_000 + c;
    const xp = 40_000 + c;
    out.push(
      tcp({ src: OUT, dst: TF, sport: op, dport: 8000, flags: 'S', seq: 1 }),
      tcp({ src: TF, dst: OUT, sport: 8000, dport: op, flags: 'SA', seq: 9, ack: 2 }),
      tcp({ src: OUT, dst: TF, sport: op, dport: 8000, flags: 'A', seq: 2, ack: 10 }),
      tcp({ src: OUT, dst: TF, sport: op, dport: 8000, flags: 'PA', seq: 2, ack: 10, payload: 'GET / HTTP/1.1\r\n\r\n' }),
      tcp({ src: TF, dst: OUT, sport: 8000, dport: op, flags: 'PA', seq: 10, ack: 20, payload: 'HTTP/1.1 200 OK\r\n\r\n' }),
      tcp({ src: XW, dst: DS, sport: xp, dport: 80, flags: 'S', seq: 1 }),
      tcp({ src: DS, dst: XW, sport: 80, dport: xp, flags: 'SA', seq: 9, ack: 2 }),
      tcp({ src: OUT, dst: TF, sport: op, dport: 8000, flags: 'FA', seq: 20, ack: 29 }),
    );
  }
  return out;
}

async function writeCapture(path: string): Promise<void> {
  const frames = templates();
  const w = new PcapWriter({ path }, { linkType: LINKTYPE_ETHERNET });
  for (let i = 0; i < PACKETS; i++) {
    // 20 µs apart: a frame repeats every 40 ms, well outside the duplicate window.
    await w.write({ timestampNs: T0 + BigInt(i) * 20_000n, data: frames[i % frames.length]! });
  }
  await w.close();
}

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

function heapMb(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed / 2 ** 20;
}

describe('a large capture', () => {
  it('streams 200,000 packets in constant memory', async () => {
    const path = join(tmp, 'large.pcap');
    await writeCapture(path);
    let lines = 0;
    let checkpoints = 0;
    const samples: number[] = [];
    const io = {
      out(text: string) {
        for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) lines++;
        // Sample at a fifth of the way and at the end (output arrives in chunks as it goes).
        if (checkpoints === 0 && lines > PACKETS / 5) {
          checkpoints++;
          samples.push(heapMb());
        }
      },
      err() {},
    };
    await replay(io, {
      capture: path, compiled: starwars(), engine: 'vm', output: 'json', filter: compileFilter({}),
      render: { timeFormat: 'StampMilli', nodeName: false }, summary: false,
    });
    samples.push(heapMb());
    expect(lines).toBeGreaterThan(PACKETS);
    expect(samples).toHaveLength(2);
    // Output, records and flows are garbage once written: the heap does not follow the capture.
    expect(samples[1]! - samples[0]!).toBeLessThan(16);
  }, 300_000);
});

// Damaged inputs: captures cut at every kind of position and with bytes overwritten must end in
// packets or a located TwinpathError, never a crash, and the streaming and in-memory readers
// must agree on both.

import { describe, expect, it } from 'vitest';
import { TwinpathError } from '../../src/errors.js';
import { build, encodePcap, encodePcapng, readCapture, readCaptureSync, type CaptureRecord } from '../../src/pcap/index.js';
import { collect, concat, epb, idb, shb, spb, tsresol } from './helpers.js';

/** Small deterministic PRNG (xorshift32) so failures reproduce. */
function rng(seed: number): () => number {
  let x = seed || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x100000000;
  };
}

function syncOutcome(bytes: Uint8Array): { records: CaptureRecord[]; error?: TwinpathError } {
  try {
    return { records: readCaptureSync(bytes) };
  } catch (e) {
    if (!(e instanceof TwinpathError)) throw e;
    return { records: [], error: e };
  }
}

async function samples(): Promise<[string, Uint8Array][]> {
  const frames = Array.from({ length: 6 }, (_, i) => build.tcp({ src: '10.0.0.1', dst: '10.0.0.2', sport: i + 1, dport: 80, payload: 'p'.repeat(i * 5) }));
  const recs = frames.map((data, i) => ({ timestampNs: BigInt(i) * 1000n, data, comment: i % 2 ? `n${i}` : undefined }));
  const handmade = concat(shb(false), idb(false, 1, 0, tsresol(false, 9)), epb(false, 0, 5n, frames[0]!), spb(false, frames[1]!.length, frames[1]!), shb(true), idb(true, 101, 0), epb(true, 0, 1n, frames[2]!.subarray(14)));
  return [
    ['pcap', await encodePcap(recs, { linkType: 1 })],
    ['pcap-be-us', await encodePcap(recs, { linkType: 1, bigEndian: true, nanosecond: false })],
    ['pcapng', await encodePcapng(recs)],
    ['pcapng-sections', handmade],
  ];
}

describe('damaged captures', () => {
  it('cut at every offset: whole records first, then PCAP_TRUNCATED unless the cut falls between records', async () => {
    for (const [name, bytes] of await samples()) {
      const full = readCaptureSync(bytes);
      for (let cut = 0; cut < bytes.length; cut++) {
        const { records, error } = await collect(readCapture(bytes.subarray(0, cut), { chunkSize: 13 }));
        expect(records).toEqual(full.slice(0, records.length));
        if (error === undefined) continue; // a cut between records leaves a valid, shorter file
        expect(error, `${name} cut at ${cut}`).toBeInstanceOf(TwinpathError);
        if ((error as TwinpathError).code !== 'PCAP_TRUNCATED') {
          // Cutting inside a pcapng block can only look truncated; nothing else may appear.
          throw new Error(`${name} cut at ${cut}: ${(error as Error).message}`);
        }
        expect((error as TwinpathError).location.offset!).toBeLessThanOrEqual(cut);
      }
    }
  });

  it('with random bytes overwritten: packets or a located TwinpathError, the same from both readers', async () => {
    const next = rng(12345);
    for (const [name, bytes] of await samples()) {
      for (let round = 0; round < 300; round++) {
        const m = bytes.slice();
        const flips = 1 + Math.floor(next() * 4);
        for (let i = 0; i < flips; i++) m[Math.floor(next() * m.length)] = Math.floor(next() * 256);
        const streamed = await collect(readCapture(m, { chunkSize: 64 }));
        if (streamed.error !== undefined && !(streamed.error instanceof TwinpathError)) {
          throw new Error(`${name} round ${round}: ${String(streamed.error)}`);
        }
        const inMemory = syncOutcome(m);
        expect(inMemory.error?.code, `${name} round ${round}`).toBe((streamed.error as TwinpathError | undefined)?.code);
        expect(inMemory.error?.location.offset).toBe((streamed.error as TwinpathError | undefined)?.location.offset);
        if (inMemory.error === undefined) expect(inMemory.records).toEqual(streamed.records);
      }
    }
  });
});

// Robustness over the shared tcpdump test corpus (real and fuzzed captures): every file is read
// to its end, within a time bound, yielding packets or a TwinpathError with the file and offset.
// Packet counts are compared with tcpdump's where tcpdump is installed.

import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { TwinpathError } from '../../src/errors.js';
import { readCapture, type ReadOptions } from '../../src/pcap/index.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const corpusDir = resolve(repoRoot, '../shared/corpus/tcpdump');
const present = existsSync(corpusDir);
const inCi = process.env.CI === 'true';
const PER_FILE_MS = 5_000;

function hasTcpdump(): boolean {
  try {
    execFileSync('tcpdump', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

interface Outcome {
  file: string;
  packets: number;
  error?: TwinpathError;
}

async function readOne(path: string, opts: ReadOptions): Promise<Outcome> {
  let packets = 0;
  const started = Date.now();
  try {
    for await (const r of readCapture(path, opts)) {
      packets++;
      if (r.data.length !== r.capturedLength) throw new Error(`record ${r.index}: data length differs from capturedLength`);
      if (Date.now() - started > PER_FILE_MS) throw new Error(`${path}: still reading after ${PER_FILE_MS} ms`);
    }
    return { file: path, packets };
  } catch (e) {
    if (!(e instanceof TwinpathError)) throw e; // a crash: fail the test with the cause
    expect(e.location.file).toBe(path);
    expect(typeof e.location.offset).toBe('number');
    return { file: path, packets, error: e };
  }
}

async function readAll(opts: ReadOptions): Promise<Outcome[]> {
  const files = readdirSync(corpusDir).filter((f) => /\.(pcap|pcapng|cap)$/.test(f)).sort();
  const out: Outcome[] = [];
  for (const f of files) {
    const started = Date.now();
    out.push(await readOne(join(corpusDir, f), opts));
    expect(Date.now() - started, f).toBeLessThan(PER_FILE_MS);
  }
  return out;
}

function summary(outcomes: Outcome[]) {
  const byCode: Record<string, number> = {};
  for (const o of outcomes) if (o.error) byCode[o.error.code] = (byCode[o.error.code] ?? 0) + 1;
  return {
    files: outcomes.length,
    readFully: outcomes.filter((o) => !o.error).length,
    withError: outcomes.filter((o) => o.error).length,
    byCode,
    packets: outcomes.reduce((n, o) => n + o.packets, 0),
  };
}

function tcpdumpCount(path: string): number | null {
  try {
    const out = execFileSync('tcpdump', ['-r', path, '-nn', '--count'], { stdio: ['ignore', 'pipe', 'ignore'], timeout: 20_000 }).toString();
    const m = /^(\d+) packets?/m.exec(out);
    return m ? Number(m[1]) : null;
  } catch {
    return null; // tcpdump itself refused the file
  }
}

describe.skipIf(!present && !inCi)(`tcpdump corpus${present ? '' : ' (skipped: ../shared/corpus/tcpdump is absent)'}`, () => {
  it('the corpus is present in CI', () => {
    expect(present, `corpus expected at ${corpusDir}`).toBe(true);
  });

  it('reads every file to the end or to a located TwinpathError (strict snaplen)', async () => {
    const outcomes = await readAll({});
    const s = summary(outcomes);
    console.log('corpus, strict snaplen:', JSON.stringify(s));
    expect(s.files).toBeGreaterThan(0);
    // Only the snaplen rule separates strict reading from libpcap's reading of this corpus.
    expect(Object.keys(s.byCode).every((c) => c.startsWith('PCAP_'))).toBe(true);
  }, 300_000);

  it('with oversized records truncated like libpcap, matches tcpdump packet counts on a sample', async () => {
    const outcomes = await readAll({ oversizedRecords: 'truncate' });
    const s = summary(outcomes);
    console.log('corpus, libpcap-compatible snaplen:', JSON.stringify(s));
    if (!hasTcpdump()) return;
    // Every 8th file, plus every file we could not read fully (tcpdump must refuse those too,
    // or stop at the same packet).
    const sample = outcomes.filter((o, i) => i % 8 === 0 || o.error);
    const mismatches: string[] = [];
    for (const o of sample) {
      const theirs = tcpdumpCount(o.file);
      if (o.error === undefined ? theirs !== o.packets : theirs !== null && theirs !== o.packets) {
        mismatches.push(`${o.file}: ours ${o.packets}${o.error ? ` then ${o.error.code}` : ''}, tcpdump ${theirs}`);
      }
    }
    console.log(`tcpdump comparison: ${sample.length} files, ${mismatches.length} mismatches`);
    expect(mismatches).toEqual([]);
  }, 600_000);
});

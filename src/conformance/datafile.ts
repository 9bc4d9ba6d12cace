// Reads the bpf_conformance suite's test files: `-- asm`, `-- raw`, `-- mem`, `-- result` and
// `-- error` sections (others are ignored, as the suite's own runner ignores them). A `-- raw`
// section, when present, is the program; otherwise the `-- asm` text is.

import { TwinpathError } from '../errors.js';

export interface ConformanceTest {
  /** The assembly text, comments removed. */
  asm: string;
  /** The program as 8-byte slots, when the file has a `-- raw` section. */
  raw?: Uint8Array;
  /** Input memory (empty when the test has none). */
  memory: Uint8Array;
  /** Expected r0. */
  result?: bigint;
  /** Expected error text instead of a result. */
  error?: string;
  /** Instruction budget for the run (twinpath's own test files; the suite has none). */
  budget?: number;
}

export function parseConformanceFile(text: string, file = '<input>'): ConformanceTest {
  let section = '';
  const asm: string[] = [];
  const raw: bigint[] = [];
  const mem: number[] = [];
  let result: bigint | undefined;
  let error: string | undefined;
  let budget: number | undefined;
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    let line = lines[n]!.replace(/\r$/, '');
    const hash = line.indexOf('#');
    if (hash >= 0) line = line.slice(0, hash);
    const header = /^--\s*(.*?)\s*$/.exec(line);
    if (header) {
      section = header[1]!;
      continue;
    }
    const body = line.trim();
    if (!body) continue;
    const bad = (what: string) =>
      new TwinpathError('CONFORMANCE_BAD_FILE', `${what} in section "${section}"`, { file, line: n + 1 });
    switch (section) {
      case 'asm':
        asm.push(body);
        break;
      case 'raw':
        for (const word of body.split(/\s+/)) {
          if (!/^(0x[0-9a-fA-F]+|\d+)$/.test(word)) throw bad(`bad word ${JSON.stringify(word)}`);
          raw.push(BigInt(word));
        }
        break;
      case 'mem':
        for (const byte of body.split(/\s+/)) {
          if (!/^[0-9a-fA-F]{1,2}$/.test(byte)) throw bad(`bad byte ${JSON.stringify(byte)}`);
          mem.push(parseInt(byte, 16));
        }
        break;
      case 'result':
        if (!/^(0x[0-9a-fA-F]+|\d+)$/.test(body)) throw bad(`bad result ${JSON.stringify(body)}`);
        result = BigInt.asUintN(64, BigInt(body));
        break;
      case 'error':
        error = body;
        break;
      case 'budget':
        if (!/^\d+$/.test(body)) throw bad(`bad budget ${JSON.stringify(body)}`);
        budget = Number(body);
        break;
      default:
        break;
    }
  }
  if (result === undefined && error === undefined) {
    throw new TwinpathError('CONFORMANCE_BAD_FILE', 'no -- result or -- error section', { file });
  }
  const test: ConformanceTest = { asm: asm.join('\n') + '\n', memory: Uint8Array.from(mem), result, error, budget };
  if (raw.length) {
    const bytes = new Uint8Array(raw.length * 8);
    const dv = new DataView(bytes.buffer);
    raw.forEach((w, k) => dv.setBigUint64(k * 8, BigInt.asUintN(64, w), true));
    test.raw = bytes;
  }
  return test;
}

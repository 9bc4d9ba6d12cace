// The assembler on the bpf_conformance suite: every `-- asm` section assembles, matches the
// `-- raw` words where the file has them, and survives a trip through the disassembler.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { assemble } from '../../src/asm/assembler.js';
import { disassemble } from '../../src/asm/disassembler.js';
import { conformanceFiles } from '../helpers/conformance.js';
import { CONFORMANCE_DIR, requireShared } from '../helpers/paths.js';

function sections(text: string): Map<string, string> {
  const out = new Map<string, string>();
  let name: string | undefined;
  for (const line of text.split('\n')) {
    const m = /^-- (.+?)\s*$/.exec(line);
    if (m) {
      name = m[1]!;
      out.set(name, '');
    } else if (name !== undefined) out.set(name, out.get(name)! + line + '\n');
  }
  return out;
}

const present = requireShared(CONFORMANCE_DIR);

describe.skipIf(!present)('assembler on bpf_conformance', () => {
  const files = present ? conformanceFiles() : [];
  const cases = files
    .map((f) => ({ f, s: sections(readFileSync(join(CONFORMANCE_DIR, f), 'utf8')) }))
    .filter(({ s }) => s.has('asm'));

  it('finds the suite', () => {
    expect(cases.length).toBeGreaterThan(250);
  });

  it.each(cases.map((c) => [c.f, c.s] as const))('%s', (file, s) => {
    const bytes = assemble(s.get('asm')!, file);
    expect(bytes.length % 8).toBe(0);
    const raw = s.get('raw');
    if (raw !== undefined) {
      const words = raw.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
      const view = new DataView(bytes.buffer);
      const got = words.map((_, i) => '0x' + view.getBigUint64(i * 8, true).toString(16).padStart(16, '0'));
      expect(got).toEqual(words.map((w) => '0x' + BigInt(w).toString(16).padStart(16, '0')));
      expect(bytes.length).toBe(words.length * 8);
    }
    // The listing of what was assembled assembles back to the same bytes.
    expect(assemble(disassemble(bytes, { exact: true }))).toEqual(bytes);
  });
});

// `twinpath inspect`: golden output (text and --json) for committed objects, and its errors.
// Golden files live in test/golden/inspect/. They are rewritten only on request:
//   TWINPATH_UPDATE_GOLDEN=1 npx vitest run test/cli/inspect.test.ts
// then review the diff. Without that variable a missing or different file fails the test.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/paths.js';
import { cli } from '../helpers/cli.js';
import { golden } from '../helpers/golden.js';

const OBJECTS = ['elf/globals', 'elf/maps', 'elf/btf_kinds', 'kernel/tc_mark', 'kernel/xdp_grow'];

describe('twinpath inspect', () => {
  for (const rel of OBJECTS) {
    const base = rel.split('/')[1]!;
    it(`matches the golden listing of ${rel}.bpf.o`, async () => {
      const text = await cli('inspect', join(ROOT, 'bpf/test', `${rel}.bpf.o`));
      expect(text.status).toBe(0);
      expect(text.err).toBe('');
      golden(`inspect/${base}.bpf.txt`, text.out);
      const json = await cli('inspect', join(ROOT, 'bpf/test', `${rel}.bpf.o`), '--json');
      expect(json.status).toBe(0);
      JSON.parse(json.out);
      golden(`inspect/${base}.bpf.json`, json.out);
    });
  }

  it('shows programs, maps, globals with BTF-formatted initial values, and the license', async () => {
    const r = await cli('inspect', join(ROOT, 'bpf/test/elf/globals.bpf.o'), '--json');
    const j = JSON.parse(r.out);
    expect(j.license).toBe('GPL');
    expect(j.programs.map((p: { name: string }) => p.name)).toEqual(['xdp_first', 'xdp_second', 'xdp_frags', 'tc_out', 'tc_legacy']);
    expect(j.unsupported.map((p: { name: string }) => p.name)).toEqual(['probe_open']);
    expect(j.maps.find((m: { name: string }) => m.name === 'jumps')).toMatchObject({ type: 'BPF_MAP_TYPE_PROG_ARRAY', keySize: 4, valueSize: 4, maxEntries: 2, pinning: 'none' });
    expect(j.globals.find((g: { name: string }) => g.name === 'cfg_mac')).toEqual({
      section: '.rodata', name: 'cfg_mac', offset: 4, size: 6, type: 'const volatile __u8[6]', value: '[2, 0, 0, 0, 0, 1]',
    });
    expect(j.globals.find((g: { name: string }) => g.name === 'greeting').value).toBe('"hello"');
  });

  it('fails with the file and a code on a missing or bad object', async () => {
    const missing = await cli('inspect', join(ROOT, 'no-such-object.o'));
    expect(missing.status).toBe(2);
    expect(missing.err).toMatch(/\[IO_ERROR\]\n$/);
    const dir = mkdtempSync(join(tmpdir(), 'twinpath-inspect-'));
    const bad = join(dir, 'bad.o');
    writeFileSync(bad, 'not an elf file at all, just text');
    const r = await cli('inspect', bad);
    expect(r.status).toBe(2);
    expect(r.err).toMatch(/bad\.o.*\[ELF_BAD_MAGIC\]\n$/);
  });
});

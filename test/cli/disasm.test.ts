// `twinpath disasm OBJECT --source` (-S): C source lines from .BTF.ext before the instructions
// they produced, as `; <line>` comments in llvm-objdump -S's layout. Golden files live in
// test/golden/disasm/*.source.txt and are rewritten only on request:
//   TWINPATH_UPDATE_GOLDEN=1 npx vitest run test/cli/disasm.test.ts
// then review the diff. Without --source the listing is unchanged; with it, dropping the comment
// lines gives the plain listing back, and every line shown is one llvm-objdump -S shows too
// (but for a function's first line, which BTF records as its declaration).

import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/paths.js';
import { cli } from '../helpers/cli.js';
import { golden } from '../helpers/golden.js';

function llvmObjdump(): boolean {
  try {
    execFileSync('llvm-objdump-19', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

// Relative paths, as a user would type them (the listing does not print the path).
const OBJECTS = ['bpf/test/progs/tail.bpf.o', 'bpf/test/progs/xdp_redirect.bpf.o'];

describe('twinpath disasm --source', () => {
  for (const rel of OBJECTS) {
    const base = rel.split('/').pop()!.replace(/\.o$/, '');
    it(`matches the golden listing of ${rel}`, async () => {
      const r = await cli('disasm', join(ROOT, rel), '-S');
      expect(r.status).toBe(0);
      expect(r.err).toBe('');
      golden(`disasm/${base}.source.txt`, r.out);
    });

    it(`${rel}: without the comments it is the plain listing`, async () => {
      const plain = await cli('disasm', join(ROOT, rel));
      const src = await cli('disasm', join(ROOT, rel), '--source');
      expect(plain.out).not.toMatch(/^; /m);
      expect(src.out.split('\n').filter((l) => !l.startsWith('; ')).join('\n')).toBe(plain.out);
      expect(src.out.split('\n').filter((l) => l.startsWith('; ')).length).toBeGreaterThan(10);
    });

    it.runIf(llvmObjdump())(`${rel}: shows only lines llvm-objdump -S shows`, async () => {
      // BTF gives a function's first instruction its declaration's line; DWARF gives it `{`.
      const lines = (await cli('disasm', join(ROOT, rel), '-S')).out.split('\n');
      const ours = lines.filter((l, i) => l.startsWith('; ') && !/^[0-9a-f]{16} <.*>:$/.test(lines[i - 1] ?? ''));
      const theirs = new Set(execFileSync('llvm-objdump-19', ['-S', rel], { cwd: ROOT, encoding: 'utf8' }).split('\n').filter((l) => l.startsWith('; ')));
      expect(ours.filter((l) => !theirs.has(l))).toEqual([]);
    });
  }

  it('a section alone, with its lines', async () => {
    const r = await cli('disasm', join(ROOT, 'bpf/test/progs/xdp_redirect.bpf.o'), '--section', 'xdp', '-S');
    expect(r.status).toBe(0);
    expect(r.out).toMatch(/^; \treturn bpf_redirect_map\(&tx_ports, iph->ttl & 1, XDP_PASS\);$/m);
  });

  it('refuses --source with --hex', async () => {
    const r = await cli('disasm', '--hex', '95 00 00 00 00 00 00 00', '--source');
    expect(r.status).not.toBe(0);
    expect(r.err).toMatch(/USAGE/);
  });
});

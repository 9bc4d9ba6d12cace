// twinpath's disassembly against llvm-objdump-19's, kept in test/golden/disasm (rewritten only
// by scripts/update-golden-disasm.sh). Needs only Node; where llvm is installed it also checks
// that the golden files are still what llvm prints.

import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatInsn } from '../../src/asm/disassembler.js';
import { decodeInsns, parseHexBytes } from '../../src/asm/insn.js';
import { disassembleObject } from '../../src/asm/objdump.js';
import { ROOT } from '../helpers/paths.js';

const OBJ_DIR = join(ROOT, 'bpf/test/disasm');
const GOLDEN = join(ROOT, 'test/golden/disasm');
const objects = readdirSync(OBJ_DIR).filter((f) => f.endsWith('.o')).sort();

function haveTool(name: string): boolean {
  return spawnSync(name, ['--version'], { stdio: 'ignore' }).status === 0;
}
const toolsPresent = haveTool('llvm-objdump-19') && haveTool('llvm-mc-19');
if (!toolsPresent && process.env.TWINPATH_REQUIRE_TOOLS === '1') {
  throw new Error('llvm-objdump-19 and llvm-mc-19 are required (TWINPATH_REQUIRE_TOOLS=1)');
}
const fromDisassembly = (s: string): string => s.slice(s.indexOf('Disassembly of section'));

describe('disassembly matches the golden files', () => {
  it('has test objects', () => expect(objects.length).toBeGreaterThan(5));
  it.each(objects)('%s', (obj) => {
    const golden = readFileSync(join(GOLDEN, obj.replace(/\.o$/, '.txt')), 'utf8');
    expect(disassembleObject(readFileSync(join(OBJ_DIR, obj)), { file: obj })).toBe(golden);
  });

  it('every encoding of the sweep prints as llvm-objdump prints it', () => {
    const lines = readFileSync(join(GOLDEN, 'sweep.txt'), 'utf8').split('\n').filter((l) => /^\s+\d+:\t/.test(l));
    expect(lines.length).toBeGreaterThan(10000);
    const wrong: string[] = [];
    for (const line of lines) {
      const [addr, hex, ...rest] = line.split('\t');
      const slot = Number(addr!.replace(':', ''));
      const insns = decodeInsns(parseHexBytes(hex!));
      const got = formatInsn(insns, 0, {
        strict: true,
        target: (t) => {
          const a = BigInt.asUintN(64, BigInt(slot + t) * 8n);
          return a === 0n ? 'sweep' : `sweep+0x${a.toString(16)}`;
        },
      });
      if (got !== rest.join('\t')) wrong.push(`${hex}: llvm "${rest.join('\t')}", twinpath "${got}"`);
    }
    expect(wrong.slice(0, 20)).toEqual([]);
  });
});

describe.skipIf(!toolsPresent)('golden files are what llvm-objdump-19 prints now', () => {
  it.each(objects)('%s', (obj) => {
    const now = execFileSync('llvm-objdump-19', ['-d', join(OBJ_DIR, obj)], { encoding: 'utf8' });
    expect(fromDisassembly(now)).toBe(readFileSync(join(GOLDEN, obj.replace(/\.o$/, '.txt')), 'utf8'));
  });
  it('sweep.txt', () => {
    const dir = mkdtempSync(join(tmpdir(), 'twinpath-sweep-'));
    try {
      const s = execFileSync('node', [join(ROOT, 'test/asm/sweep-encodings.mjs')], { encoding: 'utf8', maxBuffer: 1 << 26 });
      writeFileSync(join(dir, 'sweep.s'), s);
      execFileSync('llvm-mc-19', ['-triple', 'bpfel', '-filetype=obj', join(dir, 'sweep.s'), '-o', join(dir, 'sweep.o')]);
      const now = execFileSync('llvm-objdump-19', ['-d', join(dir, 'sweep.o')], { encoding: 'utf8', maxBuffer: 1 << 26 });
      expect(fromDisassembly(now)).toBe(readFileSync(join(GOLDEN, 'sweep.txt'), 'utf8'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

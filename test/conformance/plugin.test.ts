// The same 313 tests through bin/bpf-conformance-plugin, driven as the suite's runner drives a
// plugin: memory first as an argument, then options; the program as hex on standard input; r0
// in hex on standard output. A sample also goes through --elf.

import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadDataFile } from '../helpers/datafiles.js';
import { conformanceFiles, conformanceSkips, pluginHex } from '../helpers/conformance.js';
import { minimalElf } from '../helpers/minimal-elf.js';
import { CONFORMANCE_DIR, ROOT, requireShared } from '../helpers/paths.js';

const PLUGIN = join(ROOT, 'bin/bpf-conformance-plugin');

function runPluginProcess(args: string[], stdin: string): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(PLUGIN, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status: status ?? -1, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

/** Runs fn over items with at most `limit` at once. */
async function pool<T, R>(items: T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) {
        const k = next++;
        out[k] = await fn(items[k]!);
      }
    }),
  );
  return out;
}

const present = requireShared(CONFORMANCE_DIR);

describe.skipIf(!present)('bpf_conformance through bin/bpf-conformance-plugin', () => {
  const files = present ? conformanceFiles().filter((f) => !conformanceSkips().has(f)) : [];

  it('passes every test as the suite runner drives it', async () => {
    const failures = (
      await pool(files, 4, async (f) => {
        const { test, code } = loadDataFile(join(CONFORMANCE_DIR, f));
        const args = test.memory.length ? [pluginHex(test.memory)] : [];
        const r = await runPluginProcess(args, pluginHex(code));
        if (test.error !== undefined) return r.status !== 0 ? null : `${f}: expected an error, got ${r.stdout}`;
        if (r.status !== 0) return `${f}: exit ${r.status}: ${r.stderr}`;
        const got = BigInt('0x' + r.stdout.trim());
        return got === test.result ? null : `${f}: r0 ${got.toString(16)}, expected ${test.result!.toString(16)}`;
      })
    ).filter((x) => x !== null);
    expect(failures).toEqual([]);
    expect(files.length).toBeGreaterThan(300);
  }, 300_000);

  it('runs programs sent as ELF objects with --elf', async () => {
    for (const f of ['lddw.data', 'call_local.data', 'ldxb-all.data', 'prime.data']) {
      const { test, code } = loadDataFile(join(CONFORMANCE_DIR, f));
      const args = test.memory.length ? [pluginHex(test.memory), '--elf'] : ['--elf'];
      const r = await runPluginProcess(args, pluginHex(minimalElf(code)));
      expect(r.stderr).toBe('');
      expect(BigInt('0x' + r.stdout.trim()), f).toBe(test.result);
    }
  });

  it('exits non-zero with the error on standard error for a bad program', async () => {
    const r = await runPluginProcess(['00  01  '], '61  10  04  00  00  00  00  00  95  00  00  00  00  00  00  00  ');
    expect(r.status).not.toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/VM_OOB_ACCESS/);
  });

  it('rejects bad hex and unknown options with a usage error', async () => {
    const bad = await runPluginProcess([], 'zz');
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/HEX_BAD_INPUT/);
    const opt = await runPluginProcess(['--frobnicate'], '95  00  00  00  00  00  00  00  ');
    expect(opt.status).not.toBe(0);
    expect(opt.stderr).toMatch(/unknown option/);
  });
});

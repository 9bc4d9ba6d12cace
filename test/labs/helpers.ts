// Shared by the lab tests: the CLI as a function, throwaway working directories (always
// removed), and golden transcripts. Golden files are rewritten only on request, then reviewed:
//   TWINPATH_UPDATE_GOLDEN=1 npx vitest run test/labs/golden.test.ts
// Without that variable a missing or different file fails the test.

import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, expect } from 'vitest';
import { main } from '../../src/cli/main.js';
import { bufferIo } from '../../src/cli/io.js';
import { ROOT } from '../helpers/paths.js';

export const LABS = join(ROOT, 'labs');

export async function cli(...args: string[]): Promise<{ status: number; out: string; err: string }> {
  const io = bufferIo();
  const status = await main(args, io);
  return { status, out: io.stdout(), err: io.stderr() };
}

const made: string[] = [];
afterAll(() => {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A fresh directory under the system's temporary directory, removed after the file's tests. */
export function scratch(): string {
  const d = mkdtempSync(join(tmpdir(), 'twinpath-lab-test-'));
  made.push(d);
  return d;
}

/** A working directory (not yet existing) inside a fresh scratch directory. */
export function workdir(): string {
  return join(scratch(), 'work');
}

/** Starts lab `n` in a new working directory and returns it. */
export async function started(n: number | string): Promise<string> {
  const dir = workdir();
  const r = await cli('lab', 'start', String(n), dir);
  if (r.status !== 0) throw new Error(`lab start ${n}: ${r.err}`);
  return dir;
}

/** Compares with test/golden/labs/REL (or writes it under TWINPATH_UPDATE_GOLDEN=1). */
export function golden(rel: string, actual: string): void {
  const path = join(ROOT, 'test/golden/labs', rel);
  if (process.env.TWINPATH_UPDATE_GOLDEN === '1') {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, actual);
    return;
  }
  if (!existsSync(path)) throw new Error(`test/golden/labs/${rel} is missing: run with TWINPATH_UPDATE_GOLDEN=1 and review it`);
  expect(actual).toBe(readFileSync(path, 'utf8'));
}

// Shared by the lab tests: the CLI as a function, throwaway working directories (always
// removed), and golden transcripts. Golden files are rewritten only on request, then reviewed:
//   TWINPATH_UPDATE_GOLDEN=1 npx vitest run test/labs/golden.test.ts
// Without that variable a missing or different file fails the test.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { cli } from '../helpers/cli.js';
import { golden as sharedGolden } from '../helpers/golden.js';
import { ROOT } from '../helpers/paths.js';

export const LABS = join(ROOT, 'labs');

export { cli };

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
  sharedGolden(`labs/${rel}`, actual);
}

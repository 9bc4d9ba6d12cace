// Golden files and a CLI runner for the probe, reachability and policy command tests.
// Golden files are rewritten only on request, then reviewed as a diff:
//   TWINPATH_UPDATE_GOLDEN=1 npx vitest run test/cli/probe.test.ts test/cli/reachability.test.ts test/cli/policy.test.ts
// Without that variable a missing or different file fails the test.

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { expect } from 'vitest';
import { main } from '../../src/cli/main.js';
import { bufferIo } from '../../src/cli/io.js';
import { ROOT } from '../helpers/paths.js';

export const FIXTURES = join(ROOT, 'test/fixtures/probe');
export const CLUSTER = join(FIXTURES, 'cluster.yaml');
export const POLICIES = join(FIXTURES, 'policies.yaml');

export async function cli(...args: string[]): Promise<{ status: number; out: string; err: string }> {
  const io = bufferIo();
  const status = await main(args, io);
  return { status, out: io.stdout(), err: io.stderr() };
}

/** Compares with test/golden/REL (or writes it under TWINPATH_UPDATE_GOLDEN=1). Paths of this
 * checkout are replaced by `<root>` first so the files do not depend on where it lives. */
export function golden(rel: string, actual: string): void {
  const text = actual.split(ROOT.replace(/\/$/, '')).join('<root>');
  const path = join(ROOT, 'test/golden', rel);
  if (process.env.TWINPATH_UPDATE_GOLDEN === '1') {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
    return;
  }
  if (!existsSync(path)) throw new Error(`test/golden/${rel} is missing: run with TWINPATH_UPDATE_GOLDEN=1 and review it`);
  expect(text).toBe(readFileSync(path, 'utf8'));
}

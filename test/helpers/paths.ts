// Paths the tests share: the repository root and the shared material beside it.

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const SHARED = join(ROOT, '..', 'shared');
export const CONFORMANCE_DIR = join(SHARED, 'conformance', 'bpf_conformance');

/**
 * Whether shared material is present. On a laptop without ../shared its tests skip with a
 * reason; in CI (CI=true) its absence is a failure.
 */
export function requireShared(dir: string): boolean {
  if (existsSync(dir)) return true;
  if (process.env.CI === 'true') throw new Error(`${dir} is missing; CI needs ../shared beside the repository`);
  return false;
}

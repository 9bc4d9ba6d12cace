// Golden files under test/golden/: what a person reads, compared byte for byte. They are
// rewritten only on request, then reviewed as a diff:
//   TWINPATH_UPDATE_GOLDEN=1 npx vitest run <the test files>
// Without that variable a missing or different file fails the test.

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { expect } from 'vitest';
import { ROOT } from './paths.js';

/** Compares `actual` with test/golden/REL (or writes it under TWINPATH_UPDATE_GOLDEN=1). Paths
 * of this checkout are replaced by `<root>` first, so the files do not depend on where it lives. */
export function golden(rel: string, actual: string): void {
  const text = actual.split(ROOT.replace(/\/$/, '')).join('<root>');
  const path = join(ROOT, 'test/golden', rel);
  if (process.env.TWINPATH_UPDATE_GOLDEN === '1') {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
    console.log(`TWINPATH_UPDATE_GOLDEN=1: wrote test/golden/${rel}`);
    return;
  }
  if (!existsSync(path)) throw new Error(`test/golden/${rel} is missing: run with TWINPATH_UPDATE_GOLDEN=1 and review it`);
  expect(text).toBe(readFileSync(path, 'utf8'));
}

// The bpf_conformance suite's files and twinpath's skip list for them.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONFORMANCE_DIR, ROOT } from './paths.js';

export function conformanceFiles(): string[] {
  return readdirSync(CONFORMANCE_DIR)
    .filter((f) => f.endsWith('.data'))
    .sort();
}

/** Skipped tests with their reasons, from test/conformance/skip.txt. */
export function conformanceSkips(): Map<string, string> {
  const skips = new Map<string, string>();
  for (const line of readFileSync(join(ROOT, 'test/conformance/skip.txt'), 'utf8').split('\n')) {
    const t = line.trim();
    if (!t || t.startsWith('#')) continue;
    const [file, ...reason] = t.split(/\s+/);
    skips.set(file!, reason.join(' '));
  }
  return skips;
}

/** Bytes as the suite's runner passes them to a plugin: lowercase hex, each byte then two spaces. */
export function pluginHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0') + '  ').join('');
}

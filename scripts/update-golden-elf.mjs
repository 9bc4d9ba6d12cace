#!/usr/bin/env node
// Rewrites test/golden/elf/*.json from the test objects in bpf/test/elf. Run it by hand after a
// deliberate change to src/elf or to a test object, then review the diff; tests never write
// golden files. Uses the compiled code in dist/, so it builds first.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' });
const { readObject } = await import(join(root, 'dist/elf/object.js'));
const { specToJson } = await import(join(root, 'dist/elf/spec_json.js'));

const srcDir = join(root, 'bpf/test/elf');
const outDir = join(root, 'test/golden/elf');
mkdirSync(outDir, { recursive: true });
for (const name of readdirSync(srcDir).filter((f) => f.endsWith('.o')).sort()) {
  const rel = `bpf/test/elf/${name}`;
  const spec = readObject(new Uint8Array(readFileSync(join(root, rel))), rel);
  const out = join(outDir, name.replace(/\.o$/, '.json'));
  writeFileSync(out, JSON.stringify(specToJson(spec), null, 2) + '\n');
  console.log(`wrote ${out.slice(root.length + 1)}`);
}

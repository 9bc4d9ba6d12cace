#!/usr/bin/env node
// Rewrites test/golden/elf/*.json from the test objects in bpf/test/elf. Run it by hand after a
// deliberate change to src/elf or to a test object, then review the diff; tests never write
// golden files. Compiles just src/elf (and what it imports) into a temporary directory first, so
// work in progress elsewhere in src/ cannot stop it.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = mkdtempSync(join(tmpdir(), 'twinpath-golden-elf-'));
execFileSync('npx', ['tsc', '--outDir', out, '--rootDir', 'src', '--module', 'NodeNext',
  '--moduleResolution', 'NodeNext', '--target', 'ES2022', '--strict', '--skipLibCheck', '--types', 'node',
  'src/elf/object.ts', 'src/elf/spec_json.ts'], { cwd: root, stdio: 'inherit' });
writeFileSync(join(out, 'package.json'), '{"type":"module"}\n');
const { readObject } = await import(pathToFileURL(join(out, 'elf/object.js')).href);
const { specToJson } = await import(pathToFileURL(join(out, 'elf/spec_json.js')).href);
rmSync(out, { recursive: true, force: true });

const srcDir = join(root, 'bpf/test/elf');
const outDir = join(root, 'test/golden/elf');
mkdirSync(outDir, { recursive: true });
for (const name of readdirSync(srcDir).filter((f) => f.endsWith('.o')).sort()) {
  const rel = `bpf/test/elf/${name}`;
  const spec = readObject(new Uint8Array(readFileSync(join(root, rel))), rel);
  const dest = join(outDir, name.replace(/\.o$/, '.json'));
  writeFileSync(dest, JSON.stringify(specToJson(spec), null, 2) + '\n');
  console.log(`wrote test/golden/elf/${name.replace(/\.o$/, '.json')}`);
}

#!/usr/bin/env node
// Writes the bundled replay scenarios: for each captures/<name>/<name>.spec.json, the pcapng
// capture it names (each packet's note as its comment), through src/datapath/replay_scenario.ts.
//   node scripts/gen-replay-captures.mjs [NAME...]          rewrite the captures (all, or those named)
//   node scripts/gen-replay-captures.mjs --check [NAME...]  exit 1 if a committed capture differs
// Run by hand after changing a spec, then review the diff; tests run --check and never rewrite.
// Compiles just the modules it needs into a scratch directory first, so work in progress
// elsewhere in src/ cannot stop it.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const capturesDir = join(root, 'captures');
const args = process.argv.slice(2);
const check = args.includes('--check');
const wanted = args.filter((a) => a !== '--check');

const tmp = mkdtempSync(join(tmpdir(), 'twinpath-replay-captures-'));
let mod;
let writer;
try {
  execFileSync('npx', ['tsc', '--outDir', tmp, '--rootDir', 'src', '--module', 'NodeNext',
    '--moduleResolution', 'NodeNext', '--target', 'ES2022', '--strict', '--skipLibCheck', '--types', 'node',
    'src/datapath/replay_scenario.ts', 'src/pcap/writer.ts'], { cwd: root, stdio: 'inherit' });
  writeFileSync(join(tmp, 'package.json'), '{"type":"module"}\n');
  mod = await import(pathToFileURL(join(tmp, 'datapath/replay_scenario.js')).href);
  writer = await import(pathToFileURL(join(tmp, 'pcap/writer.js')).href);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

const scenarios = readdirSync(capturesDir, { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(join(capturesDir, d.name, `${d.name}.spec.json`)))
  .map((d) => d.name)
  .filter((n) => wanted.length === 0 || wanted.includes(n))
  .sort();
if (wanted.length > 0 && scenarios.length !== wanted.length) {
  console.error(`gen-replay-captures: no scenario ${wanted.filter((w) => !scenarios.includes(w)).join(', ')}`);
  process.exit(2);
}
let stale = 0;
for (const name of scenarios) {
  const rel = `captures/${name}/${name}.spec.json`;
  const spec = mod.parseScenarioSpec(readFileSync(join(root, rel), 'utf8'), rel);
  const records = mod.scenarioRecords(spec, rel);
  const bytes = await writer.encodePcapng(records, { application: 'twinpath gen-replay-captures' });
  const out = join(capturesDir, name, spec.output);
  const outRel = `captures/${name}/${spec.output}`;
  if (check) {
    const have = existsSync(out) ? readFileSync(out) : undefined;
    if (!have || Buffer.compare(have, Buffer.from(bytes)) !== 0) {
      console.error(`${outRel}: ${have ? 'differs from' : 'missing; expected'} what ${rel} gives (run node scripts/gen-replay-captures.mjs ${name})`);
      stale++;
    } else {
      console.log(`${outRel}: current (${records.length} packets)`);
    }
  } else {
    writeFileSync(out, bytes);
    console.log(`wrote ${outRel} (${records.length} packets)`);
  }
}
if (stale > 0) process.exitCode = 1;

#!/usr/bin/env node
// Writes labs/NN-slug/traffic.pcap from the traffic spec beside it (traffic.json), for every lab
// or for the labs named on the command line (`node scripts/gen-lab-captures.mjs 01 star-wars`).
// The packets come from src/labs/traffic.ts, which builds them with the project's packet builder
// (src/pcap/build.ts, src/datapath/packets.ts); a check expands the same spec to know which
// packet belongs to which flow, and test/labs proves every committed capture is current. Run it
// by hand after changing a spec, then review the diff; tests never rewrite captures.
// Compiles just the modules it needs into a scratch directory under node_modules (so that the
// `yaml` package resolves), so work in progress elsewhere in src/ cannot stop it.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const scratchParent = join(root, 'node_modules', '.cache');
mkdirSync(scratchParent, { recursive: true });
const tmp = mkdtempSync(join(scratchParent, 'twinpath-lab-captures-'));
const LINKTYPE_ETHERNET = 1;
const wanted = process.argv.slice(2);
const labsDir = join(root, 'labs');
let written = 0;
try {
  execFileSync('npx', ['tsc', '--outDir', tmp, '--rootDir', 'src', '--module', 'NodeNext',
    '--moduleResolution', 'NodeNext', '--target', 'ES2022', '--strict', '--skipLibCheck', '--types', 'node',
    'src/labs/traffic.ts', 'src/pcap/writer.ts'], { cwd: root, stdio: 'inherit' });
  writeFileSync(join(tmp, 'package.json'), '{"type":"module"}\n');
  const { expandTraffic, readTrafficSpec } = await import(pathToFileURL(join(tmp, 'labs/traffic.js')).href);
  const { encodePcap } = await import(pathToFileURL(join(tmp, 'pcap/writer.js')).href);
  for (const name of readdirSync(labsDir).sort()) {
    if (!/^\d\d-/.test(name)) continue;
    if (wanted.length > 0 && !wanted.some((w) => name === w || name.startsWith(`${w}-`) || name.slice(3) === w)) continue;
    const spec = join(labsDir, name, 'traffic.json');
    if (!existsSync(spec)) continue;
    const { packets } = expandTraffic(readTrafficSpec(spec));
    const bytes = await encodePcap(
      packets.map((p) => ({ timestampNs: p.timeNs, data: p.frame, originalLength: p.originalLength, linkType: LINKTYPE_ETHERNET })),
      { linkType: LINKTYPE_ETHERNET, nanosecond: true },
    );
    writeFileSync(join(labsDir, name, 'traffic.pcap'), bytes);
    console.log(`labs/${name}/traffic.pcap: ${packets.length} packets`);
    written++;
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
if (wanted.length > 0 && written === 0) {
  console.error(`gen-lab-captures: no lab matches ${wanted.join(', ')}`);
  process.exitCode = 1;
}

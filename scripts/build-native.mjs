#!/usr/bin/env node
// Builds the optional native addon (native/ -> native/build/Release/twinpath_bpf.node) with
// node-gyp when libbpf's headers are installed. The kernel engine needs it; nothing else does,
// so this script ALWAYS exits 0: on a laptop without libbpf `npm install` still succeeds and
// the kernel commands explain what is missing when used.
//
// TWINPATH_SKIP_NATIVE=1 skips the build. The node-gyp npm ships with is preferred, so no
// download is needed; Node's own headers are used when they sit next to the node binary.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const nativeDir = join(root, 'native');

function skip(reason) {
  console.log(`twinpath: native addon not built (${reason}); the kernel engine stays unavailable, everything else works`);
  process.exit(0);
}

function hasLibbpfHeaders() {
  const pc = spawnSync('pkg-config', ['--exists', 'libbpf'], { stdio: 'ignore' });
  if (pc.status === 0) return true;
  // Without pkg-config, look where a distribution package puts the header.
  return ['/usr/include', '/usr/local/include'].some((d) => existsSync(join(d, 'bpf', 'libbpf.h')));
}

/** The node-gyp to run: npm's own when known (npm sets npm_config_node_gyp in scripts), else
 * the copy bundled with the npm next to this node, else whatever is on PATH. */
function findNodeGyp() {
  const candidates = [];
  if (process.env.npm_config_node_gyp) candidates.push(process.env.npm_config_node_gyp);
  if (process.env.npm_execpath) {
    candidates.push(join(dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  }
  const prefix = dirname(dirname(process.execPath));
  candidates.push(join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  for (const c of candidates) if (existsSync(c)) return { cmd: process.execPath, args: [c] };
  const onPath = spawnSync('node-gyp', ['--version'], { stdio: 'ignore' });
  if (onPath.status === 0) return { cmd: 'node-gyp', args: [] };
  return undefined;
}

if (process.env.TWINPATH_SKIP_NATIVE === '1') skip('TWINPATH_SKIP_NATIVE=1');
if (process.platform !== 'linux') skip(`eBPF needs Linux, this is ${process.platform}`);
if (!hasLibbpfHeaders()) skip('libbpf headers not found: install libbpf-dev (Debian/Ubuntu) or libbpf-devel, then run npm rebuild');
const gyp = findNodeGyp();
if (!gyp) skip('node-gyp not found: it ships with npm; reinstall npm or run npm install -g node-gyp');

const args = [...gyp.args, 'rebuild'];
// node-gyp downloads Node's headers unless told where they are; a system or tarball install of
// Node keeps them in <prefix>/include/node, which is what --nodedir wants (npm passes its own
// nodedir setting through the environment, which node-gyp reads itself).
const prefix = dirname(dirname(process.execPath));
if (!process.env.npm_config_nodedir && existsSync(join(prefix, 'include', 'node', 'node_api.h'))) {
  args.push(`--nodedir=${prefix}`);
}
const run = spawnSync(gyp.cmd, args, { cwd: nativeDir, encoding: 'utf8' });
if (run.error || run.status !== 0) {
  const out = `${run.stdout ?? ''}${run.stderr ?? ''}`.split('\n').filter((l) => /error|Error/.test(l));
  for (const line of out.slice(-15)) console.log(`  ${line}`);
  skip(run.error ? `node-gyp could not start: ${run.error.message}` : `node-gyp failed with exit status ${run.status}`);
}
console.log('twinpath: built native/build/Release/twinpath_bpf.node');

// Shared helpers for tests that need the kernel engine: describeKernel() (skip with the reason
// on a laptop, fail when TWINPATH_REQUIRE_KERNEL=1 says the kernel must be there), fixture
// objects, shell commands, and throwaway network plumbing (veth pairs, namespaces, bpffs
// mounts) that always carries a unique name and is always removed.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe } from 'vitest';
import { kernelAvailability } from '../../src/kernel/addon.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** describe() for kernel tests: skipped with the reason where the kernel engine is missing,
 * a hard failure instead when TWINPATH_REQUIRE_KERNEL=1 (CI on a Linux runner as root). */
export function describeKernel(name: string, fn: () => void): void {
  const a = kernelAvailability();
  if (a.ok) {
    describe(name, fn);
    return;
  }
  if (process.env.TWINPATH_REQUIRE_KERNEL === '1') {
    throw new Error(`${name}: TWINPATH_REQUIRE_KERNEL=1 but the kernel engine is unavailable: ${a.reason}`);
  }
  describe.skip(`${name} [skipped: ${a.reason}]`, fn);
}

/** A committed kernel test object (bpf/test/kernel/NAME.bpf.o). */
export function kernelFixture(name: string): Buffer {
  return readFileSync(join(root, 'bpf', 'test', 'kernel', `${name}.bpf.o`));
}

/** Runs a command without a shell; returns stdout, throws with stderr on failure. */
export function sh(cmd: string, ...args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Like sh() but never throws: for cleanup, where the thing may already be gone. */
export function shQuiet(cmd: string, ...args: string[]): void {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
  } catch {
    // already gone, or never made
  }
}

let counter = 0;

/** A name unique to this process and call, short enough for an interface (15 bytes). */
export function uniqueName(tag: string): string {
  counter += 1;
  return `tp${tag}${process.pid % 100000}-${counter}`.slice(0, 15);
}

/** A veth pair whose host end stays in this namespace and whose peer lives in a fresh network
 * namespace. remove() deletes both (and with them any tc/XDP attachment) and the namespace. */
export interface VethPair {
  host: string;
  peer: string;
  netns: string;
  remove(): void;
}

export function createVethPair(): VethPair {
  const host = uniqueName('h');
  const peer = uniqueName('p');
  const netns = uniqueName('ns');
  const pair: VethPair = {
    host,
    peer,
    netns,
    remove() {
      shQuiet('ip', 'link', 'del', host);
      shQuiet('ip', 'netns', 'del', netns);
    },
  };
  try {
    sh('ip', 'netns', 'add', netns);
    sh('ip', 'link', 'add', host, 'type', 'veth', 'peer', 'name', peer);
    sh('ip', 'link', 'set', peer, 'netns', netns);
    sh('ip', 'link', 'set', host, 'up');
    sh('ip', '-n', netns, 'link', 'set', peer, 'up');
  } catch (e) {
    pair.remove();
    throw e;
  }
  return pair;
}

/** A private bpf filesystem in a temporary directory, so pin tests touch nothing shared. */
export interface BpfFs {
  dir: string;
  remove(): void;
}

export function mountBpfFs(): BpfFs {
  const dir = mkdtempSync(join(tmpdir(), 'twinpath-bpffs-'));
  try {
    sh('mount', '-t', 'bpf', 'bpf', dir);
  } catch (e) {
    rmdirSync(dir);
    throw e;
  }
  return {
    dir,
    remove() {
      shQuiet('umount', dir);
      try {
        rmdirSync(dir);
      } catch {
        // still mounted or already removed; nothing more to do safely
      }
    },
  };
}

// Suite-level leak check (vitest globalSetup): after every test file has run, no network
// namespace, root-namespace veth, bpffs pin under /sys/fs/bpf/twinpath*, tc clsact hook, XDP
// program or test sandbox state file made during the run may remain. Whatever does is removed, and the run fails.
//
// Several test runs may share a machine, so only what appeared during this run counts, and
// a thing whose name carries the id of a process that is still running (another run's test
// worker) is left to that process. Test names carry their worker's pid: test/helpers/kernel.ts
// names things tp<tag><pid % 100000>-<n>, the sandbox tests t<pid>x<n> (uniqueSandboxName in
// test/sandbox/helpers.ts); sandboxes with other names are a person's, never touched.

import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';

interface Leak {
  what: string;
  remove(): void;
}

function quiet(cmd: string, ...args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return '';
  }
}

function livePids(): number[] {
  return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number);
}

/** The worker pid a test resource's name carries, when it follows a test naming scheme. */
function ownerPid(name: string): { pid: number; mod: boolean } | undefined {
  const sandbox = /^tp-t(\d+)x\d+-/.exec(name) ?? /^t(\d+)x\d+$/.exec(name);
  if (sandbox) return { pid: Number(sandbox[1]), mod: false };
  const helper = /^tp[a-z]+(\d+)-\d+$/.exec(name);
  if (helper) return { pid: Number(helper[1]), mod: true };
  return undefined;
}

function ownedByLiveProcess(name: string, pids: number[]): boolean {
  const o = ownerPid(name);
  if (o === undefined) return false;
  return pids.some((p) => (o.mod ? p % 100000 === o.pid : p === o.pid));
}

function snapshot(): Map<string, Leak> {
  const found = new Map<string, Leak>();
  const add = (key: string, remove: () => void): void => {
    found.set(key, { what: key, remove });
  };
  for (const ns of existsSync('/run/netns') ? readdirSync('/run/netns') : []) {
    if (ns.startsWith('tp')) add(`netns ${ns}`, () => quiet('ip', 'netns', 'del', ns));
  }
  const links = JSON.parse(quiet('ip', '-j', '-d', 'link', 'show') || '[]') as Array<{
    ifname: string;
    linkinfo?: { info_kind?: string };
    xdp?: unknown;
  }>;
  for (const l of links) {
    if (l.ifname.startsWith('tp') && l.linkinfo?.info_kind === 'veth') add(`veth ${l.ifname}`, () => quiet('ip', 'link', 'del', l.ifname));
    else if (l.xdp !== undefined) add(`xdp on ${l.ifname}`, () => quiet('ip', 'link', 'set', 'dev', l.ifname, 'xdp', 'off'));
  }
  for (const q of JSON.parse(quiet('tc', '-j', 'qdisc', 'show') || '[]') as Array<{ kind: string; dev: string }>) {
    if (q.kind === 'clsact' && !q.dev.startsWith('tp')) add(`clsact on ${q.dev}`, () => quiet('tc', 'qdisc', 'del', 'dev', q.dev, 'clsact'));
  }
  const states = '/run/twinpath/sandbox';
  for (const f of existsSync(states) ? readdirSync(states).filter((e) => e.endsWith('.json')) : []) {
    add(`sandbox state ${f.slice(0, -5)}`, () => rmSync(`${states}/${f}`, { force: true }));
  }
  const bpffs = '/sys/fs/bpf';
  for (const top of existsSync(bpffs) ? readdirSync(bpffs).filter((e) => e.startsWith('twinpath')) : []) {
    const walk = (rel: string): void => {
      const path = `${bpffs}/${rel}`;
      let entries: string[] = [];
      try {
        entries = readdirSync(path);
      } catch {
        add(`pin ${path}`, () => rmSync(path, { force: true }));
        return;
      }
      for (const e of entries) walk(`${rel}/${e}`);
    };
    walk(top);
  }
  return found;
}

export function setup(): (() => void) | undefined {
  if (process.platform !== 'linux' || process.geteuid?.() !== 0) return undefined;
  const before = new Set(snapshot().keys());
  return () => {
    const pids = livePids();
    const leaks = [...snapshot().values()].filter((l) => {
      if (before.has(l.what)) return false;
      const name = l.what.split(' ').pop()!;
      // A sandbox a person built by hand during the run is theirs; tests name theirs t<pid>x<n>.
      const sb = /^tp-([a-z0-9]+)-(u|w|n\d+|p\d+)$/.exec(name)?.[1] ?? (l.what.startsWith('sandbox state ') ? name : undefined);
      if (sb !== undefined && !/^t\d+x\d+$/.test(sb)) return false;
      const sandbox = /\/sandbox\/([a-z0-9]+)/.exec(name)?.[1];
      return !ownedByLiveProcess(sandbox ?? name, pids);
    });
    if (leaks.length === 0) return;
    for (const l of leaks) l.remove();
    // vitest reports an error thrown here but keeps its exit status; set it so the run fails.
    process.exitCode = 1;
    throw new Error(`the test suite left behind (now removed): ${leaks.map((l) => l.what).join(', ')}`);
  };
}

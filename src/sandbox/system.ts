// The few system tools a sandbox drives, run without a shell: iproute2's `ip` (namespaces,
// links, addresses, routes, in batches per namespace) and `nsenter` (sysctls and commands in a
// namespace). `ip netns exec` is avoided on purpose: it remounts /sys and hides /sys/fs/bpf.
// Failures become SANDBOX_ERROR carrying the tool's own message.

import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { TwinpathError } from '../errors.js';

function run(cmd: string, args: string[], input?: string): string {
  const r = spawnSync(cmd, args, { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
  if (r.error) {
    const missing = (r.error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new TwinpathError('SANDBOX_ERROR', missing ? `${cmd} is not installed (Debian: ${cmd === 'ip' ? 'iproute2' : 'util-linux'})` : `${cmd}: ${r.error.message}`);
  }
  if (r.status !== 0) {
    const why = (r.stderr || r.stdout || `exit status ${r.status}`).trim().split('\n').slice(-3).join('; ');
    throw new TwinpathError('SANDBOX_ERROR', `${cmd} ${args.join(' ')}: ${why}`);
  }
  return r.stdout;
}

/** Root, `ip` and `nsenter`: what building a sandbox needs, checked before anything is made. */
export function checkPrerequisites(): void {
  if (process.platform !== 'linux') throw new TwinpathError('SANDBOX_ERROR', `a sandbox needs Linux network namespaces; this is ${process.platform}`);
  const euid = process.geteuid?.();
  if (euid !== 0) throw new TwinpathError('SANDBOX_ERROR', `a sandbox creates network namespaces, which needs root; this process runs as uid ${euid}: run as root (sudo)`);
  for (const [tool, pkg] of [['ip', 'iproute2'], ['nsenter', 'util-linux']] as const) {
    const r = spawnSync(tool, ['-V'], { stdio: 'ignore' });
    if (r.error) throw new TwinpathError('SANDBOX_ERROR', `${tool} is not installed (Debian: ${pkg})`);
  }
}

export function ip(...args: string[]): string {
  return run('ip', args);
}

/** Runs `ip -batch` lines inside a namespace: one process for a namespace's whole setup. */
export function ipBatch(netns: string, lines: string[]): void {
  if (lines.length === 0) return;
  run('ip', ['-n', netns, '-batch', '-'], lines.join('\n') + '\n');
}

/** The names of all network namespaces under /run/netns. */
export function listNetns(): string[] {
  try {
    return readdirSync('/run/netns').sort();
  } catch {
    return [];
  }
}

export function netnsExists(name: string): boolean {
  return existsSync(`/run/netns/${name}`);
}

export function addNetns(name: string): void {
  ip('netns', 'add', name);
}

/** Deletes a namespace; its interfaces (and their tc/XDP programs) go with it. Absent is fine. */
export function delNetns(name: string): void {
  if (!netnsExists(name)) return;
  ip('netns', 'del', name);
}

export function setSysctls(netns: string, settings: string[]): void {
  run('nsenter', [`--net=/run/netns/${netns}`, 'sysctl', '-q', '-w', ...settings]);
}

/** An interface's index inside a namespace. */
export function ifindexIn(netns: string, ifname: string): number {
  const out = run('ip', ['-n', netns, '-j', 'link', 'show', 'dev', ifname]);
  const links = JSON.parse(out) as Array<{ ifindex: number }>;
  if (links.length !== 1 || typeof links[0]!.ifindex !== 'number') {
    throw new TwinpathError('SANDBOX_ERROR', `no interface ${ifname} in namespace ${netns}`);
  }
  return links[0]!.ifindex;
}

/** Interfaces of a namespace, by name, with their state, for status reports. */
export function linksIn(netns: string): Array<{ ifname: string; ifindex: number; operstate: string }> {
  const out = run('ip', ['-n', netns, '-j', 'link', 'show']);
  return (JSON.parse(out) as Array<{ ifname: string; ifindex: number; operstate: string }>).map((l) => ({
    ifname: l.ifname,
    ifindex: l.ifindex,
    operstate: l.operstate,
  }));
}

/** Runs a command in a namespace, for `sandbox exec`. */
export function execIn(netns: string, argv: string[], inherit: boolean): { status: number; stdout: string; stderr: string } {
  const args = [`--net=/run/netns/${netns}`, '--', ...argv];
  if (inherit) {
    const r = spawnSync('nsenter', args, { stdio: 'inherit' });
    return { status: r.status ?? 1, stdout: '', stderr: '' };
  }
  const r = spawnSync('nsenter', args, { encoding: 'utf8' });
  return { status: r.status ?? 1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}


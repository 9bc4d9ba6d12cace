// Which interface each pod of a node is attached to: given in a file (`namespace/pod: ifname`
// lines, or a JSON object of the same), taken from a sandbox's state, or found from the pod's
// address in the node's routing table (`ip route get ADDR`: a pod's host-side interface is the
// device of a direct route to its address), all inside the node's network namespace. Then the
// real ifindex of each, looked up in that namespace. Every pod is resolved before anything is
// loaded, so a missing interface stops `attach` with nothing made.

import { readInputText } from '../util/files.js';
import { spawnSync } from 'node:child_process';
import { TwinpathError, isTwinpathError } from '../errors.js';
import { interfaceIndex, withNetns } from '../kernel/netns.js';

const IFNAME_RE = /^[^/\s:]{1,15}$/;

/** Parses an interface map: JSON {"ns/pod": "ifname"} or lines `ns/pod: ifname` (# comments). */
export function parseInterfaceMap(text: string, file: string): Map<string, string> {
  const out = new Map<string, string>();
  const add = (pod: string, ifname: unknown, line?: number): void => {
    const loc = line !== undefined ? { file, line } : { file, path: pod };
    if (!/^[^/\s]+\/[^/\s]+$/.test(pod)) throw new TwinpathError('NODE_ERROR', `"${pod}" is not namespace/pod`, loc);
    if (typeof ifname !== 'string' || !IFNAME_RE.test(ifname)) throw new TwinpathError('NODE_ERROR', `pod ${pod}: "${String(ifname)}" is not an interface name`, loc);
    if (out.has(pod)) throw new TwinpathError('NODE_ERROR', `pod ${pod} is listed twice`, loc);
    out.set(pod, ifname);
  };
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) {
    let v: unknown;
    try {
      v = JSON.parse(trimmed);
    } catch (e) {
      throw new TwinpathError('NODE_ERROR', `not valid JSON: ${(e as Error).message}`, { file });
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new TwinpathError('NODE_ERROR', 'an interface map is an object {"namespace/pod": "ifname"}', { file });
    for (const [pod, ifname] of Object.entries(v)) add(pod, ifname);
    return out;
  }
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') return;
    const m = /^(\S+)\s*:\s*(\S+)$/.exec(line);
    if (!m) throw new TwinpathError('NODE_ERROR', `expected "namespace/pod: ifname", got "${line}"`, { file, line: i + 1 });
    add(m[1]!, m[2]!, i + 1);
  });
  return out;
}

export function readInterfaceMap(path: string): Map<string, string> {
  return parseInterfaceMap(readInputText(path), path);
}

/** Runs fn in `netns` when one is named, else here. */
export function inNetns<T>(netns: string | undefined, fn: () => T): T {
  return netns === undefined ? fn() : withNetns(netns, fn);
}

/** The device of a direct route to `addr` in `netns` (no gateway, not loopback), or why not. */
export function routeDevice(addr: string, netns?: string): { dev?: string; why?: string } {
  const args = [...(netns !== undefined ? ['-n', netns] : []), '-j', 'route', 'get', addr];
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.error) throw new TwinpathError('NODE_ERROR', 'ip is not installed (Debian: iproute2): it finds pod interfaces without --interfaces');
  if (r.status !== 0) return { why: `ip route get ${addr}: ${(r.stderr || '').trim() || `status ${r.status}`}` };
  let routes: Array<{ dev?: string; gateway?: string; type?: string }>;
  try {
    routes = JSON.parse(r.stdout) as typeof routes;
  } catch {
    return { why: `ip route get ${addr}: unreadable output` };
  }
  const rt = routes[0];
  if (rt === undefined || rt.dev === undefined) return { why: `no route to ${addr}` };
  if (rt.type === 'local' || rt.dev === 'lo') return { why: `${addr} is an address of this host` };
  if (rt.gateway !== undefined) return { why: `${addr} is routed through ${rt.gateway} on ${rt.dev}, so the pod is not on this host` };
  return { dev: rt.dev };
}

/** The ifindex of `ifname` in `netns` (or here); NODE_ERROR naming it when it does not exist. */
export function ifindexIn(ifname: string, netns: string | undefined, what: string): number {
  if (!IFNAME_RE.test(ifname)) throw new TwinpathError('NODE_ERROR', `${what}: "${ifname}" is not an interface name`);
  try {
    return inNetns(netns, () => interfaceIndex(ifname));
  } catch (e) {
    if (isTwinpathError(e) && e.code === 'KERNEL_ERROR') {
      throw new TwinpathError('NODE_ERROR', `${what}: no interface "${ifname}" in ${netns !== undefined ? `network namespace ${netns}` : 'this network namespace'}`, {}, { cause: e });
    }
    throw e;
  }
}

// The state file of a sandbox: everything `up` created or was about to create, written
// atomically (temporary file, then rename) BEFORE each creation step, so `down` can remove all
// of it after a crash at any point. It is also the record later steps read: `node attach` finds
// each pod's host-side veth, its ifindex and its node's namespace here.

import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TwinpathError } from '../errors.js';
import type { Layout } from './layout.js';
import { checkSandboxName, stateDir } from './names.js';

export const STATE_VERSION = 1;

export interface PodState {
  namespace: string;
  name: string;
  /** The namespace the pod's processes run in (its node's for hostNetwork pods). */
  netns: string;
  node: string;
  nodeNetns: string;
  hostNetwork: boolean;
  ips: string[];
  /** Host-side veth in nodeNetns, where `node attach` loads the pod's programs. */
  hostIfname?: string;
  /** Its ifindex inside nodeNetns, known once the sandbox is up. */
  hostIfindex?: number;
}

export interface NodeState {
  name: string;
  netns: string;
  /** Uplink to the underlay bridge, in netns. */
  ifname: string;
  ifindex?: number;
  addresses: string[];
}

export interface SandboxState {
  version: typeof STATE_VERSION;
  name: string;
  /** 'creating' until every step is done; a crash leaves it so. */
  status: 'creating' | 'up';
  /** The process that ran (or runs) `up`. */
  pid: number;
  createdAt: string;
  /** Steps done, for status reports and the crash tests. */
  steps: number;
  /** Namespaces in creation order; each is added before it is created. */
  namespaces: string[];
  underlay: string;
  outside: string;
  externals: string[];
  nodes: NodeState[];
  /** By `namespace/name`. */
  pods: Record<string, PodState>;
  skipped: Array<{ pod: string; reason: string }>;
  /** bpffs directory for pins of programs attached to this sandbox; removed by `down`. */
  bpffsDir: string;
}

export function statePath(name: string): string {
  return join(stateDir(), `${checkSandboxName(name)}.json`);
}

export function initialState(layout: Layout, bpffsDir: string): SandboxState {
  const pods: Record<string, PodState> = {};
  for (const p of layout.pods) {
    const s: PodState = {
      namespace: p.namespace,
      name: p.name,
      netns: p.netns,
      node: p.node,
      nodeNetns: p.nodeNetns,
      hostNetwork: p.hostNetwork,
      ips: p.ips,
    };
    if (p.hostIfname !== undefined) s.hostIfname = p.hostIfname;
    pods[p.key] = s;
  }
  return {
    version: STATE_VERSION,
    name: layout.name,
    status: 'creating',
    pid: process.pid,
    createdAt: new Date().toISOString(),
    steps: 0,
    namespaces: [],
    underlay: layout.underlay,
    outside: layout.outside,
    externals: layout.externals,
    nodes: layout.nodes.map((n) => ({ name: n.name, netns: n.netns, ifname: 'eth0', addresses: n.addresses })),
    pods,
    skipped: layout.skipped,
    bpffsDir,
  };
}

export function writeState(state: SandboxState): void {
  const path = statePath(state.name);
  mkdirSync(stateDir(), { recursive: true, mode: 0o755 });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(state, null, 2) + '\n', { mode: 0o644 });
  renameSync(tmp, path);
}

/** The state of sandbox `name`, or undefined when it has none. A damaged file is an error. */
export function readState(name: string): SandboxState | undefined {
  const path = statePath(name);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new TwinpathError('IO_ERROR', `cannot read: ${(e as Error).message}`, { file: path });
  }
  let s: unknown;
  try {
    s = JSON.parse(text);
  } catch (e) {
    throw new TwinpathError('SANDBOX_ERROR', `damaged state file: ${(e as Error).message}`, { file: path });
  }
  const st = s as Partial<SandboxState>;
  if (typeof s !== 'object' || s === null || st.version !== STATE_VERSION || st.name !== name || !Array.isArray(st.namespaces)) {
    throw new TwinpathError('SANDBOX_ERROR', `not a version ${STATE_VERSION} state file of sandbox "${name}"`, { file: path });
  }
  return st as SandboxState;
}

export function removeState(name: string): void {
  rmSync(statePath(name), { force: true });
}

/** Names of the sandboxes that have a state file. */
export function listStates(): string[] {
  let files: string[];
  try {
    files = readdirSync(stateDir());
  } catch {
    return [];
  }
  return files
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -5))
    .filter((n) => /^[a-z0-9]{1,24}$/.test(n))
    .sort();
}

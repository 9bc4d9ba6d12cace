// Building and removing a sandbox: `up` turns a Layout into namespaces, veths, a bridge,
// addresses and routes, one recorded step at a time; `down` removes everything by the state
// file and by name prefix; `status` says what exists. Nothing outside the sandbox's own
// namespaces is touched: the machine's root namespace only gains and loses namespace names.
//
// A failure during `up` tears down what was made before the error is thrown, so nothing is
// left half-built; a crash (no chance to tear down) leaves a state file that `down` or the next
// `up` of that name reads. TWINPATH_SANDBOX_CRASH_AFTER=N kills the process after N steps and
// TWINPATH_SANDBOX_FAIL_AFTER=N throws there, so tests can prove both.

import { rmSync } from 'node:fs';
import { TwinpathError } from '../errors.js';
import type { Cluster } from '../policy/ast.js';
import {
  bridgePortsScript,
  computeLayout,
  DEFAULT_EXTERNALS,
  nodeScript,
  outsideScript,
  podScript,
  sysctlsFor,
  underlayScript,
  type Layout,
} from './layout.js';
import { bpffsDirOf, checkSandboxName, netnsPrefix, sandboxOfNetns } from './names.js';
import { pidAlive, recordedSteps } from '../util/statefile.js';
import { initialState, listStates, readState, removeState, writeState, type SandboxState } from './state.js';
import { addNetns, checkPrerequisites, delNetns, ifindexIn, ipBatch, linksIn, listNetns, netnsExists, setSysctls } from './system.js';

export interface UpOptions {
  name: string;
  /** Addresses of the outside namespace (default 203.0.113.10). */
  externals?: string[];
  /** Tear down a complete sandbox of the same name instead of refusing. */
  replace?: boolean;
}

/** Builds sandbox `opts.name` for `cluster` and returns its state (status 'up'). */
export function sandboxUp(cluster: Cluster, opts: UpOptions): SandboxState {
  const name = checkSandboxName(opts.name);
  const layout = computeLayout(name, cluster, opts.externals ?? DEFAULT_EXTERNALS);
  checkPrerequisites();

  const prev = safeReadState(name);
  if (prev !== undefined) {
    const busy = prev.status === 'creating' && prev.pid !== process.pid && pidAlive(prev.pid);
    if (busy) throw new TwinpathError('SANDBOX_ERROR', `sandbox "${name}" is being created by process ${prev.pid}`);
    if (prev.status === 'up' && opts.replace !== true) {
      throw new TwinpathError('SANDBOX_ERROR', `sandbox name "${name}" is in use: remove it with "twinpath sandbox down ${name}", or pick another --name`);
    }
  }
  // A replaced sandbox, or what a crashed `up` left (state file or bare namespaces).
  sandboxDown(name);

  const state = initialState(layout, bpffsDirOf(name));
  writeState(state);
  try {
    build(layout, state);
  } catch (e) {
    try {
      sandboxDown(name);
    } catch {
      // the original failure is the one to report; `down` can be run again by hand
    }
    throw e;
  }
  return state;
}

function build(layout: Layout, state: SandboxState): void {
  const step = recordedSteps({
    state,
    save: () => writeState(state),
    crashAfter: 'TWINPATH_SANDBOX_CRASH_AFTER',
    failAfter: { variable: 'TWINPATH_SANDBOX_FAIL_AFTER', code: 'SANDBOX_ERROR' },
  });
  const nothing = (): void => {};

  const spaces: Array<[string, Parameters<typeof sysctlsFor>[0]]> = [
    [layout.underlay, 'underlay'],
    [layout.outside, 'outside'],
    ...layout.nodes.map((n) => [n.netns, 'node'] as [string, 'node']),
    ...layout.pods.filter((p) => !p.hostNetwork).map((p) => [p.netns, 'pod'] as [string, 'pod']),
  ];
  for (const [ns, kind] of spaces) {
    if (netnsExists(ns)) throw new TwinpathError('SANDBOX_ERROR', `network namespace ${ns} already exists`);
    step(
      () => state.namespaces.push(ns),
      () => {
        addNetns(ns);
        setSysctls(ns, sysctlsFor(kind));
      },
    );
  }
  step(nothing, () => ipBatch(layout.underlay, underlayScript()));
  for (const n of layout.nodes) step(nothing, () => ipBatch(n.netns, nodeScript(layout, n)));
  for (const p of layout.pods) if (!p.hostNetwork) step(nothing, () => ipBatch(p.netns, podScript(p)));
  step(nothing, () => ipBatch(layout.outside, outsideScript(layout)));
  step(nothing, () => ipBatch(layout.underlay, bridgePortsScript(layout)));
  step(nothing, () => {
    for (const n of state.nodes) n.ifindex = ifindexIn(n.netns, n.ifname);
    for (const p of Object.values(state.pods)) {
      if (p.hostIfname !== undefined) p.hostIfindex = ifindexIn(p.nodeNetns, p.hostIfname);
    }
  });
  state.status = 'up';
  writeState(state);
}

function safeReadState(name: string): SandboxState | undefined {
  try {
    return readState(name);
  } catch {
    return undefined; // a damaged file: `down` goes by name prefix instead
  }
}

export interface DownResult {
  name: string;
  /** Namespaces deleted. */
  removed: string[];
  /** Whether a state file was there (and is now gone). */
  hadState: boolean;
}

/** Removes sandbox `name`: every namespace its state names, anything left with its prefix, its
 * bpffs directory and its state file. Removing a sandbox that does not exist does nothing. */
export function sandboxDown(name: string): DownResult {
  checkSandboxName(name);
  const state = safeReadState(name);
  const prefix = netnsPrefix(name);
  const named = listNetns().filter((ns) => ns.startsWith(prefix) && sandboxOfNetns(ns) === name);
  const targets = [...new Set([...(state?.namespaces ?? []).slice().reverse(), ...named])];
  const removed: string[] = [];
  const errors: string[] = [];
  for (const ns of targets) {
    if (!netnsExists(ns)) continue;
    try {
      delNetns(ns);
      removed.push(ns);
    } catch (e) {
      errors.push((e as Error).message);
    }
  }
  rmSync(state?.bpffsDir ?? bpffsDirOf(name), { recursive: true, force: true });
  if (errors.length > 0) {
    throw new TwinpathError('SANDBOX_ERROR', `sandbox "${name}" not fully removed: ${errors.join('; ')}`);
  }
  removeState(name);
  return { name, removed, hadState: state !== undefined };
}

/** Every sandbox known by a state file or by a namespace name. */
export function sandboxNames(): string[] {
  const names = new Set(listStates());
  for (const ns of listNetns()) {
    const s = sandboxOfNetns(ns);
    if (s !== undefined) names.add(s);
  }
  return [...names].sort();
}

export interface SandboxStatus {
  name: string;
  /** From the state file; 'orphaned' when namespaces exist without one. */
  status: 'up' | 'creating' | 'crashed' | 'orphaned';
  pid?: number;
  namespaces: Array<{ name: string; exists: boolean; links?: Array<{ ifname: string; ifindex: number; operstate: string }> }>;
  pods: SandboxState['pods'];
  externals: string[];
  /** Namespaces with the sandbox's prefix that its state does not name. */
  strays: string[];
}

export function sandboxStatus(name: string): SandboxStatus | undefined {
  checkSandboxName(name);
  const state = readState(name);
  const existing = listNetns().filter((ns) => sandboxOfNetns(ns) === name);
  if (state === undefined && existing.length === 0) return undefined;
  const names = state?.namespaces ?? existing;
  let status: SandboxStatus['status'] = 'orphaned';
  if (state !== undefined) {
    status = state.status === 'up' ? 'up' : state.pid !== process.pid && !pidAlive(state.pid) ? 'crashed' : 'creating';
  }
  const out: SandboxStatus = {
    name,
    status,
    namespaces: names.map((ns) => {
      const exists = netnsExists(ns);
      let links: ReturnType<typeof linksIn> | undefined;
      if (exists) {
        try {
          links = linksIn(ns);
        } catch {
          links = undefined; // removed between the two looks
        }
      }
      return links !== undefined ? { name: ns, exists, links } : { name: ns, exists };
    }),
    pods: state?.pods ?? {},
    externals: state?.externals ?? [],
    strays: existing.filter((ns) => !names.includes(ns)),
  };
  if (state !== undefined) out.pid = state.pid;
  return out;
}

/** The state of a sandbox that is up, for the code that uses one (live probes, node attach). */
export function openSandbox(name: string): SandboxState {
  const state = readState(checkSandboxName(name));
  if (state === undefined) throw new TwinpathError('SANDBOX_ERROR', `no sandbox named "${name}": create it with "twinpath sandbox up"`);
  if (state.status !== 'up') throw new TwinpathError('SANDBOX_ERROR', `sandbox "${name}" is not up (its creation did not finish): run "twinpath sandbox down ${name}"`);
  return state;
}

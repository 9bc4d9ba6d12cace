// The state file of a sandbox: everything `up` created or was about to create, written
// atomically (src/util/statefile.ts) BEFORE each creation step, so `down` can remove all
// of it after a crash at any point. It is also the record later steps read: `node attach` finds
// each pod's host-side veth, its ifindex and its node's namespace here.

import { StateFiles } from '../util/statefile.js';
import type { Layout } from './layout.js';
import { checkSandboxName, SANDBOX_NAME_RE, stateDir } from './names.js';

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

const files = new StateFiles<SandboxState>({
  dir: stateDir,
  checkName: checkSandboxName,
  namePattern: SANDBOX_NAME_RE,
  version: STATE_VERSION,
  what: 'sandbox',
  code: 'SANDBOX_ERROR',
  looksValid: (s) => Array.isArray(s.namespaces),
});

export const statePath = (name: string): string => files.path(name);

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

export const writeState = (state: SandboxState): void => files.write(state);
/** The state of sandbox `name`, or undefined when it has none. A damaged file is an error. */
export const readState = (name: string): SandboxState | undefined => files.read(name);
export const removeState = (name: string): void => files.remove(name);
/** Names of the sandboxes that have a state file. */
export const listStates = (): string[] => files.list();

// The state file of a node attachment: what `attach` made or was about to make, written
// atomically (src/util/statefile.ts) BEFORE each step that leaves something in the kernel
// (a pin, a tc filter, an XDP program). So `detach`, or the next `attach` of the same name,
// removes everything after a crash at any point. It also holds what `update` needs to recompile
// (the input files, the node, each endpoint's interface) and `status` reports.

import { StateFiles } from '../util/statefile.js';
import { checkNodeName, NODE_NAME_RE, nodeStateDir } from './names.js';
import type { NodeServices } from './services.js';

export const NODE_STATE_VERSION = 1;

/** One tc filter or XDP program this attachment put on an interface. */
export interface HookRecord {
  ifname: string;
  ifindex: number;
  hook: 'tc-ingress' | 'tc-egress' | 'xdp';
  program: string;
  /** tc: the filter's handle and priority (fixed, so a replacing attach swaps it in place). */
  handle?: number;
  priority?: number;
  /** xdp: the mode it was attached in. */
  xdpMode?: 'skb' | 'drv' | 'auto';
}

/** An endpoint attached on this node: the pod, its interface, the endpoint id in the maps. */
export interface EndpointRecord {
  pod: string;
  ifname: string;
  ifindex: number;
  endpointId: number;
}

export interface NodeState {
  version: typeof NODE_STATE_VERSION;
  name: string;
  /** 'attaching' until every step is done; a crash leaves it so. */
  status: 'attaching' | 'attached';
  pid: number;
  /** When the attachment was made (ISO time). */
  attachedAt: string;
  /** Steps done, for status reports and the crash tests. */
  steps: number;
  /** The cluster node this machine is. */
  node: string;
  /** The network namespace the interfaces are in (a name under /run/netns); absent: the one
   * `attach` ran in. */
  netns?: string;
  /** The sandbox this attachment belongs to, when made for one. */
  sandbox?: string;
  object: string;
  pinDir: string;
  /** Pins, in creation order; each is recorded before it is made. */
  pins: string[];
  /** Interfaces on which this attachment created the clsact qdisc (removed again by detach). */
  clsact: Array<{ ifname: string; ifindex: number }>;
  hooks: HookRecord[];
  endpoints: EndpointRecord[];
  /** Inputs, for `update` (which may replace the policy files). */
  clusterFiles: string[];
  policyFiles: string[];
  /** Node addresses that count as this cluster's nodes beyond the compiled ones (a sandbox's
   * synthetic addresses), by node name. */
  extraNodeAddresses?: Record<string, string[]>;
  /** The services this node load balances (absent when attached without them). */
  services?: NodeServices;
  /** The XDP prefilter's deny list, when the prefilter is attached (the pinned maps hold it). */
  prefilter?: { cidrs: string[] };
  /** sysctls this attachment changed, with the value each had before (detach puts it back). */
  sysctls?: Array<{ path: string; previous: string }>;
  /** Last update: when, and how long applying it took. */
  lastUpdate?: { at: string; applyMs: number; added: number; removed: number; changed: number };
}

const files = new StateFiles<NodeState>({
  dir: nodeStateDir,
  checkName: checkNodeName,
  namePattern: NODE_NAME_RE,
  version: NODE_STATE_VERSION,
  what: 'node attachment',
  code: 'NODE_ERROR',
  looksValid: (s) => Array.isArray(s.pins) && Array.isArray(s.hooks),
});

export const nodeStatePath = (name: string): string => files.path(name);
export const writeNodeState = (state: NodeState): void => files.write(state);
/** The state of attachment `name`, or undefined when there is none. A damaged file is an error. */
export const readNodeState = (name: string): NodeState | undefined => files.read(name);
export const removeNodeState = (name: string): void => files.remove(name);
/** Names of the attachments that have a state file. */
export const listNodeStates = (): string[] => files.list();

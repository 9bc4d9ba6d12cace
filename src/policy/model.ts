// The compiled policy: what the policy compiler (src/policy/compile*.ts) produces and what the
// datapath orchestration (src/datapath) writes into either engine's maps. Plain data, engine-
// agnostic, deterministic (same inputs -> same ids in the same order), JSON-serialisable.
//
// This file is the contract between the compiler and the datapath. Add fields; do not rename.

import type { Source } from './ast.js';

/** Reserved identities, numbered as Cilium numbers them. */
export const RESERVED = {
  unknown: 0,
  host: 1,
  world: 2,
  unmanaged: 3,
  health: 4,
  init: 5,
  'remote-node': 6,
  'kube-apiserver': 7,
  ingress: 8,
  'world-ipv4': 9,
  'world-ipv6': 10,
} as const;

/** First identity for classes of endpoints (Cilium's cluster-local allocation starts here). */
export const FIRST_ENDPOINT_IDENTITY = 256;
/** First identity for CIDR-only classes (Cilium's local scope: 1 << 24). */
export const FIRST_CIDR_IDENTITY = 1 << 24;

/** Protocol numbers as in the IP header; 0 means any protocol in a policy entry. */
export const PROTO = { ANY: 0, ICMP: 1, TCP: 6, UDP: 17, ICMPV6: 58, SCTP: 132 } as const;

export interface IdentityInfo {
  id: number;
  kind: 'reserved' | 'endpoints' | 'cidr';
  /** Cilium-style labels, sorted: `k8s:app=a`, `k8s:io.kubernetes.pod.namespace=x`,
   * `k8s:io.cilium.k8s.namespace.labels.ns=x`, `reserved:world`, `cidr:10.0.0.0/8`. */
  labels: string[];
  /** Pods in this class, as `namespace/pod`, sorted (empty for reserved and CIDR classes). */
  members: string[];
}

export interface EndpointInfo {
  /** Endpoint id, 1..65535, stable for a given input. */
  id: number;
  namespace: string;
  pod: string;
  node: string;
  ips: string[];
  identity: number;
  /** True when some policy isolates the pod in that direction (otherwise everything is allowed). */
  ingressEnforced: boolean;
  egressEnforced: boolean;
}

/** Pod addresses, and CIDR prefixes named by policies. Node addresses are not here: they are
 * `host` on their own node and `remote-node` elsewhere, so the datapath of each node adds them
 * (from `nodes`) when it fills its ipcache. */
export interface IpcacheEntry {
  /** `10.0.0.0/8`, `10.1.2.3/32`, `fd00::/64`. Longest prefix wins. */
  prefix: string;
  identity: number;
}

export type Direction = 'ingress' | 'egress';

/** One policy-map entry: for `endpointId` in `direction`, traffic with remote `identity`
 * (0 = any identity), `protocol` (0 = any) and destination port in the block
 * `port/portPrefixLen` (prefix over the 16 port bits; 0/0 = any port; 80/16 = exactly 80). */
export interface PolicyEntry {
  endpointId: number;
  direction: Direction;
  identity: number;
  protocol: number;
  port: number;
  portPrefixLen: number;
  deny: boolean;
  /** The rule it came from (RuleInfo.id); 0 for entries the compiler adds on its own (see RuleInfo 0). */
  ruleId: number;
  /** L7: the proxy port that allowed traffic is redirected to (0 = none). */
  proxyPort: number;
}

export interface RuleInfo {
  /** 1.. in input order; 0 is reserved for "implicit" entries (allow-all when not isolated,
   * the node's own traffic into its pods). */
  id: number;
  policy: { kind: string; namespace: string; name: string };
  direction: Direction;
  deny: boolean;
  /** A one-line human description: `allow ingress from pods app=b in namespace x on TCP/80`. */
  text: string;
  src: Source;
}

export interface NodeInfo {
  name: string;
  addresses: string[];
}

export interface CompiledPolicy {
  identities: IdentityInfo[];
  endpoints: EndpointInfo[];
  ipcache: IpcacheEntry[];
  entries: PolicyEntry[];
  rules: RuleInfo[];
  nodes: NodeInfo[];
  /** Non-fatal findings (an endpoint over the 16,384-entry map limit, an unresolvable named port...). */
  warnings: Array<{ code: string; message: string; src?: Source }>;
}

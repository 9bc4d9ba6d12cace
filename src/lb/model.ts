// The compiled load-balancer model: what compileServices (compile.ts) produces from a cluster and
// what writeLbMaps (maps.ts) puts into an engine's maps. Plain data, deterministic and
// JSON-serialisable; Maglev tables are not stored (they are a pure function of each service's
// backend keys and the table size, computed when the maps are written).
//
// Ids: a service id numbers one backend group (one Kubernetes service port, one address family,
// one traffic-policy scope) and indexes the flat Maglev array; a rev-NAT index numbers one
// frontend (address, port, protocol) so that replies can be rewritten back to it; a backend id
// numbers one (address, port, protocol). Backend ids and rev-NAT indexes start at 1 (0 means
// "none" in the datapath); service ids start at 0. All three can be kept stable across compiles
// by passing the previous model.

import type { Protocol, Source } from '../policy/ast.js';

/** Service flags, as in bpf/lib/lb.h (LB_SVC_F_*); test/lb checks that both agree. */
export const SVC_FLAGS = {
  AFFINITY: 0x1,
  CLUSTER_IP: 0x2,
  NODE_PORT: 0x4,
  EXTERNAL_IP: 0x8,
  /** The backend group holds only one node's backends (internal/externalTrafficPolicy: Local). */
  LOCAL: 0x10,
} as const;

export const LB_PROTO: Record<Protocol, number> = { TCP: 6, UDP: 17, SCTP: 132 };

/** Maglev's recommended table size (a prime well above 100 x the backend count). */
export const DEFAULT_MAGLEV_TABLE_SIZE = 16381;

export type FrontendType = 'ClusterIP' | 'NodePort' | 'ExternalIP';

/** A backend group: the backends one service port offers to one family in one scope. */
export interface LbService {
  id: number;
  namespace: string;
  name: string;
  /** The service port's name ('' when unnamed), number and protocol. */
  portName: string;
  port: number;
  protocol: Protocol;
  family: 4 | 6;
  /** 'cluster', or the node whose local backends these are (traffic policy Local). */
  scope: 'cluster' | { node: string };
  /** Backend ids in Maglev input order (sorted by backend key). */
  backendIds: number[];
  /** True when the group fell back to serving+terminating backends because none was ready. */
  terminatingFallback: boolean;
  /** ClientIP session affinity timeout in seconds; 0 without affinity. */
  affinityTimeoutSeconds: number;
  src: Source;
}

export interface LbFrontend {
  address: string;
  port: number;
  protocol: Protocol;
  type: FrontendType;
  /** For NodePort frontends: the node that owns the address. */
  node?: string;
  serviceId: number;
  revNatIndex: number;
  /** SVC_FLAGS bits. */
  flags: number;
}

export interface LbBackend {
  id: number;
  address: string;
  port: number;
  protocol: Protocol;
  /** `namespace/pod` from the endpoint's targetRef, when it names a pod. */
  pod?: string;
  node?: string;
  /** Stable key (`10.0.0.1:8080/TCP`, `[fd00::1]:8080/TCP`) used for Maglev and id reuse. */
  key: string;
  src: Source;
}

export interface LbWarning {
  code: string;
  message: string;
  src?: Source;
}

export interface LbModel {
  maglevTableSize: number;
  /** The node this model was compiled for (decides ClusterIP/externalIP Local scopes). */
  node?: string;
  services: LbService[];
  frontends: LbFrontend[];
  backends: LbBackend[];
  warnings: LbWarning[];
}

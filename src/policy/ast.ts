// The parsed input of the policy compiler: Kubernetes objects as `kubectl get -o yaml` writes
// them, validated and typed, each part carrying where it came from. src/policy/load*.ts produce
// these from YAML; src/policy/compile*.ts read them and never look at YAML again.
//
// This file is the contract between the loader and the compiler. Add fields; do not rename.

/** Where a value came from: file, 1-based line and column, and its YAML path (`spec.ingress[0].from[1]`). */
export interface Source {
  file: string;
  line: number;
  column: number;
  path: string;
}

export type Protocol = 'TCP' | 'UDP' | 'SCTP';

export interface LabelSelectorRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values: string[];
}

/** A Kubernetes LabelSelector. `{}` (both empty) selects everything. */
export interface LabelSelector {
  matchLabels: Record<string, string>;
  matchExpressions: LabelSelectorRequirement[];
  src: Source;
}

export interface Namespace {
  name: string;
  labels: Record<string, string>;
  src: Source;
}

export interface ContainerPort {
  name?: string;
  containerPort: number;
  protocol: Protocol;
}

export interface Pod {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  /** status.podIPs (or status.podIP), in order; v4 and/or v6. */
  ips: string[];
  /** spec.nodeName ('' when unscheduled). */
  nodeName: string;
  /** Every container's ports. */
  ports: ContainerPort[];
  /** spec.hostNetwork: the pod uses its node's addresses and identity. */
  hostNetwork: boolean;
  src: Source;
}

export interface Node {
  name: string;
  labels: Record<string, string>;
  /** status.addresses of type InternalIP/ExternalIP, v4 and v6. */
  addresses: string[];
  /** spec.podCIDRs. */
  podCIDRs: string[];
  src: Source;
}

/** Services and EndpointSlices are read and kept for the load-balancing work; policy ignores them. */
export interface ServicePort {
  name?: string;
  protocol: Protocol;
  port: number;
  /** A number, or a container port name; defaults to `port`. */
  targetPort: number | string;
  nodePort?: number;
}

export interface Service {
  namespace: string;
  name: string;
  type: 'ClusterIP' | 'NodePort' | 'LoadBalancer' | 'ExternalName';
  clusterIPs: string[];
  externalIPs: string[];
  ports: ServicePort[];
  selector?: Record<string, string>;
  sessionAffinity: 'None' | 'ClientIP';
  /** sessionAffinityConfig.clientIP.timeoutSeconds, default 10800. */
  affinityTimeoutSeconds: number;
  internalTrafficPolicy: 'Cluster' | 'Local';
  externalTrafficPolicy: 'Cluster' | 'Local';
  src: Source;
}

export interface EndpointSliceEndpoint {
  addresses: string[];
  ready: boolean;
  serving: boolean;
  terminating: boolean;
  nodeName?: string;
  targetRef?: { kind: string; namespace?: string; name: string };
}

export interface EndpointSlice {
  namespace: string;
  name: string;
  /** The kubernetes.io/service-name label. */
  serviceName: string;
  addressType: 'IPv4' | 'IPv6' | 'FQDN';
  endpoints: EndpointSliceEndpoint[];
  ports: Array<{ name?: string; protocol: Protocol; port: number }>;
  src: Source;
}

export interface Cluster {
  namespaces: Namespace[];
  pods: Pod[];
  nodes: Node[];
  services: Service[];
  endpointSlices: EndpointSlice[];
}

// ---- Kubernetes NetworkPolicy (networking.k8s.io/v1) ----

export interface NetpolPort {
  /** Defaults to TCP when absent. */
  protocol: Protocol;
  /** Absent: every port. A string is a named port, resolved on the destination pod. */
  port?: number | string;
  endPort?: number;
  src: Source;
}

export interface IPBlock {
  cidr: string;
  except: string[];
  src: Source;
}

export interface NetpolPeer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: IPBlock;
  src: Source;
}

export interface NetpolRule {
  /** Absent or empty `from`/`to`: every peer. */
  peers: NetpolPeer[];
  /** Absent or empty: every port. */
  ports: NetpolPort[];
  src: Source;
}

export interface NetworkPolicy {
  kind: 'NetworkPolicy';
  namespace: string;
  name: string;
  podSelector: LabelSelector;
  /** After defaulting: Ingress always unless given; Egress when egress rules exist or given. */
  policyTypes: Array<'Ingress' | 'Egress'>;
  ingress: NetpolRule[];
  egress: NetpolRule[];
  src: Source;
}

// ---- Cilium (cilium.io/v2) ----

/** A Cilium endpoint selector: like a LabelSelector but keys carry a source prefix
 * (`k8s:app`, `any:app`, `reserved:host`); a key without one means `any:`. */
export interface CiliumSelector {
  matchLabels: Record<string, string>;
  matchExpressions: LabelSelectorRequirement[];
  src: Source;
}

export type CiliumEntity =
  | 'all' | 'world' | 'world-ipv4' | 'world-ipv6' | 'cluster' | 'host' | 'remote-node'
  | 'kube-apiserver' | 'init' | 'health' | 'unmanaged' | 'ingress' | 'none';

export interface CiliumCIDRRule {
  cidr: string;
  except: string[];
  src: Source;
}

export interface CiliumHTTPRule {
  method?: string;
  path?: string;
  host?: string;
  headers: string[];
  src: Source;
}

export interface CiliumPortProtocol {
  /** A number, a named port, or 0 / absent for every port. */
  port?: number | string;
  endPort?: number;
  protocol: 'TCP' | 'UDP' | 'SCTP' | 'ICMP' | 'ICMPv6' | 'ANY';
  src: Source;
}

export interface CiliumPortRule {
  ports: CiliumPortProtocol[];
  /** L7 rules (toPorts.rules.http); kept for the L7 work, empty when absent. */
  http: CiliumHTTPRule[];
  src: Source;
}

/** One ingress/egress (or *Deny) rule. Absent lists are `undefined`; present-but-empty are `[]`. */
export interface CiliumRule {
  /** fromEndpoints / toEndpoints. */
  endpoints?: CiliumSelector[];
  /** fromEntities / toEntities. */
  entities?: CiliumEntity[];
  /** fromCIDR / toCIDR (plain CIDRs) and fromCIDRSet / toCIDRSet (with except), merged. */
  cidrs?: CiliumCIDRRule[];
  /** fromRequires / toRequires: loaded and refused by the compiler as unsupported (deprecated upstream). */
  requires?: CiliumSelector[];
  toPorts?: CiliumPortRule[];
  /** icmps[].fields[]: ICMP type (number) per family. */
  icmps?: Array<{ family: 'IPv4' | 'IPv6'; type: number; src: Source }>;
  src: Source;
}

export interface CiliumPolicySpec {
  /** endpointSelector, or nodeSelector (host policies: loaded, refused by the compiler). */
  endpointSelector?: CiliumSelector;
  nodeSelector?: CiliumSelector;
  ingress?: CiliumRule[];
  ingressDeny?: CiliumRule[];
  egress?: CiliumRule[];
  egressDeny?: CiliumRule[];
  /** enableDefaultDeny.ingress / .egress; undefined means the default (true when the direction has rules). */
  enableDefaultDeny: { ingress?: boolean; egress?: boolean };
  description?: string;
  src: Source;
}

export interface CiliumNetworkPolicy {
  kind: 'CiliumNetworkPolicy' | 'CiliumClusterwideNetworkPolicy';
  /** '' for clusterwide policies. */
  namespace: string;
  name: string;
  /** `spec` and `specs`, in order. */
  specs: CiliumPolicySpec[];
  src: Source;
}

export type Policy = NetworkPolicy | CiliumNetworkPolicy;

/** A document of a kind the loader does not read (Deployment, ConfigMap, ...), reported, not used. */
export interface SkippedObject {
  kind: string;
  /** metadata.name, '' when absent. */
  name: string;
  src: Source;
}

export interface Inputs {
  cluster: Cluster;
  policies: Policy[];
  /** Objects of kinds the loader skips, in input order. */
  skipped?: SkippedObject[];
}

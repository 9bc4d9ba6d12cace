// Builders for compiler inputs in TypeScript (the compiler's tests never go through YAML), and a
// model of the datapath's lookups over a compiled policy: ipcache longest-prefix match, one
// policy lookup per direction with the exact identity and with the wildcard, deny wins.

import type {
  CiliumEntity,
  CiliumNetworkPolicy,
  CiliumPolicySpec,
  CiliumRule,
  CiliumSelector,
  Cluster,
  ContainerPort,
  Inputs,
  LabelSelector,
  LabelSelectorRequirement,
  NetpolPeer,
  NetpolPort,
  NetworkPolicy,
  Node,
  Pod,
  Policy,
  Protocol,
  Source,
} from '../../src/policy/ast.js';
import type { CompiledPolicy, Direction, PolicyEntry } from '../../src/policy/model.js';
import { RESERVED } from '../../src/policy/model.js';
import { parseAddr, parsePrefix, prefixHas } from '../../src/policy/compile_cidr.js';

let line = 0;
export function src(path = 'x'): Source {
  return { file: 'test.yaml', line: ++line, column: 1, path };
}
export function resetLines(): void {
  line = 0;
}

export function sel(matchLabels: Record<string, string> = {}, matchExpressions: LabelSelectorRequirement[] = []): LabelSelector {
  return { matchLabels, matchExpressions, src: src('selector') };
}
export const csel = sel as (m?: Record<string, string>, e?: LabelSelectorRequirement[]) => CiliumSelector;

export function ns(name: string, labels: Record<string, string> = {}) {
  return { name, labels, src: src(`namespace ${name}`) };
}

export function pod(
  namespace: string,
  name: string,
  labels: Record<string, string>,
  ips: string[],
  opts: { node?: string; ports?: ContainerPort[]; hostNetwork?: boolean } = {},
): Pod {
  return {
    namespace,
    name,
    labels,
    ips,
    nodeName: opts.node ?? 'n1',
    ports: opts.ports ?? [],
    hostNetwork: opts.hostNetwork ?? false,
    src: src(`pod ${namespace}/${name}`),
  };
}

export function node(name: string, addresses: string[]): Node {
  return { name, labels: {}, addresses, podCIDRs: [], src: src(`node ${name}`) };
}

export function cluster(parts: Partial<Cluster>): Cluster {
  return { namespaces: [], pods: [], nodes: [], services: [], endpointSlices: [], ...parts };
}

export interface PeerSpec {
  pods?: LabelSelector;
  namespaces?: LabelSelector;
  cidr?: string;
  except?: string[];
}
export interface PortSpec {
  protocol?: Protocol;
  port?: number | string;
  endPort?: number;
}

function peer(p: PeerSpec): NetpolPeer {
  const s = src('peer');
  return {
    podSelector: p.pods,
    namespaceSelector: p.namespaces,
    ipBlock: p.cidr !== undefined ? { cidr: p.cidr, except: p.except ?? [], src: s } : undefined,
    src: s,
  };
}
function port(p: PortSpec): NetpolPort {
  return { protocol: p.protocol ?? 'TCP', port: p.port, endPort: p.endPort, src: src('port') };
}

export function np(o: {
  ns: string;
  name: string;
  pods?: LabelSelector;
  types?: Array<'Ingress' | 'Egress'>;
  ingress?: Array<{ from?: PeerSpec[]; ports?: PortSpec[] }>;
  egress?: Array<{ to?: PeerSpec[]; ports?: PortSpec[] }>;
}): NetworkPolicy {
  const types = o.types ?? (o.egress ? ['Ingress', 'Egress'] : ['Ingress']);
  return {
    kind: 'NetworkPolicy',
    namespace: o.ns,
    name: o.name,
    podSelector: o.pods ?? sel(),
    policyTypes: types,
    ingress: (o.ingress ?? []).map((r, i) => ({ peers: (r.from ?? []).map(peer), ports: (r.ports ?? []).map(port), src: src(`spec.ingress[${i}]`) })),
    egress: (o.egress ?? []).map((r, i) => ({ peers: (r.to ?? []).map(peer), ports: (r.ports ?? []).map(port), src: src(`spec.egress[${i}]`) })),
    src: src(`policy ${o.name}`),
  };
}

export interface CRuleSpec {
  endpoints?: CiliumSelector[];
  entities?: CiliumEntity[];
  cidrs?: Array<{ cidr: string; except?: string[] }>;
  ports?: Array<{ port?: number | string; endPort?: number; protocol?: 'TCP' | 'UDP' | 'SCTP' | 'ICMP' | 'ICMPv6' | 'ANY' }>;
  http?: boolean;
  icmps?: Array<{ family: 'IPv4' | 'IPv6'; type: number }>;
  requires?: CiliumSelector[];
}

export function crule(r: CRuleSpec, path = 'rule'): CiliumRule {
  return {
    endpoints: r.endpoints,
    entities: r.entities,
    cidrs: r.cidrs?.map((c) => ({ cidr: c.cidr, except: c.except ?? [], src: src('cidr') })),
    requires: r.requires,
    toPorts:
      r.ports === undefined
        ? undefined
        : [
            {
              ports: r.ports.map((p) => ({ port: p.port, endPort: p.endPort, protocol: p.protocol ?? 'ANY', src: src('toPorts.port') })),
              http: r.http ? [{ method: 'GET', path: '/', headers: [], src: src('http') }] : [],
              src: src('toPorts'),
            },
          ],
    icmps: r.icmps?.map((i) => ({ ...i, src: src('icmps') })),
    src: src(path),
  };
}

export function cnp(o: {
  ns?: string;
  name: string;
  endpoints?: CiliumSelector;
  nodeSelector?: CiliumSelector;
  ingress?: CRuleSpec[];
  ingressDeny?: CRuleSpec[];
  egress?: CRuleSpec[];
  egressDeny?: CRuleSpec[];
  defaultDeny?: { ingress?: boolean; egress?: boolean };
}): CiliumNetworkPolicy {
  const spec: CiliumPolicySpec = {
    endpointSelector: o.nodeSelector ? undefined : (o.endpoints ?? csel()),
    nodeSelector: o.nodeSelector,
    ingress: o.ingress?.map((r, i) => crule(r, `spec.ingress[${i}]`)),
    ingressDeny: o.ingressDeny?.map((r, i) => crule(r, `spec.ingressDeny[${i}]`)),
    egress: o.egress?.map((r, i) => crule(r, `spec.egress[${i}]`)),
    egressDeny: o.egressDeny?.map((r, i) => crule(r, `spec.egressDeny[${i}]`)),
    enableDefaultDeny: o.defaultDeny ?? {},
    src: src('spec'),
  };
  return {
    kind: o.ns === undefined ? 'CiliumClusterwideNetworkPolicy' : 'CiliumNetworkPolicy',
    namespace: o.ns ?? '',
    name: o.name,
    specs: [spec],
    src: src(`policy ${o.name}`),
  };
}

export function inputs(c: Partial<Cluster>, policies: Policy[]): Inputs {
  return { cluster: cluster(c), policies };
}

// ---- the datapath, modelled ----

export type Endpoint = { pod: string } | { ip: string };

function lpmIdentity(c: CompiledPolicy, ip: string): number {
  const a = parseAddr(ip)!;
  let best = -1;
  let id: number = RESERVED.world;
  for (const e of c.ipcache) {
    const p = parsePrefix(e.prefix, src());
    if (prefixHas(p, a) && p.len > best) [best, id] = [p.len, e.identity];
  }
  return id;
}

/** The identity the datapath of `localNode` gives an address. */
export function remoteIdentity(c: CompiledPolicy, ip: string, localNode: string): number {
  const n = c.nodes.find((x) => x.addresses.includes(ip));
  if (n) return n.name === localNode ? RESERVED.host : RESERVED['remote-node'];
  return lpmIdentity(c, ip);
}

/** Longest match over (protocol, port) among one identity's entries: proto 0 is prefix 0. */
function lpm(entries: PolicyEntry[], proto: number, port: number): PolicyEntry | undefined {
  let best: PolicyEntry | undefined;
  let bestLen = -1;
  for (const e of entries) {
    let len: number;
    if (e.protocol === 0) len = 0;
    else if (e.protocol !== proto) continue;
    else {
      const shift = 16 - e.portPrefixLen;
      if (port >>> shift !== e.port >>> shift) continue;
      len = 8 + e.portPrefixLen;
    }
    if (len > bestLen) [best, bestLen] = [e, len];
    else if (len === bestLen) throw new Error(`two entries with one key: ${JSON.stringify([best, e])}`);
  }
  return best;
}

export function policyVerdict(c: CompiledPolicy, endpointId: number, direction: Direction, identity: number, proto: number, port: number): boolean {
  const mine = c.entries.filter((e) => e.endpointId === endpointId && e.direction === direction);
  const exact = lpm(mine.filter((e) => e.identity === identity), proto, port);
  const wild = identity === 0 ? undefined : lpm(mine.filter((e) => e.identity === 0), proto, port);
  if (exact?.deny || wild?.deny) return false;
  return exact !== undefined || wild !== undefined;
}

/** The datapath's verdict for a connection's first packet from `from` to `to`. */
export function datapathAllows(c: CompiledPolicy, from: Endpoint, to: Endpoint, proto: number, port: number): boolean {
  const ep = (x: Endpoint) =>
    'pod' in x ? c.endpoints.find((e) => `${e.namespace}/${e.pod}` === x.pod) : c.endpoints.find((e) => e.ips.includes(x.ip));
  const addr = (x: Endpoint): string => ('ip' in x ? x.ip : ep(x)!.ips[0]!);
  const src = ep(from);
  const dst = ep(to);
  // Remote addresses go through the ipcache (or the node table), as the datapath sees them.
  if (src && !policyVerdict(c, src.id, 'egress', remoteIdentity(c, addr(to), src.node), proto, port)) return false;
  if (dst && !policyVerdict(c, dst.id, 'ingress', remoteIdentity(c, addr(from), dst.node), proto, port)) return false;
  return true;
}

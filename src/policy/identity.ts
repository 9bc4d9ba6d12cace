// Security identities and the ipcache. Endpoints (pods that are not host-network) get endpoint
// ids in (namespace, name) order and are partitioned into identities: Cilium's partition by
// label set (pod labels, namespace name, namespace labels), split further by what else a policy
// can tell apart about a pod - membership of its addresses in Kubernetes ipBlocks, and the port
// numbers behind the container port names that egress rules use. Every prefix a policy names
// (CIDRs and their excepts) becomes an ipcache entry whose identity stands for "the addresses
// whose longest named prefix is this one", which makes every CIDR rule an exact set of identities.

import type { Cluster, Pod } from './ast.js';
import {
  comparePrefix,
  formatPrefix,
  hostPrefix,
  parseAddr,
  prefixContains,
  prefixHas,
  type Addr,
  type Prefix,
} from './compile_cidr.js';
import type { EndpointInfo, IdentityInfo, IpcacheEntry } from './model.js';
import { FIRST_CIDR_IDENTITY, FIRST_ENDPOINT_IDENTITY, RESERVED } from './model.js';
import { PROTO_NAMES, protoNumber } from './ports.js';
import { labelText, NAMESPACE_LABELS_PREFIX, POD_NAMESPACE_KEY, type Label } from './selector.js';

/** A Kubernetes ipBlock, keyed by its canonical text (`10.0.0.0/8 except 10.1.0.0/16`). */
export interface IpBlockDef {
  key: string;
  cidr: Prefix;
  except: Prefix[];
}

/** What the rules need the partition to tell apart; collected from the policies first. */
export interface PartitionNeeds {
  ipBlocks: IpBlockDef[];
  /** Every prefix named by a rule (CIDRs and excepts, both policy kinds). */
  prefixes: Prefix[];
  /** `name/proto` of the container ports named by egress rules (resolved on the peer). */
  egressPortNames: Array<{ name: string; proto: number }>;
}

export interface Ident {
  id: number;
  kind: 'reserved' | 'endpoints' | 'cidr';
  /** The labels Cilium selectors match against. */
  labels: Label[];
  /** What else sets the class apart (ipBlock membership, named ports), shown as labels. */
  extra: string[];
  members: string[];
  namespace?: string;
  podLabels?: Record<string, string>;
  nsLabels?: Record<string, string>;
  /** Keys of the ipBlocks the class's addresses fall in. */
  ipBlocks: Set<string>;
  /** `name/proto` -> port, for the egress-named ports these pods have. */
  namedPorts: Map<string, number>;
  /** For CIDR classes: the prefix whose ipcache entry maps to this identity. */
  prefix?: Prefix;
}

export interface EndpointRec {
  id: number;
  pod: Pod;
  ident: Ident;
}

export interface Universe {
  idents: Ident[];
  byId: Map<number, Ident>;
  endpoints: EndpointRec[];
  ipcache: IpcacheEntry[];
  warnings: Array<{ code: string; message: string }>;
}

const reservedLabel = (key: string): Label => ({ source: 'reserved', key, value: '' });

/** Namespace labels, with the `kubernetes.io/metadata.name` label the API server always sets. */
export function namespaceLabels(cluster: Cluster, name: string): Record<string, string> {
  const ns = cluster.namespaces.find((n) => n.name === name);
  return { 'kubernetes.io/metadata.name': name, ...(ns?.labels ?? {}) };
}

/** A pod's labels as Cilium gives them to its identity. */
export function podCiliumLabels(pod: Pod, nsLabels: Record<string, string>): Label[] {
  const out: Label[] = Object.entries(pod.labels).map(([key, value]) => ({ source: 'k8s', key, value }));
  out.push({ source: 'k8s', key: POD_NAMESPACE_KEY, value: pod.namespace });
  for (const [k, v] of Object.entries(nsLabels)) out.push({ source: 'k8s', key: NAMESPACE_LABELS_PREFIX + k, value: v });
  return out;
}

function reservedIdents(): Ident[] {
  return Object.entries(RESERVED)
    .filter(([name]) => name !== 'unknown')
    .map(([name, id]) => {
      const labels = [reservedLabel(name)];
      if (name === 'world-ipv4' || name === 'world-ipv6') labels.unshift(reservedLabel('world'));
      return { id, kind: 'reserved', labels, extra: [], members: [], ipBlocks: new Set(), namedPorts: new Map() };
    });
}

function inBlock(b: IpBlockDef, a: Addr): boolean {
  return prefixHas(b.cidr, a) && !b.except.some((e) => prefixHas(e, a));
}

export function buildUniverse(cluster: Cluster, needs: PartitionNeeds): Universe {
  const warnings: Universe['warnings'] = [];
  const idents = reservedIdents();

  // Endpoints and their classes.
  const pods = cluster.pods
    .filter((p) => !p.hostNetwork)
    .sort((a, b) => (a.namespace === b.namespace ? cmp(a.name, b.name) : cmp(a.namespace, b.namespace)));
  const classes = new Map<string, Ident>();
  const podClass: Ident[] = [];
  for (const pod of pods) {
    const nsLabels = namespaceLabels(cluster, pod.namespace);
    const labels = podCiliumLabels(pod, nsLabels);
    const addrs = pod.ips.map(parseAddr).filter((a): a is Addr => a !== undefined);
    const blocks = needs.ipBlocks.filter((b) => addrs.some((a) => inBlock(b, a))).map((b) => b.key);
    const namedPorts = new Map<string, number>();
    for (const { name, proto } of needs.egressPortNames) {
      const cp = pod.ports.find((p) => p.name === name && protoNumber(p.protocol) === proto);
      if (cp) namedPorts.set(`${name}/${proto}`, cp.containerPort);
    }
    const extra = [
      ...[...new Set(blocks)].sort().map((k) => `ipblock:${k.replace(' except ', ';except=')}`),
      ...[...namedPorts].sort(([a], [b]) => cmp(a, b)).map(([k, v]) => `namedport:${portNameLabel(k)}=${v}`),
    ];
    const key = [...labels.map(labelText).sort(), ...extra].join('\n');
    let c = classes.get(key);
    if (!c) {
      c = {
        id: 0,
        kind: 'endpoints',
        labels,
        extra,
        members: [],
        namespace: pod.namespace,
        podLabels: pod.labels,
        nsLabels,
        ipBlocks: new Set(blocks),
        namedPorts,
      };
      classes.set(key, c);
    }
    c.members.push(`${pod.namespace}/${pod.name}`);
    podClass.push(c);
  }
  [...classes.keys()].sort(cmp).forEach((k, i) => {
    const c = classes.get(k)!;
    c.id = FIRST_ENDPOINT_IDENTITY + i;
    c.members.sort(cmp);
    idents.push(c);
  });
  idents.sort((a, b) => a.id - b.id);
  const endpoints: EndpointRec[] = pods.map((pod, i) => ({ id: i + 1, pod, ident: podClass[i]! }));

  // Pod addresses: /32 (/128) entries. A node address is never a pod's: the datapath adds nodes.
  const ipcache = new Map<string, { prefix: Prefix; identity: number }>();
  const taken = new Set<string>();
  for (const n of cluster.nodes) for (const a of n.addresses) addHost(taken, a);
  for (const p of cluster.pods) if (p.hostNetwork) for (const a of p.ips) addHost(taken, a);
  for (const ep of endpoints) {
    for (const text of ep.pod.ips) {
      const a = parseAddr(text);
      if (!a) {
        warnings.push({ code: 'POLICY_BAD_VALUE', message: `pod ${ep.pod.namespace}/${ep.pod.name}: "${text}" is not an address` });
        continue;
      }
      const p = hostPrefix(a);
      const k = formatPrefix(p);
      if (ipcache.has(k) || taken.has(k)) {
        warnings.push({ code: 'POLICY_DUPLICATE', message: `pod ${ep.pod.namespace}/${ep.pod.name}: address ${text} is already another pod's or node's` });
        continue;
      }
      ipcache.set(k, { prefix: p, identity: ep.ident.id });
    }
  }
  for (const k of ipcache.keys()) taken.add(k);

  // Named prefixes: one class each (the addresses whose longest named prefix it is), except
  // the prefixes that are exactly a pod's or a node's address.
  const named = uniquePrefixes(needs.prefixes).filter((p) => !taken.has(formatPrefix(p)));
  let next = FIRST_CIDR_IDENTITY;
  for (const p of named) {
    const world = p.family === 4 ? 'world-ipv4' : 'world-ipv6';
    if (p.len === 0) {
      const r = idents.find((i) => i.id === RESERVED[world])!;
      r.prefix = p;
      ipcache.set(formatPrefix(p), { prefix: p, identity: r.id });
      continue;
    }
    const containing = named.filter((q) => prefixContains(q, p));
    const id = next++;
    idents.push({
      id,
      kind: 'cidr',
      labels: [...containing.map((q) => ({ source: 'cidr', key: formatPrefix(q), value: '' })), reservedLabel('world'), reservedLabel(world)],
      extra: [],
      members: [],
      ipBlocks: new Set(),
      namedPorts: new Map(),
      prefix: p,
    });
    ipcache.set(formatPrefix(p), { prefix: p, identity: id });
  }

  const entries = [...ipcache.values()].sort((a, b) => comparePrefix(a.prefix, b.prefix));
  return {
    idents,
    byId: new Map(idents.map((i) => [i.id, i])),
    endpoints,
    ipcache: entries.map((e) => ({ prefix: formatPrefix(e.prefix), identity: e.identity })),
    warnings,
  };
}

/** `http/6` -> `http/TCP`. */
function portNameLabel(k: string): string {
  const slash = k.lastIndexOf('/');
  return `${k.slice(0, slash)}/${PROTO_NAMES[Number(k.slice(slash + 1))]}`;
}

function addHost(set: Set<string>, text: string): void {
  const a = parseAddr(text);
  if (a) set.add(formatPrefix(hostPrefix(a)));
}

function uniquePrefixes(ps: Prefix[]): Prefix[] {
  const m = new Map<string, Prefix>();
  for (const p of ps) m.set(formatPrefix(p), p);
  return [...m.values()].sort(comparePrefix);
}

export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function identityInfo(i: Ident): IdentityInfo {
  const labels = i.labels.map((l) => (l.source === 'cidr' ? `cidr:${l.key}` : labelText(l)));
  return { id: i.id, kind: i.kind, labels: [...labels, ...i.extra].sort(cmp), members: [...i.members] };
}

export function endpointInfo(ep: EndpointRec, ingressEnforced: boolean, egressEnforced: boolean): EndpointInfo {
  return {
    id: ep.id,
    namespace: ep.pod.namespace,
    pod: ep.pod.name,
    node: ep.pod.nodeName,
    ips: [...ep.pod.ips],
    identity: ep.ident.id,
    ingressEnforced,
    egressEnforced,
  };
}

// Policies -> rules: each Kubernetes NetworkPolicy rule and each Cilium (deny) rule becomes one
// RuleDef (whom it applies to, which peers, which ports, allow or deny), each policy direction
// that isolates its pods becomes an Enforcer, and what the identity partition must tell apart
// (ipBlocks, named prefixes, egress port names) is collected on the way. Nothing here looks at
// pods: peers are predicates that compile_entries evaluates over the identities.

import type {
  CiliumEntity,
  CiliumNetworkPolicy,
  CiliumPortProtocol,
  CiliumRule,
  LabelSelector,
  NetpolPeer,
  NetpolPort,
  NetworkPolicy,
  Policy,
  Source,
} from './ast.js';
import { TwinpathError } from '../errors.js';
import { formatPrefix, loc, parsePrefix, prefixContains, type Prefix } from './compile_cidr.js';
import type { IpBlockDef, PartitionNeeds } from './identity.js';
import type { Direction, RuleInfo } from './model.js';
import { PROTO } from './model.js';
import { describePortSel, protoNumber, type PortSel } from './ports.js';
import {
  checkK8sSelector,
  describeSelector,
  parseCiliumSelector,
  scopePeerSelector,
  scopeSubjectSelector,
  type CiliumRequirement,
} from './selector.js';

/** A set of remote identities, as a predicate the entries compiler evaluates. */
export type Peer =
  | { kind: 'pods'; namespace: string; podSelector?: LabelSelector; namespaceSelector?: LabelSelector }
  | { kind: 'ipblock'; block: IpBlockDef }
  | { kind: 'selector'; reqs: CiliumRequirement[] }
  | { kind: 'cidr'; cidr: Prefix; except: Prefix[] };

/** The endpoints a policy applies to. */
export type Subject =
  | { kind: 'k8s'; namespace: string; selector: LabelSelector }
  | { kind: 'cilium'; reqs: CiliumRequirement[] };

export interface PortClause {
  sel: PortSel;
  /** Non-zero when the clause carries L7 rules: allowed traffic goes to this proxy port. */
  proxyPort: number;
}

export interface RuleDef {
  info: RuleInfo;
  subject: Subject;
  /** `all`: every identity; otherwise the union of the peers (empty: nothing). */
  peers: Peer[] | 'all';
  ports: PortClause[];
}

export interface Enforcer {
  direction: Direction;
  subject: Subject;
}

export interface RuleSet {
  rules: RuleDef[];
  enforcers: Enforcer[];
  needs: PartitionNeeds;
}

/** Proxy ports for rules with L7 parts: a fixed base plus the rule id (kept within 16 bits). */
export const PROXY_PORT_BASE = 15000;
export function proxyPortFor(ruleId: number): number {
  return PROXY_PORT_BASE + 1 + ((ruleId - 1) % (65535 - PROXY_PORT_BASE));
}

const ALL_PORTS: PortClause[] = [{ sel: { kind: 'any' }, proxyPort: 0 }];
const reserved = (key: string): CiliumRequirement => ({ source: 'reserved', key, operator: 'Exists', values: [] });
const anyPod: CiliumRequirement = { source: 'k8s', key: 'io.kubernetes.pod.namespace', operator: 'Exists', values: [] };

class Collector {
  rules: RuleDef[] = [];
  enforcers: Enforcer[] = [];
  ipBlocks = new Map<string, IpBlockDef>();
  prefixes: Prefix[] = [];
  portNames = new Map<string, { name: string; proto: number }>();
  worldByFamily = false;

  nextId(): number {
    return this.rules.length + 1;
  }

  add(rule: RuleDef): void {
    this.rules.push(rule);
    if (rule.info.direction === 'egress') {
      for (const p of rule.ports) if (p.sel.kind === 'named') this.portNames.set(`${p.sel.name}/${p.sel.proto}`, p.sel);
    }
    if (rule.peers === 'all') return;
    for (const peer of rule.peers) {
      if (peer.kind === 'selector' && peer.reqs.some((r) => r.source === 'reserved' && /^world-ipv[46]$/.test(r.key))) {
        this.worldByFamily = true;
      }
    }
  }

  needs(): PartitionNeeds {
    const prefixes = [...this.prefixes];
    // world-ipv4/-ipv6 must be told apart from each other: the default routes go in the ipcache.
    if (this.worldByFamily) prefixes.push(parsePrefix('0.0.0.0/0', NO_SRC), parsePrefix('::/0', NO_SRC));
    return { ipBlocks: [...this.ipBlocks.values()], prefixes, egressPortNames: [...this.portNames.values()] };
  }
}

const NO_SRC: Source = { file: '', line: 0, column: 0, path: '' };

export function collectRules(policies: Policy[]): RuleSet {
  const c = new Collector();
  for (const p of policies) {
    if (p.kind === 'NetworkPolicy') netpol(c, p);
    else cilium(c, p);
  }
  return { rules: c.rules, enforcers: c.enforcers, needs: c.needs() };
}

// ---- Kubernetes NetworkPolicy ----

function netpol(c: Collector, np: NetworkPolicy): void {
  checkK8sSelector(np.podSelector);
  const subject: Subject = { kind: 'k8s', namespace: np.namespace, selector: np.podSelector };
  const policy = { kind: np.kind, namespace: np.namespace, name: np.name };
  for (const direction of ['ingress', 'egress'] as const) {
    if (!np.policyTypes.includes(direction === 'ingress' ? 'Ingress' : 'Egress')) continue;
    c.enforcers.push({ direction, subject });
    for (const rule of np[direction]) {
      const peers = rule.peers.length === 0 ? 'all' : rule.peers.map((peer) => netpolPeer(c, np.namespace, peer));
      const ports = rule.ports.length === 0 ? ALL_PORTS : rule.ports.map((port) => ({ sel: netpolPort(port), proxyPort: 0 }));
      const id = c.nextId();
      const text = `allow ${direction} ${direction === 'ingress' ? 'from' : 'to'} ${describePeers(peers)} on ${describePorts(ports)}`;
      c.add({ info: { id, policy, direction, deny: false, text, src: rule.src }, subject, peers, ports });
    }
  }
}

function netpolPeer(c: Collector, namespace: string, peer: NetpolPeer): Peer {
  if (peer.ipBlock) {
    if (peer.podSelector || peer.namespaceSelector) {
      throw new TwinpathError('POLICY_BAD_VALUE', 'a peer with ipBlock may not also have pod or namespace selectors', loc(peer.src));
    }
    const b = peer.ipBlock;
    const cidr = parsePrefix(b.cidr, b.src);
    const except = b.except.map((e, i) => {
      const p = parsePrefix(e, { ...b.src, path: `${b.src.path}.except[${i}]` });
      if (!prefixContains(cidr, p) || p.len === cidr.len) {
        throw new TwinpathError('POLICY_BAD_CIDR', `except ${e} is not strictly inside ${b.cidr}`, { ...loc(b.src), path: `${b.src.path}.except[${i}]` });
      }
      return p;
    });
    const key = blockKey(cidr, except);
    const block = c.ipBlocks.get(key) ?? { key, cidr, except };
    c.ipBlocks.set(key, block);
    c.prefixes.push(cidr, ...except);
    return { kind: 'ipblock', block };
  }
  if (!peer.podSelector && !peer.namespaceSelector) {
    throw new TwinpathError('POLICY_BAD_VALUE', 'a peer needs podSelector, namespaceSelector or ipBlock', loc(peer.src));
  }
  if (peer.podSelector) checkK8sSelector(peer.podSelector);
  if (peer.namespaceSelector) checkK8sSelector(peer.namespaceSelector);
  return { kind: 'pods', namespace, podSelector: peer.podSelector, namespaceSelector: peer.namespaceSelector };
}

function netpolPort(p: NetpolPort): PortSel {
  const proto = protoNumber(p.protocol);
  if (p.port === undefined) {
    if (p.endPort !== undefined) throw new TwinpathError('POLICY_BAD_PORT', 'endPort needs port', loc(p.src));
    return { kind: 'range', proto, lo: 0, hi: 65535 };
  }
  if (typeof p.port === 'string') {
    if (p.endPort !== undefined) throw new TwinpathError('POLICY_BAD_PORT', 'endPort needs a numeric port', loc(p.src));
    return { kind: 'named', proto, name: p.port };
  }
  return { kind: 'range', proto, ...checkRange(p.port, p.endPort, 1, p.src) };
}

function checkRange(port: number, endPort: number | undefined, min: number, src: Source): { lo: number; hi: number } {
  const hi = endPort ?? port;
  if (!Number.isInteger(port) || port < min || port > 65535) {
    throw new TwinpathError('POLICY_BAD_PORT', `port ${port} is outside ${min}..65535`, loc(src));
  }
  if (!Number.isInteger(hi) || hi < port || hi > 65535) {
    throw new TwinpathError('POLICY_BAD_PORT', `endPort ${hi} is outside ${port}..65535`, loc(src));
  }
  return { lo: port, hi };
}

function blockKey(cidr: Prefix, except: Prefix[]): string {
  const ex = [...new Set(except.map(formatPrefix))].sort();
  return ex.length === 0 ? formatPrefix(cidr) : `${formatPrefix(cidr)} except ${ex.join(',')}`;
}

// ---- Cilium ----

function cilium(c: Collector, cnp: CiliumNetworkPolicy): void {
  const policy = { kind: cnp.kind, namespace: cnp.namespace, name: cnp.name };
  for (const spec of cnp.specs) {
    if (spec.nodeSelector) {
      throw new TwinpathError('POLICY_UNSUPPORTED', 'nodeSelector (host policies) is not supported', loc(spec.nodeSelector.src));
    }
    if (!spec.endpointSelector) {
      throw new TwinpathError('POLICY_MISSING_FIELD', 'the spec needs an endpointSelector', loc(spec.src));
    }
    const subject: Subject = { kind: 'cilium', reqs: scopeSubjectSelector(parseCiliumSelector(spec.endpointSelector), cnp.namespace) };
    for (const direction of ['ingress', 'egress'] as const) {
      const allows = spec[direction] ?? [];
      const denies = spec[direction === 'ingress' ? 'ingressDeny' : 'egressDeny'] ?? [];
      if (allows.length + denies.length > 0 && spec.enableDefaultDeny[direction] !== false) c.enforcers.push({ direction, subject });
      for (const [rules, deny] of [[allows, false], [denies, true]] as const) {
        for (const rule of rules) ciliumRule(c, cnp, subject, policy, direction, deny, rule);
      }
    }
  }
}

function ciliumRule(
  c: Collector,
  cnp: CiliumNetworkPolicy,
  subject: Subject,
  policy: RuleInfo['policy'],
  direction: Direction,
  deny: boolean,
  rule: CiliumRule,
): void {
  if (rule.requires && rule.requires.length > 0) {
    const what = direction === 'ingress' ? 'fromRequires' : 'toRequires';
    throw new TwinpathError('POLICY_UNSUPPORTED', `${what} is not supported (deprecated upstream)`, loc(rule.requires[0]!.src));
  }
  const id = c.nextId();
  const peerList: Peer[] = [];
  let all = false;
  for (const sel of rule.endpoints ?? []) peerList.push({ kind: 'selector', reqs: scopePeerSelector(parseCiliumSelector(sel), cnp.namespace) });
  for (const e of rule.entities ?? []) {
    const peers = entityPeers(e);
    if (peers === 'all') all = true;
    else peerList.push(...peers);
  }
  for (const r of rule.cidrs ?? []) {
    const cidr = parsePrefix(r.cidr, r.src);
    const except = r.except.map((e, i) => parsePrefix(e, { ...r.src, path: `${r.src.path}.except[${i}]` }));
    c.prefixes.push(cidr, ...except);
    peerList.push({ kind: 'cidr', cidr, except });
  }
  const hasL3 = (rule.endpoints?.length ?? 0) + (rule.entities?.length ?? 0) + (rule.cidrs?.length ?? 0) > 0;
  const hasL4 = (rule.toPorts?.length ?? 0) + (rule.icmps?.length ?? 0) > 0;
  // A rule naming only ports applies to every peer; `{}` names nothing and only isolates.
  const peers: RuleDef['peers'] = all || (!hasL3 && hasL4) ? 'all' : peerList;

  const ports: PortClause[] = [];
  for (const pr of rule.toPorts ?? []) {
    if (pr.http.length > 0 && deny) {
      throw new TwinpathError('POLICY_UNSUPPORTED', 'L7 rules are not allowed in deny rules', loc(pr.http[0]!.src));
    }
    const proxyPort = pr.http.length > 0 ? proxyPortFor(id) : 0;
    if (pr.ports.length === 0) ports.push({ sel: { kind: 'any' }, proxyPort });
    for (const pp of pr.ports) for (const sel of ciliumPort(pp)) ports.push({ sel, proxyPort });
  }
  for (const icmp of rule.icmps ?? []) {
    if (!Number.isInteger(icmp.type) || icmp.type < 0 || icmp.type > 255) {
      throw new TwinpathError('POLICY_BAD_PORT', `ICMP type ${icmp.type} is outside 0..255`, loc(icmp.src));
    }
    const proto = icmp.family === 'IPv4' ? PROTO.ICMP : PROTO.ICMPV6;
    ports.push({ sel: { kind: 'range', proto, lo: icmp.type, hi: icmp.type }, proxyPort: 0 });
  }
  const portClauses = hasL4 ? ports : ALL_PORTS;

  const verb = deny ? 'deny' : 'allow';
  const peerText = peers === 'all' ? 'anyone' : peerList.length === 0 ? 'nothing' : describeCiliumPeers(rule, cnp.namespace);
  const proxy = portClauses.some((p) => p.proxyPort !== 0) ? ` (L7 proxy ${proxyPortFor(id)})` : '';
  const text = `${verb} ${direction} ${direction === 'ingress' ? 'from' : 'to'} ${peerText} on ${describePorts(portClauses)}${proxy}`;
  c.add({ info: { id, policy, direction, deny, text, src: rule.src }, subject, peers, ports: portClauses });
}

function ciliumPort(pp: CiliumPortProtocol): PortSel[] {
  let port = pp.port;
  if (typeof port === 'string' && /^\d+$/.test(port)) port = Number(port);
  const every = port === undefined || port === 0;
  if (every && pp.endPort !== undefined && pp.endPort !== 0) {
    throw new TwinpathError('POLICY_BAD_PORT', 'endPort needs port', loc(pp.src));
  }
  if (pp.protocol === 'ANY' && every) return [{ kind: 'any' }];
  const protos = pp.protocol === 'ANY' ? [PROTO.TCP, PROTO.UDP, PROTO.SCTP] : [protoNumber(pp.protocol)];
  if (typeof port === 'string') {
    if (pp.endPort !== undefined) throw new TwinpathError('POLICY_BAD_PORT', 'endPort needs a numeric port', loc(pp.src));
    const name = port;
    return protos.map((proto) => ({ kind: 'named', proto, name }));
  }
  const range = every ? { lo: 0, hi: 65535 } : checkRange(port!, pp.endPort || undefined, 1, pp.src);
  return protos.map((proto) => ({ kind: 'range', proto, ...range }));
}

/** The identities an entity stands for, as Cilium defines them. */
export function entityPeers(e: CiliumEntity): Peer[] | 'all' {
  switch (e) {
    case 'all':
      return 'all';
    case 'none':
      return [];
    case 'cluster':
      return [
        { kind: 'selector', reqs: [anyPod] },
        ...['host', 'remote-node', 'init', 'health', 'unmanaged', 'kube-apiserver', 'ingress'].map(
          (k): Peer => ({ kind: 'selector', reqs: [reserved(k)] }),
        ),
      ];
    default:
      return [{ kind: 'selector', reqs: [reserved(e)] }];
  }
}

// ---- rule text ----

function describePeers(peers: Peer[] | 'all'): string {
  if (peers === 'all') return 'anyone';
  return peers
    .map((p) => {
      switch (p.kind) {
        case 'pods': {
          const pods = p.podSelector ? `pods ${describeSelector(p.podSelector)}` : 'pods';
          return p.namespaceSelector
            ? `${pods} in namespaces ${describeSelector(p.namespaceSelector)}`
            : `${pods} in namespace ${p.namespace}`;
        }
        case 'ipblock':
          return `ipBlock ${p.block.key}`;
        default:
          return '?';
      }
    })
    .join(' or ');
}

function describeCiliumPeers(rule: CiliumRule, namespace: string): string {
  const parts: string[] = [];
  for (const sel of rule.endpoints ?? []) {
    const parsed = parseCiliumSelector(sel);
    // Say so when Cilium confined the selector to the policy's namespace.
    const local = namespace !== '' && scopePeerSelector(parsed, namespace).length > parsed.length;
    parts.push(`endpoints ${describeSelector(sel)}${local ? ` in namespace ${namespace}` : ''}`);
  }
  if (rule.entities?.length) parts.push(`entities ${rule.entities.join(',')}`);
  for (const r of rule.cidrs ?? []) parts.push(`cidr ${r.cidr}${r.except.length ? ` except ${r.except.join(',')}` : ''}`);
  return parts.join(' or ');
}

function describePorts(ports: PortClause[]): string {
  return ports.some((p) => p.sel.kind === 'any') && ports.length === 1 ? 'any port' : ports.map((p) => describePortSel(p.sel)).join(', ');
}

// A reference evaluator, written straight from the policy semantics and sharing no code with
// the compiler: is a connection from A to B on (protocol, port) allowed? It looks at the policies
// directly, pod by pod, with no identities, ipcache or port blocks - the things the property
// test holds the compiled entries against.
//
// Semantics (the compiler documents the same choices):
// - Remote peers are pods, the local node (host), other nodes (remote-node), or world addresses.
//   Host-network pods are their node. ipBlocks and CIDR rules never match node addresses.
// - Kubernetes: isolation per direction by policies selecting the pod; peers OR-ed; ipBlock
//   matches world addresses and pods with an address in it; named ports on the destination pod.
// - Cilium: selectors scoped to the policy namespace (or to pods, clusterwide) unless they name
//   the namespace, namespace labels (namespaced only) or a reserved label; CIDR rules match world
//   addresses only; deny rules win; enforcement per direction with rules, unless disabled.
// - The node's own traffic into its pods is always allowed (unless denied).

import { BlockList, isIPv4 } from 'node:net';
import type {
  CiliumNetworkPolicy,
  CiliumRule,
  CiliumSelector,
  Inputs,
  LabelSelector,
  NetworkPolicy,
  Pod,
} from '../../src/policy/ast.js';

export type Remote =
  | { kind: 'pod'; pod: Pod }
  | { kind: 'host' }
  | { kind: 'remote-node' }
  | { kind: 'world'; ip: string };

export type FlowEnd = { pod: string } | { ip: string };

type Dir = 'ingress' | 'egress';

function inCidr(ip: string, cidr: string): boolean {
  const [a, l] = cidr.split('/');
  const v4 = isIPv4(a!);
  if (isIPv4(ip) !== v4) return false;
  const bl = new BlockList();
  bl.addSubnet(a!, Number(l ?? (v4 ? 32 : 128)), v4 ? 'ipv4' : 'ipv6');
  return bl.check(ip, v4 ? 'ipv4' : 'ipv6');
}

function k8sMatch(s: LabelSelector, labels: Record<string, string>): boolean {
  for (const k of Object.keys(s.matchLabels)) if (labels[k] !== s.matchLabels[k]) return false;
  return s.matchExpressions.every((e) => {
    const has = k8sHas(labels, e.key);
    if (e.operator === 'Exists') return has;
    if (e.operator === 'DoesNotExist') return !has;
    if (e.operator === 'In') return has && e.values.includes(labels[e.key]!);
    return !has || !e.values.includes(labels[e.key]!);
  });
}
const k8sHas = (l: Record<string, string>, k: string): boolean => Object.prototype.hasOwnProperty.call(l, k);

export class Reference {
  constructor(private readonly inputs: Inputs) {}

  private nsLabels(ns: string): Record<string, string> {
    const n = this.inputs.cluster.namespaces.find((x) => x.name === ns);
    return { 'kubernetes.io/metadata.name': ns, ...(n?.labels ?? {}) };
  }

  /** Who `end` is, seen from a pod on `localNode`. */
  classify(end: FlowEnd, localNode: string): Remote {
    const c = this.inputs.cluster;
    let ip: string;
    if ('pod' in end) {
      const p = c.pods.find((x) => `${x.namespace}/${x.name}` === end.pod)!;
      if (!p.hostNetwork) return { kind: 'pod', pod: p };
      ip = p.ips[0]!;
    } else {
      ip = end.ip;
      const p = c.pods.find((x) => !x.hostNetwork && x.ips.includes(ip));
      if (p) return { kind: 'pod', pod: p };
    }
    const n = c.nodes.find((x) => x.addresses.includes(ip));
    if (n) return n.name === localNode ? { kind: 'host' } : { kind: 'remote-node' };
    return { kind: 'world', ip };
  }

  private podOf(end: FlowEnd): Pod | undefined {
    const c = this.inputs.cluster;
    const p = 'pod' in end ? c.pods.find((x) => `${x.namespace}/${x.name}` === end.pod) : c.pods.find((x) => x.ips.includes(end.ip));
    return p && !p.hostNetwork ? p : undefined;
  }

  allowed(from: FlowEnd, to: FlowEnd, proto: number, port: number): boolean {
    const src = this.podOf(from);
    const dst = this.podOf(to);
    if (src && !this.direction(src, 'egress', this.classify(to, src.nodeName), dst, proto, port)) return false;
    if (dst && !this.direction(dst, 'ingress', this.classify(from, dst.nodeName), dst, proto, port)) return false;
    return true;
  }

  private direction(me: Pod, dir: Dir, remote: Remote, dstPod: Pod | undefined, proto: number, port: number): boolean {
    const named = (name: string, p: number): boolean =>
      dstPod !== undefined && dstPod.ports.some((cp) => cp.name === name && protoNum(cp.protocol) === p && cp.containerPort === port);
    let enforced = false;
    let allowed = false;
    for (const pol of this.inputs.policies) {
      if (pol.kind === 'NetworkPolicy') {
        if (pol.namespace !== me.namespace || !k8sMatch(pol.podSelector, me.labels)) continue;
        if (!pol.policyTypes.includes(dir === 'ingress' ? 'Ingress' : 'Egress')) continue;
        enforced = true;
        if (pol[dir].some((r) => this.k8sRule(pol, r, remote, proto, port, named))) allowed = true;
      } else {
        for (const spec of pol.specs) {
          if (!spec.endpointSelector) continue;
          if (pol.namespace !== '' && me.namespace !== pol.namespace) continue;
          if (!this.ciliumMatch(spec.endpointSelector, this.podLabels(me), undefined)) continue;
          const allows = spec[dir] ?? [];
          const denies = spec[dir === 'ingress' ? 'ingressDeny' : 'egressDeny'] ?? [];
          if (denies.some((r) => this.ciliumRule(pol, r, remote, proto, port, named))) return false;
          if (allows.length + denies.length > 0 && spec.enableDefaultDeny[dir] !== false) enforced = true;
          if (allows.some((r) => this.ciliumRule(pol, r, remote, proto, port, named))) allowed = true;
        }
      }
    }
    if (!enforced) return true;
    if (dir === 'ingress' && remote.kind === 'host') return true;
    return allowed;
  }

  // ---- Kubernetes ----

  private k8sRule(
    pol: NetworkPolicy,
    r: NetworkPolicy['ingress'][number],
    remote: Remote,
    proto: number,
    port: number,
    named: (n: string, p: number) => boolean,
  ): boolean {
    const peerOk =
      r.peers.length === 0 ||
      r.peers.some((p) => {
        if (p.ipBlock) {
          const b = p.ipBlock;
          const ips = remote.kind === 'world' ? [remote.ip] : remote.kind === 'pod' ? remote.pod.ips : [];
          return ips.some((ip) => inCidr(ip, b.cidr) && !b.except.some((e) => inCidr(ip, e)));
        }
        if (remote.kind !== 'pod') return false;
        const nsOk = p.namespaceSelector
          ? k8sMatch(p.namespaceSelector, this.nsLabels(remote.pod.namespace))
          : remote.pod.namespace === pol.namespace;
        return nsOk && (!p.podSelector || k8sMatch(p.podSelector, remote.pod.labels));
      });
    if (!peerOk) return false;
    return (
      r.ports.length === 0 ||
      r.ports.some((p) => {
        if (protoNum(p.protocol) !== proto) return false;
        if (p.port === undefined) return true;
        if (typeof p.port === 'string') return named(p.port, proto);
        return port >= p.port && port <= (p.endPort ?? p.port);
      })
    );
  }

  // ---- Cilium ----

  private podLabels(p: Pod): Array<[string, string, string]> {
    const out: Array<[string, string, string]> = Object.entries(p.labels).map(([k, v]) => ['k8s', k, v]);
    out.push(['k8s', 'io.kubernetes.pod.namespace', p.namespace]);
    for (const [k, v] of Object.entries(this.nsLabels(p.namespace))) out.push(['k8s', `io.cilium.k8s.namespace.labels.${k}`, v]);
    return out;
  }

  private remoteLabels(r: Remote): Array<[string, string, string]> {
    switch (r.kind) {
      case 'pod':
        return this.podLabels(r.pod);
      case 'host':
        return [['reserved', 'host', '']];
      case 'remote-node':
        return [['reserved', 'remote-node', '']];
      case 'world':
        return [['reserved', 'world', ''], ['reserved', isIPv4(r.ip) ? 'world-ipv4' : 'world-ipv6', '']];
    }
  }

  /** `scopeNs`: undefined for an endpointSelector; the policy namespace ('' clusterwide) for peers. */
  private ciliumMatch(s: CiliumSelector, labels: Array<[string, string, string]>, scopeNs: string | undefined): boolean {
    const reqs: Array<{ src: string; key: string; op: string; values: string[] }> = [];
    for (const [k, v] of Object.entries(s.matchLabels)) reqs.push({ ...splitKey(k), op: 'In', values: [v] });
    for (const e of s.matchExpressions) reqs.push({ ...splitKey(e.key), op: e.operator, values: e.values });
    if (scopeNs !== undefined) {
      const namesNs = reqs.some((r) => r.src !== 'reserved' && r.key === 'io.kubernetes.pod.namespace');
      const namesNsLabels = reqs.some((r) => r.src !== 'reserved' && r.key.startsWith('io.cilium.k8s.namespace.labels.'));
      const reservedKey = reqs.some((r) => r.src === 'reserved');
      if (!reservedKey && !namesNs) {
        if (scopeNs === '') reqs.push({ src: 'k8s', key: 'io.kubernetes.pod.namespace', op: 'Exists', values: [] });
        else if (!namesNsLabels) reqs.push({ src: 'k8s', key: 'io.kubernetes.pod.namespace', op: 'In', values: [scopeNs] });
      }
    }
    return reqs.every((r) => {
      const vals = labels.filter(([src, key]) => key === r.key && (r.src === 'any' || r.src === src)).map(([, , v]) => v);
      if (r.op === 'Exists') return vals.length > 0;
      if (r.op === 'DoesNotExist') return vals.length === 0;
      if (r.op === 'In') return vals.some((v) => r.values.includes(v));
      return !vals.some((v) => r.values.includes(v));
    });
  }

  private ciliumRule(
    pol: CiliumNetworkPolicy,
    r: CiliumRule,
    remote: Remote,
    proto: number,
    port: number,
    named: (n: string, p: number) => boolean,
  ): boolean {
    const hasL3 = (r.endpoints?.length ?? 0) + (r.entities?.length ?? 0) + (r.cidrs?.length ?? 0) > 0;
    const hasL4 = (r.toPorts?.length ?? 0) + (r.icmps?.length ?? 0) > 0;
    let peerOk = !hasL3 && hasL4;
    if (hasL3) {
      const labels = this.remoteLabels(remote);
      peerOk =
        (r.endpoints ?? []).some((s) => this.ciliumMatch(s, labels, pol.namespace)) ||
        (r.entities ?? []).some((e) => entityMatch(e, remote)) ||
        (r.cidrs ?? []).some((c) => remote.kind === 'world' && inCidr(remote.ip, norm(c.cidr)) && !c.except.some((e) => inCidr(remote.ip, norm(e))));
    }
    if (!peerOk) return false;
    if (!hasL4) return true;
    const portOk = (r.toPorts ?? []).some(
      (pr) =>
        pr.ports.length === 0 ||
        pr.ports.some((pp) => {
          let p = pp.port;
          if (typeof p === 'string' && /^\d+$/.test(p)) p = Number(p);
          const every = p === undefined || p === 0;
          if (pp.protocol === 'ANY' && every) return true;
          const protos = pp.protocol === 'ANY' ? [6, 17, 132] : [protoNum(pp.protocol)];
          if (!protos.includes(proto)) return false;
          if (every) return true;
          if (typeof p === 'string') return named(p, proto);
          return port >= p! && port <= (pp.endPort || p!);
        }),
    );
    const icmpOk = (r.icmps ?? []).some((i) => proto === (i.family === 'IPv4' ? 1 : 58) && port === i.type);
    return portOk || icmpOk;
  }
}

function entityMatch(e: string, r: Remote): boolean {
  switch (e) {
    case 'all':
      return true;
    case 'world':
      return r.kind === 'world';
    case 'world-ipv4':
      return r.kind === 'world' && isIPv4(r.ip);
    case 'world-ipv6':
      return r.kind === 'world' && !isIPv4(r.ip);
    case 'host':
      return r.kind === 'host';
    case 'remote-node':
      return r.kind === 'remote-node';
    case 'cluster':
      return r.kind !== 'world';
    default:
      return false;
  }
}

function splitKey(k: string): { src: string; key: string } {
  const i = k.indexOf(':');
  return i < 0 ? { src: 'any', key: k } : { src: k.slice(0, i), key: k.slice(i + 1) };
}

function norm(c: string): string {
  return c.includes('/') ? c : `${c}/${isIPv4(c) ? 32 : 128}`;
}

function protoNum(p: string): number {
  return { TCP: 6, UDP: 17, SCTP: 132, ICMP: 1, ICMPv6: 58 }[p] ?? -1;
}

// The shape of a sandbox, computed from a Cluster before anything is created: which namespace
// each node and pod gets, which addresses and interfaces go where, and the routes that make
// every pod reach every other pod, every node and the outside addresses. Pure: no system calls,
// so the same cluster always gives the same layout and it can be tested without root.
//
// Addressing, and why:
// - Pods carry their cluster IPs as /32 and /128 on eth0, with a default route through a
//   link-local gateway (169.254.1.1, fe80::1) that every node answers on its pod veths, so a
//   pod needs no subnet and the node routes each pod address to its veth.
// - Nodes join the underlay bridge with their InternalIP/ExternalIP addresses (synthetic
//   documentation addresses when the cluster gives none in a family), each as a host address
//   with host routes to the other members: node addresses need not share a subnet.
// - Routes between nodes are per pod address (via the pod's node), not per podCIDR: a
//   cluster file's pod addresses need not lie inside the podCIDRs it declares.
// - The outside namespace holds the external addresses on its bridge port; nodes reach them
//   directly on the bridge, and it routes pod addresses back through their nodes.

import { isIP } from 'node:net';
import { TwinpathError } from '../errors.js';
import type { Cluster } from '../policy/ast.js';
import { hostIfnameOf, netnsOf, OUTSIDE_PORT, underlayPortOf } from './names.js';

export const POD_GATEWAY_V4 = '169.254.1.1';
export const POD_GATEWAY_V6 = 'fe80::1';
export const DEFAULT_EXTERNALS = ['203.0.113.10'];

export interface LayoutNode {
  name: string;
  index: number;
  netns: string;
  /** The node's addresses on the underlay, v4 and v6; includes hostNetwork pods' addresses. */
  addresses: string[];
  /** True when the cluster named no address in that family and one was made up. */
  synthetic: string[];
  /** Its port on the underlay bridge (in the underlay namespace). */
  bridgePort: string;
}

export interface LayoutPod {
  /** `namespace/name`, as probe files name pods. */
  key: string;
  namespace: string;
  name: string;
  index: number;
  node: string;
  nodeNetns: string;
  /** The pod's own namespace, or its node's for hostNetwork pods. */
  netns: string;
  hostNetwork: boolean;
  ips: string[];
  /** Host-side veth in the node namespace (absent for hostNetwork pods). */
  hostIfname?: string;
}

export interface Layout {
  name: string;
  underlay: string;
  outside: string;
  nodes: LayoutNode[];
  pods: LayoutPod[];
  externals: string[];
  /** Pods left out, and why (no address yet). */
  skipped: Array<{ pod: string; reason: string }>;
}

export const family = (ip: string): 4 | 6 => (isIP(ip) === 6 ? 6 : 4);
export const hostPrefix = (ip: string): string => `${ip}/${family(ip) === 6 ? 128 : 32}`;

/** Where an unscheduled pod goes, and the node a cluster without nodes gets. */
const FALLBACK_NODE = 'sandbox-node';

export function computeLayout(name: string, cluster: Cluster, externals: string[] = DEFAULT_EXTERNALS): Layout {
  for (const ip of externals) {
    if (isIP(ip) === 0) throw new TwinpathError('SANDBOX_ERROR', `external address "${ip}" is not an IPv4 or IPv6 address`);
  }
  // Nodes: the cluster's, then any a pod names that the cluster does not list.
  const nodeNames: string[] = cluster.nodes.map((n) => n.name);
  for (const p of cluster.pods) {
    const want = p.nodeName !== '' ? p.nodeName : (nodeNames[0] ?? FALLBACK_NODE);
    if (!nodeNames.includes(want)) nodeNames.push(want);
  }
  const nodes: LayoutNode[] = nodeNames.map((n, index) => {
    const declared = cluster.nodes.find((x) => x.name === n)?.addresses ?? [];
    for (const a of declared) {
      if (isIP(a) === 0) throw new TwinpathError('SANDBOX_ERROR', `node ${n}: "${a}" is not an IP address`);
    }
    const v4 = declared.find((a) => family(a) === 4);
    const v6 = declared.find((a) => family(a) === 6);
    const synthetic: string[] = [];
    // Documentation ranges (RFC 5737, RFC 3849): never a real cluster's addresses.
    const s4 = `192.0.2.${index + 1}`;
    const s6 = `2001:db8:ffff::${(index + 1).toString(16)}`;
    if (v4 === undefined) synthetic.push(s4);
    if (v6 === undefined) synthetic.push(s6);
    return {
      name: n,
      index,
      netns: netnsOf.node(name, index),
      addresses: [...declared, ...synthetic],
      synthetic,
      bridgePort: underlayPortOf(index),
    };
  });
  if (nodes.length > 200) throw new TwinpathError('SANDBOX_ERROR', `${nodes.length} nodes: a sandbox holds at most 200`);

  const pods: LayoutPod[] = [];
  const skipped: Layout['skipped'] = [];
  const seen = new Set<string>();
  for (const p of cluster.pods) {
    const key = `${p.namespace}/${p.name}`;
    if (seen.has(key)) throw new TwinpathError('SANDBOX_ERROR', `pod ${key} is listed twice`);
    seen.add(key);
    const node = nodes.find((n) => n.name === (p.nodeName !== '' ? p.nodeName : nodeNames[0]))!;
    for (const ip of p.ips) {
      if (isIP(ip) === 0) throw new TwinpathError('SANDBOX_ERROR', `pod ${key}: "${ip}" is not an IP address`);
    }
    if (p.hostNetwork) {
      const ips = p.ips.length > 0 ? p.ips : node.addresses.filter((a) => !node.synthetic.includes(a));
      for (const ip of ips) if (!node.addresses.includes(ip)) node.addresses.push(ip);
      pods.push({ key, namespace: p.namespace, name: p.name, index: pods.length, node: node.name, nodeNetns: node.netns, netns: node.netns, hostNetwork: true, ips });
      continue;
    }
    if (p.ips.length === 0) {
      skipped.push({ pod: key, reason: 'no pod IP (status.podIPs is empty)' });
      continue;
    }
    const index = pods.length;
    pods.push({
      key,
      namespace: p.namespace,
      name: p.name,
      index,
      node: node.name,
      nodeNetns: node.netns,
      netns: netnsOf.pod(name, index),
      hostNetwork: false,
      ips: [...p.ips],
      hostIfname: hostIfnameOf(index),
    });
  }

  // Two things answering for one address would make probes meaningless.
  const owner = new Map<string, string>();
  const claim = (ip: string, who: string): void => {
    const prev = owner.get(ip);
    if (prev !== undefined && prev !== who) {
      throw new TwinpathError('SANDBOX_ERROR', `address ${ip} belongs to both ${prev} and ${who}`);
    }
    owner.set(ip, who);
  };
  for (const n of nodes) for (const a of n.addresses) claim(a, `node ${n.name}`);
  for (const p of pods) if (!p.hostNetwork) for (const a of p.ips) claim(a, `pod ${p.key}`);
  for (const e of externals) claim(e, 'the outside');

  return { name, underlay: netnsOf.underlay(name), outside: netnsOf.outside(name), nodes, pods, externals: [...externals], skipped };
}

// ---- what to run in each namespace (ip -batch lines) --------------------------------------

/** The underlay namespace: a bridge with one port per node and one for the outside. */
export function underlayScript(): string[] {
  return ['link set lo up', 'link add br0 type bridge', 'link set br0 up'];
}

/** A node namespace: its uplink into the underlay, its pods' veths, and every route. */
export function nodeScript(l: Layout, n: LayoutNode): string[] {
  const lines = ['link set lo up', `link add eth0 type veth peer name ${n.bridgePort} netns ${l.underlay}`];
  for (const a of n.addresses) lines.push(`address add ${hostPrefix(a)} dev eth0${family(a) === 6 ? ' nodad' : ''}`);
  lines.push('link set eth0 up');
  // The pods' gateway: answered on every pod veth (v4 through lo, v6 per veth, link-local).
  lines.push(`address add ${POD_GATEWAY_V4}/32 dev lo scope link`);
  for (const p of l.pods) {
    if (p.node !== n.name || p.hostNetwork) continue;
    lines.push(`link add ${p.hostIfname} type veth peer name eth0 netns ${p.netns}`);
    lines.push(`address add ${POD_GATEWAY_V6}/64 dev ${p.hostIfname} nodad`);
    lines.push(`link set ${p.hostIfname} up`);
    for (const ip of p.ips) lines.push(`route add ${hostPrefix(ip)} dev ${p.hostIfname}`);
  }
  for (const other of l.nodes) {
    if (other === n) continue;
    for (const a of other.addresses) lines.push(`route add ${hostPrefix(a)} dev eth0`);
  }
  for (const p of l.pods) {
    if (p.node === n.name || p.hostNetwork) continue;
    const via = l.nodes.find((x) => x.name === p.node)!;
    for (const ip of p.ips) {
      const gw = via.addresses.find((a) => family(a) === family(ip))!;
      lines.push(`route add ${hostPrefix(ip)} via ${gw} dev eth0`);
    }
  }
  for (const e of l.externals) lines.push(`route add ${hostPrefix(e)} dev eth0`);
  return lines;
}

/** A pod namespace: eth0 (created from the node side) with the pod's addresses and default routes. */
export function podScript(p: LayoutPod): string[] {
  const lines = ['link set lo up'];
  for (const ip of p.ips) lines.push(`address add ${hostPrefix(ip)} dev eth0${family(ip) === 6 ? ' nodad' : ''}`);
  lines.push('link set eth0 up');
  if (p.ips.some((ip) => family(ip) === 4)) lines.push(`route add default via ${POD_GATEWAY_V4} dev eth0 onlink`);
  if (p.ips.some((ip) => family(ip) === 6)) lines.push(`route add ::/0 via ${POD_GATEWAY_V6} dev eth0`);
  return lines;
}

/** The outside namespace: the external addresses, host routes to the nodes, pods via their node. */
export function outsideScript(l: Layout): string[] {
  const lines = ['link set lo up', `link add eth0 type veth peer name ${OUTSIDE_PORT} netns ${l.underlay}`];
  for (const e of l.externals) lines.push(`address add ${hostPrefix(e)} dev eth0${family(e) === 6 ? ' nodad' : ''}`);
  lines.push('link set eth0 up');
  for (const n of l.nodes) for (const a of n.addresses) lines.push(`route add ${hostPrefix(a)} dev eth0`);
  for (const p of l.pods) {
    if (p.hostNetwork) continue;
    const via = l.nodes.find((x) => x.name === p.node)!;
    for (const ip of p.ips) {
      const gw = via.addresses.find((a) => family(a) === family(ip))!;
      lines.push(`route add ${hostPrefix(ip)} via ${gw} dev eth0`);
    }
  }
  return lines;
}

/** The underlay's ports, enslaved once both ends exist. */
export function bridgePortsScript(l: Layout): string[] {
  const lines: string[] = [];
  for (const port of [...l.nodes.map((n) => n.bridgePort), OUTSIDE_PORT]) {
    lines.push(`link set ${port} master br0`, `link set ${port} up`);
  }
  return lines;
}

/** sysctls per namespace kind: routers forward; nobody waits for DAD or drops asymmetric paths. */
export function sysctlsFor(kind: 'node' | 'pod' | 'outside' | 'underlay'): string[] {
  const common = [
    'net.ipv4.conf.all.rp_filter=0',
    'net.ipv4.conf.default.rp_filter=0',
    'net.ipv6.conf.all.accept_dad=0',
    'net.ipv6.conf.default.accept_dad=0',
  ];
  if (kind === 'node') return [...common, 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1'];
  return common;
}

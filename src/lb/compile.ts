// The services compiler: Kubernetes Services and EndpointSlices -> the load-balancer model
// (model.ts). It decides which frontends exist (ClusterIP, NodePort on every node address,
// externalIPs), which backends each frontend offers (conditions, traffic policies), and numbers
// everything the datapath keys on; it never touches an engine.
//
// Scopes: a frontend whose traffic policy is Local offers only one node's backends. For NodePort
// that is the node owning the address (traffic to node N's NodePort is handled on N). For a
// ClusterIP (internalTrafficPolicy) it is the client's node and for externalIPs
// (externalTrafficPolicy) the node the traffic arrives on: both are the node the model is
// compiled for (`opts.node`); compiled for no node, such a frontend has no backends (as for a
// client on a node without a local endpoint) and a warning says so.

import type { Cluster, Node, Service, ServicePort } from '../policy/ast.js';
import { TwinpathError } from '../errors.js';
import { canonicalAddr, compareAddr, familyOf, type Family } from './addr.js';
import { at, chooseBackends, EndpointIndex, type Candidate } from './endpoints.js';
import { checkTableSize } from './maglev.js';
import {
  DEFAULT_MAGLEV_TABLE_SIZE, SVC_FLAGS,
  type FrontendType, type LbBackend, type LbFrontend, type LbModel, type LbService, type LbWarning,
} from './model.js';

export interface CompileOptions {
  /** The node whose datapath the model is for (Local ClusterIP and externalIP scopes). */
  node?: string;
  /** Maglev table size, a prime (default 16381). */
  maglevTableSize?: number;
  /** A model compiled earlier: ids of unchanged backends, groups and frontends are kept. */
  previous?: LbModel;
}

/** Rev-NAT indexes are 16 bits in the datapath (as in Cilium). */
const MAX_REV_NAT = 0xffff;

type Scope = LbService['scope'];

interface GroupDraft {
  key: string;
  svc: Service;
  sp: ServicePort;
  family: Family;
  scope: Scope;
  chosen: Candidate[];
  fallback: boolean;
}

interface FrontendDraft {
  key: string;
  address: string;
  port: number;
  sp: ServicePort;
  svc: Service;
  type: FrontendType;
  node?: string;
  group: GroupDraft;
  flags: number;
}

export function compileServices(cluster: Cluster, opts: CompileOptions = {}): LbModel {
  const size = opts.maglevTableSize ?? DEFAULT_MAGLEV_TABLE_SIZE;
  checkTableSize(size);
  if (opts.node !== undefined && !cluster.nodes.some((n) => n.name === opts.node)) {
    throw new TwinpathError('LB_ERROR', `node "${opts.node}" is not in the cluster`);
  }
  const warnings: LbWarning[] = [];
  const index = new EndpointIndex(cluster);
  const nodes = [...cluster.nodes].sort((a, b) => cmp(a.name, b.name));
  const services = [...cluster.services].sort((a, b) => cmp(a.namespace, b.namespace) || cmp(a.name, b.name));

  const groups = new Map<string, GroupDraft>();
  const frontends = new Map<string, FrontendDraft>();
  const candCache = new Map<ServicePort, Candidate[]>();

  const groupFor = (svc: Service, sp: ServicePort, family: Family, scope: Scope): GroupDraft => {
    const key = groupKey({ namespace: svc.namespace, name: svc.name, portName: sp.name ?? '', port: sp.port, protocol: sp.protocol, family, scope });
    let g = groups.get(key);
    if (!g) {
      let cands = candCache.get(sp);
      if (!cands) {
        cands = index.candidates(svc, sp, warnings);
        candCache.set(sp, cands);
      }
      const inScope = cands.filter((c) => c.family === family && (scope === 'cluster' || c.node === scope.node));
      const { chosen, fallback } = chooseBackends(inScope);
      chosen.sort((a, b) => compareAddr(a.address, b.address) || a.port - b.port);
      g = { key, svc, sp, family, scope, chosen, fallback };
      groups.set(key, g);
    }
    return g;
  };

  const addFrontend = (svc: Service, sp: ServicePort, address: string, port: number, type: FrontendType, scope: Scope, node: string | undefined, path: string) => {
    const key = `${address}|${port}|${sp.protocol}`;
    const prior = frontends.get(key);
    if (prior) {
      throw new TwinpathError(
        'LB_ERROR',
        `frontend ${address} port ${port}/${sp.protocol} is already used by ${prior.type} of service ${prior.svc.namespace}/${prior.svc.name}`,
        at(svc.src, path),
      );
    }
    let flags = type === 'ClusterIP' ? SVC_FLAGS.CLUSTER_IP : type === 'NodePort' ? SVC_FLAGS.NODE_PORT : SVC_FLAGS.EXTERNAL_IP;
    if (scope !== 'cluster') flags |= SVC_FLAGS.LOCAL;
    if (svc.sessionAffinity === 'ClientIP') flags |= SVC_FLAGS.AFFINITY;
    const group = groupFor(svc, sp, familyOf(address), scope);
    frontends.set(key, { key, address, port, sp, svc, type, ...(node !== undefined ? { node } : {}), group, flags });
  };

  const clientScope = (local: boolean, svc: Service, what: string): Scope => {
    if (!local) return 'cluster';
    if (opts.node === undefined) {
      warnings.push({
        code: 'LB_LOCAL_WITHOUT_NODE',
        message: `${svc.namespace}/${svc.name}: ${what} traffic policy is Local but the model is compiled for no node; its ${what === 'internal' ? 'ClusterIP' : 'externalIP'} frontends have no backends`,
        src: svc.src,
      });
      return { node: '' };
    }
    return { node: opts.node };
  };

  for (const svc of services) {
    if (svc.type === 'ExternalName') continue;
    validateService(svc);
    const clusterIPs = svc.clusterIPs
      .map((ip, i) => ({ ip, i }))
      .filter(({ ip }) => ip !== 'None' && ip !== '')
      .map(({ ip, i }) => canonicalOrThrow(ip, svc, `spec.clusterIPs[${i}]`));
    const families = new Set(clusterIPs.map(familyOf));
    const internal = clientScope(svc.internalTrafficPolicy === 'Local' && clusterIPs.length > 0, svc, 'internal');
    const external = clientScope(svc.externalTrafficPolicy === 'Local' && svc.externalIPs.length > 0, svc, 'external');
    svc.ports.forEach((sp, pi) => {
      for (const ip of clusterIPs) addFrontend(svc, sp, ip, sp.port, 'ClusterIP', internal, undefined, `spec.ports[${pi}]`);
      svc.externalIPs.forEach((raw, i) => {
        const ip = canonicalOrThrow(raw, svc, `spec.externalIPs[${i}]`);
        addFrontend(svc, sp, ip, sp.port, 'ExternalIP', external, undefined, `spec.externalIPs[${i}]`);
      });
      if (svc.type === 'NodePort' || svc.type === 'LoadBalancer') {
        if (sp.nodePort === undefined) {
          warnings.push({ code: 'LB_NO_NODE_PORT', message: `${svc.namespace}/${svc.name}: port ${sp.port}/${sp.protocol} has no nodePort; no NodePort frontends`, src: svc.src });
          return;
        }
        for (const node of nodes) {
          const scope: Scope = svc.externalTrafficPolicy === 'Local' ? { node: node.name } : 'cluster';
          for (const addr of nodeAddresses(node, families)) {
            addFrontend(svc, sp, addr, sp.nodePort, 'NodePort', scope, node.name, `spec.ports[${pi}].nodePort`);
          }
        }
      }
    });
  }

  return assemble(groups, frontends, size, opts, warnings);
}

function assemble(
  groups: Map<string, GroupDraft>,
  frontends: Map<string, FrontendDraft>,
  size: number,
  opts: CompileOptions,
  warnings: LbWarning[],
): LbModel {
  const prev = opts.previous;
  // Backends: one id per distinct key, across every group.
  const backendCands = new Map<string, Candidate>();
  for (const g of groups.values()) for (const c of g.chosen) if (!backendCands.has(c.key)) backendCands.set(c.key, c);
  const backendKeys = [...backendCands.keys()].sort();
  const backendIds = allocate(backendKeys, new Map(prev?.backends.map((b) => [b.key, b.id])), 1, 0xffffffff, 'backends');
  const serviceKeys = [...groups.keys()].sort();
  const serviceIds = allocate(serviceKeys, new Map(prev?.services.map((s) => [groupKey(s), s.id])), 0, 0xffff, 'service groups');
  const frontendKeys = [...frontends.keys()].sort();
  const revNat = allocate(frontendKeys, new Map(prev?.frontends.map((f) => [`${f.address}|${f.port}|${f.protocol}`, f.revNatIndex])), 1, MAX_REV_NAT, 'frontends');

  const backends: LbBackend[] = backendKeys.map((k) => {
    const c = backendCands.get(k)!;
    return {
      id: backendIds.get(k)!,
      address: c.address,
      port: c.port,
      protocol: c.protocol,
      ...(c.pod !== undefined ? { pod: c.pod } : {}),
      ...(c.node !== undefined ? { node: c.node } : {}),
      key: k,
      src: c.src,
    };
  });
  backends.sort((a, b) => a.id - b.id);

  const services: LbService[] = serviceKeys.map((k) => {
    const g = groups.get(k)!;
    return {
      id: serviceIds.get(k)!,
      namespace: g.svc.namespace,
      name: g.svc.name,
      portName: g.sp.name ?? '',
      port: g.sp.port,
      protocol: g.sp.protocol,
      family: g.family,
      scope: g.scope,
      backendIds: g.chosen.map((c) => backendIds.get(c.key)!),
      terminatingFallback: g.fallback,
      affinityTimeoutSeconds: g.svc.sessionAffinity === 'ClientIP' ? g.svc.affinityTimeoutSeconds : 0,
      src: g.svc.src,
    };
  });
  services.sort((a, b) => a.id - b.id);

  const out: LbFrontend[] = frontendKeys.map((k) => {
    const f = frontends.get(k)!;
    if (f.sp.protocol === 'SCTP' && f.group.chosen.some((c) => c.port !== f.port)) {
      // The datapath cannot fix SCTP's CRC32c after a port rewrite; like Cilium it drops these.
      warnings.push({
        code: 'LB_SCTP_PORT_REWRITE',
        message: `${f.svc.namespace}/${f.svc.name}: SCTP frontend ${f.address}:${f.port} has backends on another port; the datapath drops such packets (SCTP port translation is unsupported)`,
        src: f.svc.src,
      });
    }
    return {
      address: f.address,
      port: f.port,
      protocol: f.sp.protocol,
      type: f.type,
      ...(f.node !== undefined ? { node: f.node } : {}),
      serviceId: serviceIds.get(f.group.key)!,
      revNatIndex: revNat.get(k)!,
      flags: f.flags,
    };
  });
  out.sort((a, b) => compareAddr(a.address, b.address) || a.port - b.port || cmp(a.protocol, b.protocol));

  return {
    maglevTableSize: size,
    ...(opts.node !== undefined ? { node: opts.node } : {}),
    services,
    frontends: out,
    backends,
    warnings,
  };
}

/** The key a backend group is known by across compiles. */
export function groupKey(s: Pick<LbService, 'namespace' | 'name' | 'portName' | 'port' | 'protocol' | 'family' | 'scope'>): string {
  const scopeKey = s.scope === 'cluster' ? 'cluster' : `node=${s.scope.node}`;
  return `${s.namespace}/${s.name}:${s.portName}/${s.port}/${s.protocol}|v${s.family}|${scopeKey}`;
}

/** Ids for sorted keys: a key keeps its previous id when it had one, the rest take the lowest free. */
function allocate(keys: string[], prev: Map<string, number>, first: number, max: number, what: string): Map<string, number> {
  const out = new Map<string, number>();
  const used = new Set<number>();
  for (const k of keys) {
    const id = prev.get(k);
    if (id !== undefined && id >= first && id <= max && !used.has(id)) {
      out.set(k, id);
      used.add(id);
    }
  }
  let next = first;
  for (const k of keys) {
    if (out.has(k)) continue;
    while (used.has(next)) next++;
    if (next > max) throw new TwinpathError('LB_ERROR', `too many ${what}: more than ${max - first + 1}`);
    out.set(k, next);
    used.add(next);
  }
  return out;
}

function validateService(svc: Service): void {
  svc.ports.forEach((sp, i) => {
    if (!Number.isInteger(sp.port) || sp.port < 1 || sp.port > 65535) {
      throw new TwinpathError('POLICY_BAD_PORT', `service port ${sp.port} is not in 1..65535`, at(svc.src, `spec.ports[${i}].port`));
    }
    if (sp.nodePort !== undefined && (!Number.isInteger(sp.nodePort) || sp.nodePort < 1 || sp.nodePort > 65535)) {
      throw new TwinpathError('POLICY_BAD_PORT', `nodePort ${sp.nodePort} is not in 1..65535`, at(svc.src, `spec.ports[${i}].nodePort`));
    }
    if (typeof sp.targetPort === 'number' && (!Number.isInteger(sp.targetPort) || sp.targetPort < 1 || sp.targetPort > 65535)) {
      throw new TwinpathError('POLICY_BAD_PORT', `targetPort ${sp.targetPort} is not in 1..65535`, at(svc.src, `spec.ports[${i}].targetPort`));
    }
  });
  if (svc.sessionAffinity === 'ClientIP') {
    const t = svc.affinityTimeoutSeconds;
    // The API server's own bounds for sessionAffinityConfig.clientIP.timeoutSeconds.
    if (!Number.isInteger(t) || t < 1 || t > 86400) {
      throw new TwinpathError('POLICY_BAD_VALUE', `session affinity timeout ${t} is not in 1..86400 seconds`, at(svc.src, 'spec.sessionAffinityConfig.clientIP.timeoutSeconds'));
    }
  }
}

function canonicalOrThrow(raw: string, svc: Service, path: string): string {
  const ip = canonicalAddr(raw);
  if (ip === undefined) throw new TwinpathError('POLICY_BAD_VALUE', `"${raw}" is not an IP address`, at(svc.src, path));
  return ip;
}

/** A node's addresses of the service's families (every family when the service has no ClusterIP). */
function nodeAddresses(node: Node, families: Set<Family>): string[] {
  const out = new Set<string>();
  node.addresses.forEach((raw, i) => {
    const ip = canonicalAddr(raw);
    if (ip === undefined) throw new TwinpathError('POLICY_BAD_VALUE', `node address "${raw}" is not an IP address`, at(node.src, `status.addresses[${i}]`));
    if (families.size === 0 || families.has(familyOf(ip))) out.add(ip);
  });
  return [...out].sort(compareAddr);
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

// Cluster objects (v1 Namespace, Pod, Node, Service; discovery.k8s.io/v1 EndpointSlice) as
// `kubectl get -o yaml` writes them. Only the fields the compiler and load balancer need are
// read, and those are checked (addresses, ports, protocols, enums); everything else kubectl
// prints (status conditions, images, managedFields, ...) is ignored. Defaults follow the API.

import type { ContainerPort, EndpointSlice, EndpointSliceEndpoint, Namespace, Node, Pod, Service, ServicePort } from './ast.js';
import { expectInt, expectMap, expectSeq, expectString, fail, type Obj } from './load_fields.js';
import { readMeta } from './load_meta.js';
import { parseIP } from './load_ip.js';
import { isPortName, readCIDR, readIP, readIntOrNamedPort, readLabels, readPortNumber, readProtocol } from './load_validate.js';
import type { YValue } from './yaml.js';

const lenient = { strict: false } as const;

export function readNamespace(root: Obj): Namespace {
  const m = readMeta(root, { ...lenient, namespaced: false, nameRule: 'label' });
  return { name: m.name, labels: m.labels, src: root.src };
}

function readContainerPort(v: YValue): ContainerPort {
  const p = expectMap(v, 'a container port');
  const containerPort = readPortNumber(p.req('containerPort'));
  const nameNode = p.get('name');
  const protoNode = p.get('protocol');
  const out: ContainerPort = { containerPort, protocol: protoNode === undefined ? 'TCP' : readProtocol(protoNode) };
  if (nameNode !== undefined) {
    const name = expectString(nameNode);
    if (!isPortName(name)) fail('POLICY_BAD_PORT', `"${name}" is not a valid port name (1-15 lowercase letters, digits and '-', with at least one letter)`, nameNode.src);
    out.name = name;
  }
  return out;
}

export function readPod(root: Obj): Pod {
  const m = readMeta(root, { ...lenient, namespaced: true, nameRule: 'subdomain' });
  const spec = root.obj('spec');
  const ports: ContainerPort[] = [];
  for (const c of spec?.seq('containers') ?? []) {
    for (const p of expectMap(c, 'a container').seq('ports') ?? []) ports.push(readContainerPort(p));
  }
  const status = root.obj('status');
  let ips: string[] = [];
  const podIPs = status?.seq('podIPs');
  if (podIPs !== undefined && podIPs.length > 0) {
    ips = podIPs.map((v) => readIP(expectMap(v, 'a pod IP').req('ip')));
  } else {
    const single = status?.get('podIP');
    if (single !== undefined) ips = [readIP(single)];
  }
  return {
    namespace: m.namespace,
    name: m.name,
    labels: m.labels,
    ips,
    nodeName: spec?.str('nodeName') ?? '',
    ports,
    hostNetwork: spec?.bool('hostNetwork') ?? false,
    src: root.src,
  };
}

export function readNode(root: Obj): Node {
  const m = readMeta(root, { ...lenient, namespaced: false, nameRule: 'subdomain' });
  const addresses: string[] = [];
  for (const a of root.obj('status')?.seq('addresses') ?? []) {
    const addr = expectMap(a, 'a node address');
    const type = addr.reqStr('type');
    if (type === 'InternalIP' || type === 'ExternalIP') addresses.push(readIP(addr.req('address')));
  }
  const spec = root.obj('spec');
  const cidrs = spec?.seq('podCIDRs');
  const single = spec?.get('podCIDR');
  const podCIDRs = cidrs !== undefined && cidrs.length > 0 ? cidrs.map((c) => readCIDR(c)) : single !== undefined ? [readCIDR(single)] : [];
  return { name: m.name, labels: m.labels, addresses, podCIDRs, src: root.src };
}

function readEnum<T extends string>(v: YValue | undefined, allowed: readonly T[], dflt: T): T {
  if (v === undefined) return dflt;
  const s = expectString(v);
  if (!(allowed as readonly string[]).includes(s)) fail('POLICY_BAD_VALUE', `"${s}" is not one of ${allowed.join(', ')}`, v.src);
  return s as T;
}

function readServicePort(v: YValue): ServicePort {
  const p = expectMap(v, 'a service port');
  const port = readPortNumber(p.req('port'));
  const protoNode = p.get('protocol');
  const out: ServicePort = { protocol: protoNode === undefined ? 'TCP' : readProtocol(protoNode), port, targetPort: port };
  const name = p.str('name');
  if (name !== undefined && name !== '') out.name = name;
  const tp = p.get('targetPort');
  // targetPort 0 is the API's "unset": the service port itself.
  if (tp !== undefined && !(tp.kind === 'scalar' && tp.value === 0)) out.targetPort = readIntOrNamedPort(tp);
  const np = p.get('nodePort');
  if (np !== undefined) out.nodePort = readPortNumber(np);
  return out;
}

export function readService(root: Obj): Service {
  const m = readMeta(root, { ...lenient, namespaced: true, nameRule: 'subdomain' });
  const spec = expectMap(root.req('spec'), 'a service spec');
  const type = readEnum(spec.get('type'), ['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'] as const, 'ClusterIP');
  const ipNodes = spec.seq('clusterIPs') ?? (spec.get('clusterIP') !== undefined ? [spec.get('clusterIP')!] : []);
  // "None" makes the service headless: it has no frontend address.
  const clusterIPs = ipNodes.filter((n) => !(n.kind === 'scalar' && (n.value === 'None' || n.value === ''))).map((n) => readIP(n));
  const externalIPs = (spec.seq('externalIPs') ?? []).map((n) => readIP(n));
  const ports = (spec.seq('ports') ?? []).map(readServicePort);
  const selNode = spec.get('selector');
  const sessionAffinity = readEnum(spec.get('sessionAffinity'), ['None', 'ClientIP'] as const, 'None');
  let affinityTimeoutSeconds = 10800;
  const timeoutNode = spec.obj('sessionAffinityConfig')?.obj('clientIP')?.get('timeoutSeconds');
  if (timeoutNode !== undefined) {
    const t = expectInt(timeoutNode);
    if (t < 1 || t > 86400) fail('POLICY_BAD_VALUE', `timeoutSeconds ${t} is out of range (1-86400)`, timeoutNode.src);
    affinityTimeoutSeconds = t;
  }
  const svc: Service = {
    namespace: m.namespace,
    name: m.name,
    type,
    clusterIPs,
    externalIPs,
    ports,
    sessionAffinity,
    affinityTimeoutSeconds,
    internalTrafficPolicy: readEnum(spec.get('internalTrafficPolicy'), ['Cluster', 'Local'] as const, 'Cluster'),
    externalTrafficPolicy: readEnum(spec.get('externalTrafficPolicy'), ['Cluster', 'Local'] as const, 'Cluster'),
    src: root.src,
  };
  if (selNode !== undefined) svc.selector = readLabels(selNode, 'POLICY_BAD_VALUE');
  return svc;
}

function readEndpoint(v: YValue, addressType: EndpointSlice['addressType']): EndpointSliceEndpoint {
  const e = expectMap(v, 'an endpoint');
  const addrNodes = expectSeq(e.req('addresses'));
  if (addrNodes.length === 0) fail('POLICY_MISSING_FIELD', 'an endpoint needs at least one address', e.missingSrc('addresses'));
  const addresses = addrNodes.map((n) => {
    if (addressType === 'FQDN') return expectString(n);
    const s = expectString(n, 'an IP address');
    const fam = parseIP(s)?.family;
    if (fam !== (addressType === 'IPv4' ? 4 : 6)) fail('POLICY_BAD_VALUE', `"${s}" is not an ${addressType} address`, n.src);
    return readIP(n);
  });
  const cond = e.obj('conditions');
  // The API: a nil ready means unknown, which consumers treat as ready; serving follows ready.
  const ready = cond?.bool('ready') ?? true;
  const out: EndpointSliceEndpoint = {
    addresses,
    ready,
    serving: cond?.bool('serving') ?? ready,
    terminating: cond?.bool('terminating') ?? false,
  };
  const nodeName = e.str('nodeName');
  if (nodeName !== undefined) out.nodeName = nodeName;
  const ref = e.obj('targetRef');
  if (ref !== undefined) {
    out.targetRef = { kind: ref.str('kind') ?? '', name: ref.str('name') ?? '' };
    const ns = ref.str('namespace');
    if (ns !== undefined) out.targetRef.namespace = ns;
  }
  return out;
}

export function readEndpointSlice(root: Obj): EndpointSlice {
  const m = readMeta(root, { ...lenient, namespaced: true, nameRule: 'subdomain' });
  const addressType = readEnum(root.req('addressType'), ['IPv4', 'IPv6', 'FQDN'] as const, 'IPv4');
  const endpoints = (root.seq('endpoints') ?? []).map((v) => readEndpoint(v, addressType));
  const ports = (root.seq('ports') ?? []).map((v) => {
    const p = expectMap(v, 'an endpoint port');
    // A port without a number means "all ports" in the API; nothing here can express that.
    const portNode = p.get('port') ?? fail('POLICY_UNSUPPORTED', 'an EndpointSlice port without a port number (all ports) is not supported', p.missingSrc('port'));
    const protoNode = p.get('protocol');
    const out: EndpointSlice['ports'][number] = { protocol: protoNode === undefined ? 'TCP' : readProtocol(protoNode), port: readPortNumber(portNode) };
    const name = p.str('name');
    if (name !== undefined && name !== '') out.name = name;
    return out;
  });
  return {
    namespace: m.namespace,
    name: m.name,
    serviceName: m.labels['kubernetes.io/service-name'] ?? '',
    addressType,
    endpoints,
    ports,
    src: root.src,
  };
}

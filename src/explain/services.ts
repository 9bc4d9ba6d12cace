// The load-balancing part of an explanation, read from what the datapath did: the flow event's
// service record (the frontend, the backend id, the rev-NAT index, how the backend was chosen)
// and the node's own load-balancer model and maps. For a backend chosen by Maglev the slot is
// recomputed from the flow hash (src/lb/flowhash.ts, the same function as lb.h's) and the
// backend it names is read back from the engine's own `lb_maglev` array, so the two can be seen
// to agree; for one kept by conntrack, the service entry that kept it; for ClientIP affinity, the
// service's timeout. A frontend without backends gets the EndpointSlice endpoints of its service
// and the condition or scope that left each one out.

import type { Datapath, FrontendInfo } from '../datapath/datapath.js';
import type { FlowEvent } from '../datapath/flow.js';
import { DROP_NAT_UNSUPP_PROTO, DROP_NO_SERVICE } from '../datapath/flow.js';
import { PROG_FROM_ENDPOINT } from '../datapath/maps.js';
import { flowHash } from '../lb/flowhash.js';
import { LB_MAPS } from '../lb/maps.js';
import type { LbService } from '../lb/model.js';
import type { Cluster, Protocol } from '../policy/ast.js';
import { canonicalAddr } from '../lb/addr.js';
import type { EndpointConditionView, LoadBalancingView, ServiceFrontendView } from './model.js';
import { protoName } from './analyze.js';
import type { HopRun, PacketRuns } from './scenario.js';

const PROTOCOLS: Record<number, Protocol> = { 6: 'TCP', 17: 'UDP', 132: 'SCTP' };

function hostPort(a: string, p: number): string {
  return a.includes(':') ? `[${a}]:${p}` : `${a}:${p}`;
}

/**
 * The load balancing of a packet: `runs` is the packet whose program runs decided the explained
 * one (itself, or for a consequence or duplicate the packet it follows: `decidedBy`).
 */
export function loadBalancingOf(dp: Datapath, cluster: Cluster, runs: PacketRuns | undefined, explained: { dst: string; dstPort: number; protocol: number }, decidedBy?: number): LoadBalancingView {
  const hop = runs?.hops.find((h) => h.event.service !== undefined);
  if (!runs || !hop) return untranslated(dp, explained);
  const s = hop.event.service!;
  const view = s.translation === 'rev-nat' ? reverseView(dp, hop) : requestView(dp, cluster, hop);
  if (decidedBy !== undefined) {
    view.ofPacket = decidedBy;
    view.note = `of packet #${decidedBy}, which this packet follows: ${view.note}`;
  }
  return view;
}

/** No frontend was involved: say whose address it is if it is a service's, on another port. */
function untranslated(dp: Datapath, x: { dst: string; dstPort: number; protocol: number }): LoadBalancingView {
  if (!dp.servicesEnabled()) return { translated: false, note: 'no service (services are not load balanced here)' };
  const addr = canonicalAddr(x.dst) ?? x.dst;
  for (const node of dp.nodes()) {
    const model = dp.services(node);
    const fe = model?.frontends.find((f) => f.address === addr);
    if (!fe || !model) continue;
    const svc = model.services.find((g) => g.id === fe.serviceId)!;
    const ports = [...new Set(model.frontends.filter((f) => f.address === addr).map((f) => `${f.port}/${f.protocol}`))].join(', ');
    return {
      translated: false,
      note: `no translation: ${x.dst} is a ${fe.type} address of service ${svc.namespace}/${svc.name}, but not for ${protoName(x.protocol)}/${x.dstPort} (its frontends there: ${ports})`,
    };
  }
  return { translated: false, note: 'no service' };
}

function frontendView(info: FrontendInfo, hop: HopRun): ServiceFrontendView {
  const { frontend: fe, service: g } = info;
  const v: ServiceFrontendView = {
    service: `${g.namespace}/${g.name}`,
    portName: g.portName,
    address: fe.address,
    port: fe.port,
    protocol: fe.protocol,
    type: fe.type,
    revNatIndex: fe.revNatIndex,
    serviceGroup: g.id,
    scope: g.scope === 'cluster' ? 'cluster' : `node ${g.scope.node || '(none)'}`,
    backends: info.backends.length,
    node: hop.node,
    program: hop.program,
  };
  if (g.affinityTimeoutSeconds > 0) v.affinityTimeoutSeconds = g.affinityTimeoutSeconds;
  return v;
}

function requestView(dp: Datapath, cluster: Cluster, hop: HopRun): LoadBalancingView {
  const e = hop.event;
  const s = e.service!;
  const protocol = PROTOCOLS[e.protocol];
  const info = protocol ? dp.frontend(hop.node, s.frontend, s.frontendPort, protocol) : undefined;
  const fe = hostPort(s.frontend, s.frontendPort);
  if (!info) return { translated: s.translation === 'dnat', note: `frontend ${fe} (rev-NAT index ${s.revNatIndex}) is not in the model of node "${hop.node}"` };
  const frontend = frontendView(info, hop);
  const name = `${frontend.service}${frontend.portName ? `:${frontend.portName}` : ''}`;
  if (s.translation === 'none') {
    const view: LoadBalancingView = { translated: false, note: `${fe} is ${frontend.type} of service ${name}, but nothing was translated`, frontend };
    if (hop.verdict === 'DROPPED' && e.dropReason === DROP_NO_SERVICE) {
      view.note = `${fe} is ${frontend.type} of service ${name}, which has no backend: dropped (158) before translation`;
      view.noBackend = noBackend(cluster, info.service, dp.services(hop.node)?.node);
    } else if (hop.verdict === 'DROPPED' && e.dropReason === DROP_NAT_UNSUPP_PROTO) {
      view.note = `${fe} is ${frontend.type} of service ${name}; its backend listens on another port, which SCTP cannot be translated to (the checksum covers no pseudo-header to fix up): dropped (168)`;
    }
    return view;
  }
  const be = dp.backend(hop.node, s.backendId);
  const backendAddr = be ? hostPort(be.address, be.port) : `backend ${s.backendId}`;
  const view: LoadBalancingView = {
    translated: true,
    note: `${frontend.type} ${fe} of service ${name} -> backend ${be?.pod ?? be?.address ?? s.backendId} ${backendAddr} (DNAT by ${hop.program} on ${hop.node})`,
    frontend,
  };
  if (be) {
    view.backend = { id: be.id, address: be.address, port: be.port, ...(be.pod !== undefined ? { pod: be.pod } : {}), ...(be.node !== undefined ? { node: be.node } : {}) };
  }
  view.selection = selection(dp, hop, info);
  // Policy and conntrack after the translation saw the backend: say so, with its identity.
  const backend = `${be?.pod ?? e.dst} (${hostPort(e.dst, e.dstPort)}, identity ${e.dstIdentity})`;
  view.policyTarget =
    hop.program === PROG_FROM_ENDPOINT
      ? `policy was evaluated against the backend ${backend}, not the ${frontend.type} ${fe}: the translation comes first`
      : `policy was evaluated for the backend ${backend}, not the ${frontend.type} ${fe}: the translation comes first, so the backend's ingress policy applied on its own port`;
  return view;
}

function selection(dp: Datapath, hop: HopRun, info: FrontendInfo): LoadBalancingView['selection'] {
  const e = hop.event;
  const s = e.service!;
  const how = s.selection ?? 'maglev';
  const n = info.backends.length;
  if (how === 'conntrack') {
    const entry = dp.serviceConntrackEntry(hop.node, { client: e.src, clientPort: e.srcPort, frontend: s.frontend, frontendPort: s.frontendPort, protocol: e.protocol });
    return {
      how,
      detail: `conntrack: the flow's service entry (${hostPort(e.src, e.srcPort)} -> ${hostPort(s.frontend, s.frontendPort)} ${protoName(e.protocol)}) keeps it on backend ${s.backendId}, chosen by its first packet${entry ? `; ${entry.packets} packet${entry.packets === 1n ? '' : 's'} so far` : ''}`,
    };
  }
  if (how === 'affinity') {
    return {
      how,
      detail: `ClientIP session affinity: ${e.src} was sent to backend ${s.backendId} within the last ${info.service.affinityTimeoutSeconds} s, and it is still in the group`,
    };
  }
  const size = dp.services(hop.node)!.maglevTableSize;
  const hash = flowHash({ saddr: e.src, daddr: s.frontend, sport: e.srcPort, dport: s.frontendPort, proto: e.protocol });
  const slot = hash % size;
  const inTable = maglevEntry(dp, hop.node, info.service.id * size + slot);
  const agrees = inTable === s.backendId;
  return {
    how: 'maglev',
    hash,
    slot,
    tableSize: size,
    tableBackendId: inTable ?? 0,
    detail:
      `Maglev: flow hash 0x${hash.toString(16).padStart(8, '0')} of ${hostPort(e.src, e.srcPort)} -> ${hostPort(s.frontend, s.frontendPort)} ${protoName(e.protocol)}; ` +
      `slot ${slot} = hash % ${size} of service group ${info.service.id}'s table holds backend ${inTable ?? 'none'} (one of ${n})` +
      (agrees ? '' : `, yet the datapath chose backend ${s.backendId}`),
  };
}

/** The backend id at one entry of a node's Maglev array, as the engine's map holds it. */
function maglevEntry(dp: Datapath, node: string, index: number): number | undefined {
  const key = new Uint8Array(4);
  new DataView(key.buffer).setUint32(0, index, true);
  const v = dp.maps(node).obj.map(LB_MAPS.maglev).lookup(key);
  return v ? new DataView(v.buffer, v.byteOffset, v.byteLength).getUint32(0, true) : undefined;
}

function reverseView(dp: Datapath, hop: HopRun): LoadBalancingView {
  const e: FlowEvent = hop.event;
  const s = e.service!;
  const from = hostPort(e.src, e.srcPort);
  const to = hostPort(s.frontend, s.frontendPort);
  const protocol = PROTOCOLS[e.protocol];
  const info = protocol ? dp.frontend(hop.node, s.frontend, s.frontendPort, protocol) : undefined;
  const view: LoadBalancingView = {
    translated: true,
    note: `reply: source ${from} (the backend) rewritten back to ${to}${info ? ` (${info.frontend.type} of service ${info.service.namespace}/${info.service.name})` : ''} through rev-NAT index ${s.revNatIndex}, by ${hop.program} on ${hop.node}`,
    reverse: { from, to, revNatIndex: s.revNatIndex, program: hop.program, node: hop.node },
  };
  if (info) view.frontend = frontendView(info, hop);
  if (s.backendId !== 0) {
    const be = dp.backend(hop.node, s.backendId);
    if (be) view.backend = { id: be.id, address: be.address, port: be.port, ...(be.pod !== undefined ? { pod: be.pod } : {}), ...(be.node !== undefined ? { node: be.node } : {}) };
  }
  return view;
}

/** Why a backend group is empty: every endpoint its service's EndpointSlices list, with the
 * conditions and scope that decided it. */
function noBackend(cluster: Cluster, g: LbService, modelNode: string | undefined): NonNullable<LoadBalancingView['noBackend']> {
  const slices = cluster.endpointSlices.filter((s) => s.namespace === g.namespace && s.serviceName === g.name).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const endpoints: EndpointConditionView[] = [];
  const family = g.family === 4 ? 'IPv4' : 'IPv6';
  const anyReady = slices.some((s) => s.addressType === family && s.endpoints.some((ep) => ep.ready && inScope(g, ep.nodeName)));
  for (const s of slices) {
    s.endpoints.forEach((ep, i) => {
      const address = ep.addresses[0] ?? '';
      let why: string;
      if (s.addressType !== family) why = `an ${s.addressType} slice, the group is IPv${g.family}`;
      else if (!inScope(g, ep.nodeName)) why = `on node ${ep.nodeName ?? '(none)'}, outside the group's scope (traffic policy Local: node ${g.scope === 'cluster' ? '' : g.scope.node || '(none)'})`;
      else if (ep.ready) why = 'ready, yet not in the group (its port did not resolve: see the compiler warnings)';
      else if (ep.serving && ep.terminating) why = anyReady ? 'terminating (used only when no endpoint is ready)' : 'serving while terminating, yet not in the group';
      else if (ep.terminating) why = 'terminating and no longer serving';
      else why = 'not ready';
      endpoints.push({
        slice: s.name,
        file: s.src.file,
        line: s.src.line,
        path: `endpoints[${i}]`,
        address,
        ...(ep.targetRef?.kind === 'Pod' ? { pod: `${ep.targetRef.namespace ?? s.namespace}/${ep.targetRef.name}` } : {}),
        ...(ep.nodeName !== undefined ? { node: ep.nodeName } : {}),
        ready: ep.ready,
        serving: ep.serving,
        terminating: ep.terminating,
        why,
      });
    });
  }
  const reason =
    slices.length === 0
      ? `no EndpointSlice names service ${g.namespace}/${g.name} (label kubernetes.io/service-name)`
      : endpoints.length === 0
        ? `the EndpointSlices of ${g.namespace}/${g.name} list no endpoints`
        : `none of the ${endpoints.length} endpoint${endpoints.length === 1 ? '' : 's'} of ${g.namespace}/${g.name} can serve${modelNode !== undefined && g.scope !== 'cluster' ? ` on node ${modelNode}` : ''}: Kubernetes sends traffic to ready endpoints, or to serving terminating ones when none is ready`;
  return { reason, endpoints };
}

function inScope(g: LbService, node: string | undefined): boolean {
  return g.scope === 'cluster' || node === g.scope.node;
}

// `svc:NAMESPACE/NAME[:PORT]` as a flow's destination: the service's ClusterIP and one of its
// ports, read from the load-balancer model the client's node holds (so it is the frontend the
// client's cil_from_container translates). PORT is a service port's name or number; without it
// `--port` picks the port, or the service's only port is taken.

import { TwinpathError, type ErrorLocation } from '../errors.js';
import type { Datapath } from '../datapath/datapath.js';
import type { ProbeProtocol, ProbeSpec } from '../datapath/probe.js';
import type { LbService } from '../lb/model.js';

export interface ServiceTarget {
  namespace: string;
  name: string;
  portName: string;
  port: number;
  protocol: ProbeProtocol;
  clusterIP: string;
}

interface Spec {
  from: string;
  to: string;
  port?: number;
  protocol?: ProbeProtocol;
}

const SVC = /^svc:([^/:\s]+)\/([^/:\s]+)(?::([^/:\s]+))?$/;

export function resolveServiceTarget(dp: Datapath, spec: Spec, at: Record<keyof ProbeSpec, ErrorLocation>): ServiceTarget {
  const m = SVC.exec(spec.to);
  const unknown = (detail: string): never => {
    throw new TwinpathError('PROBE_UNKNOWN_ENDPOINT', detail, at.to);
  };
  if (!m) return unknown(`"${spec.to}" is not svc:NAMESPACE/NAME or svc:NAMESPACE/NAME:PORT`);
  const [, namespace, name, portText] = m as unknown as [string, string, string, string | undefined];
  if (!dp.servicesEnabled()) return unknown(`${spec.to}: services are not load balanced here`);
  const client = dp.compiled.endpoints.find((e) => `${e.namespace}/${e.pod}` === spec.from || (spec.from.startsWith('ip:') && e.ips.includes(spec.from.slice(3))));
  if (!client) {
    throw new TwinpathError('PROBE_UNKNOWN_ENDPOINT', `a flow to ${spec.to} needs a pod as its client (a ClusterIP is translated by the client pod's cil_from_container)`, at.from);
  }
  const node = dp.nodeOf(client);
  const model = dp.services(node)!;
  const groups = model.services.filter((s) => s.namespace === namespace && s.name === name);
  if (groups.length === 0) return unknown(`no service "${namespace}/${name}" with ports in the cluster`);
  const clusterIPs = (g: LbService) => model.frontends.filter((f) => f.serviceId === g.id && f.type === 'ClusterIP');
  const withIP = groups.filter((g) => clusterIPs(g).length > 0);
  if (withIP.length === 0) return unknown(`service ${namespace}/${name} has no ClusterIP (a headless service is not load balanced)`);
  const portsText = [...new Set(withIP.map((g) => `${g.portName ? `${g.portName} ` : ''}${g.port}/${g.protocol}`))].join(', ');
  let chosen = withIP;
  if (portText !== undefined) {
    chosen = /^\d+$/.test(portText) ? chosen.filter((g) => g.port === Number(portText)) : chosen.filter((g) => g.portName === portText);
    if (chosen.length === 0) return unknown(`service ${namespace}/${name} has no port "${portText}" (its ports: ${portsText})`);
    if (spec.port !== undefined && !chosen.some((g) => g.port === spec.port)) {
      throw new TwinpathError('USAGE', `--port ${spec.port} is not the port ${spec.to} names (${chosen[0]!.port})`, at.port);
    }
  } else if (spec.port !== undefined) {
    chosen = chosen.filter((g) => g.port === spec.port);
    if (chosen.length === 0) throw new TwinpathError('USAGE', `service ${namespace}/${name} has no port ${spec.port} (its ports: ${portsText})`, at.port);
  }
  if (spec.protocol !== undefined) {
    const same = chosen.filter((g) => g.protocol === spec.protocol);
    if (same.length === 0) throw new TwinpathError('USAGE', `service ${namespace}/${name} has no ${spec.protocol} port ${portText ?? spec.port ?? ''} (its ports: ${portsText})`.replace(' )', ')').replace('port  (', 'port ('), at.protocol);
    chosen = same;
  }
  const distinct = new Set(chosen.map((g) => `${g.port}/${g.protocol}`));
  if (distinct.size > 1) return unknown(`service ${namespace}/${name} has several ports (${portsText}): name one as svc:${namespace}/${name}:PORT or give --port`);
  // The client's family first (IPv4 when it has an IPv4 address), as probe chooses.
  const family = client.ips.some((ip) => !ip.includes(':')) ? 4 : 6;
  const g = chosen.find((x) => x.family === family) ?? chosen[0]!;
  const fe = clusterIPs(g)[0]!;
  return { namespace, name, portName: g.portName, port: g.port, protocol: g.protocol as ProbeProtocol, clusterIP: fe.address };
}

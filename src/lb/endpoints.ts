// Backend candidates of one service port, read from the service's EndpointSlices: the address,
// the target port resolved for that endpoint, the endpoint's conditions and node. Choosing among
// them (scope and conditions) is compile.ts's job; this module only resolves and validates.
//
// Port resolution follows kube-proxy: the EndpointSlice port whose name (and protocol) matches the
// service port's name gives the number; a slice without such a port falls back to the service's
// targetPort, a number as is, a name resolved on the endpoint's pod (targetRef) by its container
// ports. An endpoint whose port cannot be resolved is left out with a warning.

import type { Cluster, EndpointSlice, Pod, Protocol, Service, ServicePort, Source } from '../policy/ast.js';
import { TwinpathError } from '../errors.js';
import { canonicalAddr, endpointKey, familyOf, type Family } from './addr.js';
import type { LbWarning } from './model.js';

export interface Candidate {
  address: string;
  family: Family;
  port: number;
  protocol: Protocol;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
  node?: string;
  pod?: string;
  key: string;
  src: Source;
}

/** A location inside an object: its source, with the YAML path extended by `suffix`. */
export function at(src: Source, suffix: string): { file: string; line: number; column: number; path: string } {
  return { file: src.file, line: src.line, column: src.column, path: src.path ? `${src.path}.${suffix}` : suffix };
}

export class EndpointIndex {
  private readonly slices = new Map<string, EndpointSlice[]>();
  private readonly pods = new Map<string, Pod>();

  constructor(cluster: Cluster) {
    for (const p of cluster.pods) this.pods.set(`${p.namespace}/${p.name}`, p);
    for (const s of cluster.endpointSlices) {
      const k = `${s.namespace}/${s.serviceName}`;
      const list = this.slices.get(k) ?? [];
      list.push(s);
      this.slices.set(k, list);
    }
    // Slices in name order, so candidates (and the first spelling kept of a duplicate) never
    // depend on the order of the input file.
    for (const list of this.slices.values()) list.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Every endpoint of `svc` that can serve `sp`, with its resolved port. */
  candidates(svc: Service, sp: ServicePort, warnings: LbWarning[]): Candidate[] {
    const out: Candidate[] = [];
    for (const slice of this.slices.get(`${svc.namespace}/${svc.name}`) ?? []) {
      if (slice.addressType === 'FQDN') continue;
      const slicePort = slice.ports.find((p) => (p.name ?? '') === (sp.name ?? '') && p.protocol === sp.protocol);
      if (slice.ports.length > 0 && !slicePort) continue; // this slice serves other ports
      slice.endpoints.forEach((ep, i) => {
        const raw = ep.addresses[0];
        if (raw === undefined) return;
        const address = canonicalAddr(raw);
        if (address === undefined) {
          throw new TwinpathError('POLICY_BAD_VALUE', `endpoint address "${raw}" is not an IP address`, at(slice.src, `endpoints[${i}].addresses[0]`));
        }
        const family = familyOf(address);
        if ((slice.addressType === 'IPv4') !== (family === 4)) {
          throw new TwinpathError('POLICY_BAD_VALUE', `endpoint address "${raw}" does not match addressType ${slice.addressType}`, at(slice.src, `endpoints[${i}].addresses[0]`));
        }
        const ref = ep.targetRef && ep.targetRef.kind === 'Pod' ? `${ep.targetRef.namespace ?? slice.namespace}/${ep.targetRef.name}` : undefined;
        const pod = ref !== undefined ? this.pods.get(ref) : undefined;
        const port = slicePort?.port ?? this.resolveTarget(sp, pod);
        if (port === undefined) {
          warnings.push({
            code: 'LB_UNRESOLVED_PORT',
            message: `${svc.namespace}/${svc.name}: target port "${String(sp.targetPort)}" is not a ${sp.protocol} container port of ${ref ?? `endpoint ${address}`}; endpoint left out`,
            src: slice.src,
          });
          return;
        }
        const node = ep.nodeName ?? (pod && pod.nodeName !== '' ? pod.nodeName : undefined);
        out.push({
          address,
          family,
          port,
          protocol: sp.protocol,
          ready: ep.ready,
          serving: ep.serving,
          terminating: ep.terminating,
          ...(node !== undefined ? { node } : {}),
          ...(ref !== undefined ? { pod: ref } : {}),
          key: endpointKey(address, port, sp.protocol),
          src: slice.src,
        });
      });
    }
    return out;
  }

  private resolveTarget(sp: ServicePort, pod: Pod | undefined): number | undefined {
    if (typeof sp.targetPort === 'number') return sp.targetPort;
    const named = pod?.ports.find((p) => p.name === sp.targetPort && p.protocol === sp.protocol);
    return named?.containerPort;
  }
}

/**
 * The backends a group uses, as kube-proxy and Cilium choose them: the ready endpoints; when none
 * is ready, the ones still serving while terminating (so connections drain instead of failing).
 */
export function chooseBackends(cands: readonly Candidate[]): { chosen: Candidate[]; fallback: boolean } {
  const ready = cands.filter((c) => c.ready);
  if (ready.length > 0) return { chosen: dedupe(ready), fallback: false };
  const draining = cands.filter((c) => c.serving && c.terminating);
  return { chosen: dedupe(draining), fallback: draining.length > 0 };
}

function dedupe(cs: Candidate[]): Candidate[] {
  const seen = new Map<string, Candidate>();
  for (const c of cs) if (!seen.has(c.key)) seen.set(c.key, c);
  return [...seen.values()];
}

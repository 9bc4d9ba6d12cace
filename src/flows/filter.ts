// Flow filters, as `hubble observe` takes them: each option may be given several times and
// matches if any of its values does; different options must all match. Pods are
// `[namespace/]name-prefix` (no namespace means `default`; `namespace/` alone means every pod
// there); ports match either side; drop reasons are named as Hubble names them
// (POLICY_DENIED), by number (133), or by Cilium's words ("Policy denied"); event types as
// `hubble observe --type` names them (trace, trace:to-endpoint, drop, policy-verdict, l7). A
// value that can match nothing is a usage error rather than a silently empty output. The same
// filter takes the proxy's L7 flows (src/l7/flow.ts) beside the datapath's L3/L4 flows: they
// have Hubble's verdict, endpoints, TCP ports and `Type: L7`, and no drop reason.

import { TwinpathError } from '../errors.js';
import type { L7Flow } from '../l7/flow.js';
import { DROP_REASON_DESC, MESSAGE_TYPE, type HubbleEndpoint, type ReplayFlow } from './hubble.js';
import { dropReasonText } from './build.js';

export interface FilterSpec {
  verdict?: string[];
  fromPod?: string[];
  toPod?: string[];
  namespace?: string[];
  port?: Array<number | string>;
  protocol?: string[];
  dropReason?: Array<number | string>;
  type?: string[];
}

/** A flow a filter judges: the datapath's (L3/L4) or the proxy's (L7). */
export type FilterableFlow = ReplayFlow | L7Flow;
export type FlowFilter = (f: FilterableFlow) => boolean;

const VERDICTS = ['FORWARDED', 'DROPPED'];
/** `http`: L7 flows of HTTP, as `hubble observe --protocol http`. */
const PROTOCOLS = ['tcp', 'udp', 'sctp', 'icmp', 'icmpv4', 'icmpv6', 'http'];
/** The event types a replay makes, as `hubble observe --type` names them (a trace may name its
 * observation point after a colon). */
const TYPES = ['trace', 'drop', 'policy-verdict', 'l7'];
const TRACE_POINTS: Record<string, string> = { 'to-endpoint': 'TO_ENDPOINT', 'from-endpoint': 'FROM_ENDPOINT', 'from-network': 'FROM_NETWORK' };

function usage(option: string, detail: string): never {
  throw new TwinpathError('USAGE', `--${option}: ${detail}`);
}

interface PodMatch {
  namespace: string;
  prefix: string;
}

function parsePod(option: string, v: string): PodMatch {
  if (v === '') usage(option, 'empty pod');
  const slash = v.indexOf('/');
  if (slash < 0) return { namespace: 'default', prefix: v };
  if (slash === 0) usage(option, `"${v}": the namespace before "/" is empty`);
  return { namespace: v.slice(0, slash), prefix: v.slice(slash + 1) };
}

function podMatches(ep: HubbleEndpoint | undefined, m: PodMatch): boolean {
  return ep?.namespace === m.namespace && ep.pod_name !== undefined && ep.pod_name.startsWith(m.prefix);
}

function parseReason(v: number | string): number {
  const text = String(v).trim();
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    if (DROP_REASON_DESC[n] === undefined) usage('drop-reason', `${n} is not a drop reason`);
    return n;
  }
  for (const [n, desc] of Object.entries(DROP_REASON_DESC)) {
    if (desc === text.toUpperCase() || dropReasonText(Number(n)).toLowerCase() === text.toLowerCase()) return Number(n);
  }
  return usage('drop-reason', `"${text}" is not a drop reason (a name such as POLICY_DENIED, a number such as 133, or Cilium's words such as "Policy denied")`);
}

function flowPorts(f: FilterableFlow): number[] {
  const l4 = f.flow.l4;
  if (!l4) return [];
  const p = 'TCP' in l4 ? l4.TCP : 'UDP' in l4 ? l4.UDP : 'SCTP' in l4 ? l4.SCTP : undefined;
  return p ? [p.source_port ?? 0, p.destination_port ?? 0] : [];
}

function flowProtocol(f: FilterableFlow): string {
  const l4 = f.flow.l4;
  if (!l4) return '';
  return Object.keys(l4)[0]!.toLowerCase();
}

function dropReasonOf(f: FilterableFlow): number | undefined {
  return f.flow.Type === 'L3_L4' ? f.flow.drop_reason : undefined;
}

/** One `--type` value: the predicate on a flow's kind. */
function parseType(v: string): FlowFilter {
  const text = v.trim().toLowerCase();
  const colon = text.indexOf(':');
  const kind = colon < 0 ? text : text.slice(0, colon);
  const sub = colon < 0 ? '' : text.slice(colon + 1);
  if (!TYPES.includes(kind)) usage('type', `"${v}" is not one of ${TYPES.join(', ')} (a trace may name its point: ${Object.keys(TRACE_POINTS).map((p) => `trace:${p}`).join(', ')})`);
  if (sub !== '' && kind !== 'trace') usage('type', `"${v}": only trace takes a sub-type`);
  if (kind === 'l7') return (f) => f.flow.Type === 'L7';
  const type = kind === 'trace' ? MESSAGE_TYPE.trace : kind === 'drop' ? MESSAGE_TYPE.drop : MESSAGE_TYPE.policyVerdict;
  if (sub === '') return (f) => f.flow.Type === 'L3_L4' && f.flow.event_type.type === type;
  const point = TRACE_POINTS[sub];
  if (point === undefined) usage('type', `"${v}": a trace point is one of ${Object.keys(TRACE_POINTS).join(', ')}`);
  return (f) => f.flow.Type === 'L3_L4' && f.flow.event_type.type === type && f.flow.trace_observation_point === point;
}

/** Checks every value, then returns the predicate. */
export function compileFilter(spec: FilterSpec): FlowFilter {
  const tests: FlowFilter[] = [];
  if (spec.verdict?.length) {
    const want = new Set(spec.verdict.map((v) => {
      const u = v.toUpperCase();
      if (!VERDICTS.includes(u)) usage('verdict', `"${v}" is not one of ${VERDICTS.join(', ')}`);
      return u;
    }));
    tests.push((f) => want.has(f.flow.verdict));
  }
  if (spec.fromPod?.length) {
    const pods = spec.fromPod.map((v) => parsePod('from-pod', v));
    tests.push((f) => pods.some((m) => podMatches(f.flow.source, m)));
  }
  if (spec.toPod?.length) {
    const pods = spec.toPod.map((v) => parsePod('to-pod', v));
    tests.push((f) => pods.some((m) => podMatches(f.flow.destination, m)));
  }
  if (spec.namespace?.length) {
    const ns = new Set(spec.namespace);
    tests.push((f) => ns.has(f.flow.source?.namespace ?? '\0') || ns.has(f.flow.destination?.namespace ?? '\0'));
  }
  if (spec.port?.length) {
    const ports = new Set(spec.port.map((v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0 || n > 65535) usage('port', `${String(v)} is not a port (0..65535)`);
      return n;
    }));
    tests.push((f) => flowPorts(f).some((p) => ports.has(p)));
  }
  if (spec.protocol?.length) {
    const protos = new Set<string>();
    for (const v of spec.protocol) {
      const p = v.toLowerCase();
      if (!PROTOCOLS.includes(p)) usage('protocol', `"${v}" is not one of ${PROTOCOLS.join(', ')}`);
      if (p === 'icmp') protos.add('icmpv4').add('icmpv6');
      else protos.add(p);
    }
    const http = protos.has('http');
    tests.push((f) => (http && f.flow.Type === 'L7' && f.flow.l7.http !== undefined) || protos.has(flowProtocol(f)));
  }
  if (spec.dropReason?.length) {
    const reasons = new Set(spec.dropReason.map(parseReason));
    tests.push((f) => {
      const r = dropReasonOf(f);
      return r !== undefined && reasons.has(r);
    });
  }
  if (spec.type?.length) {
    const kinds = spec.type.map(parseType);
    tests.push((f) => kinds.some((k) => k(f)));
  }
  if (tests.length === 0) return () => true;
  return (f) => tests.every((t) => t(f));
}

// Which HTTP rules the proxy applies to a redirected connection. The datapath redirects a
// connection when the policy-map entry that allowed it carries a proxy port; the compiled
// policy keeps one entry per key (the lowest rule id wins a tie), so the entry alone does not
// say every rule that allows the same traffic. The entries each rule with HTTP parts gives on
// its own are therefore computed again here, with the compiler's own stages over the same
// inputs (same identities, same endpoint ids). As Cilium merges policies per endpoint,
// direction and port, every allow entry of the endpoint that covers the remote identity (or
// any identity) and the TCP port counts:
// - the HTTP rules of all such entries with a proxy port are alternatives (OR);
// - an allowing entry without HTTP rules for the same traffic opens it fully at L7 (Cilium
//   widens the port's L7 rules to allow-all for that peer), so every request is allowed.
// The HTTP rules themselves come from the policy sources: a compiled rule (RuleInfo) is found by
// its source position in the parsed policies, and of its toPorts entries only those whose ports
// include the connection's port apply (named ports resolved on the destination pod).

import { TwinpathError } from '../errors.js';
import type { CiliumHTTPRule, CiliumNetworkPolicy, CiliumPortProtocol, CiliumRule, Cluster, Policy, Source } from '../policy/ast.js';
import { compileEntries } from '../policy/compile_entries.js';
import { collectRules } from '../policy/compile_rules.js';
import { buildUniverse } from '../policy/identity.js';
import { PROTO, type CompiledPolicy, type Direction, type PolicyEntry, type RuleInfo } from '../policy/model.js';
import { compileHttpRule, type HttpRuleMatcher } from './policy.js';

interface PortPart {
  ports: CiliumPortProtocol[];
  matchers: HttpRuleMatcher[];
}

export interface L7Query {
  /** The endpoint whose policy redirected the connection, and in which direction. */
  endpointId: number;
  direction: Direction;
  /** The peer's identity: the source's for ingress, the destination's for egress. */
  identity: number;
  /** The server's TCP port, as the datapath looked it up. */
  port: number;
}

export interface L7RuleSet {
  /** The proxy port of the entry that redirected (the first with one, by rule id). */
  proxyPort: number;
  /** The HTTP rules that may allow a request, in rule-id order. */
  rules: HttpRuleMatcher[];
  /** Set when an allowing rule without HTTP parts covers the same traffic: every request passes. */
  allowAllBy?: number;
}

function srcKey(s: Source): string {
  return `${s.file}\u0000${s.line}\u0000${s.column}\u0000${s.path}`;
}

const DIRECTION_OF: Record<'ingress' | 'ingressDeny' | 'egress' | 'egressDeny', Direction> = {
  ingress: 'ingress',
  ingressDeny: 'ingress',
  egress: 'egress',
  egressDeny: 'egress',
};

function entryCovers(e: PolicyEntry, port: number): boolean {
  if (e.protocol !== PROTO.ANY && e.protocol !== PROTO.TCP) return false;
  if (e.portPrefixLen === 0) return true;
  const shift = 16 - e.portPrefixLen;
  return port >>> shift === e.port >>> shift;
}

/** The entries each rule with a proxy port gives on its own, before the compiler keeps one
 * entry per key: a rule that lost a tie to another rule still applies at L7. */
function ownEntriesOfL7Rules(compiled: CompiledPolicy, inputs: { policies: Policy[]; cluster: Cluster }): PolicyEntry[] {
  const { rules, enforcers, needs } = collectRules(inputs.policies);
  const l7 = rules.filter((r) => !r.info.deny && r.ports.some((p) => p.proxyPort !== 0));
  if (l7.length === 0) return [];
  const universe = buildUniverse(inputs.cluster, needs);
  const same =
    universe.endpoints.length === compiled.endpoints.length &&
    universe.endpoints.every((ep, i) => ep.id === compiled.endpoints[i]!.id && ep.ident.id === compiled.endpoints[i]!.identity);
  if (!same) throw new TwinpathError('DATAPATH_ERROR', 'the compiled policy was not compiled from these policies and cluster');
  return l7.flatMap((r) => compileEntries(universe, [r], enforcers).entries.filter((e) => e.ruleId === r.info.id));
}

export class L7Policy {
  private readonly parts = new Map<number, PortPart[]>();
  private readonly byEndpoint = new Map<string, PolicyEntry[]>();
  private readonly ruleInfo = new Map<number, RuleInfo>();
  /** Named TCP ports per identity (pods of that identity) and per endpoint. */
  private readonly identityPorts = new Map<number, Map<string, Set<number>>>();
  private readonly endpointPorts = new Map<number, Map<string, Set<number>>>();

  /** Compiles every HTTP rule behind the compiled policy; a bad regular expression throws
   * POLICY_BAD_VALUE at its source, before anything is replayed. */
  constructor(compiled: CompiledPolicy, inputs: { policies: Policy[]; cluster: Cluster }) {
    for (const r of compiled.rules) this.ruleInfo.set(r.id, r);
    const bySrc = new Map<string, RuleInfo>();
    for (const r of compiled.rules) bySrc.set(`${r.policy.kind}\u0000${r.policy.namespace}\u0000${r.policy.name}\u0000${srcKey(r.src)}`, r);
    for (const p of inputs.policies) {
      if (p.kind === 'NetworkPolicy') continue;
      this.collect(p, bySrc);
    }
    for (const e of [...compiled.entries, ...ownEntriesOfL7Rules(compiled, inputs)]) {
      const k = `${e.endpointId}/${e.direction}`;
      let list = this.byEndpoint.get(k);
      if (!list) this.byEndpoint.set(k, (list = []));
      list.push(e);
    }
    const pods = new Map(inputs.cluster.pods.map((p) => [`${p.namespace}/${p.name}`, p]));
    for (const ep of compiled.endpoints) {
      const pod = pods.get(`${ep.namespace}/${ep.pod}`);
      if (!pod) continue;
      for (const cp of pod.ports) {
        if (cp.protocol !== 'TCP' || cp.name === undefined) continue;
        for (const [map, key] of [[this.identityPorts, ep.identity], [this.endpointPorts, ep.id]] as const) {
          let named = map.get(key);
          if (!named) map.set(key, (named = new Map()));
          let set = named.get(cp.name);
          if (!set) named.set(cp.name, (set = new Set()));
          set.add(cp.containerPort);
        }
      }
    }
  }

  private collect(p: CiliumNetworkPolicy, bySrc: Map<string, RuleInfo>): void {
    for (const spec of p.specs) {
      for (const field of ['ingress', 'ingressDeny', 'egress', 'egressDeny'] as const) {
        for (const rule of spec[field] ?? []) {
          const info = bySrc.get(`${p.kind}\u0000${p.namespace}\u0000${p.name}\u0000${srcKey(rule.src)}`);
          if (!info || info.direction !== DIRECTION_OF[field]) continue;
          this.addRule(info.id, rule);
        }
      }
    }
  }

  private addRule(ruleId: number, rule: CiliumRule): void {
    const parts: PortPart[] = [];
    let index = 0;
    for (const pr of rule.toPorts ?? []) {
      if (pr.http.length === 0) continue;
      parts.push({ ports: pr.ports, matchers: pr.http.map((h: CiliumHTTPRule) => compileHttpRule(h, ruleId, index++)) });
    }
    if (parts.length > 0) this.parts.set(ruleId, parts);
  }

  /** Every HTTP rule of a compiled rule, whatever its port. */
  httpRulesOf(ruleId: number): HttpRuleMatcher[] {
    return (this.parts.get(ruleId) ?? []).flatMap((p) => p.matchers);
  }

  rule(ruleId: number): RuleInfo | undefined {
    return this.ruleInfo.get(ruleId);
  }

  /** The HTTP rules for a redirected connection; null when no allowing entry redirects it. */
  rulesFor(q: L7Query): L7RuleSet | null {
    const entries = (this.byEndpoint.get(`${q.endpointId}/${q.direction}`) ?? [])
      .filter((e) => !e.deny && (e.identity === q.identity || e.identity === 0) && entryCovers(e, q.port))
      .sort((a, b) => a.ruleId - b.ruleId);
    const redirecting = entries.filter((e) => e.proxyPort !== 0);
    if (redirecting.length === 0) return null;
    const set: L7RuleSet = { proxyPort: redirecting[0]!.proxyPort, rules: [] };
    const plain = entries.find((e) => e.proxyPort === 0);
    if (plain) set.allowAllBy = plain.ruleId;
    const seen = new Set<number>();
    for (const e of redirecting) {
      if (seen.has(e.ruleId)) continue;
      seen.add(e.ruleId);
      for (const part of this.parts.get(e.ruleId) ?? []) {
        if (this.partCovers(part, q)) set.rules.push(...part.matchers);
      }
    }
    return set;
  }

  private partCovers(part: PortPart, q: L7Query): boolean {
    if (part.ports.length === 0) return true;
    return part.ports.some((pp) => {
      if (pp.protocol !== 'TCP' && pp.protocol !== 'ANY') return false;
      let port = pp.port;
      if (typeof port === 'string' && /^\d+$/.test(port)) port = Number(port);
      if (port === undefined || port === 0) return true;
      if (typeof port === 'number') return q.port >= port && q.port <= (pp.endPort ?? port);
      // A named port is the destination pod's: the endpoint itself on ingress, the peer on egress.
      const named = q.direction === 'ingress' ? this.endpointPorts.get(q.endpointId) : this.identityPorts.get(q.identity);
      return named?.get(port)?.has(q.port) ?? false;
    });
  }
}

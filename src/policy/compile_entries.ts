// Rules -> policy-map entries, per endpoint and direction. Peers become identity lists (one
// wildcard entry when a peer set is every identity), port clauses become aligned port blocks,
// named ports are resolved on the destination pod (the endpoint for ingress, the peer's class
// for egress). Then the datapath's precondition is enforced: duplicates merge to the lowest rule
// id, and an allow entry that a deny entry (same or wildcard identity) covers entirely is
// dropped, because the datapath's longest-prefix lookup would otherwise return the allow.

import type { PolicyEntry } from './model.js';
import { PROTO, RESERVED } from './model.js';
import type { EndpointRec, Ident, Universe } from './identity.js';
import { prefixContains, type Prefix } from './compile_cidr.js';
import type { Enforcer, Peer, RuleDef, Subject } from './compile_rules.js';
import { rangeToBlocks } from './ports.js';
import { matchCilium, matchK8s } from './selector.js';
import { IdentIndex, SubjectIndex } from './compile_index.js';

/** Cilium's default policy map size; an endpoint+direction beyond it would not fit. */
export const POLICY_MAP_LIMIT = 16384;

export interface EntriesResult {
  entries: PolicyEntry[];
  enforced: Map<number, { ingress: boolean; egress: boolean }>;
  warnings: Array<{ code: string; message: string; src?: RuleDef['info']['src'] }>;
}

function inside(p: Prefix, cidr: Prefix, except: Prefix[]): boolean {
  return prefixContains(cidr, p) && !except.some((e) => prefixContains(e, p));
}

export function matchPeer(peer: Peer, id: Ident): boolean {
  switch (peer.kind) {
    case 'pods':
      return (
        id.kind === 'endpoints' &&
        (peer.namespaceSelector ? matchK8s(peer.namespaceSelector, id.nsLabels!) : id.namespace === peer.namespace) &&
        (!peer.podSelector || matchK8s(peer.podSelector, id.podLabels!))
      );
    case 'ipblock':
      // Kubernetes ipBlocks match pods by address too; the partition recorded which.
      if (id.kind === 'endpoints') return id.ipBlocks.has(peer.block.key);
      return id.prefix !== undefined && inside(id.prefix, peer.block.cidr, peer.block.except);
    case 'selector':
      return matchCilium(peer.reqs, id.labels);
    case 'cidr':
      // Cilium CIDR rules never select pods (nor nodes, which have no CIDR class).
      return id.kind !== 'endpoints' && id.prefix !== undefined && inside(id.prefix, peer.cidr, peer.except);
  }
}

export function matchSubject(s: Subject, ep: EndpointRec): boolean {
  if (s.kind === 'k8s') return ep.pod.namespace === s.namespace && matchK8s(s.selector, ep.pod.labels);
  return matchCilium(s.reqs, ep.ident.labels);
}

interface Raw {
  identity: number;
  protocol: number;
  port: number;
  portPrefixLen: number;
  deny: boolean;
  ruleId: number;
  proxyPort: number;
}

export function compileEntries(u: Universe, rules: RuleDef[], enforcers: Enforcer[]): EntriesResult {
  const warnings: EntriesResult['warnings'] = [];
  // world-ipv4/-ipv6 only exist for the datapath when their default routes are in the ipcache.
  const live = u.idents.filter((i) => !(i.id === RESERVED['world-ipv4'] || i.id === RESERVED['world-ipv6']) || i.prefix);
  const endpointIds = live.filter((i) => i.kind === 'endpoints').map((i) => i.id);
  // Identity 0 stands for "every identity" only when a peer set is indeed all of them.
  const identIndex = new IdentIndex(live);
  const peerIds = rules.map((r) => {
    if (r.peers === 'all') return [0];
    const picked: number[] = [];
    for (const p of r.peers) {
      const cands = identIndex.candidates(p);
      if (cands === undefined) live.forEach((id, i) => matchPeer(p, id) && picked.push(i));
      else for (const i of cands) if (matchPeer(p, live[i]!)) picked.push(i);
    }
    // Positions ascending and once each: the identities in `live` order.
    if (r.peers.length > 1) picked.sort((a, b) => a - b);
    const ids = picked.filter((x, k) => k === 0 || picked[k - 1] !== x).map((i) => live[i]!.id);
    return ids.length === live.length ? [0] : ids;
  });
  const resolved = new Set<number>();

  // What applies to an endpoint depends only on its identity and namespace (its labels), and
  // for ingress on its container ports too (named ports): endpoints that share those share
  // their entries, which are computed once.
  const ruleIndex = new SubjectIndex(rules);
  const enforcerIndex = new SubjectIndex(enforcers);
  const applied = new Set<number>();
  const subjects = new Map<string, { flags: { ingress: boolean; egress: boolean }; ingress: number[]; egress: number[] }>();
  const computed = new Map<string, Raw[]>();

  const entries: PolicyEntry[] = [];
  const enforced = new Map<number, { ingress: boolean; egress: boolean }>();
  for (const ep of u.endpoints) {
    const subjectKey = `${ep.ident.id}\u0000${ep.pod.namespace}`;
    let subject = subjects.get(subjectKey);
    if (!subject) {
      const flags = { ingress: false, egress: false };
      for (const i of enforcerIndex.candidates(ep.ident, ep.pod.namespace)) {
        const e = enforcers[i]!;
        if (matchSubject(e.subject, ep)) flags[e.direction] = true;
      }
      subject = { flags, ingress: [], egress: [] };
      for (const i of ruleIndex.candidates(ep.ident, ep.pod.namespace)) {
        const rule = rules[i]!;
        if (!matchSubject(rule.subject, ep)) continue;
        applied.add(i);
        subject[rule.info.direction].push(i);
      }
      subjects.set(subjectKey, subject);
    }
    const flags = { ...subject.flags };
    enforced.set(ep.id, flags);
    for (const direction of ['ingress', 'egress'] as const) {
      const key = direction === 'ingress' ? `${subjectKey}\u0000in\u0000${portsSignature(ep)}` : `${subjectKey}\u0000out`;
      let done = computed.get(key);
      if (!done) {
        done = directionEntries(u, ep, direction, subject[direction], flags[direction], peerIds, rules, endpointIds, resolved);
        computed.set(key, done);
      }
      if (done.length > POLICY_MAP_LIMIT) {
        warnings.push({
          code: 'POLICY_MAP_FULL',
          message: `endpoint ${ep.id} (${ep.pod.namespace}/${ep.pod.name}) ${direction}: ${done.length} entries exceed the policy map's ${POLICY_MAP_LIMIT}`,
        });
      }
      for (const r of done) entries.push({ endpointId: ep.id, direction, ...r });
    }
  }
  rules.forEach((r, i) => {
    if (r.ports.some((p) => p.sel.kind === 'named') && !resolved.has(r.info.id) && applied.has(i)) {
      warnings.push({ code: 'POLICY_NAMED_PORT', message: `rule ${r.info.id}: no destination pod has the named port(s) it uses`, src: r.info.src });
    }
  });
  return { entries, enforced, warnings };
}

/** The container ports as ingress named-port resolution sees them (first match wins, so in order). */
function portsSignature(ep: EndpointRec): string {
  return ep.pod.ports.map((p) => `${p.name ?? ''}/${p.protocol}/${p.containerPort}`).join(',');
}

/** The finished entries of one endpoint in one direction, from the rules that apply to it
 * (positions in `rules`, ascending: duplicates keep the first rule's entry). */
function directionEntries(
  u: Universe,
  ep: EndpointRec,
  direction: 'ingress' | 'egress',
  applying: number[],
  isolated: boolean,
  peerIds: number[][],
  rules: RuleDef[],
  endpointIds: number[],
  resolved: Set<number>,
): Raw[] {
  const raw: Raw[] = [];
  for (const ri of applying) {
    const rule = rules[ri]!;
    const ids = peerIds[ri]!;
    const push = (identity: number, protocol: number, port: number, portPrefixLen: number, proxyPort: number): void => {
      raw.push({ identity, protocol, port, portPrefixLen, deny: rule.info.deny, ruleId: rule.info.id, proxyPort });
    };
    for (const { sel, proxyPort } of rule.ports) {
      if (sel.kind === 'any') {
        for (const id of ids) push(id, PROTO.ANY, 0, 0, proxyPort);
      } else if (sel.kind === 'range') {
        const blocks = rangeToBlocks(sel.lo, sel.hi);
        for (const id of ids) for (const b of blocks) push(id, sel.proto, b.port, b.prefixLen, proxyPort);
      } else if (direction === 'ingress') {
        const cp = ep.pod.ports.find((p) => p.name === sel.name && PROTO[p.protocol] === sel.proto);
        if (cp === undefined) continue;
        resolved.add(rule.info.id);
        for (const id of ids) push(id, sel.proto, cp.containerPort, 16, proxyPort);
      } else {
        // Egress: the name is the destination's, so each peer class resolves it alone.
        const targets = ids[0] === 0 ? endpointIds : ids.filter((id) => u.byId.get(id)!.kind === 'endpoints');
        for (const id of targets) {
          const port = u.byId.get(id)!.namedPorts.get(`${sel.name}/${sel.proto}`);
          if (port === undefined) continue;
          resolved.add(rule.info.id);
          push(id, sel.proto, port, 16, proxyPort);
        }
      }
    }
  }
  if (!isolated) raw.push(implicit(0));
  else if (direction === 'ingress') raw.push(implicit(RESERVED.host));
  return finish(raw);
}

/** The compiler's own allow-all (identity 0) or node-traffic (identity host) entry: rule 0. */
function implicit(identity: number): Raw {
  return { identity, protocol: PROTO.ANY, port: 0, portPrefixLen: 0, deny: false, ruleId: 0, proxyPort: 0 };
}

function covers(d: Raw, a: Raw): boolean {
  if (d.identity !== 0 && d.identity !== a.identity) return false;
  if (d.protocol === PROTO.ANY) return true;
  if (d.protocol !== a.protocol || d.portPrefixLen > a.portPrefixLen) return false;
  const shift = 16 - d.portPrefixLen;
  return a.port >>> shift === d.port >>> shift;
}

/** Merge duplicates (lowest rule id), drop fully denied allows, sort. */
function finish(raw: Raw[]): Raw[] {
  const merged = new Map<string, Raw>();
  for (const r of raw) {
    const k = `${r.identity}/${r.protocol}/${r.port}/${r.portPrefixLen}/${r.deny ? 1 : 0}`;
    const old = merged.get(k);
    if (!old || r.ruleId < old.ruleId) merged.set(k, r);
  }
  const all = [...merged.values()];
  const denies = new Map<number, Raw[]>();
  for (const d of all) if (d.deny) denies.set(d.identity, [...(denies.get(d.identity) ?? []), d]);
  const kept = all.filter((a) => {
    if (a.deny) return true;
    const against = [...(denies.get(a.identity) ?? []), ...(a.identity === 0 ? [] : (denies.get(0) ?? []))];
    return !against.some((d) => covers(d, a));
  });
  return kept.sort(
    (a, b) =>
      a.identity - b.identity ||
      a.protocol - b.protocol ||
      a.port - b.port ||
      a.portPrefixLen - b.portPrefixLen ||
      Number(a.deny) - Number(b.deny),
  );
}

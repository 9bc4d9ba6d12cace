// Candidate indexes for the entries compiler: which identities a peer may select, and which rules
// may apply to an identity, narrowed by the namespace, label values and ipBlocks a selector
// requires. Without them, compiling R rules for E endpoints over I identities costs R x (E + I)
// predicate calls, which at the scale of a large cluster (10,000 policies, 50,000 pods) is
// minutes. An index only narrows: every candidate is still checked with the exact predicate
// (matchPeer, matchSubject), so the result is the one a full scan gives.

import type { Ident } from './identity.js';
import type { Peer, Subject } from './compile_rules.js';
import { matchK8s, POD_NAMESPACE_KEY, type CiliumRequirement } from './selector.js';

const kv = (key: string, value: string): string => `${key}\u0000${value}`;

function pushTo<K>(m: Map<K, number[]>, k: K, i: number): void {
  const list = m.get(k);
  if (list) list.push(i);
  else m.set(k, [i]);
}

/** The ascending union of ascending lists, without duplicates. */
function union(lists: number[][]): number[] {
  if (lists.length === 0) return [];
  if (lists.length === 1) return lists[0]!;
  const all = lists.flat().sort((a, b) => a - b);
  return all.filter((x, i) => i === 0 || all[i - 1] !== x);
}

/**
 * Identities by what selectors ask of them; positions refer to the list given, whose order the
 * candidates keep (ascending positions). A label is indexed under its key and its key=value
 * whatever its source: a requirement's source only narrows further, which the exact check does.
 */
export class IdentIndex {
  readonly size: number;
  readonly #byKey = new Map<string, number[]>();
  readonly #byKeyValue = new Map<string, number[]>();
  /** Endpoint identities by namespace, namespaces in order of first appearance. */
  readonly #byNamespace = new Map<string, number[]>();
  readonly #nsLabels = new Map<string, Record<string, string>>();
  readonly #byIpBlock = new Map<string, number[]>();
  readonly #withPrefix: number[] = [];
  /** Candidates of a namespace selector, by its content. */
  readonly #bySelector = new Map<string, number[]>();

  constructor(idents: Ident[]) {
    this.size = idents.length;
    idents.forEach((id, i) => {
      const keys = new Set<string>();
      const pairs = new Set<string>();
      for (const l of id.labels) {
        keys.add(l.key);
        pairs.add(kv(l.key, l.value));
      }
      for (const k of keys) pushTo(this.#byKey, k, i);
      for (const p of pairs) pushTo(this.#byKeyValue, p, i);
      if (id.kind === 'endpoints') {
        pushTo(this.#byNamespace, id.namespace!, i);
        // Namespace labels are a function of the namespace name (identity.ts namespaceLabels).
        if (!this.#nsLabels.has(id.namespace!)) this.#nsLabels.set(id.namespace!, id.nsLabels!);
        for (const b of id.ipBlocks) pushTo(this.#byIpBlock, b, i);
      }
      if (id.prefix !== undefined) this.#withPrefix.push(i);
    });
  }

  /** Positions of the identities the peer may select, ascending; undefined means all of them. */
  candidates(peer: Peer): number[] | undefined {
    switch (peer.kind) {
      case 'pods': {
        if (!peer.namespaceSelector) return this.#byNamespace.get(peer.namespace) ?? [];
        // Many policies repeat one namespace selector (every namespace letting monitoring in).
        const key = JSON.stringify([peer.namespaceSelector.matchLabels, peer.namespaceSelector.matchExpressions]);
        let found = this.#bySelector.get(key);
        if (!found) {
          const lists: number[][] = [];
          for (const [ns, list] of this.#byNamespace) if (matchK8s(peer.namespaceSelector, this.#nsLabels.get(ns)!)) lists.push(list);
          found = union(lists);
          this.#bySelector.set(key, found);
        }
        return found;
      }
      case 'ipblock':
        return union([this.#byIpBlock.get(peer.block.key) ?? [], this.#withPrefix]);
      case 'cidr':
        return this.#withPrefix;
      case 'selector':
        return this.#forRequirements(peer.reqs);
    }
  }

  /** The smallest candidate set any one In or Exists requirement allows. */
  #forRequirements(reqs: CiliumRequirement[]): number[] | undefined {
    let best: number[][] | undefined;
    let bestSize = Infinity;
    for (const r of reqs) {
      let lists: number[][];
      if (r.operator === 'In') lists = r.values.map((v) => this.#byKeyValue.get(kv(r.key, v)) ?? []);
      else if (r.operator === 'Exists') lists = [this.#byKey.get(r.key) ?? []];
      else continue;
      const size = lists.reduce((n, l) => n + l.length, 0);
      if (size < bestSize) [best, bestSize] = [lists, size];
    }
    return best === undefined ? undefined : union(best);
  }
}

/**
 * Rules (or enforcers) by the namespace or label their subject requires, so that an identity
 * looks at the few that may apply to it instead of all of them. Positions refer to the list
 * given and come back ascending, so rules keep their input order.
 */
export class SubjectIndex {
  readonly #global: number[] = [];
  readonly #byNamespace = new Map<string, number[]>();
  readonly #byKeyValue = new Map<string, number[]>();
  readonly #byKey = new Map<string, number[]>();

  constructor(items: Array<{ subject: Subject }>) {
    items.forEach(({ subject: s }, i) => {
      if (s.kind === 'k8s') return pushTo(this.#byNamespace, s.namespace, i);
      // A namespaced policy's subject requires its namespace; prefer that requirement.
      const r =
        s.reqs.find((q) => q.operator === 'In' && q.key === POD_NAMESPACE_KEY) ??
        s.reqs.find((q) => q.operator === 'In') ??
        s.reqs.find((q) => q.operator === 'Exists');
      if (!r) this.#global.push(i);
      else if (r.operator === 'In') for (const v of new Set(r.values)) pushTo(this.#byKeyValue, kv(r.key, v), i);
      else pushTo(this.#byKey, r.key, i);
    });
  }

  /** Positions of the items whose subject may select endpoints of this identity in `namespace`. */
  candidates(id: Ident, namespace: string): number[] {
    const lists = [this.#global];
    const ns = this.#byNamespace.get(namespace);
    if (ns) lists.push(ns);
    const keys = new Set<string>();
    for (const l of id.labels) {
      const byValue = this.#byKeyValue.get(kv(l.key, l.value));
      if (byValue) lists.push(byValue);
      if (!keys.has(l.key)) {
        keys.add(l.key);
        const byKey = this.#byKey.get(l.key);
        if (byKey) lists.push(byKey);
      }
    }
    return union(lists.filter((l) => l.length > 0));
  }
}

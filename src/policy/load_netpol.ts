// Kubernetes NetworkPolicy (networking.k8s.io/v1), read as strictly as the API server reads it:
// unknown fields refused, peers with exactly one kind of selector (ipBlock alone, or pod and/or
// namespace selectors), ipBlock.except strictly inside cidr, ports 1..65535 or IANA names, endPort
// only after a numeric port and not below it. Defaults as the API server applies them: namespace
// `default`, protocol TCP, policyTypes Ingress plus Egress when egress rules exist.

import type { IPBlock, NetpolPeer, NetpolPort, NetpolRule, NetworkPolicy } from './ast.js';
import { expectMap, expectSeq, expectString, fail, type Obj } from './load_fields.js';
import { formatPrefix, prefixContains } from './load_ip.js';
import { readMeta } from './load_meta.js';
import { readLabelSelector } from './load_selector.js';
import { readIntOrNamedPort, readPortNumber, readPrefix, readProtocol } from './load_validate.js';
import type { YValue } from './yaml.js';

export const POLICY_TOP_FIELDS = ['apiVersion', 'kind', 'metadata', 'spec', 'status'] as const;

function readIPBlock(v: YValue): IPBlock {
  const b = expectMap(v, 'an ipBlock').strict(['cidr', 'except']);
  const cidr = readPrefix(b.req('cidr'));
  const except: string[] = [];
  for (const en of b.seq('except') ?? []) {
    const ex = readPrefix(en);
    if (ex.family !== cidr.family || ex.bits <= cidr.bits || !prefixContains(cidr, ex)) {
      fail('POLICY_BAD_CIDR', `except ${formatPrefix(ex)} must be a strict subset of cidr ${formatPrefix(cidr)}`, en.src);
    }
    except.push(formatPrefix(ex));
  }
  return { cidr: formatPrefix(cidr), except, src: v.src };
}

function readPeer(v: YValue): NetpolPeer {
  const p = expectMap(v, 'a peer').strict(['podSelector', 'namespaceSelector', 'ipBlock']);
  const peer: NetpolPeer = { src: v.src };
  const pod = p.get('podSelector');
  const ns = p.get('namespaceSelector');
  const ip = p.get('ipBlock');
  if (pod === undefined && ns === undefined && ip === undefined) {
    fail('POLICY_MISSING_FIELD', 'a peer needs podSelector, namespaceSelector or ipBlock', v.src);
  }
  if (ip !== undefined && (pod !== undefined || ns !== undefined)) {
    fail('POLICY_BAD_VALUE', 'ipBlock may not be combined with podSelector or namespaceSelector in one peer', p.entry('ipBlock')!.keySrc);
  }
  if (pod !== undefined) peer.podSelector = readLabelSelector(pod);
  if (ns !== undefined) peer.namespaceSelector = readLabelSelector(ns);
  if (ip !== undefined) peer.ipBlock = readIPBlock(ip);
  return peer;
}

function readPort(v: YValue): NetpolPort {
  const p = expectMap(v, 'a port').strict(['protocol', 'port', 'endPort']);
  const protoNode = p.get('protocol');
  const out: NetpolPort = { protocol: protoNode === undefined ? 'TCP' : readProtocol(protoNode), src: v.src };
  const portNode = p.get('port');
  if (portNode !== undefined) out.port = readIntOrNamedPort(portNode);
  const endNode = p.get('endPort');
  if (endNode !== undefined) {
    const end = readPortNumber(endNode);
    if (out.port === undefined) fail('POLICY_BAD_PORT', 'endPort may not be given without port', endNode.src);
    if (typeof out.port === 'string') fail('POLICY_BAD_PORT', `endPort may not be given with the named port "${out.port}"`, endNode.src);
    if (end < out.port) fail('POLICY_BAD_PORT', `endPort ${end} is below port ${out.port}`, endNode.src);
    out.endPort = end;
  }
  return out;
}

function readRule(v: YValue, peerKey: 'from' | 'to'): NetpolRule {
  const r = expectMap(v, 'a rule').strict([peerKey, 'ports']);
  return {
    peers: (r.seq(peerKey) ?? []).map(readPeer),
    ports: (r.seq('ports') ?? []).map(readPort),
    src: v.src,
  };
}

function readPolicyTypes(v: YValue | undefined, hasEgress: boolean): Array<'Ingress' | 'Egress'> {
  const given: Array<'Ingress' | 'Egress'> = [];
  const items = v === undefined ? [] : expectSeq(v);
  if (items.length > 2) fail('POLICY_BAD_VALUE', 'policyTypes may not list more than two types', v!.src);
  for (const item of items) {
    const s = expectString(item);
    if (s !== 'Ingress' && s !== 'Egress') fail('POLICY_BAD_VALUE', `"${s}" is not a policy type (Ingress, Egress)`, item.src);
    if (!given.includes(s)) given.push(s);
  }
  // The API server defaults an empty list as it defaults an absent one.
  if (given.length > 0) return given;
  return hasEgress ? ['Ingress', 'Egress'] : ['Ingress'];
}

export function readNetworkPolicy(root: Obj): NetworkPolicy {
  root.strict(POLICY_TOP_FIELDS);
  const m = readMeta(root, { strict: true, namespaced: true, nameRule: 'subdomain' });
  const spec: Obj = expectMap(root.req('spec'), 'a NetworkPolicy spec').strict(['podSelector', 'policyTypes', 'ingress', 'egress']);
  const selNode = spec.get('podSelector');
  const podSelector = selNode === undefined ? { matchLabels: {}, matchExpressions: [], src: spec.missingSrc('podSelector') } : readLabelSelector(selNode);
  const ingress = (spec.seq('ingress') ?? []).map((r) => readRule(r, 'from'));
  const egress = (spec.seq('egress') ?? []).map((r) => readRule(r, 'to'));
  return {
    kind: 'NetworkPolicy',
    namespace: m.namespace,
    name: m.name,
    podSelector,
    policyTypes: readPolicyTypes(spec.get('policyTypes'), egress.length > 0),
    ingress,
    egress,
    src: root.src,
  };
}

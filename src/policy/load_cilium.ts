// CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy (cilium.io/v2), checked as the CRD
// schema and the agent's rule sanitizer check them: unknown fields refused; one of
// endpointSelector/nodeSelector; at least one rule list; one kind of L3 peer per rule; icmps
// without toPorts; ports as strings ("80", a name, "0"), endPort after a numeric port; L7 (http)
// only on explicit TCP ports. Real Cilium features this project does not model (FQDN, services,
// groups, nodes, authentication, TLS, DNS/Kafka/generic L7, CIDR groups) are POLICY_UNSUPPORTED
// at the field, never silently dropped.

import type { CiliumCIDRRule, CiliumEntity, CiliumHTTPRule, CiliumNetworkPolicy, CiliumPolicySpec, CiliumPortProtocol, CiliumPortRule, CiliumRule } from './ast.js';
import { expectInt, expectMap, expectSeq, expectString, fail, type Obj } from './load_fields.js';
import { formatPrefix, prefixContains } from './load_ip.js';
import { readMeta } from './load_meta.js';
import { POLICY_TOP_FIELDS } from './load_netpol.js';
import { readCiliumSelector } from './load_selector.js';
import { readPrefix } from './load_validate.js';
import { ICMP_TYPES } from './load_icmp.js';
import type { YValue } from './yaml.js';

type Direction = 'ingress' | 'ingressDeny' | 'egress' | 'egressDeny';
const DIRECTIONS: readonly Direction[] = ['ingress', 'ingressDeny', 'egress', 'egressDeny'];

const ENTITIES: readonly CiliumEntity[] = [
  'all', 'world', 'world-ipv4', 'world-ipv6', 'cluster', 'host', 'remote-node',
  'kube-apiserver', 'init', 'health', 'unmanaged', 'ingress', 'none',
];

const PROTOCOLS = ['TCP', 'UDP', 'SCTP', 'ICMP', 'ICMPv6', 'ANY'] as const;
/** Cilium caps both lists at 40 entries. */
const MAX_PORTS = 40;
const MAX_ICMP_FIELDS = 40;
/** Cilium's port names: IANA-like, any case (compared lowercased). */
const CILIUM_PORT_NAME = /^([a-zA-Z0-9]-?)*[a-zA-Z](-?[a-zA-Z0-9])*$/;

function ruleFields(dir: Direction): { allowed: string[]; unsupported: Record<string, string> } {
  const p = dir.startsWith('ingress') ? 'from' : 'to';
  const deny = dir.endsWith('Deny');
  const allowed = [`${p}Endpoints`, `${p}Requires`, `${p}CIDR`, `${p}CIDRSet`, `${p}Entities`, 'toPorts', 'icmps'];
  const unsupported: Record<string, string> = {
    [`${p}Groups`]: 'cloud provider groups are outside this model',
    [`${p}Nodes`]: 'node selectors in rules are not modelled',
  };
  if (p === 'to') unsupported.toServices = 'service-backed egress rules are not modelled';
  if (dir === 'egress') unsupported.toFQDNs = 'DNS-based rules need a DNS proxy';
  if (!deny) unsupported.authentication = 'mutual authentication is not modelled';
  return { allowed, unsupported };
}

function readEntity(v: YValue): CiliumEntity {
  const s = expectString(v);
  if (!(ENTITIES as readonly string[]).includes(s)) fail('POLICY_BAD_VALUE', `"${s}" is not a Cilium entity (${ENTITIES.join(', ')})`, v.src);
  return s as CiliumEntity;
}

function readCIDRSetEntry(v: YValue): CiliumCIDRRule {
  const e = expectMap(v, 'a CIDR rule').strict(['cidr', 'except'], {
    cidrGroupRef: 'CiliumCIDRGroup references are not resolved',
    cidrGroupSelector: 'CiliumCIDRGroup selectors are not resolved',
  });
  const cidr = readPrefix(e.req('cidr'));
  const except: string[] = [];
  for (const en of e.seq('except') ?? []) {
    const ex = readPrefix(en);
    if (ex.family !== cidr.family || ex.bits < cidr.bits || !prefixContains(cidr, ex)) {
      fail('POLICY_BAD_CIDR', `except ${formatPrefix(ex)} is not inside cidr ${formatPrefix(cidr)}`, en.src);
    }
    except.push(formatPrefix(ex));
  }
  return { cidr: formatPrefix(cidr), except, src: v.src };
}

function readPortProtocol(v: YValue): CiliumPortProtocol {
  const p = expectMap(v, 'a port').strict(['port', 'endPort', 'protocol']);
  const protoNode = p.get('protocol');
  let protocol: CiliumPortProtocol['protocol'] = 'ANY';
  if (protoNode !== undefined) {
    const s = expectString(protoNode);
    if (s === 'VRRP' || s === 'IGMP') fail('POLICY_UNSUPPORTED', `protocol ${s} is not supported`, protoNode.src);
    if (!(PROTOCOLS as readonly string[]).includes(s)) fail('POLICY_BAD_VALUE', `unknown protocol "${s}" (expected ${PROTOCOLS.join(', ')})`, protoNode.src);
    protocol = s as CiliumPortProtocol['protocol'];
  }
  const out: CiliumPortProtocol = { protocol, src: v.src };
  const portNode = p.get('port');
  if (portNode !== undefined) {
    if (portNode.kind !== 'scalar' || typeof portNode.value !== 'string') {
      fail('POLICY_BAD_PORT', `port must be a string in Cilium policies (write "${portNode.kind === 'scalar' ? String(portNode.value) : '80'}")`, portNode.src);
    }
    const s = portNode.value;
    if (/^[0-9]+$/.test(s)) {
      const n = Number(s);
      if ((s.length > 1 && s[0] === '0') || n > 65535) fail('POLICY_BAD_PORT', `port "${s}" is not a port number (0-65535)`, portNode.src);
      out.port = n;
    } else if (s.length <= 15 && CILIUM_PORT_NAME.test(s)) {
      out.port = s.toLowerCase();
    } else {
      fail('POLICY_BAD_PORT', `"${s}" is neither a port number nor a valid port name`, portNode.src);
    }
  }
  const endNode = p.get('endPort');
  if (endNode !== undefined) {
    const end = expectInt(endNode, 'POLICY_BAD_PORT');
    if (end < 0 || end > 65535) fail('POLICY_BAD_PORT', `endPort ${end} is out of range (0-65535)`, endNode.src);
    if (out.port === undefined || out.port === 0) fail('POLICY_BAD_PORT', 'endPort needs a non-zero port', endNode.src);
    if (typeof out.port === 'string') fail('POLICY_BAD_PORT', `endPort may not be given with the named port "${out.port}"`, endNode.src);
    if (end < out.port) fail('POLICY_BAD_PORT', `endPort ${end} is below port ${out.port}`, endNode.src);
    out.endPort = end;
  }
  return out;
}

function readHTTP(v: YValue): CiliumHTTPRule {
  const h = expectMap(v, 'an HTTP rule').strict(['method', 'path', 'host', 'headers'], {
    headerMatches: 'header matching with secrets and mismatch actions is not modelled',
  });
  const out: CiliumHTTPRule = { headers: (h.seq('headers') ?? []).map((n) => expectString(n)), src: v.src };
  const method = h.str('method');
  const path = h.str('path');
  const host = h.str('host');
  if (method !== undefined) out.method = method;
  if (path !== undefined) out.path = path;
  if (host !== undefined) out.host = host;
  return out;
}

function readPortRule(v: YValue, deny: boolean): CiliumPortRule {
  const r = expectMap(v, 'a port rule');
  if (deny) r.strict(['ports']);
  else {
    r.strict(['ports', 'rules'], {
      terminatingTLS: 'TLS interception is not modelled',
      originatingTLS: 'TLS origination is not modelled',
      serverNames: 'SNI matching is not modelled',
      listener: 'custom Envoy listeners are not modelled',
    });
  }
  const portNodes = r.seq('ports') ?? [];
  if (portNodes.length > MAX_PORTS) fail('POLICY_BAD_VALUE', `too many ports (at most ${MAX_PORTS})`, r.get('ports')!.src);
  const ports = portNodes.map(readPortProtocol);
  let http: CiliumHTTPRule[] = [];
  const rulesNode = r.get('rules');
  if (rulesNode !== undefined) {
    const rules = expectMap(rulesNode, 'L7 rules').strict(['http'], {
      dns: 'DNS rules need a DNS proxy',
      kafka: 'Kafka rules are not modelled',
      l7proto: 'generic L7 parsers are not modelled',
      l7: 'generic L7 rules are not modelled',
    });
    const httpNode = rules.get('http');
    if (httpNode !== undefined) {
      http = expectSeq(httpNode).map(readHTTP);
      // The agent refuses L7 rules unless every port is an explicit, non-zero TCP port.
      for (const p of ports) {
        if (p.protocol !== 'TCP') fail('POLICY_BAD_VALUE', `HTTP rules apply only to TCP ports (this port is ${p.protocol})`, p.src);
        if (p.port === undefined || p.port === 0) fail('POLICY_BAD_PORT', 'HTTP rules cannot be used with port 0 (every port)', p.src);
      }
    }
  }
  return { ports, http, src: v.src };
}

function readICMPs(nodes: YValue[]): NonNullable<CiliumRule['icmps']> {
  const out: NonNullable<CiliumRule['icmps']> = [];
  for (const n of nodes) {
    const rule = expectMap(n, 'an ICMP rule').strict(['fields']);
    const fields = rule.seq('fields') ?? [];
    if (fields.length > MAX_ICMP_FIELDS) fail('POLICY_BAD_VALUE', `too many ICMP fields (at most ${MAX_ICMP_FIELDS})`, rule.get('fields')!.src);
    for (const fv of fields) {
      const f = expectMap(fv, 'an ICMP field').strict(['family', 'type']);
      const famNode = f.get('family');
      const family = famNode === undefined ? 'IPv4' : expectString(famNode);
      if (family !== 'IPv4' && family !== 'IPv6') fail('POLICY_BAD_VALUE', `"${family}" is not an ICMP family (IPv4, IPv6)`, famNode!.src);
      const typeNode = f.req('type');
      let type: number | undefined;
      if (typeNode.kind === 'scalar' && typeof typeNode.value === 'number') type = expectInt(typeNode);
      else {
        const s = expectString(typeNode, 'an ICMP type number or name');
        const names = ICMP_TYPES[family];
        type = /^[0-9]{1,3}$/.test(s) ? Number(s) : Object.prototype.hasOwnProperty.call(names, s) ? names[s] : undefined;
        if (type === undefined) fail('POLICY_BAD_VALUE', `"${s}" is not an ${family} ICMP type name`, typeNode.src);
      }
      if (type < 0 || type > 255) fail('POLICY_BAD_VALUE', `ICMP type ${type} is out of range (0-255)`, typeNode.src);
      out.push({ family, type, src: fv.src });
    }
  }
  return out;
}

function readRule(v: YValue, dir: Direction): CiliumRule {
  const { allowed, unsupported } = ruleFields(dir);
  const r = expectMap(v, `an ${dir} rule`).strict(allowed, unsupported);
  const p = dir.startsWith('ingress') ? 'from' : 'to';
  // The agent accepts one kind of L3 peer per rule ("Combining X and Y is not supported yet").
  const l3 = [`${p}Endpoints`, `${p}CIDR`, `${p}CIDRSet`, `${p}Entities`];
  let firstL3: string | undefined;
  for (const e of r.map.entries) {
    if (!l3.includes(e.key) || e.value.kind !== 'seq' || e.value.items.length === 0) continue;
    if (firstL3 !== undefined) fail('POLICY_UNSUPPORTED', `combining ${firstL3} and ${e.key} in one rule is not supported by Cilium; write two rules`, e.keySrc);
    firstL3 = e.key;
  }
  const rule: CiliumRule = { src: v.src };
  const eps = r.seq(`${p}Endpoints`);
  if (eps !== undefined) rule.endpoints = eps.map(readCiliumSelector);
  const ents = r.seq(`${p}Entities`);
  if (ents !== undefined) rule.entities = ents.map(readEntity);
  const plain = r.seq(`${p}CIDR`);
  const sets = r.seq(`${p}CIDRSet`);
  if (plain !== undefined || sets !== undefined) {
    rule.cidrs = [
      ...(plain ?? []).map((n) => ({ cidr: formatPrefix(readPrefix(n, true)), except: [], src: n.src })),
      ...(sets ?? []).map(readCIDRSetEntry),
    ];
  }
  const reqs = r.seq(`${p}Requires`);
  if (reqs !== undefined) rule.requires = reqs.map(readCiliumSelector);
  const toPorts = r.seq('toPorts');
  if (toPorts !== undefined) rule.toPorts = toPorts.map((n) => readPortRule(n, dir.endsWith('Deny')));
  const icmps = r.seq('icmps');
  if (icmps !== undefined) {
    if (icmps.length > 0 && (toPorts?.length ?? 0) > 0) {
      fail('POLICY_BAD_VALUE', 'icmps may not be combined with toPorts in one rule; write two rules', r.entry('icmps')!.keySrc);
    }
    rule.icmps = readICMPs(icmps);
  }
  return rule;
}

function readSpec(v: YValue): CiliumPolicySpec {
  const s: Obj = expectMap(v, 'a Cilium policy spec').strict([
    'endpointSelector', 'nodeSelector', ...DIRECTIONS, 'enableDefaultDeny', 'description', 'labels', 'log',
  ]);
  const ep = s.get('endpointSelector');
  const node = s.get('nodeSelector');
  if (ep === undefined && node === undefined) s.missing('endpointSelector', 'a spec needs endpointSelector or nodeSelector');
  if (ep !== undefined && node !== undefined) {
    fail('POLICY_BAD_VALUE', 'a spec may have endpointSelector or nodeSelector, not both', s.entry('nodeSelector')!.keySrc);
  }
  if (!DIRECTIONS.some((d) => s.has(d))) {
    s.missing('ingress', 'a spec needs at least one of ingress, ingressDeny, egress, egressDeny');
  }
  const spec: CiliumPolicySpec = { enableDefaultDeny: {}, src: v.src };
  if (ep !== undefined) spec.endpointSelector = readCiliumSelector(ep);
  if (node !== undefined) spec.nodeSelector = readCiliumSelector(node);
  for (const d of DIRECTIONS) {
    const rules = s.seq(d);
    if (rules !== undefined) spec[d] = rules.map((r) => readRule(r, d));
  }
  if (node !== undefined) {
    for (const d of DIRECTIONS) {
      for (const rule of spec[d] ?? []) {
        const l7 = rule.toPorts?.find((pr) => pr.http.length > 0);
        if (l7 !== undefined) fail('POLICY_UNSUPPORTED', 'host policies (nodeSelector) do not support L7 rules', l7.src);
      }
    }
  }
  const dd = s.obj('enableDefaultDeny')?.strict(['ingress', 'egress']);
  if (dd !== undefined) {
    const ing = dd.bool('ingress');
    const eg = dd.bool('egress');
    if (ing !== undefined) spec.enableDefaultDeny.ingress = ing;
    if (eg !== undefined) spec.enableDefaultDeny.egress = eg;
  }
  const description = s.str('description');
  if (description !== undefined) spec.description = description;
  // Rule labels and log settings are accepted for compatibility and carry no meaning here.
  for (const l of s.seq('labels') ?? []) {
    const lab = expectMap(l, 'a rule label').strict(['key', 'value', 'source']);
    lab.reqStr('key');
    lab.str('value');
    lab.str('source');
  }
  s.obj('log')?.strict(['value']).str('value');
  return spec;
}

export function readCiliumPolicy(root: Obj, kind: CiliumNetworkPolicy['kind']): CiliumNetworkPolicy {
  root.strict([...POLICY_TOP_FIELDS, 'specs']);
  const clusterwide = kind === 'CiliumClusterwideNetworkPolicy';
  const m = readMeta(root, { strict: true, namespaced: !clusterwide, nameRule: 'subdomain' });
  const specs: CiliumPolicySpec[] = [];
  const one = root.get('spec');
  if (one !== undefined) specs.push(readSpec(one));
  for (const n of root.seq('specs') ?? []) specs.push(readSpec(n));
  if (specs.length === 0) root.missing('spec', 'a Cilium policy needs spec or specs');
  return { kind, namespace: m.namespace, name: m.name, specs, src: root.src };
}

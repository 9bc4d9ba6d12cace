// The iptables model's rules (bpf/bench/linear.bpf.c) for a load-balancer model: one rule per
// ClusterIP frontend, in service order, as kube-proxy's KUBE-SERVICES chain has one rule per
// service port (`-d 10.96.0.10/32 -p tcp --dport 80 -j KUBE-SVC-...`). The jump is modelled as
// accept: the first matching rule ends the walk, which is what the chain costs a packet; what
// the KUBE-SVC chain does next (a random choice among a handful of backends) does not grow with
// the number of services.

import { TwinpathError } from '../errors.js';
import { parseAddr } from '../lb/addr.js';
import { LB_PROTO, type LbModel } from '../lb/model.js';

/** The object's names: program, rule array, and the rule count global. */
export const LINEAR = { program: 'linear_chain', rules: 'linear_rules', count: 'nrules', max: 65536 } as const;

/** linear.bpf.c's TC verdicts and where it leaves the matched rule's index. */
export const TC_ACT_OK = 0;
export const TC_ACT_SHOT = 2;

export interface LinearRule {
  /** Destination address (IPv4), port and IANA protocol; the source is any. */
  address: string;
  port: number;
  proto: number;
}

/** The KUBE-SERVICES rules of a model: its IPv4 ClusterIP frontends, ordered by service. */
export function kubeServicesRules(model: LbModel): LinearRule[] {
  const order = new Map(model.services.map((s) => [s.id, `${s.namespace}/${s.name}`]));
  return model.frontends
    .filter((f) => f.type === 'ClusterIP' && !f.address.includes(':'))
    .map((f) => ({ key: order.get(f.serviceId) ?? '', rule: { address: f.address, port: f.port, proto: LB_PROTO[f.protocol] } }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.rule.port - b.rule.port))
    .map((x) => x.rule);
}

/** struct linear_rule: src/mask, dst/mask in network order, port range, protocol, verdict. */
export function encodeLinearRule(r: LinearRule): Uint8Array {
  const a = parseAddr(r.address);
  if (!a || a.length !== 4) throw new TwinpathError('USAGE', `the iptables model takes IPv4 addresses, not "${r.address}"`);
  const v = new Uint8Array(24);
  const dv = new DataView(v.buffer);
  // Source 0.0.0.0/0: both words stay zero. Destination /32.
  v.set(a, 8);
  dv.setUint32(12, 0xffffffff);
  dv.setUint16(16, r.port, true);
  dv.setUint16(18, r.port, true);
  v[20] = r.proto;
  v[21] = 0; // accept
  return v;
}

export function u32le(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n >>> 0, true);
  return b;
}

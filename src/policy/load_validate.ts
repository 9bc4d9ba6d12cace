// Value rules the Kubernetes API applies to the fields the loader reads: object names, label keys
// and values, port numbers and names, protocols, IP addresses and CIDRs. Each reader takes the
// positioned node and returns the checked (and, for addresses, canonical) value or fails there.

import type { ErrorCode } from '../errors.js';
import type { Protocol } from './ast.js';
import { expectInt, expectString, expectStringMap, fail } from './load_fields.js';
import { formatIP, formatPrefix, hostPrefix, parseIP, parsePrefix, type IPAddr, type Prefix } from './load_ip.js';
import type { YValue } from './yaml.js';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;

export function isDnsLabel(s: string): boolean {
  return s.length <= 63 && DNS_LABEL.test(s);
}

export function isDnsSubdomain(s: string): boolean {
  return s.length <= 253 && DNS_SUBDOMAIN.test(s);
}

/** A label key: `[prefix/]name`, prefix a DNS subdomain, name at most 63 characters. */
export function labelKeyProblem(key: string): string | undefined {
  const slash = key.lastIndexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && !isDnsSubdomain(prefix)) {
    return `label key prefix "${prefix}" must be a DNS subdomain (lowercase letters, digits, '-' and '.', at most 253 characters)`;
  }
  if (name.length === 0 || name.length > 63 || !LABEL_NAME.test(name)) {
    return `label key name "${name}" must be 1-63 characters of letters, digits, '-', '_' and '.', starting and ending with a letter or digit`;
  }
  return undefined;
}

export function labelValueProblem(value: string): string | undefined {
  if (value === '') return undefined;
  if (value.length > 63 || !LABEL_NAME.test(value)) {
    return `label value "${value}" must be at most 63 characters of letters, digits, '-', '_' and '.', starting and ending with a letter or digit`;
  }
  return undefined;
}

/** An IANA service name, as container ports and named policy ports are written. */
export function isPortName(s: string): boolean {
  return s.length >= 1 && s.length <= 15 && /^[a-z0-9]+(-[a-z0-9]+)*$/.test(s) && /[a-z]/.test(s);
}

export function readName(v: YValue, rule: 'subdomain' | 'label', what: string): string {
  const s = expectString(v);
  const ok = rule === 'label' ? isDnsLabel(s) : isDnsSubdomain(s);
  if (!ok) {
    const kind = rule === 'label' ? 'a DNS label (at most 63' : 'a DNS subdomain (at most 253';
    fail('POLICY_BAD_VALUE', `${what} "${s}" must be ${kind} lowercase letters, digits and '-'${rule === 'label' ? '' : " or '.'"})`, v.src);
  }
  return s;
}

export function readProtocol(v: YValue): Protocol {
  const s = expectString(v);
  if (s !== 'TCP' && s !== 'UDP' && s !== 'SCTP') {
    fail('POLICY_BAD_VALUE', `unknown protocol "${s}" (expected TCP, UDP or SCTP)`, v.src);
  }
  return s;
}

export function readPortNumber(v: YValue, min = 1): number {
  const n = expectInt(v, 'POLICY_BAD_PORT');
  if (n < min || n > 65535) fail('POLICY_BAD_PORT', `port ${n} is out of range (${min}-65535)`, v.src);
  return n;
}

/** An IntOrString port: a number 1..65535 or an IANA service name. */
export function readIntOrNamedPort(v: YValue): number | string {
  if (v.kind === 'scalar' && typeof v.value === 'number') return readPortNumber(v);
  const s = expectString(v, 'a port number or name');
  if (!isPortName(s)) {
    fail('POLICY_BAD_PORT', `"${s}" is neither a port number nor a valid port name (1-15 lowercase letters, digits and '-', with at least one letter)`, v.src);
  }
  return s;
}

export function readIP(v: YValue): string {
  return formatIP(readIPAddr(v));
}

export function readIPAddr(v: YValue): IPAddr {
  const s = expectString(v, 'an IP address');
  const a = parseIP(s);
  if (a === undefined) fail('POLICY_BAD_VALUE', `"${s}" is not a valid IP address`, v.src);
  return a;
}

/** `addr/bits`; with `allowHost`, a bare address is its own /32 or /128 (Cilium's fromCIDR). */
export function readPrefix(v: YValue, allowHost = false): Prefix {
  const s = expectString(v, 'a CIDR');
  const p = parsePrefix(s);
  if (p !== undefined) return p;
  if (allowHost) {
    const a = parseIP(s);
    if (a !== undefined) return hostPrefix(a);
  }
  fail('POLICY_BAD_CIDR', `"${s}" is not a valid CIDR (address/length)`, v.src);
}

export function readCIDR(v: YValue, allowHost = false): string {
  return formatPrefix(readPrefix(v, allowHost));
}

/** Checks a set of labels (metadata.labels, matchLabels) and returns them as a record. */
export function readLabels(v: YValue, code: ErrorCode, keyProblem = labelKeyProblem): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of expectStringMap(v)) {
    const kp = keyProblem(p.key);
    if (kp !== undefined) fail(code, kp, p.entry.keySrc);
    const vp = labelValueProblem(p.value);
    if (vp !== undefined) fail(code, vp, p.entry.value.src);
    out[p.key] = p.value;
  }
  return out;
}

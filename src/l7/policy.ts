// HTTP rules (CiliumNetworkPolicy `toPorts[].rules.http[]`) as Cilium's proxy applies them to a
// request. Cilium turns each rule into an Envoy route whose header matchers must all hold:
// `method` against the method, `path` against the path (with its query), `host` against the
// authority (the Host header), each a regular expression matching the whole value; `headers`
// entries as "Name: value" (split at the first space, the colon trimmed: the value must be
// exactly that) or "Name" alone (the header must be present). Header names compare without case;
// a header sent several times compares as its values joined with commas. A rule with no fields
// matches every request. The rules of a port are alternatives: the first that matches allows
// the request; when none does, the proxy answers 403 "Access denied" itself and the request
// never reaches the server.

import type { CiliumHTTPRule } from '../policy/ast.js';
import { TwinpathError } from '../errors.js';
import { headerValue, type HttpRequest } from './http.js';
import { compileRe2, RegexSyntaxError } from './regex.js';

/** Cilium's proxy answer to a request no rule allows. */
export const ACCESS_DENIED = { code: 403, body: 'Access denied\r\n' } as const;

export interface HeaderRequirement {
  name: string;
  /** Exact value required; undefined: presence is enough. */
  value?: string;
}

/** One HTTP rule, compiled. */
export interface HttpRuleMatcher {
  method?: RegExp;
  path?: RegExp;
  host?: RegExp;
  headers: HeaderRequirement[];
  /** The rule as written, and where. */
  rule: CiliumHTTPRule;
  /** The compiled policy rule (RuleInfo.id) the HTTP rule belongs to; 0 when not known. */
  ruleId: number;
  /** Its position in that rule's list of HTTP rules (across its toPorts entries). */
  index: number;
}

function regex(pattern: string | undefined, rule: CiliumHTTPRule, field: string): RegExp | undefined {
  if (pattern === undefined || pattern === '') return undefined;
  try {
    return compileRe2(pattern);
  } catch (e) {
    if (!(e instanceof RegexSyntaxError)) throw e;
    const src = rule.src;
    throw new TwinpathError('POLICY_BAD_VALUE', `HTTP rule ${field} "${pattern}" is not a valid regular expression: ${e.message}`, {
      file: src.file,
      line: src.line,
      column: src.column,
      path: `${src.path}.${field}`,
    });
  }
}

/** Cilium's reading of a `headers` entry. */
export function headerRequirement(entry: string): HeaderRequirement {
  const space = entry.indexOf(' ');
  if (space < 0) return { name: entry };
  return { name: entry.slice(0, space).replace(/:+$/, ''), value: entry.slice(space + 1) };
}

/** Compiles one rule; a bad regular expression is POLICY_BAD_VALUE at the rule's field. */
export function compileHttpRule(rule: CiliumHTTPRule, ruleId = 0, index = 0): HttpRuleMatcher {
  const m: HttpRuleMatcher = { headers: rule.headers.map(headerRequirement), rule, ruleId, index };
  const method = regex(rule.method, rule, 'method');
  const path = regex(rule.path, rule, 'path');
  const host = regex(rule.host, rule, 'host');
  if (method) m.method = method;
  if (path) m.path = path;
  if (host) m.host = host;
  return m;
}

/** The value Envoy's `:path` holds: path and query; `*` for `OPTIONS *`; '' for CONNECT. */
function pseudoPath(req: HttpRequest): string {
  return req.path !== '' ? req.path : req.target === '*' ? '*' : '';
}

export function matchesHttpRule(m: HttpRuleMatcher, req: HttpRequest): boolean {
  if (m.method && !m.method.test(req.method)) return false;
  if (m.path && !m.path.test(pseudoPath(req))) return false;
  if (m.host && !m.host.test(req.host)) return false;
  for (const h of m.headers) {
    const v = headerValue(req.headers, h.name);
    if (v === undefined) return false;
    if (h.value !== undefined && v !== h.value) return false;
  }
  return true;
}

/** One requirement of a rule held against a request: what `explain` shows for each rule. */
export interface RequirementCheck {
  field: 'method' | 'path' | 'host' | 'header';
  /** The rule's text: the regular expression, or the header entry as written. */
  expected: string;
  /** What the request had (undefined: the header is absent). */
  actual: string | undefined;
  ok: boolean;
}

/** Every requirement of a rule against a request, in the order the rule lists them. */
export function checkHttpRule(m: HttpRuleMatcher, req: HttpRequest): RequirementCheck[] {
  const out: RequirementCheck[] = [];
  const regexCheck = (field: 'method' | 'path' | 'host', re: RegExp | undefined, text: string | undefined, actual: string) => {
    if (re) out.push({ field, expected: text!, actual, ok: re.test(actual) });
  };
  regexCheck('method', m.method, m.rule.method, req.method);
  regexCheck('path', m.path, m.rule.path, pseudoPath(req));
  regexCheck('host', m.host, m.rule.host, req.host);
  m.headers.forEach((h, i) => {
    const v = headerValue(req.headers, h.name);
    out.push({ field: 'header', expected: m.rule.headers[i]!, actual: v, ok: v !== undefined && (h.value === undefined || v === h.value) });
  });
  return out;
}

export interface L7Verdict {
  verdict: 'FORWARDED' | 'DROPPED';
  /** The first rule that allowed the request. */
  matchedRule?: HttpRuleMatcher;
}

const compiled = new WeakMap<CiliumHTTPRule, HttpRuleMatcher>();

/** The proxy's decision on a request: allowed by the first matching rule, else DROPPED. */
export function l7Verdict(rules: ReadonlyArray<CiliumHTTPRule | HttpRuleMatcher>, req: HttpRequest): L7Verdict {
  rules.forEach((r, i) => {
    if ('src' in r && !compiled.has(r)) compiled.set(r, compileHttpRule(r, 0, i));
  });
  for (const r of rules) {
    const m = 'src' in r ? compiled.get(r)! : r;
    if (matchesHttpRule(m, req)) return { verdict: 'FORWARDED', matchedRule: m };
  }
  return { verdict: 'DROPPED' };
}

/** A rule for a person: `method=GET path=/public headers=[X-Token]`, `{}` for the empty rule. */
export function describeHttpRule(rule: CiliumHTTPRule): string {
  const parts: string[] = [];
  if (rule.method) parts.push(`method=${rule.method}`);
  if (rule.path) parts.push(`path=${rule.path}`);
  if (rule.host) parts.push(`host=${rule.host}`);
  if (rule.headers.length > 0) parts.push(`headers=[${rule.headers.join(', ')}]`);
  return parts.length === 0 ? '{}' : parts.join(' ');
}

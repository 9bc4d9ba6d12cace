import { describe, expect, it } from 'vitest';
import type { CiliumHTTPRule } from '../../src/policy/ast.js';
import { isTwinpathError } from '../../src/errors.js';
import type { HttpRequest } from '../../src/l7/http.js';
import { checkHttpRule, compileHttpRule, describeHttpRule, headerRequirement, l7Verdict } from '../../src/l7/policy.js';
import { compileRe2, RegexSyntaxError } from '../../src/l7/regex.js';

let line = 0;
function rule(r: Partial<Omit<CiliumHTTPRule, 'src'>>): CiliumHTTPRule {
  return { headers: [], ...r, src: { file: 'p.yaml', line: ++line, column: 11, path: 'spec.ingress[0].toPorts[0].rules.http[0]' } };
}

function req(method: string, target: string, headers: Array<[string, string]> = [], host = 'svc'): HttpRequest {
  return {
    method,
    target,
    path: target.startsWith('/') ? target : '',
    host,
    version: 'HTTP/1.1',
    headers: [['Host', host] as [string, string], ...headers].map(([name, value]) => ({ name, value })),
    body: 0,
    keepAlive: true,
    offset: 0,
  };
}

describe('compileRe2', () => {
  it('matches the whole value', () => {
    const r = compileRe2('/public');
    expect(r.test('/public')).toBe(true);
    expect(r.test('/public/x')).toBe(false);
    expect(r.test('/x/public')).toBe(false);
    expect(compileRe2('GET|HEAD').test('GETX')).toBe(false);
    expect(compileRe2('GET|HEAD').test('HEAD')).toBe(true);
  });

  it('carries RE2 syntax over: POSIX classes, \\Q..\\E, \\z, named groups, leading flags, \\x{..}', () => {
    expect(compileRe2('/v[[:digit:]]+/[[:alpha:]_-]+').test('/v12/ab_c-d')).toBe(true);
    expect(compileRe2('/v[[:digit:]]+').test('/vx')).toBe(false);
    expect(compileRe2('\\Q/a.b?\\E').test('/a.b?')).toBe(true);
    expect(compileRe2('\\Q/a.b?\\E').test('/aXb')).toBe(false);
    expect(compileRe2('/x\\z').test('/x')).toBe(true);
    expect(compileRe2('/(?P<id>[0-9]+)').test('/42')).toBe(true);
    expect(compileRe2('(?i)get').test('GET')).toBe(true);
    expect(compileRe2('\\x{41}\\x42').test('AB')).toBe(true);
    expect(compileRe2('[]a]+').test(']a]')).toBe(true);
    expect(compileRe2('\\pL+').test('é')).toBe(true);
    expect(compileRe2('a\\-b\\:c').test('a-b:c')).toBe(true);
  });

  it('refuses what RE2 refuses or cannot be carried over', () => {
    for (const bad of ['(a)\\1', 'a(?=b)', 'a(?!b)', '(?<=a)b', 'a(?i)b', '[[:^alpha:]]', '[[:nope:]]', '\\C', 'a[b', '(?U)a', 'a(']) {
      expect(() => compileRe2(bad), bad).toThrow(RegexSyntaxError);
    }
  });
});

describe('HTTP rules', () => {
  it('anchors method and path: a prefix of the path is not a match', () => {
    const rules = [rule({ method: 'GET', path: '/public' })];
    expect(l7Verdict(rules, req('GET', '/public')).verdict).toBe('FORWARDED');
    expect(l7Verdict(rules, req('GET', '/public/secret')).verdict).toBe('DROPPED');
    expect(l7Verdict(rules, req('GETS', '/public')).verdict).toBe('DROPPED');
    expect(l7Verdict(rules, req('POST', '/public')).verdict).toBe('DROPPED');
  });

  it('matches the path with its query, as the proxy sees :path', () => {
    const rules = [rule({ path: '/search' })];
    expect(l7Verdict(rules, req('GET', '/search?q=1')).verdict).toBe('DROPPED');
    expect(l7Verdict([rule({ path: '/search(\\?.*)?' })], req('GET', '/search?q=1')).verdict).toBe('FORWARDED');
  });

  it('uses regular expressions for method, path and host', () => {
    const rules = [rule({ method: 'GET|HEAD', path: '/api/v[0-9]+/.*', host: '.*\\.example\\.com' })];
    expect(l7Verdict(rules, req('HEAD', '/api/v2/items', [], 'shop.example.com')).verdict).toBe('FORWARDED');
    expect(l7Verdict(rules, req('HEAD', '/api/v2/items', [], 'example.com')).verdict).toBe('DROPPED');
    expect(l7Verdict(rules, req('HEAD', '/api/vx/items', [], 'shop.example.com')).verdict).toBe('DROPPED');
  });

  it('requires header presence for "Name" and the exact value for "Name: value"', () => {
    const presence = [rule({ headers: ['X-Token'] })];
    expect(l7Verdict(presence, req('GET', '/', [['x-token', '']])).verdict).toBe('FORWARDED');
    expect(l7Verdict(presence, req('GET', '/')).verdict).toBe('DROPPED');
    const value = [rule({ headers: ['X-Mode: read only'] })];
    expect(l7Verdict(value, req('GET', '/', [['X-MODE', 'read only']])).verdict).toBe('FORWARDED');
    expect(l7Verdict(value, req('GET', '/', [['X-Mode', 'read']])).verdict).toBe('DROPPED');
    expect(l7Verdict(value, req('GET', '/', [['X-Mode', 'read only'], ['X-Mode', 'again']])).verdict).toBe('DROPPED');
    const both = [rule({ headers: ['A', 'B: 1'] })];
    expect(l7Verdict(both, req('GET', '/', [['A', 'x']])).verdict).toBe('DROPPED');
    expect(l7Verdict(both, req('GET', '/', [['A', 'x'], ['B', '1']])).verdict).toBe('FORWARDED');
  });

  it('reads header entries as Cilium does', () => {
    expect(headerRequirement('X-Key: true')).toEqual({ name: 'X-Key', value: 'true' });
    expect(headerRequirement('X-Key true')).toEqual({ name: 'X-Key', value: 'true' });
    expect(headerRequirement('X-Key')).toEqual({ name: 'X-Key' });
  });

  it('ORs several rules and reports the first that matched', () => {
    const rules = [rule({ method: 'GET', path: '/a' }), rule({ method: 'POST', path: '/b' }), rule({ path: '/b' })];
    const v = l7Verdict(rules, req('POST', '/b'));
    expect(v.verdict).toBe('FORWARDED');
    expect(v.matchedRule?.rule).toBe(rules[1]);
    expect(v.matchedRule?.index).toBe(1);
    expect(l7Verdict(rules, req('DELETE', '/a')).verdict).toBe('DROPPED');
    expect(l7Verdict([], req('GET', '/')).verdict).toBe('DROPPED');
  });

  it('lets an empty rule match every request', () => {
    expect(l7Verdict([rule({})], req('DELETE', '/anything')).verdict).toBe('FORWARDED');
  });

  it('refuses a bad regular expression with the rule field as location', () => {
    const r = rule({ path: '/a(' });
    try {
      compileHttpRule(r);
      expect.unreachable();
    } catch (e) {
      expect(isTwinpathError(e) && e.code).toBe('POLICY_BAD_VALUE');
      if (isTwinpathError(e)) expect(e.location).toMatchObject({ file: 'p.yaml', line: r.src.line, column: 11, path: `${r.src.path}.path` });
    }
  });

  it('describes rules for a person', () => {
    expect(describeHttpRule(rule({ method: 'GET', path: '/p', headers: ['X'] }))).toBe('method=GET path=/p headers=[X]');
    expect(describeHttpRule(rule({}))).toBe('{}');
  });
});

describe('checkHttpRule', () => {
  it('lists each requirement with what the request had', () => {
    const m = compileHttpRule(rule({ method: 'GET', path: '/a', headers: ['X-Token', 'X-Mode: ro'] }));
    expect(checkHttpRule(m, req('POST', '/a', [['X-Mode', 'rw']]))).toEqual([
      { field: 'method', expected: 'GET', actual: 'POST', ok: false },
      { field: 'path', expected: '/a', actual: '/a', ok: true },
      { field: 'header', expected: 'X-Token', actual: undefined, ok: false },
      { field: 'header', expected: 'X-Mode: ro', actual: 'rw', ok: false },
    ]);
  });
});

// The conformance-model suite checked on its own, without any engine: the expectation language
// expands to the tables meant, the printing is upstream-shaped, and every case on disk is
// well formed (expect.yaml parses and expands, policy files are valid YAML of known kinds).

import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { caseNames, loadCase, loadModel } from './cases.js';
import {
  ExpectationError,
  expandMatrix,
  expandProbes,
  matrixProbes,
  parseExpectation,
  parseRule,
  probeKey,
} from './expect.js';
import type { CaseExpectation, ExpectedProbe, Model } from './expect.js';
import { formatComparison, formatMatrix, mismatches } from './matrix.js';

const model = loadModel();
const src = { file: 't.yaml', line: 7 };

function exp(text: string): CaseExpectation {
  return parseExpectation(text, 't.yaml');
}

function cell(table: ExpectedProbe[], from: string, to: string, protocol: string, port: number): boolean {
  const p = table.find((e) => e.from === from && e.to === to && e.protocol === protocol && e.port === port);
  if (!p) throw new Error(`no cell ${protocol}/${port} ${from} -> ${to}`);
  return p.allowed;
}

describe('the cluster model', () => {
  it('has the nine pods of namespaces x, y, z', () => {
    expect(model.pods).toEqual(['x/a', 'x/b', 'x/c', 'y/a', 'y/b', 'y/c', 'z/a', 'z/b', 'z/c']);
    expect(matrixProbes(model)).toHaveLength(81 * 2 * 3);
  });

  it('gives every pod the six upstream container ports, an IP in its node podCIDR, and a node', () => {
    const list = parseAllDocuments(readFileSync(new URL('./cluster.yaml', import.meta.url), 'utf8'));
    const items = ((list as Array<{ toJS(): unknown }>)[0].toJS() as { items: any[] }).items;
    const nodes = new Map(items.filter((i) => i.kind === 'Node').map((n) => [n.metadata.name, n.spec.podCIDR as string]));
    expect(nodes.size).toBe(2);
    for (const pod of items.filter((i) => i.kind === 'Pod')) {
      const names = pod.spec.containers.flatMap((c: any) => c.ports.map((p: any) => `${p.name}=${p.containerPort}/${p.protocol}`));
      expect(names.sort()).toEqual(
        ['serve-80-sctp=80/SCTP', 'serve-80-tcp=80/TCP', 'serve-80-udp=80/UDP', 'serve-81-sctp=81/SCTP', 'serve-81-tcp=81/TCP', 'serve-81-udp=81/UDP'],
      );
      const cidr = nodes.get(pod.spec.nodeName)!;
      expect(pod.status.podIP.startsWith(cidr.replace(/0\/24$/, ''))).toBe(true);
      expect(pod.status.podIPs).toEqual([{ ip: pod.status.podIP }]);
    }
  });
});

describe('rules', () => {
  it('parse verdict, patterns and port specs', () => {
    const r = parseRule('allow y/*,z/b -> x/a on TCP/80,*/81', src, false);
    expect(r.allowed).toBe(true);
    expect(r.from).toEqual(['y/*', 'z/b']);
    expect(r.to).toEqual(['x/a']);
    expect(r.specs).toEqual([{ protocol: 'TCP', port: 80 }, { protocol: '*', port: 81 }]);
    expect(parseRule('deny * -> *', src, false).specs).toEqual([{ protocol: '*', port: '*' }]);
  });

  it('refuse what is not a rule, with the line', () => {
    const bad = [
      'permit * -> x/a',
      'deny * x/a',
      'deny * -> x',
      'deny * -> x/a on tcp/80',
      'deny * -> x/a on TCP/0',
      'deny * -> x/a on TCP',
      'deny host -> x/a',
      'deny * -> x/a,self',
      'deny x/a -> ip:300.1.1.1',
    ];
    for (const text of bad) {
      const external = text.includes('ip:');
      expect(() => parseRule(text, src, external), text).toThrow(ExpectationError);
      try {
        parseRule(text, src, external);
      } catch (e) {
        expect((e as ExpectationError).line).toBe(7);
      }
    }
    expect(() => parseRule('deny host -> x/a', src, true)).not.toThrow();
    expect(() => parseRule('allow x/a -> ip:2001:db8::1', src, true)).not.toThrow();
  });
});

describe('expansion', () => {
  it('applies the default, then each rule in order', () => {
    const table = expandMatrix(
      exp('description: d\nreference: r\ndefault: allow\nmatrix:\n- deny * -> x/a\n- allow x/b -> x/a on TCP/80\n'),
      model,
    );
    expect(table).toHaveLength(486);
    const denied = table.filter((p) => !p.allowed);
    // Nine sources into x/a on six port/protocols, less x/b on TCP/80.
    expect(denied).toHaveLength(9 * 6 - 1);
    expect(cell(table, 'x/b', 'x/a', 'TCP', 80)).toBe(true);
    expect(cell(table, 'x/b', 'x/a', 'TCP', 81)).toBe(false);
    expect(cell(table, 'x/b', 'x/a', 'UDP', 80)).toBe(false);
    expect(cell(table, 'x/a', 'x/a', 'SCTP', 81)).toBe(false);
    expect(cell(table, 'x/a', 'x/b', 'TCP', 80)).toBe(true);
    expect(cell(table, 'y/c', 'z/a', 'UDP', 81)).toBe(true);
  });

  it('expands namespace, pod-name and self patterns, and a deny default', () => {
    const table = expandMatrix(
      exp('description: d\nreference: r\ndefault: deny\nmatrix:\n- allow */a -> y/*\n- allow x/* -> self on UDP/*\n'),
      model,
    );
    const allowed = table.filter((p) => p.allowed).map(probeKey).sort();
    const want: string[] = [];
    for (const protocol of ['TCP', 'UDP', 'SCTP']) {
      for (const port of [80, 81]) {
        for (const from of ['x/a', 'y/a', 'z/a']) for (const to of ['y/a', 'y/b', 'y/c']) want.push(probeKey({ from, to, port, protocol: protocol as 'TCP' }));
        if (protocol === 'UDP') for (const p of ['x/a', 'x/b', 'x/c']) want.push(probeKey({ from: p, to: p, port, protocol: 'UDP' }));
      }
    }
    expect(allowed).toEqual(want.sort());
  });

  it('refuses a rule that names no probe', () => {
    expect(() => expandMatrix(exp('description: d\nreference: r\ndefault: allow\nmatrix:\n- deny w/* -> x/a\n'), model)).toThrow(
      /t\.yaml:5: rule matches no probe/,
    );
  });

  it('expands explicit probes with host and ip endpoints, later lines winning', () => {
    const e = exp(
      [
        'description: d',
        'reference: r',
        'default: allow',
        'probes:',
        '- allow host -> x/*',
        '- deny ip:198.51.100.10 -> x/a on TCP/80,UDP/80',
        '- allow ip:198.51.100.10 -> x/a on UDP/80',
        '',
      ].join('\n'),
    );
    const probes = expandProbes(e, model);
    expect(probes.filter((p) => p.from === 'host')).toHaveLength(3 * 6);
    const fromIp = probes.filter((p) => p.from.startsWith('ip:'));
    expect(fromIp.map((p) => `${probeKey(p)} ${p.allowed}`).sort()).toEqual([
      'TCP/80 ip:198.51.100.10 -> x/a false',
      'UDP/80 ip:198.51.100.10 -> x/a true',
    ]);
    expect(() => expandProbes(exp('description: d\nreference: r\ndefault: allow\nprobes:\n- allow host -> ip:1.2.3.4\n'), model)).toThrow(
      /a probe needs a pod/,
    );
  });

  it('refuses unknown keys, a missing reference and a bad default, with lines', () => {
    expect(() => exp('description: d\nreference: r\ndefault: allow\nmatrx: []\n')).toThrow(/t\.yaml:4: unknown key "matrx"/);
    expect(() => exp('description: d\ndefault: allow\n')).toThrow(/missing "reference"/);
    expect(() => exp('description: d\nreference: r\ndefault: maybe\n')).toThrow(/t\.yaml:3: "default" must be allow or deny/);
    expect(() => exp('description: d\nreference: r\ndefault: allow\nmatrix:\n- 42\n')).toThrow(/t\.yaml:5/);
    expect(() => exp('description: d\nreference: r\ndefault: allow\nmatrix: [\n')).toThrow(ExpectationError);
  });
});

describe('printing', () => {
  const small: Model = { pods: ['x/a', 'x/b'], ports: [80], protocols: ['TCP'] };
  const expected = expandMatrix(exp('description: d\nreference: r\ndefault: allow\nmatrix:\n- deny * -> x/a\n'), small);

  it('prints a matrix upstream-style: rows from, columns to, . and X', () => {
    const byKey = new Map(expected.map((p) => [probeKey(p), p.allowed]));
    const text = formatMatrix(small, 'TCP', 80, (f, t) => (byKey.get(probeKey({ from: f, to: t, port: 80, protocol: 'TCP' })) ? '.' : 'X'));
    expect(text).toBe(['TCP/80', '-   x/a x/b', 'x/a X   .', 'x/b X   .'].join('\n'));
  });

  it('prints expected, observed and the comparison where they differ, and nothing when they agree', () => {
    expect(formatComparison(small, expected, expected)).toBe('');
    const observed = expected.map((p) => (p.from === 'x/b' && p.to === 'x/a' ? { ...p, allowed: true, detail: 'FORWARDED' } : p));
    const extraExpected = [{ from: 'host', to: 'x/a', port: 80, protocol: 'TCP' as const, allowed: true }];
    const extraObserved = [{ ...extraExpected[0], allowed: false, detail: 'policy denied (ingress)' }];
    expect(mismatches([...expected, ...extraExpected], [...observed, ...extraObserved])).toHaveLength(2);
    const report = formatComparison(small, [...expected, ...extraExpected], [...observed, ...extraObserved]);
    expect(report).toContain('2 probe(s) differ');
    expect(report).toContain('TCP/80: 1 of 4 differ');
    expect(report).toContain(['expected:', 'TCP/80', '-   x/a x/b', 'x/a X   .', 'x/b X   .'].join('\n'));
    expect(report).toContain(['observed:', 'TCP/80', '-   x/a x/b', 'x/a X   .', 'x/b .   .'].join('\n'));
    expect(report).toContain(['comparison:', 'TCP/80', '-   x/a x/b', 'x/a .   .', 'x/b X   .'].join('\n'));
    expect(report).toContain('TCP/80 host -> x/a: expected allowed, observed denied (policy denied (ingress))');
    expect(report).toContain('TCP/80 x/b -> x/a: observed allowed (FORWARDED)');
  });

  it('counts a probe the other side lacks as a difference', () => {
    expect(mismatches(expected, expected.slice(1))).toHaveLength(1);
  });
});

describe('the cases', () => {
  const names = caseNames();
  const KINDS = new Set(['NetworkPolicy', 'CiliumNetworkPolicy', 'CiliumClusterwideNetworkPolicy']);

  it('number at least forty, with unique numbers', () => {
    expect(names.length).toBeGreaterThanOrEqual(40);
    const numbers = names.map((n) => n.split('-')[0]);
    expect(new Set(numbers).size).toBe(numbers.length);
    for (const n of names) expect(n).toMatch(/^\d\d-[a-z0-9-]+$/);
  });

  for (const name of names) {
    it(`${name}: expect.yaml expands, policy files are YAML policies`, () => {
      const c = loadCase(name, model);
      expect(c.matrixSize).toBe(486);
      // A case must say something beyond "everything is allowed": a matrix rule or an explicit probe.
      expect(c.expectation.matrix.length + c.expectation.probes.length).toBeGreaterThan(0);
      expect(c.policyFiles.length).toBeGreaterThan(0);
      const seen = new Set<string>();
      for (const file of c.policyFiles) {
        const docs = parseAllDocuments(readFileSync(file, 'utf8')) as Array<{ errors: unknown[]; toJS(): any }>;
        expect(docs.length).toBeGreaterThan(0);
        for (const doc of docs) {
          expect(doc.errors, basename(file)).toEqual([]);
          const obj = doc.toJS();
          expect(KINDS.has(obj.kind), `${basename(file)}: kind ${obj.kind}`).toBe(true);
          expect(obj.apiVersion).toBe(obj.kind === 'NetworkPolicy' ? 'networking.k8s.io/v1' : 'cilium.io/v2');
          expect(typeof obj.metadata?.name).toBe('string');
          const clusterwide = obj.kind === 'CiliumClusterwideNetworkPolicy';
          expect(obj.metadata.namespace === undefined, `${obj.metadata.name}: namespace`).toBe(clusterwide);
          const id = `${obj.kind}/${obj.metadata.namespace ?? ''}/${obj.metadata.name}`;
          expect(seen.has(id), `duplicate ${id}`).toBe(false);
          seen.add(id);
        }
      }
    });
  }
});

// The fast scanner (src/policy/load_scan.ts) against the full parser (src/policy/yaml.ts): on
// every text the scanner reads to the end, both give the same trees (values, positions, paths);
// every text the full parser refuses, the scanner gives up on. Hand-written cases for each
// construct, generated kubectl-style documents with random damage, and a generated cluster read
// through parseDocuments both ways.

import { describe, expect, it } from 'vitest';
import { TwinpathError } from '../../src/errors.js';
import { parseDocuments } from '../../src/policy/load.js';
import { resolvePlain, scanYaml, type ListHead } from '../../src/policy/load_scan.js';
import type { Inputs } from '../../src/policy/ast.js';
import { parseYaml, type YMap, type YScalar, type YValue } from '../../src/policy/yaml.js';
import { mulberry32 } from '../../src/util/prng.js';
// @ts-expect-error the benchmark's generator is plain JavaScript
import { clusterFiles, generateCluster, toYaml } from '../../bench/gen-cluster.js';

type Outcome = { roots: YValue[] } | { error: { code: string; location: unknown } };

function full(text: string): Outcome {
  try {
    return { roots: parseYaml('t.yaml', text).flatMap((d) => (d.root === undefined ? [] : [d.root])) };
  } catch (e) {
    if (e instanceof TwinpathError) return { error: { code: e.code, location: e.location } };
    throw e;
  }
}

/** The scanner's trees, or undefined when it gives up. */
function scanned(text: string): YValue[] | undefined {
  const roots: YValue[] = [];
  return scanYaml('t.yaml', text, { root: (r) => roots.push(r) }) ? roots : undefined;
}

/** Scanner and parser agree on `text`; returns whether the scanner read it. */
function agree(text: string): boolean {
  const fast = scanned(text);
  if (fast === undefined) return false;
  expect(full(text), JSON.stringify(text)).toEqual({ roots: fast });
  return true;
}

const lines = (...l: string[]): string => l.join('\n') + '\n';

describe('scanner: the subset it reads, exactly as the parser does', () => {
  const read: Array<[string, string]> = [
    ['kubectl object', lines('apiVersion: v1', 'kind: Pod', 'metadata:', '  name: a', '  labels:', '    app: web', 'spec:', '  containers:', '  - name: c', '    ports:', '    - containerPort: 80', '      name: http')],
    ['several documents', lines('---', 'a: 1', '---', '# only a comment', '---', 'b: 2', '--- # marker comment', 'c: [x, y]')],
    ['implicit first document', lines('a: 1', '---', 'b: 2')],
    ['empty values', 'a:\nb: \nc:   # note\nd:'],
    ['null sequence items', lines('a:', '- ', '-', '- x', '-   # c')],
    ['nested sequences', lines('- - a', '  - b', '- -', '  - c')],
    ['sequence indented under its key', lines('a:', '  - 1', '  - 2', 'b: x')],
    ['item holding a block on the next line', lines('-', '  a: 1', '  b: 2', '- x')],
    ['core schema scalars', lines('a: ~', 'b: Null', 'c: TRUE', 'd: false', 'e: 0o17', 'f: -12', 'g: +3', 'h: 0x1F', 'i: .inf', 'j: -.Inf', 'k: .NaN', 'l: 1e3', 'm: 1.50', 'n: .5', 'o: 1_000', 'p: yes', 'q: 2024-01-01', 'r: 0o8', 's: 0X1F', 't: 1.', 'u: -0')],
    ['keys resolved then written as strings', lines('1: a', '0x10: b', 'true: c', 'null: d', '1.50: e', '"q": f', "'it''s': g")],
    ['plain scalars with indicators inside', lines('a: b#c', 'b: x,y', 'c: a[0]', 'd: k8s:app', 'e: --port=80', 'f: -x', 'g: a - b', 'h: é ü', 'i: a:b')],
    ['comments everywhere', lines('# head', 'a: 1 # trailing', '  # indented', '# left', 'b:', '    # deeper', '  c: 2', '', '   ', 'd: 3')],
    ['double-quoted escapes', lines('a: "x\\"y\\\\z\\/\\n\\t\\u00e9\\b\\f\\r"', 'b: "#not a comment"', 'c: ""')],
    ['single-quoted', lines("a: 'it''s'", "b: ''", "c: '\"x\"'")],
    ['multi-line plain', lines('a: one', '  two', '', '  three', '', '', '  four', 'b: y')],
    ['multi-line plain in a sequence', lines('- one', ' two', '- three', '   four')],
    ['multi-line quoted', lines('a: "one', '  two', '', '  three  "', "b: 'x", "   y''z", "  '")],
    ['literal block scalars', lines('a: |', '  line one', '    indented', '', '  last', 'b: |-', '  stripped', '', 'c: |+', '  kept', 'd: |  # comment', '   x', 'e: 1')],
    ['literal block in a sequence', lines('- |', '  x', '- |-', '   y')],
    ['flow collections on one line', lines('a: [1, "two", three, null, true]', 'b: {x: 1, "y": [2], z: {}}', 'c: []', 'd: {}', 'e: ["a"]')],
    ['JSON document', '{\n  "apiVersion": "v1",\n  "kind": "List",\n  "items": [\n    {"a": 1.5e3, "b": [true, false, null], "c": "\\u00e9"},\n    {}\n  ]\n}\n'],
    ['JSON with adjacent values', '{"a":1,"b":[1,2],"c":{"d":"e"}}'],
    ['indented root mapping', lines('  a: 1', '  b:', '    c: 2')],
    ['no final line break', 'a: 1\nb: [x]'],
    ['empty text', ''],
    ['only comments', '# a\n\n  # b\n'],
  ];
  for (const [name, text] of read) {
    it(name, () => {
      expect(agree(text), 'the scanner reads it').toBe(true);
    });
  }

  const left: Array<[string, string]> = [
    ['anchor and alias', lines('a: &x 1', 'b: *x')],
    ['tag', 'a: !!str 1\n'],
    ['explicit key', '? a\n: b\n'],
    ['folded block scalar', 'a: >\n  x\n'],
    ['indentation indicator', 'a: |2\n   x\n'],
    ['directive', '%YAML 1.2\n---\na: 1\n'],
    ['document end marker', 'a: 1\n...\n'],
    ['tab', 'a:\t1\n'],
    ['carriage return', 'a: 1\r\nb: 2\r\n'],
    ['duplicate key', 'a: 1\na: 2\n'],
    ['keys equal once resolved', '1: a\n"1": b\n'],
    ['flow collection over several lines in a block', 'a: [1,\n  2]\n'],
    ['scalar document', 'just text\n'],
    ['scalar on its own line below a key', 'a:\n  text\n'],
    ['trailing comma', 'a: [1, 2,]\n'],
    ['escaped line break', 'a: "x\\\n  y"\n'],
    ['literal without final line break', 'a: |\n  x'],
    ['unterminated quote', 'a: "x\n'],
    ['key too long', `${'k'.repeat(1100)}: 1\n`],
  ];
  for (const [name, text] of left) {
    it(`leaves to the parser: ${name}`, () => {
      expect(scanned(text)).toBeUndefined();
    });
  }

  it('resolves plain scalars as the core schema does', () => {
    for (const s of ['~', 'null', 'Null', 'NULL', 'nULL', 'True', 'tRUE', '0o7', '0o8', '007', '+1', '-0', '0x', '0xG', '.inf', '+.INF', '.nan', '-.nan', '1e5', '1E-5', '.5e1', '1.', '.', '+.5', 'nan', 'n', 'f']) {
      const o = full(`a: ${s}\n`) as { roots: YMap[] };
      expect(Object.is(resolvePlain(s), (o.roots[0].entries[0].value as YScalar).value), s).toBe(true);
    }
  });
});

/** kubectl-style YAML from a seeded generator: maps, both sequence styles, every scalar form. */
function generator(seed: number): () => string {
  const rnd = mulberry32(seed);
  const int = (n: number): number => Math.floor(rnd() * n);
  const pick = <T>(a: readonly T[]): T => a[int(a.length)];
  const WORDS = ['a', 'app', 'web-1', 'k8s:app', 'x.y/z', 'true', 'False', 'null', '~', '0', '-1', '+7', '0o17', '0x1F', '1.5', '.5', '1e3', '-.inf', '.NaN', '1_000', 'a b', 'a#b', 'a,b', 'a[0]', 'x}', '--port=80', '-x', 'é', 'yes', '::1'];
  const KEYS = ['name', 'labels', 'app', 'spec', 'ports', 'port', '1', 'true', 'k8s:app', 'x y', 'a.b/c', 'name'];
  const quoted = (): string => {
    const body = pick(['', 'x', 'a b', 'it\'s', '#', ': ', 'é', '\\n', '\\"', '\\u00e9', '\\t', '  sp  ']);
    return rnd() < 0.5 ? `"${body}"` : `'${body.replace(/\\/g, '').replace(/'/g, "''")}'`;
  };
  const scalar = (): string => {
    const r = rnd();
    if (r < 0.45) return pick(WORDS);
    if (r < 0.75) return quoted();
    if (r < 0.85) return `[${Array.from({ length: int(3) }, () => (rnd() < 0.5 ? pick(WORDS.slice(0, 18)) : quoted())).join(', ')}]`;
    return `{${Array.from({ length: int(3) }, (_, i) => `${pick(['k', 'x'])}${i}: ${pick(WORDS.slice(0, 18))}`).join(', ')}}`;
  };
  const pad = (n: number): string => ' '.repeat(n);
  const comment = (): string => (rnd() < 0.1 ? ` # ${pick(['c', 'x: y', '#'])}` : '');
  /** A value after `key:` or `- ` at `parent`'s indentation: inline lines, or nested lines. */
  function value(parent: number, depth: number, out: string[], head: string): void {
    const r = rnd();
    if (depth > 3 || r < 0.45) {
      out.push(`${head} ${scalar()}${comment()}`);
    } else if (r < 0.52) {
      const cont = parent + 1 + int(3);
      const q = pick(['', '"', "'"]);
      out.push(`${head} ${q}${pick(WORDS.slice(0, 5))}`);
      for (let i = int(3); i >= 0; i--) out.push(rnd() < 0.2 && i > 0 ? '' : `${pad(cont)}${pick(['more', 'words here', 'x'])}`);
      if (q !== '') out[out.length - 1] += q;
    } else if (r < 0.58) {
      out.push(`${head} ${pick(['|', '|-', '|+'])}`);
      const ind = parent + 1 + int(3);
      for (let i = int(3); i >= 0; i--) out.push(rnd() < 0.2 ? '' : `${pad(ind + (i % 2) * int(2))}${pick(['text', 'a: b', '# c', '- x'])}`);
    } else if (r < 0.63) {
      out.push(`${head}${comment()}`);
    } else {
      out.push(head + comment());
      const ind = parent + 1 + int(3);
      if (head.endsWith(':') && rnd() < 0.3) seq(parent, depth + 1, out); // kubectl's style
      else if (rnd() < 0.4) seq(ind, depth + 1, out);
      else map(ind, depth + 1, out);
    }
  }
  function map(ind: number, depth: number, out: string[], first?: string): void {
    const n = 1 + int(3);
    for (let i = 0; i < n; i++) {
      // Mostly distinct keys; now and then a repeated one, which the parser refuses.
      const k = rnd() < 0.15 ? quoted() : rnd() < 0.05 ? pick(KEYS) : `${pick(KEYS)}${i}`;
      const prefix = i === 0 && first !== undefined ? first : pad(ind);
      value(ind, depth, out, `${prefix}${k}:`);
      if (rnd() < 0.1) out.push(pick(['', '# note', `${pad(int(6))}# deep`]));
    }
  }
  function seq(ind: number, depth: number, out: string[]): void {
    const n = 1 + int(3);
    for (let i = 0; i < n; i++) {
      const r = rnd();
      if (r < 0.4 && depth < 4) map(ind + 2, depth + 1, out, `${pad(ind)}- `);
      else if (r < 0.5 && depth < 4) {
        out.push(`${pad(ind)}- - ${scalar()}`);
        out.push(`${pad(ind + 2)}- ${scalar()}`);
      } else value(ind, depth, out, `${pad(ind)}-`);
    }
  }
  return () => {
    const out: string[] = [];
    const docs = 1 + int(2);
    for (let d = 0; d < docs; d++) {
      if (d > 0 || rnd() < 0.3) out.push(pick(['---', '--- # doc']));
      if (rnd() < 0.85) map(0, 0, out);
      else seq(0, 0, out);
    }
    return out.join('\n') + (rnd() < 0.9 ? '\n' : '');
  };
}

/** One random edit: a character removed, doubled, or replaced by one YAML cares about. */
function damage(text: string, rnd: () => number): string {
  const at = Math.floor(rnd() * text.length);
  const ch = ' \n:-#"\'|{}[],&*!?>%@`\tab1'[Math.floor(rnd() * 24)];
  const r = rnd();
  if (r < 0.33) return text.slice(0, at) + text.slice(at + 1);
  if (r < 0.66) return text.slice(0, at) + ch + text.slice(at);
  return text.slice(0, at) + ch + text.slice(at + 1);
}

describe('scanner against the parser on generated documents', () => {
  it('agrees on every generated document it reads, and reads most of them', () => {
    const next = generator(20240601);
    let readCount = 0;
    const total = 1500;
    for (let i = 0; i < total; i++) if (agree(next())) readCount++;
    // Plenty are outside the subset on purpose (tags-like keys, odd indentation); most are in it.
    expect(readCount).toBeGreaterThan(total * 0.5);
  });

  it('gives up wherever the parser refuses, and agrees elsewhere, on damaged documents', () => {
    const next = generator(7);
    const rnd = mulberry32(99);
    let readCount = 0;
    const total = 2500;
    for (let i = 0; i < total; i++) {
      let text = next();
      for (let k = 1 + Math.floor(rnd() * 2); k > 0; k--) text = damage(text, rnd);
      if (agree(text)) readCount++;
    }
    expect(readCount).toBeGreaterThan(total * 0.2);
  });
});

describe('parseDocuments with and without the scanner', () => {
  it('gives the same inputs for a generated cluster, every file read by the scanner', () => {
    const files: Array<{ file: string; text: string }> = clusterFiles(generateCluster({ namespaces: 200, nodes: 50 }));
    for (const f of files) expect(scanYaml(f.file, f.text, { root: () => {} }), f.file).toBe(true);
    expect(parseDocuments(files)).toEqual(parseDocuments(files, { scanner: false }));
  });

  const outcome = (docs: Array<{ file: string; text: string }>, scanner: boolean): unknown => {
    try {
      return parseDocuments(docs, { scanner });
    } catch (e) {
      if (e instanceof TwinpathError) return { code: e.code, location: e.location };
      throw e;
    }
  };
  const ns = (name: string): string => lines('apiVersion: v1', 'kind: Namespace', 'metadata:', `  name: ${name}`);
  /** A namespace the scanner leaves to the parser (an anchor). */
  const nsAnchored = (name: string): string => ns(name) + '  labels: &l {team: x}\n';

  it('takes back what a file added when the file turns out to need the parser', () => {
    const docs = [
      { file: 'a.yaml', text: ns('one') },
      { file: 'b.yaml', text: `${ns('two')}---\n${ns('three')}---\n${nsAnchored('five')}` },
      { file: 'c.yaml', text: ns('four') },
    ];
    const inputs = outcome(docs, true);
    expect(inputs).toEqual(outcome(docs, false));
    expect((inputs as { cluster: { namespaces: unknown[] } }).cluster.namespaces).toHaveLength(5);
  });

  it('reports a syntax error later in a file before a refused object earlier in it', () => {
    const docs = [{ file: 'a.yaml', text: `${ns('Bad_Name')}---\n${ns('ok')}---\na: [1,\n` }];
    const withScanner = outcome(docs, true);
    expect(withScanner).toMatchObject({ code: 'POLICY_YAML_SYNTAX' });
    expect(withScanner).toEqual(outcome(docs, false));
  });

  it('reports a refused object once the rest of its file has been read', () => {
    const docs = [{ file: 'a.yaml', text: `${ns('ok')}---\n${ns('Bad_Name')}---\n${ns('ok2')}` }];
    const withScanner = outcome(docs, true);
    expect(withScanner).toMatchObject({ code: 'POLICY_BAD_VALUE', location: { line: 9 } });
    expect(withScanner).toEqual(outcome(docs, false));
  });

  it('reports a duplicate across files, the second file read by the scanner', () => {
    const docs = [
      { file: 'a.yaml', text: `${nsAnchored('zero')}---\n${ns('one')}` },
      { file: 'b.yaml', text: ns('one') },
    ];
    expect(outcome(docs, true)).toEqual(outcome(docs, false));
    expect(outcome(docs, true)).toMatchObject({ code: 'POLICY_DUPLICATE' });
  });
});

describe('lists read item by item', () => {
  const ns = (name: string, indent = ''): string[] => [`${indent}- apiVersion: v1`, `${indent}  kind: Namespace`, `${indent}  metadata:`, `${indent}    name: ${name}`];
  /** What the scanner hands over: list headers and items, or roots. */
  function handed(text: string): { complete: boolean; heads: ListHead[]; items: number; roots: number } {
    const got = { heads: [] as ListHead[], items: 0, roots: 0 };
    const complete = scanYaml('t.yaml', text, {
      root: () => got.roots++,
      list: (head) => {
        got.heads.push(head);
        return () => got.items++;
      },
    });
    return { complete, ...got };
  }
  const same = (text: string): unknown => {
    const docs = [{ file: 'l.yaml', text }];
    const outcome = (scanner: boolean): unknown => {
      try {
        return parseDocuments(docs, { scanner });
      } catch (e) {
        if (e instanceof TwinpathError) return { code: e.code, location: e.location };
        throw e;
      }
    };
    const withScanner = outcome(true);
    expect(withScanner).toEqual(outcome(false));
    return withScanner;
  };

  it('streams a kubectl List (kind after items), with the same inputs', () => {
    const text = lines('apiVersion: v1', 'items:', ...ns('a'), ...ns('b'), 'kind: List', 'metadata:', '  resourceVersion: ""');
    expect(handed(text)).toEqual({ complete: true, heads: [{ apiVersion: 'v1', kind: 'List' }], items: 2, roots: 0 });
    expect((same(text) as Inputs).cluster.namespaces.map((n) => n.name)).toEqual(['a', 'b']);
  });

  it('streams a typed list, its items taking their kind from it; items indented under the key too', () => {
    const text = lines('apiVersion: v1', 'kind: NamespaceList', 'items:', '  - metadata:', '      name: a', '  - metadata:', '      name: b');
    expect(handed(text)).toMatchObject({ complete: true, items: 2, roots: 0 });
    expect((same(text) as Inputs).cluster.namespaces.map((n) => n.src.path)).toEqual(['items[0]', 'items[1]']);
  });

  it('reads a list whole when its header is not a plain word or a typed list has a spec', () => {
    expect(handed(lines('apiVersion: "v1"', 'kind: List', 'items:', ...ns('a')))).toMatchObject({ complete: true, heads: [], roots: 1 });
    const withSpec = lines('apiVersion: v1', 'kind: NamespaceList', 'spec: {}', 'items:', ...ns('a'));
    expect(handed(withSpec)).toMatchObject({ complete: true, heads: [], roots: 1 });
    same(withSpec);
  });

  it('gives up when the document turns out to differ from the header looked ahead', () => {
    // `kind` continues on the next line: the look ahead saw "List", the document says "List x".
    const text = lines('apiVersion: v1', 'kind: List', '  x', 'items:', ...ns('a'));
    expect(handed(text).complete).toBe(false);
    same(text);
  });

  it('reports an item refused before a syntax error further down only as the syntax error', () => {
    const text = lines('apiVersion: v1', 'kind: List', 'items:', ...ns('Bad_Name'), ...ns('b'), 'x: [1,');
    expect(same(text)).toMatchObject({ code: 'POLICY_YAML_SYNTAX' });
  });

  it('reports the first refused item once the list is read', () => {
    const text = lines('apiVersion: v1', 'items:', ...ns('ok'), ...ns('Bad_Name'), ...ns('Worse_Name'), 'kind: List');
    expect(same(text)).toMatchObject({ code: 'POLICY_BAD_VALUE', location: { line: 10, column: 11, path: 'items[1].metadata.name' } });
  });

  it('streams a JSON List (kind after items) and a typed one, with the same inputs', () => {
    const item = (name: string): unknown => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
    const list = JSON.stringify({ apiVersion: 'v1', items: [item('a'), item('b')], kind: 'List', metadata: { resourceVersion: '' } }, null, 4);
    expect(handed(list)).toEqual({ complete: true, heads: [{ apiVersion: 'v1', kind: 'List' }], items: 2, roots: 0 });
    expect((same(list) as Inputs).cluster.namespaces.map((n) => n.src)).toEqual([
      { file: 'l.yaml', line: 4, column: 9, path: 'items[0]' },
      { file: 'l.yaml', line: 11, column: 9, path: 'items[1]' },
    ]);
    const typed = JSON.stringify({ kind: 'NamespaceList', apiVersion: 'v1', items: [{ metadata: { name: 'a', labels: { 'x/y': '"[{' } } }] });
    expect(handed(typed)).toMatchObject({ complete: true, heads: [{ apiVersion: 'v1', kind: 'NamespaceList' }], items: 1, roots: 0 });
    same(typed);
  });

  it('reads a JSON list whole when the look ahead finds no header, gives up when the header differs', () => {
    // The look ahead reads `"kind": "List"` inside a single-quoted string as the last kind key.
    const fooled = `{"apiVersion": "v1", "kind": "Pod", "items": [], 'k': '"kind": "List"'}`;
    expect(handed(fooled).complete).toBe(false);
    same(fooled);
    expect(handed('{"apiVersion": "v\\u0031", "kind": "List", "items": []}')).toMatchObject({ complete: true, heads: [], roots: 1 });
    // The look ahead takes `[` inside a single-quoted YAML string for a bracket: no header found.
    expect(handed(`{'a': '[', apiVersion: v1, kind: List, items: []}`)).toMatchObject({ complete: true, heads: [], roots: 1 });
  });

  it('gives the same inputs for a generated cluster written as kubectl Lists', () => {
    const g = generateCluster({ namespaces: 60, nodes: 15 });
    const list = (items: unknown[]): object => ({ apiVersion: 'v1', items, kind: 'List', metadata: { resourceVersion: '' } });
    const cluster = list([...g.nodes, ...g.namespaces, ...g.pods]);
    const policies = list(g.policies);
    // As `kubectl get -o yaml` and `-o json` write them.
    for (const files of [
      [
        { file: 'cluster.yaml', text: toYaml(cluster) },
        { file: 'policies.yaml', text: toYaml(policies) },
      ],
      [
        { file: 'cluster.json', text: JSON.stringify(cluster, null, 4) },
        { file: 'policies.json', text: JSON.stringify(policies, null, 4) },
      ],
    ]) {
      for (const f of files) expect(handed(f.text)).toMatchObject({ complete: true, roots: 0 });
      expect(parseDocuments(files)).toEqual(parseDocuments(files, { scanner: false }));
    }
  });
});

// YAML text -> a small positioned value tree (maps, sequences, scalars), one tree per document.
// Every node carries its Source (file, 1-based line and column, YAML path), so the readers in
// load_*.ts can name the exact node when they refuse something. Parsing is the `yaml` package's
// (YAML 1.2 core schema, which also reads JSON); this module only converts its document model,
// resolving aliases, and turns its errors into POLICY_YAML_SYNTAX. Paths are relative to the
// document: its root is '', a kubectl List item `items[3]`. A node reached through an alias has
// the path where it is used and the position where its text is written.
//
// This is the reference reading: load_scan.ts reads the common subset (kubectl's YAML, JSON) much
// faster and must give exactly these trees; every file it gives up on is read here.

import { LineCounter, parseAllDocuments, isAlias, isMap, isPair, isScalar, isSeq, type Document, type Node as YamlNode } from 'yaml';
import { TwinpathError } from '../errors.js';
import type { Source } from './ast.js';

export type Scalar = string | number | boolean | null;

export interface YMapEntry {
  key: string;
  /** Where the key is written: unknown-field errors point here. */
  keySrc: Source;
  value: YValue;
}

export interface YMap {
  kind: 'map';
  entries: YMapEntry[];
  src: Source;
}

export interface YSeq {
  kind: 'seq';
  items: YValue[];
  src: Source;
}

export interface YScalar {
  kind: 'scalar';
  value: Scalar;
  src: Source;
}

export type YValue = YMap | YSeq | YScalar;

/** One YAML document of a file; `root` is undefined for an empty document (`---` alone, comments). */
export interface YDocument {
  file: string;
  index: number;
  root: YValue | undefined;
}

/** Alias expansion is bounded, so a "billion laughs" document fails instead of exhausting memory. */
const MAX_ALIASED_NODES = 100_000;

const PLAIN_KEY = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** The path of `key` inside the map at `parent`: `spec.podSelector`, `metadata.labels["app.kubernetes.io/name"]`. */
export function childPath(parent: string, key: string): string {
  if (PLAIN_KEY.test(key)) return parent === '' ? key : `${parent}.${key}`;
  return `${parent}[${JSON.stringify(key)}]`;
}

export function indexPath(parent: string, index: number): string {
  return `${parent}[${index}]`;
}

/** Parses every document of one file. Throws POLICY_YAML_SYNTAX at the first error the parser reports. */
export function parseYaml(file: string, text: string): YDocument[] {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const list: Document.Parsed[] = Array.isArray(docs) ? docs : [];
  const at = (offset: number, path: string): Source => {
    const pos = lineCounter.linePos(offset);
    return { file, line: pos.line, column: pos.col, path };
  };
  for (const doc of list) {
    const err = doc.errors[0];
    if (err !== undefined) {
      const loc = at(err.pos[0], '');
      throw new TwinpathError('POLICY_YAML_SYNTAX', `${firstLine(err.message)} (${err.code})`, loc);
    }
  }
  return list.map((doc, index) => {
    const conv = new Converter(doc, at);
    const contents = doc.contents;
    const root = contents === null || (isScalar(contents) && contents.value === null) ? undefined : conv.convert(contents, '');
    return { file, index, root };
  });
}

function firstLine(s: string): string {
  const nl = s.indexOf('\n');
  return nl < 0 ? s : s.slice(0, nl);
}

class Converter {
  private aliased = 0;
  private aliasDepth = 0;
  /** Anchored collections being converted: an alias inside its own anchor would never end. */
  private readonly expanding = new Set<YamlNode>();
  /** Anchored nodes by name, in document order (an anchor may be redefined further down). */
  private readonly anchors = new Map<string, Array<{ start: number; node: YamlNode }>>();

  constructor(
    doc: Document.Parsed,
    private readonly at: (offset: number, path: string) => Source,
  ) {
    // The parser's own alias lookup walks the document for each alias; one walk up front keeps
    // alias-heavy files linear.
    const collect = (n: unknown): void => {
      if (isMap(n) || isSeq(n) || isScalar(n)) {
        if (n.anchor) {
          const list = this.anchors.get(n.anchor) ?? [];
          list.push({ start: n.range?.[0] ?? 0, node: n });
          this.anchors.set(n.anchor, list);
        }
        if (isMap(n)) for (const p of n.items) if (isPair(p)) (collect(p.key), collect(p.value));
        if (isSeq(n)) for (const item of n.items) collect(item);
      }
    };
    collect(doc.contents);
  }

  private resolve(alias: { source: string; range?: [number, number, number] | null }): YamlNode | undefined {
    const start = alias.range?.[0] ?? Infinity;
    let found: YamlNode | undefined;
    for (const a of this.anchors.get(alias.source) ?? []) if (a.start < start) found = a.node;
    return found;
  }

  convert(node: YamlNode | unknown, path: string, fallback?: Source): YValue {
    if (this.aliasDepth > 0 && ++this.aliased > MAX_ALIASED_NODES) {
      throw new TwinpathError('POLICY_YAML_SYNTAX', `aliases expand to more than ${MAX_ALIASED_NODES} nodes`, fallback ?? this.at(0, path));
    }
    if (isAlias(node)) {
      const src = this.src(node, path, fallback);
      const target = this.resolve(node);
      if (target === undefined) throw new TwinpathError('POLICY_YAML_SYNTAX', `unresolved alias *${node.source}`, src);
      if (this.expanding.has(target)) throw new TwinpathError('POLICY_YAML_SYNTAX', `alias *${node.source} refers to a node that contains it`, src);
      this.aliasDepth++;
      try {
        return this.convert(target, path, src);
      } finally {
        this.aliasDepth--;
      }
    }
    if ((isMap(node) || isSeq(node)) && node.anchor) {
      this.expanding.add(node);
      try {
        return this.convertNode(node, path, fallback);
      } finally {
        this.expanding.delete(node);
      }
    }
    return this.convertNode(node, path, fallback);
  }

  private convertNode(node: YamlNode | unknown, path: string, fallback?: Source): YValue {
    const src = this.src(node, path, fallback);
    if (isMap(node)) {
      const entries: YMapEntry[] = [];
      for (const pair of node.items) {
        if (!isPair(pair)) continue;
        const keyNode = pair.key;
        const keySrcBase = this.src(keyNode, path, src);
        let key: string;
        if (keyNode === null || keyNode === undefined) {
          key = '';
        } else if (isScalar(keyNode)) {
          const v = keyNode.value;
          if (v !== null && typeof v === 'object') {
            throw new TwinpathError('POLICY_BAD_VALUE', 'a mapping key must be a plain value', keySrcBase);
          }
          key = v === null ? '' : String(v);
        } else {
          throw new TwinpathError('POLICY_BAD_VALUE', 'a mapping key must be a plain value, not a collection', keySrcBase);
        }
        const p = childPath(path, key);
        const keySrc: Source = { ...keySrcBase, path: p };
        const value: YValue =
          pair.value === null || pair.value === undefined
            ? { kind: 'scalar', value: null, src: keySrc }
            : this.convert(pair.value, p, keySrc);
        entries.push({ key, keySrc, value });
      }
      return { kind: 'map', entries, src };
    }
    if (isSeq(node)) {
      const items = node.items.map((item, i) =>
        item === null || item === undefined
          ? ({ kind: 'scalar', value: null, src: { ...src, path: indexPath(path, i) } } as YScalar)
          : this.convert(item, indexPath(path, i), src),
      );
      return { kind: 'seq', items, src };
    }
    if (isScalar(node)) {
      const v = node.value;
      let value: Scalar;
      if (v === null || v === undefined) value = null;
      else if (typeof v === 'string' || typeof v === 'boolean') value = v;
      else if (typeof v === 'number') value = v;
      else if (typeof v === 'bigint') value = Number(v);
      else value = String(v); // timestamps and other tagged scalars: kept as written
      return { kind: 'scalar', value, src };
    }
    throw new TwinpathError('POLICY_YAML_SYNTAX', 'unexpected YAML node', src);
  }

  private src(node: unknown, path: string, fallback?: Source): Source {
    const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
    if (range) return this.at(range[0], path);
    return fallback ? { ...fallback, path } : this.at(0, path);
  }
}

// Positioned reading of the labs' own files (lab.yaml, traffic specs, the identity-label file):
// a thin walker over the `yaml` package's document nodes that knows each node's file, line,
// column and path, so every refusal is a LAB_BAD_FILE pointing at the offending node. JSON is
// YAML, so the traffic specs (.json) go through the same reader.

import { readFileSync } from 'node:fs';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node as YamlNode } from 'yaml';
import { TwinpathError, type ErrorLocation } from '../errors.js';

interface Context {
  file: string;
  lines: LineCounter;
}

/** One node of a lab file, with where it is. */
export class LabNode {
  constructor(
    private readonly node: YamlNode | null | undefined,
    readonly path: string,
    private readonly ctx: Context,
    /** For a missing key: the node that should have held it, for the position. */
    private readonly parent?: YamlNode,
  ) {}

  get file(): string {
    return this.ctx.file;
  }

  get missing(): boolean {
    return this.node === undefined;
  }

  location(): ErrorLocation {
    const loc: ErrorLocation = { file: this.ctx.file, path: this.path };
    const offset = (this.node ?? this.parent)?.range?.[0];
    if (offset !== undefined) {
      const p = this.ctx.lines.linePos(offset);
      loc.line = p.line;
      loc.column = p.col;
    }
    return loc;
  }

  fail(detail: string): never {
    throw new TwinpathError('LAB_BAD_FILE', detail, this.location());
  }

  /** The entries of a mapping; keys outside `allowed` are refused (typos must not pass silently). */
  fields(allowed: readonly string[]): Map<string, LabNode> {
    if (!isMap(this.node)) this.fail(`expected a mapping with ${allowed.join(', ')}`);
    const out = new Map<string, LabNode>();
    for (const pair of this.node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : '';
      const path = this.path === '$' ? key : `${this.path}.${key}`;
      if (!allowed.includes(key)) new LabNode(pair.key as YamlNode, path, this.ctx).fail(`unknown field "${key}" (expected one of: ${allowed.join(', ')})`);
      out.set(key, new LabNode((pair.value ?? pair.key) as YamlNode, path, this.ctx));
    }
    return out;
  }

  /** The entries of a mapping whose keys are free (names of things, not fields). */
  entries(): Array<[string, LabNode]> {
    if (!isMap(this.node)) this.fail('expected a mapping');
    return this.node.items.map((pair) => {
      const key = isScalar(pair.key) ? String(pair.key.value) : '';
      return [key, new LabNode((pair.value ?? pair.key) as YamlNode, `${this.path}.${key}`, this.ctx)];
    });
  }

  /** A field of `fields()`, or a missing node whose errors point at this mapping. */
  static field(fields: Map<string, LabNode>, owner: LabNode, key: string): LabNode {
    return fields.get(key) ?? owner.child(key);
  }

  private child(key: string): LabNode {
    const path = this.path === '$' ? key : `${this.path}.${key}`;
    return new LabNode(undefined, path, this.ctx, this.node ?? this.parent ?? undefined);
  }

  required(): this {
    if (this.missing) this.fail('missing');
    return this;
  }

  seq(): LabNode[] {
    if (!isSeq(this.node)) this.fail('expected a list');
    return this.node.items.map((item, i) => new LabNode(item as YamlNode, `${this.path}[${i}]`, this.ctx));
  }

  private scalar(): unknown {
    this.required();
    if (!isScalar(this.node)) this.fail('expected a single value');
    return this.node.value;
  }

  string(): string {
    const v = this.scalar();
    if (typeof v !== 'string' || v === '') this.fail('expected a non-empty string');
    return v;
  }

  /** A string or a number written without quotes (`port: 80`, `name: 7`), as text. */
  text(): string {
    const v = this.scalar();
    if (typeof v === 'number') return String(v);
    return this.string();
  }

  int(min: number, max: number): number {
    const v = this.scalar();
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) this.fail(`expected an integer in ${min}..${max}`);
    return v;
  }

  bool(): boolean {
    const v = this.scalar();
    if (typeof v !== 'boolean') this.fail('expected true or false');
    return v;
  }

  oneOf<T extends string>(choices: readonly T[]): T {
    const v = this.string();
    if (!(choices as readonly string[]).includes(v)) this.fail(`"${v}" is not one of ${choices.join(', ')}`);
    return v as T;
  }

  strings(): string[] {
    return this.seq().map((n) => n.string());
  }
}

/** Parses text as one YAML (or JSON) document; the root node, path `$`. */
export function parseLabText(text: string, file: string): LabNode {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const err = doc.errors[0];
  if (err) {
    const p = lines.linePos(err.pos[0]);
    throw new TwinpathError('LAB_BAD_FILE', `not valid YAML: ${err.message.split('\n')[0]}`, { file, line: p.line, column: p.col });
  }
  return new LabNode(doc.contents as YamlNode | null, '$', { file, lines });
}

export function readLabFile(file: string): LabNode {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'LAB_NOT_FOUND' : 'IO_ERROR';
    throw new TwinpathError(code, `cannot read: ${(e as Error).message}`, { file }, { cause: e });
  }
  return parseLabText(text, file);
}

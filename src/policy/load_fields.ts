// Typed access to the positioned YAML tree: required and optional fields, type checks, and the
// strict field sets of the policy kinds. Every refusal is a TwinpathError at the offending node,
// so the readers in load_*.ts stay declarative. As in the Kubernetes API (JSON underneath), a
// field whose value is null is the same as an absent field.

import { TwinpathError, type ErrorCode } from '../errors.js';
import type { Source } from './ast.js';
import { childPath, type YMap, type YMapEntry, type YValue } from './yaml.js';

export function fail(code: ErrorCode, detail: string, src: Source): never {
  throw new TwinpathError(code, detail, { file: src.file, line: src.line, column: src.column, path: src.path });
}

function describe(v: YValue): string {
  if (v.kind === 'map') return 'a mapping';
  if (v.kind === 'seq') return 'a list';
  if (v.value === null) return 'null';
  return `${typeof v.value} ${JSON.stringify(v.value)}`;
}

export function isNull(v: YValue | undefined): boolean {
  return v === undefined || (v.kind === 'scalar' && v.value === null);
}

export function expectMap(v: YValue, what = 'a mapping'): Obj {
  if (v.kind !== 'map') fail('POLICY_BAD_VALUE', `expected ${what}, found ${describe(v)}`, v.src);
  return new Obj(v);
}

export function expectSeq(v: YValue, what = 'a list'): YValue[] {
  if (v.kind !== 'seq') fail('POLICY_BAD_VALUE', `expected ${what}, found ${describe(v)}`, v.src);
  return v.items;
}

export function expectString(v: YValue, what = 'a string'): string {
  if (v.kind !== 'scalar' || typeof v.value !== 'string') fail('POLICY_BAD_VALUE', `expected ${what}, found ${describe(v)}`, v.src);
  return v.value;
}

export function expectBool(v: YValue): boolean {
  if (v.kind !== 'scalar' || typeof v.value !== 'boolean') fail('POLICY_BAD_VALUE', `expected true or false, found ${describe(v)}`, v.src);
  return v.value;
}

/** An integer (not a quoted number: the API's int fields refuse strings). */
export function expectInt(v: YValue, code: ErrorCode = 'POLICY_BAD_VALUE'): number {
  if (v.kind !== 'scalar' || typeof v.value !== 'number' || !Number.isInteger(v.value)) {
    fail(code, `expected an integer, found ${describe(v)}`, v.src);
  }
  return v.value;
}

/** A mapping of string to string (labels, selectors, matchLabels); values are checked by the caller. */
export function expectStringMap(v: YValue): Array<{ key: string; value: string; entry: YMapEntry }> {
  const m = expectMap(v, 'a mapping of strings');
  return m.map.entries.map((entry) => ({ key: entry.key, value: expectString(entry.value), entry }));
}

/** A view of one mapping node. */
export class Obj {
  constructor(readonly map: YMap) {}

  get src(): Source {
    return this.map.src;
  }

  entry(key: string): YMapEntry | undefined {
    return this.map.entries.find((e) => e.key === key);
  }

  /** The value of `key`, or undefined when absent or null. */
  get(key: string): YValue | undefined {
    const e = this.entry(key);
    return e === undefined || isNull(e.value) ? undefined : e.value;
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  /** Where a field that is missing would be: this mapping's position, the field's path. */
  missingSrc(key: string): Source {
    return { ...this.src, path: childPath(this.src.path, key) };
  }

  missing(key: string, detail?: string): never {
    fail('POLICY_MISSING_FIELD', detail ?? `required field "${key}" is missing`, this.missingSrc(key));
  }

  req(key: string): YValue {
    return this.get(key) ?? this.missing(key);
  }

  str(key: string): string | undefined {
    const v = this.get(key);
    return v === undefined ? undefined : expectString(v);
  }

  reqStr(key: string): string {
    return expectString(this.req(key));
  }

  bool(key: string): boolean | undefined {
    const v = this.get(key);
    return v === undefined ? undefined : expectBool(v);
  }

  int(key: string, code?: ErrorCode): number | undefined {
    const v = this.get(key);
    return v === undefined ? undefined : expectInt(v, code);
  }

  obj(key: string): Obj | undefined {
    const v = this.get(key);
    return v === undefined ? undefined : expectMap(v);
  }

  seq(key: string): YValue[] | undefined {
    const v = this.get(key);
    return v === undefined ? undefined : expectSeq(v);
  }

  /**
   * The API server's strict field validation: every key must be known. Keys in `unsupported` are
   * real API fields this project does not model; they are refused as POLICY_UNSUPPORTED (even when
   * null, since writing one says the author relies on it).
   */
  strict(allowed: readonly string[], unsupported: Readonly<Record<string, string>> = {}): this {
    for (const e of this.map.entries) {
      if (Object.prototype.hasOwnProperty.call(unsupported, e.key)) {
        fail('POLICY_UNSUPPORTED', `"${e.key}" is not supported: ${unsupported[e.key]}`, e.keySrc);
      }
      if (!allowed.includes(e.key)) {
        const known = [...allowed, ...Object.keys(unsupported)].sort().join(', ');
        fail('POLICY_UNKNOWN_FIELD', `unknown field "${e.key}" (known fields: ${known})`, e.keySrc);
      }
    }
    return this;
  }
}

// The characters and scalar values of the subset that load_scan.ts reads: which characters may
// start a plain scalar, how a plain scalar resolves under the YAML 1.2 core schema, how the lines
// of a multi-line scalar fold. Written to agree exactly with the `yaml` package, which load_scan's
// tests compare it against.

import type { Scalar } from './yaml.js';

/** Thrown inside the scanner when the text leaves the subset; never escapes `scanYaml`. */
export const OUTSIDE: unique symbol = Symbol('outside the scanned subset');

export function outside(): never {
  throw OUTSIDE;
}

/** Characters the subset refuses anywhere: tabs and carriage returns (indentation and line-break
 * rules differ), control characters, the BOM, Unicode line separators, surrogates. */
export const REFUSED_CHARS = /[\t\r\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff\ud800-\udfff]/;

/** Beyond this length YAML refuses an implicit key (the parser's limit is 1024). */
export const MAX_KEY_LENGTH = 1000;

export const NL = 10;
export const SP = 32;
export const HASH = 35;
export const DQUOTE = 34;
export const SQUOTE = 39;
export const COMMA = 44;
export const DASH = 45;
export const DOT = 46;
export const COLON = 58;
export const LBRACKET = 91;
export const BACKSLASH = 92;
export const RBRACKET = 93;
export const LBRACE = 123;
export const PIPE = 124;
export const RBRACE = 125;

/** First characters of a plain scalar in the subset: letters, digits, `_ . / ~ + $ =`, non-ASCII;
 * `-` and `:` too when a non-space follows (`-1`, `--port=80`, `::1`). */
export function plainStart(c: number, next: number): boolean {
  if ((c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57)) return true;
  if (c === 95 || c === DOT || c === 47 || c === 126 || c === 43 || c === 36 || c === 61) return true;
  if (c === DASH || c === COLON) return next !== SP && next !== NL && !Number.isNaN(next);
  return c >= 0x80;
}

/** Characters of a plain scalar inside a flow collection, in the subset. */
export function flowPlainChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95 || c === DOT || c === 47 || c === 43 || c === DASH || c === 126;
}

const NULL_RE = /^(?:~|[Nn]ull|NULL)?$/;
const BOOL_RE = /^(?:[Tt]rue|TRUE|[Ff]alse|FALSE)$/;
const OCT_RE = /^0o[0-7]+$/;
const INT_RE = /^[-+]?[0-9]+$/;
const HEX_RE = /^0x[0-9a-fA-F]+$/;
const INF_NAN_RE = /^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$/;
const EXP_RE = /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+$/;
const FLOAT_RE = /^[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)$/;

/** A plain scalar's value under the YAML 1.2 core schema, tried in the schema's order. */
export function resolvePlain(s: string): Scalar {
  const c = s.charCodeAt(0);
  // Most plain scalars are words: only n/N, t/T, f/F, digits, signs, '.' and '~' can be anything else.
  if (((c >= 97 && c <= 122) || (c >= 65 && c <= 90)) && c !== 110 && c !== 78 && c !== 116 && c !== 84 && c !== 102 && c !== 70) return s;
  if (NULL_RE.test(s)) return null;
  if (BOOL_RE.test(s)) return c === 116 || c === 84;
  if (OCT_RE.test(s)) return parseInt(s.substring(2), 8);
  if (INT_RE.test(s)) return parseInt(s, 10);
  if (HEX_RE.test(s)) return parseInt(s.substring(2), 16);
  if (INF_NAN_RE.test(s)) return s.slice(-3).toLowerCase() === 'nan' ? NaN : c === DASH ? -Infinity : Infinity;
  if (EXP_RE.test(s) || FLOAT_RE.test(s)) return parseFloat(s);
  return s;
}

/** JSON's escapes, which YAML's double-quoted scalars share. */
export const ESCAPES: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

/**
 * A string of its own: V8 makes a long slice (13 characters or more) a view that keeps the whole
 * text alive, and names and labels live on in the inputs long after the text is gone. Prefixing
 * a character and slicing it off copies the characters once.
 */
export function own(s: string): string {
  return s.length < 13 ? s : (' ' + s).slice(1);
}

/** Spaces only: YAML trims spaces and tabs around line breaks (tabs never reach here), while
 * String.prototype.trim would take Unicode spaces too. */
function trimEnd(s: string): string {
  let e = s.length;
  while (e > 0 && s.charCodeAt(e - 1) === SP) e--;
  return e === s.length ? s : s.slice(0, e);
}

function trimStart(s: string): string {
  let b = 0;
  while (b < s.length && s.charCodeAt(b) === SP) b++;
  return b === 0 ? s : s.slice(b);
}

/** Joins the lines of a multi-line flow scalar (plain or quoted, escapes decoded): a line break
 * becomes a space, n empty lines become n line breaks, the spaces around each break go. */
export function fold(lines: string[]): string {
  let out = trimEnd(lines[0]);
  let sep = ' ';
  for (let i = 1; i < lines.length - 1; i++) {
    const l = trimStart(trimEnd(lines[i]));
    if (l === '') {
      if (sep === '\n') out += sep;
      else sep = '\n';
    } else {
      out += sep + l;
      sep = ' ';
    }
  }
  return out + sep + trimStart(lines[lines.length - 1]);
}

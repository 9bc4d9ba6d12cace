// A fast reader for the YAML that Kubernetes tools write: block mappings and sequences (kubectl's
// style, a sequence under a key at the key's column included), plain and quoted scalars (folded
// over several lines too), literal block scalars, flow collections on one line, and JSON
// documents. It builds the same positioned tree as yaml.ts, straight from the text, in one pass.
//
// It reads a strict subset and is exact on it: the same values (YAML 1.2 core schema), the same
// positions and paths as the `yaml` package's document model gives through yaml.ts. Anything
// outside the subset — anchors, aliases, tags, explicit keys, folded block scalars, directives,
// tabs, carriage returns, duplicate keys, every syntax error — makes it give up on the whole file
// (`scanYaml` returns false), and the caller parses that file with yaml.ts. So every error and
// every rare construct keeps exactly the behaviour of the full parser.

import type { Source } from './ast.js';
import { childPath, indexPath, type Scalar, type YMapEntry, type YValue } from './yaml.js';

/** Thrown inside the scanner when the text leaves the subset; never escapes `scanYaml`. */
const OUTSIDE: unique symbol = Symbol('outside the scanned subset');

/** Characters the subset refuses anywhere: tabs and carriage returns (indentation and line-break
 * rules differ), control characters, the BOM, Unicode line separators, surrogates. */
const REFUSED_CHARS = /[\t\r\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff\ud800-\udfff]/;

/** Beyond this length YAML refuses an implicit key (the parser's limit is 1024). */
const MAX_KEY_LENGTH = 1000;

const NL = 10;
const SP = 32;
const HASH = 35;
const DQUOTE = 34;
const SQUOTE = 39;
const COMMA = 44;
const DASH = 45;
const DOT = 46;
const COLON = 58;
const LBRACKET = 91;
const BACKSLASH = 92;
const RBRACKET = 93;
const LBRACE = 123;
const PIPE = 124;
const RBRACE = 125;

/** First characters of a plain scalar in the subset: letters, digits, `_ . / ~ + $ =`, non-ASCII;
 * `-` and `:` too when a non-space follows (`-1`, `--port=80`, `::1`). */
function plainStart(c: number, next: number): boolean {
  if ((c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57)) return true;
  if (c === 95 || c === DOT || c === 47 || c === 126 || c === 43 || c === 36 || c === 61) return true;
  if (c === DASH || c === COLON) return next !== SP && next !== NL && !Number.isNaN(next);
  return c >= 0x80;
}

/** Characters of a plain scalar inside a flow collection, in the subset. */
function flowPlainChar(c: number): boolean {
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
const ESCAPES: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

/**
 * A string of its own: V8 makes a long slice (13 characters or more) a view that keeps the whole
 * text alive, and names and labels live on in the inputs long after the text is gone. Prefixing
 * a character and slicing it off copies the characters once.
 */
function own(s: string): string {
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
function fold(lines: string[]): string {
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

const HEAD_WORD = / +([A-Za-z0-9][A-Za-z0-9./-]*) *(?:\n|$)/y;
/** JSON's brackets and string starts; a whole JSON string; a one-word JSON string. */
const JSON_TOKEN = /["{}[\]]/g;
const JSON_STRING = /"(?:[^"\\\n]|\\.)*"/y;
const JSON_WORD = /"([A-Za-z0-9][A-Za-z0-9./-]*)"/y;

/** What a look ahead found among a document's top keys. */
interface HeadKeys {
  apiVersion?: string;
  kind?: string;
  items: boolean;
  spec: boolean;
}

/** The one-word value after `key:` at `p`, if that is all the line holds. */
function headWord(text: string, p: number): string | undefined {
  HEAD_WORD.lastIndex = p;
  return HEAD_WORD.exec(text)?.[1];
}

/** The list document as read agrees with the header its items were handed over under. */
function checkListHead(root: YValue, head: ListHead): void {
  if (root.kind !== 'map') outside();
  const value = (key: string): YValue | undefined => root.entries.find((e) => e.key === key)?.value;
  const apiVersion = value('apiVersion');
  const kind = value('kind');
  const items = value('items');
  if (apiVersion?.kind !== 'scalar' || apiVersion.value !== head.apiVersion) outside();
  if (kind?.kind !== 'scalar' || kind.value !== head.kind) outside();
  if (items === undefined || !(items.kind === 'seq' || (items.kind === 'scalar' && items.value === null))) outside();
  if (head.kind !== 'List' && value('spec') !== undefined) outside();
}

/** The header of a document that is a list of objects (`kind: List`, `PodList`, ...). */
export interface ListHead {
  apiVersion: string;
  kind: string;
}

export interface ScanHandlers {
  /** Each document's root, once read (never a list whose items went to `list`). */
  root(root: YValue): void;
  /**
   * Asked at the start of a document whose root mapping (at column 0) has `items` and a one-word
   * `apiVersion` and `kind` ending in `List` (and no `spec` unless the kind is `List`): a function
   * to take each item as soon as it is read, so the list is never held whole (kubectl writes a
   * whole cluster as one List). The scanner checks the header against the document once read,
   * giving up on the file if it differs.
   */
  list?(head: ListHead): ((item: YValue) => void) | undefined;
}

/**
 * Reads every document of `text`, handing each non-empty root (or list item) over as soon as it
 * is read. Returns false when the text leaves the subset: the caller then reads the whole file
 * again with the full parser and drops whatever the handlers received.
 */
export function scanYaml(file: string, text: string, handlers: ScanHandlers): boolean {
  if (REFUSED_CHARS.test(text)) return false;
  try {
    new Scanner(file, text).documents(handlers);
    return true;
  } catch (e) {
    if (e === OUTSIDE) return false;
    throw e;
  }
}

function outside(): never {
  throw OUTSIDE;
}

class Scanner {
  private pos = 0;
  /** Where the items of the current document's root `items` go instead of its tree, if anywhere. */
  private items: ((item: YValue) => void) | undefined;
  /** 1-based number of the line holding `pos`, and the offset where that line starts. */
  private line = 1;
  private ls = 0;
  /** Indentation of the line the scanner stands on (at its first non-space character), or -1 at
   * the end of the text or at a document marker: every block ends there. */
  private ind = -1;
  private readonly len: number;

  constructor(
    private readonly file: string,
    private readonly text: string,
  ) {
    this.len = text.length;
  }

  private c(at: number): number {
    return this.text.charCodeAt(at);
  }

  private src(at: number, path: string): Source {
    return { file: this.file, line: this.line, column: at - this.ls + 1, path };
  }

  // ---- lines ----

  /** From anywhere on a line, past its end: the rest must be spaces and perhaps a comment. */
  private endLine(): void {
    let p = this.pos;
    while (this.c(p) === SP) p++;
    const ch = this.c(p);
    if (ch === HASH) {
      if (p !== this.ls && this.c(p - 1) !== SP) outside(); // a comment needs a space before it
      const nl = this.text.indexOf('\n', p);
      p = nl < 0 ? this.len : nl;
    } else if (p < this.len && ch !== NL) {
      outside();
    }
    this.pos = p;
  }

  /** From a line's end to the first character of the next line with content (comment lines and
   * blank lines skipped); sets `ind`. */
  private nextContent(): void {
    if (this.pos >= this.len) {
      this.ind = -1;
      return;
    }
    this.line++;
    this.lineFrom(this.pos + 1);
  }

  /** From the start `p` of line `this.line` to the first line with content. */
  private lineFrom(p: number): void {
    for (;;) {
      this.ls = p;
      while (this.c(p) === SP) p++;
      if (p >= this.len) {
        this.pos = this.len;
        this.ind = -1;
        return;
      }
      if (this.c(p) === HASH) {
        const nl = this.text.indexOf('\n', p);
        if (nl < 0) {
          this.pos = this.len;
          this.ind = -1;
          return;
        }
        p = nl;
      }
      if (this.c(p) === NL) {
        p++;
        this.line++;
        continue;
      }
      this.pos = p;
      this.ind = p - this.ls;
      if (this.ind === 0 && this.isMarker(this.ls)) this.ind = -1;
      return;
    }
  }

  /** `---` or `...` at `p`, a line's start, followed by a space or the line's end. */
  private isMarker(p: number): boolean {
    const ch = this.c(p);
    if ((ch !== DASH && ch !== DOT) || this.c(p + 1) !== ch || this.c(p + 2) !== ch) return false;
    const after = this.c(p + 3);
    return after === SP || after === NL || p + 3 >= this.len;
  }

  /** At a `- ` (or a `-` ending its line). */
  private atSeqItem(): boolean {
    if (this.c(this.pos) !== DASH) return false;
    const n = this.c(this.pos + 1);
    return n === SP || n === NL || this.pos + 1 >= this.len;
  }

  // ---- documents ----

  documents(handlers: ScanHandlers): void {
    this.lineFrom(0);
    for (;;) {
      if (this.pos >= this.len) return;
      if (this.ind === -1) {
        // a document marker: `---` starts a document, `...` (ending one) is left to the parser
        if (this.c(this.ls) === DOT) outside();
        this.pos = this.ls + 3;
        this.endLine();
        this.nextContent();
        continue;
      }
      const json = this.c(this.pos) === LBRACE;
      const head = handlers.list !== undefined && this.ind === 0 ? (json ? this.jsonListHead() : this.listHead()) : undefined;
      this.items = head === undefined ? undefined : handlers.list!(head);
      const root = this.root();
      if (this.ind !== -1) outside(); // content left of the root block
      if (this.items !== undefined) checkListHead(root, head!);
      else handlers.root(root);
      this.items = undefined;
    }
  }

  /**
   * A look ahead along the current document's lines at column 0 (the keys of a root mapping
   * there): its list header, if it has one. Only a guess until the document is read and checked.
   */
  private listHead(): ListHead | undefined {
    return this.head(this.blockHeadKeys());
  }

  /** The list header out of what a look ahead found. */
  private head(found: HeadKeys): ListHead | undefined {
    const { apiVersion, kind, items, spec } = found;
    if (!items || apiVersion === undefined || kind === undefined || !kind.endsWith('List')) return undefined;
    if (kind !== 'List' && spec) return undefined;
    return { apiVersion, kind };
  }

  /** The keys at column 0 of the current document (a block mapping there). */
  private blockHeadKeys(): HeadKeys {
    let apiVersion: string | undefined;
    let kind: string | undefined;
    let items = false;
    let spec = false;
    for (let p = this.ls; p < this.len; ) {
      const c = this.c(p);
      if ((c === DASH || c === DOT) && this.isMarker(p)) break;
      if (c === 97 && this.text.startsWith('apiVersion:', p)) apiVersion = headWord(this.text, p + 11);
      else if (c === 107 && this.text.startsWith('kind:', p)) kind = headWord(this.text, p + 5);
      else if (c === 105 && this.text.startsWith('items:', p)) items = true;
      else if (c === 115 && this.text.startsWith('spec:', p)) spec = true;
      const nl = this.text.indexOf('\n', p);
      if (nl < 0) break;
      p = nl + 1;
    }
    return { apiVersion, kind, items, spec };
  }

  /**
   * The list header of a JSON document (a flow mapping at the scanner's position): a walk over
   * its brackets and strings, looking at the keys at depth 1. kubectl writes `kind` after the
   * items, so only a look ahead can tell before them.
   */
  private jsonListHead(): ListHead | undefined {
    const t = this.text;
    const found: HeadKeys = { items: false, spec: false };
    let depth = 0;
    JSON_TOKEN.lastIndex = this.pos;
    for (;;) {
      const m = JSON_TOKEN.exec(t);
      if (m === null) return undefined;
      const c = t.charCodeAt(m.index);
      if (c === LBRACE || c === LBRACKET) depth++;
      else if (c === RBRACE || c === RBRACKET) {
        if (--depth === 0) break;
      } else {
        JSON_STRING.lastIndex = m.index;
        const str = JSON_STRING.exec(t);
        if (str === null) return undefined;
        let p = JSON_STRING.lastIndex;
        if (depth === 1) {
          while (t.charCodeAt(p) === SP || t.charCodeAt(p) === NL) p++;
          if (t.charCodeAt(p) === COLON) {
            // a key of the root mapping
            const key = str[0].slice(1, -1);
            p++;
            while (t.charCodeAt(p) === SP || t.charCodeAt(p) === NL) p++;
            if (key === 'apiVersion' || key === 'kind') {
              JSON_WORD.lastIndex = p;
              found[key] = JSON_WORD.exec(t)?.[1];
            } else if (key === 'items') found.items = true;
            else if (key === 'spec') found.spec = true;
          }
        }
        JSON_TOKEN.lastIndex = p;
      }
    }
    return this.head(found);
  }

  private root(): YValue {
    const ch = this.c(this.pos);
    if (ch === LBRACE || ch === LBRACKET) {
      const v = this.flow('', true);
      this.endLine();
      this.nextContent();
      return v;
    }
    return this.block('');
  }

  // ---- block collections ----

  /** The block collection that starts on the current line. */
  private block(path: string): YValue {
    if (this.atSeqItem()) return this.seq(this.ind, path);
    // Otherwise a mapping: a scalar or a flow collection on a line of its own is left to the parser.
    return this.map(this.ind, path) ?? outside();
  }

  /** A block mapping whose keys are at column `n`; undefined when the current line is not a key. */
  private map(n: number, path: string): YValue | undefined {
    const src = this.src(this.pos, path);
    const entries: YMapEntry[] = [];
    for (;;) {
      const keyAt = this.pos;
      const key = this.key();
      if (key === undefined) {
        if (entries.length === 0) return undefined;
        outside();
      }
      for (const e of entries) if (e.key === key) outside(); // the parser refuses duplicate keys
      const p = childPath(path, key);
      const keySrc = this.src(keyAt, p);
      this.pos++; // the ':'
      while (this.c(this.pos) === SP) this.pos++;
      let value: YValue;
      const ch = this.c(this.pos);
      if (ch === NL || ch === HASH || this.pos >= this.len) {
        const empty = this.src(this.pos, p);
        this.endLine();
        this.nextContent();
        // A list's items go to the handler (`path` is '' only at a document's root).
        const sink = path === '' && key === 'items' ? this.items : undefined;
        if (this.ind > n) value = this.atSeqItem() ? this.seq(this.ind, p, sink) : this.block(p);
        else if (this.ind === n && this.atSeqItem()) value = this.seq(n, p, sink);
        else value = { kind: 'scalar', value: null, src: empty };
      } else {
        value = this.inline(n, p);
        if (this.ind === n && this.atSeqItem()) outside();
      }
      entries.push({ key, keySrc, value });
      if (this.ind < n) break;
      if (this.ind > n) outside();
    }
    return { kind: 'map', entries, src };
  }

  /** A block sequence whose `-` are at column `n`; with `sink`, its items go there, not in it. */
  private seq(n: number, path: string, sink?: (item: YValue) => void): YValue {
    const src = this.src(this.pos, path);
    const items: YValue[] = [];
    for (let i = 0; ; i++) {
      const p = indexPath(path, i);
      this.pos++; // the '-'
      while (this.c(this.pos) === SP) this.pos++;
      const ch = this.c(this.pos);
      let item: YValue;
      if (ch === NL || ch === HASH || this.pos >= this.len) {
        const empty = this.src(this.pos, p);
        this.endLine();
        this.nextContent();
        item = this.ind > n ? this.block(p) : { kind: 'scalar', value: null, src: empty };
      } else {
        const col = this.pos - this.ls;
        this.ind = col;
        if (this.atSeqItem()) item = this.seq(col, p);
        else item = this.map(col, p) ?? this.inline(n, p);
      }
      if (sink !== undefined) sink(item);
      else items.push(item);
      if (this.ind === n && this.atSeqItem()) continue;
      if (this.ind > n) outside();
      break;
    }
    return { kind: 'seq', items, src };
  }

  /**
   * A mapping key at the scanner's position: a plain or quoted scalar on this line followed by
   * `:` and a space or the line's end. Leaves the scanner on the `:`; undefined (position kept)
   * when the line does not start with a key.
   */
  private key(): string | undefined {
    const start = this.pos;
    const ch = this.c(start);
    let key: string;
    if (ch === DQUOTE || ch === SQUOTE) {
      const v = this.quotedOneLine(start);
      if (v === undefined) return undefined;
      if (this.c(this.pos) !== COLON) {
        this.pos = start;
        return undefined;
      }
      key = v;
    } else {
      if (!plainStart(ch, this.c(start + 1))) return undefined;
      let p = start;
      let end = start; // one past the last non-space character
      for (;;) {
        const c = this.c(p);
        if (c === COLON) {
          const nx = this.c(p + 1);
          if (nx === SP || nx === NL || p + 1 >= this.len) break;
          end = ++p;
        } else if (c === SP) {
          if (this.c(p + 1) === HASH) return undefined;
          p++;
        } else if (c === NL || p >= this.len) {
          return undefined;
        } else {
          end = ++p;
        }
      }
      const v = resolvePlain(own(this.text.slice(start, end)));
      key = v === null ? '' : String(v);
      this.pos = p;
    }
    if (this.pos - start > MAX_KEY_LENGTH) outside();
    const after = this.c(this.pos + 1);
    if (after !== SP && after !== NL && this.pos + 1 < this.len) outside();
    return key;
  }

  // ---- scalars and flow collections in block context ----

  /**
   * The value that starts at the scanner's position (not the line's end): a scalar, a literal
   * block scalar or a one-line flow collection, in a block collection at column `parent`. Leaves
   * the scanner on the next content line.
   */
  private inline(parent: number, path: string): YValue {
    const at = this.pos;
    const src = this.src(at, path);
    const ch = this.c(at);
    if (ch === DQUOTE || ch === SQUOTE) return { kind: 'scalar', value: this.quotedBlock(parent), src };
    if (ch === PIPE) return { kind: 'scalar', value: this.literal(parent), src };
    if (ch === LBRACE || ch === LBRACKET) {
      const v = this.flow(path, false);
      this.endLine();
      this.nextContent();
      return v;
    }
    if (!plainStart(ch, this.c(at + 1))) outside();
    return { kind: 'scalar', value: this.plain(parent), src };
  }

  /** A plain scalar in block context, continued on more-indented lines. */
  private plain(parent: number): Scalar {
    const lines: string[] = [];
    let p = this.pos;
    let lineStart = p;
    let multi = false;
    for (;;) {
      // One line of the scalar: up to its end or a comment.
      let end = p;
      let comment = false;
      for (;;) {
        const c = this.c(p);
        if (c === NL || p >= this.len) break;
        if (c === COLON) {
          const nx = this.c(p + 1);
          if (nx === SP || nx === NL || p + 1 >= this.len) outside(); // a key where a value belongs
        } else if (c === SP) {
          if (this.c(p + 1) === HASH) {
            comment = true;
            break;
          }
          p++;
          continue;
        }
        end = ++p;
      }
      lines.push(this.text.slice(lineStart, end));
      if (comment) {
        this.pos = p;
        this.endLine();
        break;
      }
      // Is the next non-blank line a continuation? (indented deeper than the parent, no comment)
      let q = p;
      let blank = 0;
      let contAt = -1;
      while (q < this.len) {
        q++; // past '\n'
        const ls = q;
        while (this.c(q) === SP) q++;
        const c = this.c(q);
        if (q >= this.len) break;
        if (c === NL) {
          blank++;
          continue;
        }
        if (q - ls > parent && c !== HASH) contAt = q;
        break;
      }
      if (contAt < 0) {
        this.pos = p;
        break;
      }
      // The continuation's first character: nothing that could start another construct.
      const c0 = this.c(contAt);
      if (!plainStart(c0, this.c(contAt + 1)) || c0 === DASH) outside();
      for (let k = 0; k < blank; k++) lines.push('');
      // Advance line bookkeeping to the continuation line.
      for (let k = p; k < contAt; k++) {
        if (this.c(k) === NL) {
          this.line++;
          this.ls = k + 1;
        }
      }
      multi = true;
      p = contAt;
      lineStart = contAt;
    }
    this.nextContent();
    if (!multi) return resolvePlain(own(lines[0]));
    return resolvePlain(own(fold(lines)));
  }

  /** A quoted scalar that closes on its own line; leaves the scanner after the closing quote.
   * Undefined (position kept) when it does not close on this line. */
  private quotedOneLine(start: number): string | undefined {
    const q = this.c(start);
    let p = start + 1;
    let out = '';
    let from = p;
    for (;;) {
      const c = this.c(p);
      if (c === NL || p >= this.len) return undefined;
      if (c === q) {
        if (q === SQUOTE && this.c(p + 1) === SQUOTE) {
          out += this.text.slice(from, p + 1);
          p += 2;
          from = p;
          continue;
        }
        break;
      }
      if (c === BACKSLASH && q === DQUOTE) {
        out += this.text.slice(from, p);
        p = this.escape(p, (s) => (out += s));
        from = p;
        continue;
      }
      p++;
    }
    out += this.text.slice(from, p);
    this.pos = p + 1;
    return own(out);
  }

  /** Decodes the escape at `p` (a backslash); returns the offset after it. */
  private escape(p: number, emit: (s: string) => void): number {
    const e = this.text[p + 1];
    const simple = ESCAPES[e];
    if (simple !== undefined) {
      emit(simple);
      return p + 2;
    }
    if (e === 'u') {
      const hex = this.text.slice(p + 2, p + 6);
      if (!/^[0-9a-fA-F]{4}$/.test(hex)) outside();
      emit(String.fromCharCode(parseInt(hex, 16)));
      return p + 6;
    }
    return outside();
  }

  /** A quoted scalar value in block context, perhaps over several lines (each indented deeper
   * than `parent`); leaves the scanner on the next content line. */
  private quotedBlock(parent: number): string {
    const start = this.pos;
    const one = this.quotedOneLine(start);
    if (one !== undefined) {
      this.endLine();
      this.nextContent();
      return one;
    }
    // Several lines: find the closing quote, check the lines between, then fold as the parser does.
    const q = this.c(start);
    let p = start + 1;
    const lines: string[] = [];
    let from = p;
    let out = '';
    for (;;) {
      const c = this.c(p);
      if (p >= this.len) outside();
      if (c === NL) {
        lines.push(out + this.text.slice(from, p));
        out = '';
        p++;
        this.line++;
        this.ls = p;
        let s = p;
        while (this.c(s) === SP) s++;
        const sc = this.c(s);
        if (sc !== NL && s < this.len && s - p <= parent) outside(); // not indented enough
        from = p;
        continue;
      }
      if (c === q) {
        if (q === SQUOTE && this.c(p + 1) === SQUOTE) {
          out += this.text.slice(from, p + 1);
          p += 2;
          from = p;
          continue;
        }
        break;
      }
      if (c === BACKSLASH && q === DQUOTE) {
        // Escaped line breaks, and escaped whitespace (kept where a line break trims raw
        // whitespace), change how the lines fold: not in the subset.
        if (this.c(p + 1) === NL) outside();
        out += this.text.slice(from, p);
        p = this.escape(p, (s) => (/\s/.test(s) ? outside() : (out += s)));
        from = p;
        continue;
      }
      p++;
    }
    lines.push(out + this.text.slice(from, p));
    this.pos = p + 1;
    this.endLine();
    this.nextContent();
    return own(fold(lines));
  }

  /** A literal block scalar (`|`, `|-`, `|+`) under a collection at column `parent`. */
  private literal(parent: number): string {
    let p = this.pos + 1;
    const chomp = this.c(p);
    if (chomp === DASH || chomp === 43) p++;
    this.pos = p;
    if (this.c(p) !== SP && this.c(p) !== NL && p < this.len) outside(); // indentation indicator or junk
    this.endLine();
    if (this.pos >= this.len) outside();
    // Body lines: the first non-blank line sets the indentation; blank lines before it may not
    // have more spaces than it, blank lines after it not more than it either (those would be
    // content made of spaces).
    const lines: string[] = [];
    let indent = -1;
    let maxBlank = 0;
    let at = this.pos; // on the '\n' before the next body line
    let lastContentEnd = -1;
    while (at < this.len) {
      const ls = at + 1;
      let s = ls;
      while (this.c(s) === SP) s++;
      if (s >= this.len) {
        if (indent >= 0 && s - ls > indent) outside(); // spaces at the very end, beyond the indentation
        break;
      }
      const end = this.c(s) === NL ? s : this.text.indexOf('\n', s);
      if (s === end) {
        if (indent < 0) maxBlank = Math.max(maxBlank, s - ls);
        else if (s - ls > indent) outside();
        lines.push('');
        at = end;
        continue;
      }
      const lineIndent = s - ls;
      if (indent < 0) {
        if (lineIndent <= parent) break;
        indent = lineIndent;
        if (maxBlank > indent) outside();
      } else if (lineIndent < indent) {
        // Less indented: the scalar ends; a comment may sit there, anything else is misplaced.
        if (lineIndent > parent && this.c(s) !== HASH) outside();
        break;
      }
      if (end < 0) outside(); // the last line must end with a line break
      lines.push(this.text.slice(ls + indent, end));
      lastContentEnd = end;
      at = end;
    }
    // Content lines are never empty; the blank lines after the last one are chomped: clip keeps
    // one line break, strip none, keep all of them.
    let content = 0;
    for (let k = 0; k < lines.length; k++) if (lines[k] !== '') content = k + 1;
    let value = lines.slice(0, content).join('\n');
    if (chomp === 43) value += '\n'.repeat(lines.length - content + (content > 0 ? 1 : 0));
    else if (chomp !== DASH && content > 0) value += '\n';
    if (lastContentEnd < 0) lastContentEnd = this.pos; // empty: the header line is the last
    // Move the bookkeeping to the last content line's end and find the next content line.
    for (let k = this.pos; k < lastContentEnd; k++) {
      if (this.c(k) === NL) {
        this.line++;
        this.ls = k + 1;
      }
    }
    this.pos = lastContentEnd;
    this.nextContent();
    return own(value);
  }

  // ---- flow collections ----

  /** A flow mapping or sequence at the scanner's position; `multiLine` only for a document root. */
  private flow(path: string, multiLine: boolean, sink?: (item: YValue) => void): YValue {
    const open = this.c(this.pos);
    const src = this.src(this.pos, path);
    this.pos++;
    this.flowSpace(multiLine);
    const close = open === LBRACE ? RBRACE : RBRACKET;
    if (this.c(this.pos) === close) {
      this.pos++;
      return open === LBRACE ? { kind: 'map', entries: [], src } : { kind: 'seq', items: [], src };
    }
    const entries: YMapEntry[] = [];
    const items: YValue[] = [];
    let count = 0;
    for (;;) {
      if (open === LBRACE) {
        const keyAt = this.pos;
        const kc = this.c(keyAt);
        let key: string;
        let quoted = false;
        if (kc === DQUOTE || kc === SQUOTE) {
          const k = this.quotedOneLine(keyAt);
          if (k === undefined) outside();
          key = k;
          quoted = true;
        } else {
          const raw = this.flowPlain();
          const v = resolvePlain(raw);
          key = v === null ? '' : String(v);
        }
        if (this.pos - keyAt > MAX_KEY_LENGTH) outside();
        if (this.c(this.pos) !== COLON) outside();
        const nx = this.c(this.pos + 1);
        if (!quoted && nx !== SP && nx !== NL) outside();
        for (const e of entries) if (e.key === key) outside();
        const p = childPath(path, key);
        const keySrc = this.src(keyAt, p);
        this.pos++;
        this.flowSpace(multiLine);
        // A list's items go to the handler (`path` is '' only at a document's root).
        const itemSink = path === '' && key === 'items' ? this.items : undefined;
        entries.push({ key, keySrc, value: this.flowValue(p, multiLine, itemSink) });
      } else {
        const item = this.flowValue(indexPath(path, count++), multiLine);
        if (sink !== undefined) sink(item);
        else items.push(item);
      }
      this.flowSpace(multiLine);
      const c = this.c(this.pos);
      this.pos++;
      if (c === close) break;
      if (c !== COMMA) outside();
      this.flowSpace(multiLine);
      const n = this.c(this.pos);
      if (n === close || n === COMMA) outside(); // trailing or empty entries
    }
    return open === LBRACE ? { kind: 'map', entries, src } : { kind: 'seq', items, src };
  }

  private flowValue(path: string, multiLine: boolean, sink?: (item: YValue) => void): YValue {
    const at = this.pos;
    const c = this.c(at);
    if (c === LBRACE || c === LBRACKET) return this.flow(path, multiLine, c === LBRACKET ? sink : undefined);
    const src = this.src(at, path);
    if (c === DQUOTE || c === SQUOTE) {
      const v = this.quotedOneLine(at);
      if (v === undefined) outside();
      if (this.c(this.pos) === COLON) outside(); // a single-pair mapping in a sequence, or junk
      return { kind: 'scalar', value: v, src };
    }
    const raw = this.flowPlain();
    if (this.c(this.pos) === COLON) outside();
    return { kind: 'scalar', value: resolvePlain(raw), src };
  }

  /** A plain scalar in a flow collection: a run of word characters, then spaces. */
  private flowPlain(): string {
    const start = this.pos;
    let p = start;
    // A ':' belongs to the scalar when a word character follows it (`k8s:app`).
    while (flowPlainChar(this.c(p)) || (this.c(p) === COLON && p > start && flowPlainChar(this.c(p + 1)))) p++;
    if (p === start) outside();
    if (this.c(start) === DASH && p === start + 1) outside();
    const raw = own(this.text.slice(start, p));
    this.pos = p;
    while (this.c(this.pos) === SP) this.pos++;
    const n = this.c(this.pos);
    if (n !== COMMA && n !== RBRACKET && n !== RBRACE && n !== COLON && n !== NL) outside();
    return raw;
  }

  private flowSpace(multiLine: boolean): void {
    for (;;) {
      const c = this.c(this.pos);
      if (c === SP) this.pos++;
      else if (c === NL && multiLine) {
        this.pos++;
        this.line++;
        this.ls = this.pos;
        const m = this.c(this.pos);
        if ((m === DASH || m === DOT) && this.isMarker(this.pos)) outside();
      } else return;
    }
  }
}

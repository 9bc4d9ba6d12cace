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

import { blockListHead, checkListHead, isMarker, jsonListHead, type ListHead } from './load_scan_head.js';
import { LineScanner } from './load_scan_line.js';
import {
  COLON, COMMA, DASH, DOT, DQUOTE, flowPlainChar, HASH, LBRACE, LBRACKET, MAX_KEY_LENGTH, NL, OUTSIDE, outside, own, PIPE,
  plainStart, RBRACE, RBRACKET, REFUSED_CHARS, resolvePlain, SP, SQUOTE,
} from './load_scan_text.js';
import { childPath, indexPath, type YMapEntry, type YValue } from './yaml.js';

export { resolvePlain } from './load_scan_text.js';
export type { ListHead } from './load_scan_head.js';

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

class Scanner extends LineScanner {
  /** Where the items of the current document's root `items` go instead of its tree, if anywhere. */
  private items: ((item: YValue) => void) | undefined;

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
      const head = handlers.list !== undefined && this.ind === 0 ? (json ? jsonListHead(this.text, this.pos) : blockListHead(this.text, this.ls)) : undefined;
      this.items = head === undefined ? undefined : handlers.list!(head);
      const root = this.root();
      if (this.ind !== -1) outside(); // content left of the root block
      if (this.items !== undefined) checkListHead(root, head!);
      else handlers.root(root);
      this.items = undefined;
    }
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
        if ((m === DASH || m === DOT) && isMarker(this.text, this.pos)) outside();
      } else return;
    }
  }
}

// The line-by-line machinery of the scanner (load_scan.ts) and its scalars: where the scanner
// stands (offset, line, indentation of the next line with content), and plain, quoted and
// literal block scalars in block context, folded over several lines as the `yaml` package folds
// them. Anything outside the subset throws OUTSIDE.

import type { Source } from './ast.js';
import { isMarker } from './load_scan_head.js';
import { BACKSLASH, COLON, DASH, DQUOTE, ESCAPES, fold, HASH, NL, outside, own, plainStart, resolvePlain, SP, SQUOTE } from './load_scan_text.js';
import type { Scalar } from './yaml.js';

export class LineScanner {
  protected pos = 0;
  /** 1-based number of the line holding `pos`, and the offset where that line starts. */
  protected line = 1;
  protected ls = 0;
  /** Indentation of the line the scanner stands on (at its first non-space character), or -1 at
   * the end of the text or at a document marker: every block ends there. */
  protected ind = -1;
  protected readonly len: number;

  constructor(
    protected readonly file: string,
    protected readonly text: string,
  ) {
    this.len = text.length;
  }

  protected c(at: number): number {
    return this.text.charCodeAt(at);
  }

  protected src(at: number, path: string): Source {
    return { file: this.file, line: this.line, column: at - this.ls + 1, path };
  }

  /** From anywhere on a line, past its end: the rest must be spaces and perhaps a comment. */
  protected endLine(): void {
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
  protected nextContent(): void {
    if (this.pos >= this.len) {
      this.ind = -1;
      return;
    }
    this.line++;
    this.lineFrom(this.pos + 1);
  }

  /** From the start `p` of line `this.line` to the first line with content. */
  protected lineFrom(p: number): void {
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
      if (this.ind === 0 && isMarker(this.text, this.ls)) this.ind = -1;
      return;
    }
  }

  /** At a `- ` (or a `-` ending its line). */
  protected atSeqItem(): boolean {
    if (this.c(this.pos) !== DASH) return false;
    const n = this.c(this.pos + 1);
    return n === SP || n === NL || this.pos + 1 >= this.len;
  }

  // ---- scalars in block context ----

  /** A plain scalar in block context, continued on more-indented lines. */
  protected plain(parent: number): Scalar {
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
  protected quotedOneLine(start: number): string | undefined {
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
  protected escape(p: number, emit: (s: string) => void): number {
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
  protected quotedBlock(parent: number): string {
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
  protected literal(parent: number): string {
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
}

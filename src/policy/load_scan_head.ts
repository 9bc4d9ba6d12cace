// A look ahead for the list header of a document (`kind: List`, `PodList`, ... with `items`),
// so that load_scan.ts can hand a list's items over one by one: kubectl writes `kind` after the
// items, so nothing short of looking ahead can tell before them. The look ahead only guesses;
// `checkListHead` holds the guess against the document once it is read.

import { COLON, DASH, DOT, LBRACE, LBRACKET, NL, outside, RBRACE, RBRACKET, SP } from './load_scan_text.js';
import type { YValue } from './yaml.js';

/** The header of a document that is a list of objects (`kind: List`, `PodList`, ...). */
export interface ListHead {
  apiVersion: string;
  kind: string;
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

/** `---` or `...` at `p`, a line's start, followed by a space or the line's end. */
export function isMarker(text: string, p: number): boolean {
  const ch = text.charCodeAt(p);
  if ((ch !== DASH && ch !== DOT) || text.charCodeAt(p + 1) !== ch || text.charCodeAt(p + 2) !== ch) return false;
  const after = text.charCodeAt(p + 3);
  return after === SP || after === NL || p + 3 >= text.length;
}

/** The list header out of what a look ahead found. */
function head(found: HeadKeys): ListHead | undefined {
  const { apiVersion, kind, items, spec } = found;
  if (!items || apiVersion === undefined || kind === undefined || !kind.endsWith('List')) return undefined;
  if (kind !== 'List' && spec) return undefined;
  return { apiVersion, kind };
}

/** The header of the block document whose first line starts at `from`: the keys at column 0 up
 * to the document's end (a root mapping's keys, when the root is a mapping there). */
export function blockListHead(text: string, from: number): ListHead | undefined {
  const found: HeadKeys = { items: false, spec: false };
  for (let p = from; p < text.length; ) {
    const c = text.charCodeAt(p);
    if ((c === DASH || c === DOT) && isMarker(text, p)) break;
    if (c === 97 && text.startsWith('apiVersion:', p)) found.apiVersion = headWord(text, p + 11);
    else if (c === 107 && text.startsWith('kind:', p)) found.kind = headWord(text, p + 5);
    else if (c === 105 && text.startsWith('items:', p)) found.items = true;
    else if (c === 115 && text.startsWith('spec:', p)) found.spec = true;
    const nl = text.indexOf('\n', p);
    if (nl < 0) break;
    p = nl + 1;
  }
  return head(found);
}

/** The header of the JSON document (a flow mapping) at `from`: a walk over its brackets and
 * strings, looking at the keys at depth 1. */
export function jsonListHead(text: string, from: number): ListHead | undefined {
  const found: HeadKeys = { items: false, spec: false };
  let depth = 0;
  JSON_TOKEN.lastIndex = from;
  for (;;) {
    const m = JSON_TOKEN.exec(text);
    if (m === null) return undefined;
    const c = text.charCodeAt(m.index);
    if (c === LBRACE || c === LBRACKET) depth++;
    else if (c === RBRACE || c === RBRACKET) {
      if (--depth === 0) break;
    } else {
      JSON_STRING.lastIndex = m.index;
      const str = JSON_STRING.exec(text);
      if (str === null) return undefined;
      let p = JSON_STRING.lastIndex;
      if (depth === 1) {
        while (text.charCodeAt(p) === SP || text.charCodeAt(p) === NL) p++;
        if (text.charCodeAt(p) === COLON) {
          // a key of the root mapping
          const key = str[0].slice(1, -1);
          p++;
          while (text.charCodeAt(p) === SP || text.charCodeAt(p) === NL) p++;
          if (key === 'apiVersion' || key === 'kind') {
            JSON_WORD.lastIndex = p;
            found[key] = JSON_WORD.exec(text)?.[1];
          } else if (key === 'items') found.items = true;
          else if (key === 'spec') found.spec = true;
        }
      }
      JSON_TOKEN.lastIndex = p;
    }
  }
  return head(found);
}

/** The list document as read agrees with the header its items were handed over under. */
export function checkListHead(root: YValue, head: ListHead): void {
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

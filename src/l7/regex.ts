// The regular expressions of HTTP rules, as Cilium's proxy runs them: Cilium checks them with
// Go's regexp (RE2 syntax) and hands them to Envoy as RE2 `safe_regex` matchers, which match the
// whole value. This module turns RE2 syntax into an anchored JavaScript RegExp and refuses what
// RE2 refuses (backreferences, lookaround) or what cannot be carried over faithfully, so a rule
// never silently means something else here than in the proxy.
//
// Covered: literals and escapes, classes with POSIX names (`[[:alpha:]]`), `\pN` / `\p{Greek}`,
// `\Q...\E`, `\A` and `\z`, `\x{...}`, named groups `(?P<n>...)`, leading flags `(?i)`, `(?s)`,
// `(?m)`. Refused: `\1`.., `(?=`, `(?!`, `(?<=`, `(?<!`, `\C`, flags anywhere but the start,
// `(?U)`, negated POSIX classes.

export class RegexSyntaxError extends Error {}

const JS_SYNTAX = new Set('^$\\.*+?()[]{}|/'.split(''));

const POSIX: Record<string, string> = {
  alnum: '0-9A-Za-z',
  alpha: 'A-Za-z',
  ascii: '\\x00-\\x7f',
  blank: '\\t ',
  cntrl: '\\x00-\\x1f\\x7f',
  digit: '0-9',
  graph: '\\x21-\\x7e',
  lower: 'a-z',
  print: '\\x20-\\x7e',
  punct: '!-\\/:-@\\[-`{-~',
  space: '\\t\\n\\v\\f\\r ',
  upper: 'A-Z',
  word: '0-9A-Za-z_',
  xdigit: '0-9A-Fa-f',
};

function codePoint(c: string): string {
  return `\\u{${c.codePointAt(0)!.toString(16)}}`;
}

/** An RE2 pattern as a JavaScript RegExp matching the whole input. Throws RegexSyntaxError. */
export function compileRe2(pattern: string): RegExp {
  let flags = 'u';
  let i = 0;
  const lead = /^\(\?([a-zA-Z]+)\)/.exec(pattern);
  if (lead) {
    for (const f of lead[1]!) {
      if (f === 'i' || f === 's' || f === 'm') flags += f;
      else throw new RegexSyntaxError(`flag "${f}" is not supported`);
    }
    i = lead[0].length;
  }
  let out = '';
  let inClass = false;
  let classStart = false;
  while (i < pattern.length) {
    const c = pattern[i]!;
    if (c === '\\') {
      const [text, used] = escape(pattern, i, inClass);
      out += text;
      i += used;
      classStart = false;
      continue;
    }
    if (inClass) {
      if (c === '[' && pattern[i + 1] === ':') {
        const end = pattern.indexOf(':]', i + 2);
        if (end < 0) throw new RegexSyntaxError(`unterminated POSIX class at ${i}`);
        const name = pattern.slice(i + 2, end);
        if (name.startsWith('^')) throw new RegexSyntaxError(`negated POSIX class [:${name}:] is not supported`);
        const range = POSIX[name];
        if (range === undefined) throw new RegexSyntaxError(`unknown POSIX class [:${name}:]`);
        out += range;
        i = end + 2;
        classStart = false;
        continue;
      }
      if (c === ']' && !classStart) inClass = false;
      out += c === ']' && classStart ? '\\]' : c === '[' ? '\\[' : c;
      classStart = false;
      i++;
      continue;
    }
    if (c === '[') {
      inClass = true;
      out += '[';
      i++;
      if (pattern[i] === '^') {
        out += '^';
        i++;
      }
      classStart = true;
      continue;
    }
    if (c === '(' && pattern[i + 1] === '?') {
      const rest = pattern.slice(i + 2);
      if (rest.startsWith(':')) {
        out += '(?:';
        i += 3;
      } else if (rest.startsWith('P<')) {
        out += '(?<';
        i += 4;
      } else if (/^<[A-Za-z_]/.test(rest)) {
        out += '(?<';
        i += 3;
      } else if (/^(=|!|<=|<!)/.test(rest)) {
        throw new RegexSyntaxError(`lookaround at ${i} is not RE2 syntax`);
      } else {
        throw new RegexSyntaxError(`group flags at ${i} are only supported at the start of the pattern`);
      }
      continue;
    }
    out += c;
    i++;
  }
  if (inClass) throw new RegexSyntaxError('missing ]');
  try {
    return new RegExp(`^(?:${out})$`, flags);
  } catch (e) {
    throw new RegexSyntaxError((e as Error).message.replace(/^Invalid regular expression: /, ''));
  }
}

/** One escape sequence at pattern[i] ('\\'): its JavaScript text and how many characters it used. */
function escape(pattern: string, i: number, inClass: boolean): [string, number] {
  const n = pattern[i + 1];
  if (n === undefined) throw new RegexSyntaxError('trailing backslash');
  if (/[dDwWsS]/.test(n)) return [`\\${n}`, 2];
  if (/[bB]/.test(n)) {
    if (inClass) throw new RegexSyntaxError(`\\${n} inside a class`);
    return [`\\${n}`, 2];
  }
  if (n === 'A' || n === 'z') {
    if (inClass) throw new RegexSyntaxError(`\\${n} inside a class`);
    return [n === 'A' ? '^' : '$', 2];
  }
  if (/[0-9]/.test(n)) throw new RegexSyntaxError(`\\${n}: backreferences and octal escapes are not supported`);
  if (n === 'Q') {
    const end = pattern.indexOf('\\E', i + 2);
    const lit = pattern.slice(i + 2, end < 0 ? undefined : end);
    return [[...lit].map((ch) => (/[0-9A-Za-z]/.test(ch) ? ch : codePoint(ch))).join(''), (end < 0 ? pattern.length : end + 2) - i];
  }
  if (n === 'E') return ['', 2];
  if (n === 'p' || n === 'P') {
    const m = /^\{([A-Za-z_]+)\}|^([A-Za-z])/.exec(pattern.slice(i + 2));
    if (!m) throw new RegexSyntaxError(`bad \\${n} at ${i}`);
    return [`\\${n}{${m[1] ?? m[2]}}`, 2 + m[0].length];
  }
  if (n === 'x') {
    const braced = /^\{([0-9A-Fa-f]{1,6})\}/.exec(pattern.slice(i + 2));
    if (braced) return [`\\u{${braced[1]}}`, 2 + braced[0].length];
    const two = /^[0-9A-Fa-f]{2}/.exec(pattern.slice(i + 2));
    if (!two) throw new RegexSyntaxError(`bad \\x at ${i}`);
    return [`\\x${two[0]}`, 4];
  }
  const controls: Record<string, string> = { a: '\\x07', f: '\\f', t: '\\t', n: '\\n', r: '\\r', v: '\\v' };
  if (controls[n] !== undefined) return [controls[n]!, 2];
  if (/[A-Za-z]/.test(n)) throw new RegexSyntaxError(`unknown escape \\${n}`);
  // Escaped punctuation is that character, whatever JavaScript's unicode mode allows to escape.
  return [JS_SYNTAX.has(n) || (inClass && n === '-') ? `\\${n}` : codePoint(n), 2];
}

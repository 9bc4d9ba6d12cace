// An incremental HTTP/1.x parser for one direction of a connection: requests from the client's
// byte stream, responses from the server's. Bytes arrive in pieces of any size (a request may
// come one byte per segment); each message is reported once its header section is complete,
// which is when a proxy decides, and its end once the body framing says it is over.
//
// Framing follows RFC 9112: a request body by Transfer-Encoding (chunked last) or Content-Length,
// else none; a response body none for HEAD, 1xx, 204 and 304, else chunked, Content-Length or
// until the connection closes. Messages follow each other on a kept-alive connection
// (pipelining). What a proxy must refuse is an error that ends parsing of the stream: bad start
// lines, header syntax, obsolete line folding, both Content-Length and Transfer-Encoding,
// conflicting lengths, bad chunk sizes, sizes over the limits. Lines may end in CRLF or a bare
// LF (RFC 9112 section 2.2 lets a recipient accept either). After CONNECT, or a 101 answer, the
// bytes are no longer HTTP and are skipped.

export interface HttpHeader {
  name: string;
  value: string;
}

export interface HttpRequest {
  method: string;
  /** The request-target as sent: origin-form `/p?q`, absolute-form, authority-form or `*`. */
  target: string;
  /** Path and query (origin-form, also taken from an absolute-form target); '' for `*` and CONNECT. */
  path: string;
  /** The Host header, or the absolute-form target's authority; '' when there is none. */
  host: string;
  version: 'HTTP/1.0' | 'HTTP/1.1';
  headers: HttpHeader[];
  /** Body framing: a byte count or chunked. */
  body: number | 'chunked';
  /** Whether the connection stays open after this message (HTTP/1.1 default, Connection header). */
  keepAlive: boolean;
  /** Offset of the request's first byte in the client's stream. */
  offset: number;
}

export interface HttpResponse {
  version: 'HTTP/1.0' | 'HTTP/1.1';
  code: number;
  reason: string;
  headers: HttpHeader[];
  body: number | 'chunked' | 'until-close';
  keepAlive: boolean;
  offset: number;
}

export interface HttpParseError {
  /** What was wrong, for a person. */
  reason: string;
  /** Offset in the direction's stream where the offending message or line starts. */
  offset: number;
}

export type HttpEvent =
  | { kind: 'request'; request: HttpRequest; timeNs: bigint }
  | { kind: 'response'; response: HttpResponse; timeNs: bigint }
  /** The body of the last request/response is complete. */
  | { kind: 'message-end'; timeNs: bigint }
  | { kind: 'error'; error: HttpParseError; timeNs: bigint }
  /** The rest of the stream is not HTTP (after CONNECT or a 101 answer): it is skipped. */
  | { kind: 'opaque'; reason: string; timeNs: bigint };

export interface HttpLimits {
  /** Request or status line, in bytes. */
  maxStartLine: number;
  /** The whole header section (start line included), in bytes: Envoy's default is 60 KiB. */
  maxHeaderBytes: number;
  /** Header fields per message: Envoy's default is 100. */
  maxHeaders: number;
}

export const DEFAULT_HTTP_LIMITS: HttpLimits = { maxStartLine: 8192, maxHeaderBytes: 60 * 1024, maxHeaders: 100 };

type State =
  | 'start' | 'headers' | 'body' | 'chunk-size' | 'chunk-data' | 'chunk-end' | 'trailers' | 'until-close'
  | 'opaque' | 'dead' | 'closed';

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const EMPTY = new Uint8Array(0);
const LF = 0x0a;
const CR = 0x0d;

function latin1(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');
}

/** Header values joined as a proxy compares them: every field of the name, comma-separated. */
export function headerValue(headers: HttpHeader[], name: string): string | undefined {
  const lower = name.toLowerCase();
  const values = headers.filter((h) => h.name.toLowerCase() === lower).map((h) => h.value);
  return values.length === 0 ? undefined : values.join(',');
}

function hasToken(headers: HttpHeader[], name: string, token: string): boolean {
  const v = headerValue(headers, name);
  return v !== undefined && v.split(',').some((t) => t.trim().toLowerCase() === token);
}

function keepAlive(version: string, headers: HttpHeader[]): boolean {
  if (hasToken(headers, 'connection', 'close')) return false;
  return version === 'HTTP/1.1' || hasToken(headers, 'connection', 'keep-alive');
}

class ParseFailure extends Error {}

/** One direction's parser: `new HttpParser('request')` for the client's bytes, 'response' for the server's. */
export class HttpParser {
  private buf: Uint8Array = EMPTY;
  /** Stream offset of buf[0]. */
  private bufOffset = 0;
  private state: State = 'start';
  private messageOffset = 0;
  private startLine = '';
  private headerLines: string[] = [];
  private headerBytes = 0;
  private remaining = 0;
  /** For responses: the methods of requests still unanswered, oldest first. */
  private readonly methods: string[] = [];
  private readonly limits: HttpLimits;
  private keepAliveNext = true;

  constructor(
    readonly kind: 'request' | 'response',
    limits: Partial<HttpLimits> = {},
  ) {
    this.limits = { ...DEFAULT_HTTP_LIMITS, ...limits };
  }

  /** True once the stream can no longer be parsed (error, opaque, or closed by Connection: close). */
  get done(): boolean {
    return this.state === 'dead' || this.state === 'opaque' || this.state === 'closed';
  }

  /** Responses only: a request with this method was sent (HEAD and CONNECT answers frame differently). */
  expectResponseTo(method: string): void {
    this.methods.push(method);
  }

  /** The rest of the stream is not HTTP (the other direction saw an upgrade). */
  stopOpaque(reason: string, timeNs: bigint): HttpEvent[] {
    if (this.done) return [];
    this.state = 'opaque';
    this.buf = new Uint8Array(0);
    return [{ kind: 'opaque', reason, timeNs }];
  }

  push(bytes: Uint8Array, timeNs: bigint): HttpEvent[] {
    if (this.done) return [];
    if (this.buf.length === 0) {
      // Nothing held: parse the caller's bytes in place; what is left over is copied below.
      this.buf = bytes;
    } else {
      const joined = new Uint8Array(this.buf.length + bytes.length);
      joined.set(this.buf, 0);
      joined.set(bytes, this.buf.length);
      this.buf = joined;
    }
    const events: HttpEvent[] = [];
    try {
      let pos = 0;
      for (;;) {
        const used = this.step(pos, events, timeNs);
        if (used < 0) break;
        pos = used;
        if (this.done) break;
      }
      this.bufOffset += pos;
      this.buf = this.done || pos === this.buf.length ? EMPTY : this.buf.slice(pos);
    } catch (e) {
      if (!(e instanceof ParseFailure)) throw e;
      events.push({ kind: 'error', error: { reason: e.message, offset: this.messageOffset }, timeNs });
      this.state = 'dead';
      this.buf = new Uint8Array(0);
    }
    return events;
  }

  /** The stream ended (FIN): a body running until close completes; a partial message is an error. */
  end(timeNs: bigint): HttpEvent[] {
    if (this.done) return [];
    const events: HttpEvent[] = [];
    if (this.state === 'until-close') {
      events.push({ kind: 'message-end', timeNs });
    } else if (this.state !== 'start' || this.buf.some((b) => b !== CR && b !== LF)) {
      events.push({ kind: 'error', error: { reason: `the stream ended inside a ${this.kind} (${this.state})`, offset: this.messageOffset }, timeNs });
    }
    this.state = 'closed';
    this.buf = new Uint8Array(0);
    return events;
  }

  /** One step of the state machine from buf[pos]; the new position, or -1 when more bytes are needed. */
  private step(pos: number, events: HttpEvent[], timeNs: bigint): number {
    switch (this.state) {
      case 'start': {
        // Empty lines before a message are ignored (RFC 9112 section 2.2).
        const from = pos;
        while (pos < this.buf.length && (this.buf[pos] === CR || this.buf[pos] === LF)) pos++;
        if (pos >= this.buf.length) return pos > from ? pos : -1;
        this.messageOffset = this.bufOffset + pos;
        const line = this.line(pos, this.limits.maxStartLine, `${this.kind} line`);
        if (!line) return pos > from ? pos : -1;
        this.startLine = line.text;
        this.headerLines = [];
        this.headerBytes = line.next - pos;
        this.state = 'headers';
        return line.next;
      }
      case 'headers': {
        const line = this.line(pos, this.limits.maxHeaderBytes - this.headerBytes + 2, 'header section');
        if (!line) return -1;
        this.headerBytes += line.next - pos;
        if (this.headerBytes > this.limits.maxHeaderBytes) this.fail(`the header section is over ${this.limits.maxHeaderBytes} bytes`);
        if (line.text !== '') {
          if (line.text[0] === ' ' || line.text[0] === '\t') this.fail('obsolete line folding in a header field');
          if (this.headerLines.length >= this.limits.maxHeaders) this.fail(`more than ${this.limits.maxHeaders} header fields`);
          this.headerLines.push(line.text);
          return line.next;
        }
        this.headersDone(events, timeNs);
        return line.next;
      }
      case 'body': {
        const take = Math.min(this.remaining, this.buf.length - pos);
        this.remaining -= take;
        if (this.remaining === 0) this.messageDone(events, timeNs);
        return take === 0 && this.state === 'body' ? -1 : pos + take;
      }
      case 'chunk-size': {
        const line = this.line(pos, 1024, 'chunk size line');
        if (!line) return -1;
        const m = /^([0-9A-Fa-f]+)[ \t]*(;.*)?$/.exec(line.text);
        if (!m || m[1]!.length > 13) this.fail(`bad chunk size "${line.text.slice(0, 40)}"`);
        this.remaining = parseInt(m![1]!, 16);
        this.state = this.remaining === 0 ? 'trailers' : 'chunk-data';
        return line.next;
      }
      case 'chunk-data': {
        const take = Math.min(this.remaining, this.buf.length - pos);
        this.remaining -= take;
        if (this.remaining === 0) this.state = 'chunk-end';
        return take === 0 ? -1 : pos + take;
      }
      case 'chunk-end': {
        const line = this.line(pos, 2, 'chunk end');
        if (!line) return -1;
        if (line.text !== '') this.fail('chunk data longer than its size');
        this.state = 'chunk-size';
        return line.next;
      }
      case 'trailers': {
        const line = this.line(pos, this.limits.maxHeaderBytes, 'trailer section');
        if (!line) return -1;
        if (line.text === '') this.messageDone(events, timeNs);
        return line.next;
      }
      case 'until-close':
        return this.buf.length === pos ? -1 : this.buf.length;
      default:
        return -1;
    }
  }

  /** The line starting at pos (without its CRLF or LF) and where the next begins; null if incomplete. */
  private line(pos: number, max: number, what: string): { text: string; next: number } | null {
    const lf = this.buf.indexOf(LF, pos);
    if (lf < 0) {
      if (this.buf.length - pos > max) this.fail(`the ${what} is over ${max} bytes`);
      return null;
    }
    const end = lf > pos && this.buf[lf - 1] === CR ? lf - 1 : lf;
    if (end - pos > max) this.fail(`the ${what} is over ${max} bytes`);
    const raw = this.buf.subarray(pos, end);
    if (raw.includes(CR)) this.fail(`a bare CR inside the ${what}`);
    return { text: latin1(raw), next: lf + 1 };
  }

  private fail(reason: string): never {
    throw new ParseFailure(reason);
  }

  private parseHeaders(): HttpHeader[] {
    return this.headerLines.map((l) => {
      const colon = l.indexOf(':');
      if (colon <= 0) this.fail(`a header line without a name and colon: "${l.slice(0, 40)}"`);
      const name = l.slice(0, colon);
      if (!TOKEN.test(name)) this.fail(`bad header name "${name.slice(0, 40)}"`);
      const value = l.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
      // Control characters other than HTAB (NUL included) are never valid in a field value.
      if (/[\x00-\x08\x0a-\x1f\x7f]/.test(value)) this.fail(`a control character in the value of "${name}"`);
      return { name, value };
    });
  }

  private version(text: string): 'HTTP/1.0' | 'HTTP/1.1' {
    if (text === 'HTTP/1.1' || text === 'HTTP/1.0') return text;
    if (text === 'HTTP/2.0') this.fail('HTTP/2 (prior knowledge) is not parsed');
    this.fail(`unsupported HTTP version "${text.slice(0, 20)}"`);
  }

  /** Content-Length as a proxy accepts it: digits only, the same value if repeated. */
  private contentLength(headers: HttpHeader[]): number | undefined {
    const v = headerValue(headers, 'content-length');
    if (v === undefined) return undefined;
    const parts = v.split(',').map((s) => s.trim());
    if (parts.some((p) => !/^\d{1,15}$/.test(p)) || parts.some((p) => p !== parts[0])) this.fail(`bad Content-Length "${v.slice(0, 40)}"`);
    return Number(parts[0]);
  }

  /** Whether Transfer-Encoding ends in chunked; undefined without the header. */
  private chunked(headers: HttpHeader[]): boolean | undefined {
    const v = headerValue(headers, 'transfer-encoding');
    if (v === undefined) return undefined;
    const codings = v.split(',').map((s) => s.trim().toLowerCase()).filter((s) => s !== '');
    return codings[codings.length - 1] === 'chunked';
  }

  private headersDone(events: HttpEvent[], timeNs: bigint): void {
    const headers = this.parseHeaders();
    if (this.kind === 'request') this.requestDone(headers, events, timeNs);
    else this.responseDone(headers, events, timeNs);
  }

  private requestDone(headers: HttpHeader[], events: HttpEvent[], timeNs: bigint): void {
    const parts = this.startLine.split(' ');
    if (parts.length !== 3 || parts.some((p) => p === '')) this.fail(`bad request line "${this.startLine.slice(0, 60)}"`);
    const [method, target, ver] = parts as [string, string, string];
    if (method === 'PRI' && target === '*' && ver === 'HTTP/2.0') this.fail('HTTP/2 (prior knowledge) is not parsed');
    if (!TOKEN.test(method)) this.fail(`bad method "${method.slice(0, 20)}"`);
    const version = this.version(ver);
    if (/[\x00-\x20\x7f]/.test(target)) this.fail('a control character in the request target');
    let path = '';
    let authority = '';
    if (target.startsWith('/')) path = target;
    else if (target === '*') {
      if (method !== 'OPTIONS') this.fail('the target "*" is only for OPTIONS');
    } else if (method === 'CONNECT') {
      authority = target;
    } else {
      const m = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?#]*)([^#]*)/.exec(target);
      if (!m) this.fail(`bad request target "${target.slice(0, 60)}"`);
      authority = m![1]!.replace(/^[^@]*@/, '');
      path = m![2]!.startsWith('/') ? m![2]! : `/${m![2]!}`;
    }
    const hosts = headers.filter((h) => h.name.toLowerCase() === 'host');
    if (hosts.length > 1) this.fail('more than one Host header');
    if (version === 'HTTP/1.1' && hosts.length === 0 && authority === '') this.fail('an HTTP/1.1 request without Host');
    const te = this.chunked(headers);
    const cl = this.contentLength(headers);
    if (te !== undefined && cl !== undefined) this.fail('both Transfer-Encoding and Content-Length');
    if (te === false) this.fail('a request Transfer-Encoding that does not end in chunked');
    const request: HttpRequest = {
      method,
      target,
      path,
      host: authority !== '' ? authority : hosts[0]?.value ?? '',
      version,
      headers,
      body: te ? 'chunked' : cl ?? 0,
      keepAlive: keepAlive(version, headers),
      offset: this.messageOffset,
    };
    events.push({ kind: 'request', request, timeNs });
    this.keepAliveNext = request.keepAlive;
    if (method === 'CONNECT') {
      this.state = 'opaque';
      events.push({ kind: 'opaque', reason: 'CONNECT tunnel', timeNs });
      return;
    }
    this.startBody(request.body, events, timeNs);
  }

  private responseDone(headers: HttpHeader[], events: HttpEvent[], timeNs: bigint): void {
    const m = /^(HTTP\/\d\.\d) (\d{3})(?: (.*))?$/.exec(this.startLine);
    if (!m) this.fail(`bad status line "${this.startLine.slice(0, 60)}"`);
    const version = this.version(m![1]!);
    const code = Number(m![2]);
    const reason = m![3] ?? '';
    const informational = code >= 100 && code < 200;
    // An interim (1xx) answer leaves its request waiting for the final one.
    const method = informational ? this.methods[0] : this.methods.shift();
    const te = this.chunked(headers);
    const cl = te === undefined ? this.contentLength(headers) : undefined;
    let body: HttpResponse['body'];
    if (method === 'HEAD' || informational || code === 204 || code === 304) body = 0;
    else if (te === true) body = 'chunked';
    else if (te === false) body = 'until-close';
    else body = cl ?? 'until-close';
    const response: HttpResponse = { version, code, reason, headers, body, keepAlive: keepAlive(version, headers), offset: this.messageOffset };
    events.push({ kind: 'response', response, timeNs });
    this.keepAliveNext = response.keepAlive;
    if (code === 101 || (method === 'CONNECT' && code >= 200 && code < 300)) {
      this.state = 'opaque';
      events.push({ kind: 'opaque', reason: code === 101 ? 'switched protocols (101)' : 'CONNECT tunnel', timeNs });
      return;
    }
    if (informational) {
      this.state = 'start';
      return;
    }
    this.startBody(body, events, timeNs);
  }

  private startBody(body: number | 'chunked' | 'until-close', events: HttpEvent[], timeNs: bigint): void {
    if (body === 'chunked') this.state = 'chunk-size';
    else if (body === 'until-close') this.state = 'until-close';
    else if (body === 0) this.messageDone(events, timeNs);
    else {
      this.remaining = body;
      this.state = 'body';
    }
  }

  private messageDone(events: HttpEvent[], timeNs: bigint): void {
    events.push({ kind: 'message-end', timeNs });
    // After `Connection: close` nothing more is read from this side.
    this.state = this.keepAliveNext ? 'start' : 'closed';
  }
}

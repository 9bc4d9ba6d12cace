import { describe, expect, it } from 'vitest';
import { HttpParser, headerValue, type HttpEvent } from '../../src/l7/http.js';

const enc = new TextEncoder();

/** Feeds text in pieces of `size` bytes (the whole at once by default). */
function feed(p: HttpParser, text: string, size = Infinity): HttpEvent[] {
  const bytes = enc.encode(text);
  const out: HttpEvent[] = [];
  const step = Number.isFinite(size) ? size : bytes.length || 1;
  for (let i = 0; i < bytes.length; i += step) out.push(...p.push(bytes.subarray(i, i + step), BigInt(i)));
  return out;
}

const kinds = (evs: HttpEvent[]) => evs.map((e) => e.kind);

describe('HttpParser (requests)', () => {
  it('parses a request line, headers and the Host', () => {
    const evs = feed(new HttpParser('request'), 'GET /public?x=1 HTTP/1.1\r\nHost: y-b\r\nAccept: */*\r\n\r\n');
    expect(kinds(evs)).toEqual(['request', 'message-end']);
    const req = (evs[0] as Extract<HttpEvent, { kind: 'request' }>).request;
    expect(req).toMatchObject({ method: 'GET', target: '/public?x=1', path: '/public?x=1', host: 'y-b', version: 'HTTP/1.1', body: 0, keepAlive: true, offset: 0 });
    expect(req.headers).toEqual([{ name: 'Host', value: 'y-b' }, { name: 'Accept', value: '*/*' }]);
  });

  it('parses pipelined requests with Content-Length and chunked bodies, split into 1-byte pieces', () => {
    const first = 'POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello';
    const second = 'PUT /b HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n0\r\nX-Trailer: t\r\n\r\n';
    const text = first + second + 'GET /c HTTP/1.1\r\nHost: h\r\n\r\n';
    for (const size of [1, 2, 7, Infinity]) {
      const evs = feed(new HttpParser('request'), text, size);
      expect(kinds(evs), `piece size ${size}`).toEqual(['request', 'message-end', 'request', 'message-end', 'request', 'message-end']);
      const reqs = evs.filter((e) => e.kind === 'request').map((e) => (e as Extract<HttpEvent, { kind: 'request' }>).request);
      expect(reqs.map((r) => [r.method, r.path, r.body, r.offset])).toEqual([
        ['POST', '/a', 5, 0],
        ['PUT', '/b', 'chunked', first.length],
        ['GET', '/c', 0, first.length + second.length],
      ]);
    }
  });

  it('accepts bare LF line ends and empty lines before a request', () => {
    const evs = feed(new HttpParser('request'), '\r\n\nGET / HTTP/1.0\nHost: h\n\n');
    expect(kinds(evs)).toEqual(['request', 'message-end']);
  });

  it('takes host and path from an absolute-form target', () => {
    const evs = feed(new HttpParser('request'), 'GET http://user@example.com:8080/p?q HTTP/1.1\r\nHost: ignored\r\n\r\n');
    expect((evs[0] as Extract<HttpEvent, { kind: 'request' }>).request).toMatchObject({ host: 'example.com:8080', path: '/p?q' });
  });

  it('stops reading after Connection: close, and after CONNECT', () => {
    const p = new HttpParser('request');
    expect(kinds(feed(p, 'GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\nGET /more HTTP/1.1\r\n\r\n'))).toEqual(['request', 'message-end']);
    expect(p.done).toBe(true);
    const q = new HttpParser('request');
    expect(kinds(feed(q, 'CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n\x16\x03\x01garbage'))).toEqual(['request', 'opaque']);
  });

  const malformed: Array<[string, string, RegExp]> = [
    ['a bad request line', 'GET /\r\n\r\n', /bad request line/],
    ['an unknown version', 'GET / HTTP/3.0\r\nHost: h\r\n\r\n', /unsupported HTTP version/],
    ['HTTP/2 prior knowledge', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', /HTTP\/2/],
    ['obsolete line folding', 'GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n  2\r\n\r\n', /folding/],
    ['a space before the colon', 'GET / HTTP/1.1\r\nHost : h\r\n\r\n', /bad header name/],
    ['both framings', 'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n', /both/],
    ['conflicting lengths', 'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n', /Content-Length/],
    ['a bad chunk size', 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', /chunk size/],
    ['chunk data over its size', 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n', /longer than its size/],
    ['no Host in HTTP/1.1', 'GET / HTTP/1.1\r\nAccept: x\r\n\r\n', /without Host/],
    ['two Hosts', 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', /more than one Host/],
    ['a NUL in a value', 'GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n', /control character/],
    ['a bare CR', 'GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n', /bare CR/],
    ['TE not ending in chunked', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n', /does not end in chunked/],
  ];
  for (const [what, text, reason] of malformed) {
    it(`reports ${what} as an error and stops`, () => {
      const p = new HttpParser('request');
      const evs = feed(p, text);
      const err = evs.find((e) => e.kind === 'error') as Extract<HttpEvent, { kind: 'error' }>;
      expect(err, what).toBeDefined();
      expect(err.error.reason).toMatch(reason);
      expect(p.done).toBe(true);
      expect(p.push(enc.encode('GET / HTTP/1.1\r\nHost: h\r\n\r\n'), 0n)).toEqual([]);
    });
  }

  it('enforces the header-section and header-count limits, even before the section ends', () => {
    const p = new HttpParser('request', { maxHeaderBytes: 64 });
    const evs = feed(p, `GET / HTTP/1.1\r\nHost: h\r\nX-Long: ${'a'.repeat(100)}`);
    expect((evs[0] as Extract<HttpEvent, { kind: 'error' }>).error.reason).toMatch(/over/);
    const q = new HttpParser('request', { maxHeaders: 2 });
    expect(kinds(feed(q, 'GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n'))).toEqual(['error']);
  });

  it('reports a stream that ends inside a request', () => {
    const p = new HttpParser('request');
    feed(p, 'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc');
    expect(kinds(p.end(1n))).toEqual(['error']);
    const q = new HttpParser('request');
    feed(q, 'GET / HTTP/1.1\r\nHost: h\r\n\r\n\r\n');
    expect(q.end(1n)).toEqual([]);
  });

  it('joins repeated headers for comparison and ignores case in names', () => {
    expect(headerValue([{ name: 'X-A', value: '1' }, { name: 'x-a', value: '2' }], 'X-a')).toBe('1,2');
    expect(headerValue([], 'x')).toBeUndefined();
  });
});

describe('HttpParser (responses)', () => {
  it('frames responses by Content-Length, chunked, HEAD, 204/304 and 1xx', () => {
    const p = new HttpParser('response');
    for (const m of ['GET', 'HEAD', 'GET', 'GET', 'GET']) p.expectResponseTo(m);
    const text =
      'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok' +
      'HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n' + // HEAD: no body whatever the length says
      'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n' +
      'HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nnope\r\n0\r\n\r\n' +
      'HTTP/1.1 304 Not Modified\r\n\r\n';
    const evs = feed(p, text, 3);
    const codes = evs.filter((e) => e.kind === 'response').map((e) => (e as Extract<HttpEvent, { kind: 'response' }>).response.code);
    expect(codes).toEqual([200, 200, 100, 204, 404, 304]);
    expect(evs.filter((e) => e.kind === 'error')).toEqual([]);
  });

  it('reads a body until close when there is no framing, ended by end()', () => {
    const p = new HttpParser('response');
    p.expectResponseTo('GET');
    expect(kinds(feed(p, 'HTTP/1.0 200 OK\r\n\r\nwhatever bytes'))).toEqual(['response']);
    expect(kinds(p.end(5n))).toEqual(['message-end']);
  });

  it('accepts a status line without a reason phrase and refuses a bad one', () => {
    const p = new HttpParser('response');
    expect(kinds(feed(p, 'HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n'))).toEqual(['response', 'message-end']);
    expect(kinds(feed(new HttpParser('response'), 'HTTP/1.1 2000 OK\r\n\r\n'))).toEqual(['error']);
  });

  it('goes opaque after 101 Switching Protocols', () => {
    const p = new HttpParser('response');
    p.expectResponseTo('GET');
    expect(kinds(feed(p, 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello'))).toEqual(['response', 'opaque']);
    expect(p.done).toBe(true);
  });
});

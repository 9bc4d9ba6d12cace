// Synthetic HTTP conversations for probes and labs: the frames of one TCP connection that opens
// (SYN, SYN-ACK, ACK), carries one request (in segments of at most `mss` bytes) and, when given,
// its response, then closes (FIN each way). Each frame says which way it travels, so a caller can
// run it through the datapath from the right endpoint and feed the L7 stage. Deterministic:
// fixed initial sequence numbers and a fixed clock step.

import { tcp, type FrameOptions } from '../pcap/build.js';

export interface HttpRequestSpec {
  method: string;
  /** Path and query, `/api/v1/items?x=1`. */
  path: string;
  /** The Host header ('' leaves it out, as an HTTP/1.0 request may). */
  host: string;
  /** Header fields after Host, in order. */
  headers?: Array<[string, string]>;
  body?: string;
}

export interface ConversationSpec {
  client: string;
  server: string;
  clientPort: number;
  serverPort: number;
  request: HttpRequestSpec;
  /** The server's answer as raw HTTP text; none when absent. */
  response?: string;
  /** Largest payload per segment (default 1460). */
  mss?: number;
  clientMac?: string;
  serverMac?: string;
}

export interface ConversationFrame {
  /** `request`: client -> server; `reply`: server -> client. */
  way: 'request' | 'reply';
  frame: Uint8Array;
  /** Offset from the conversation's start, 1 ms per frame. */
  offsetNs: bigint;
}

const CLIENT_ISN = 0x3000_0000;
const SERVER_ISN = 0x4000_0000;
const STEP_NS = 1_000_000n;

/** The request as HTTP/1.1 text, Content-Length added when there is a body. */
export function requestText(r: HttpRequestSpec): string {
  const lines = [`${r.method} ${r.path} HTTP/1.1`];
  if (r.host !== '') lines.push(`Host: ${r.host}`);
  for (const [k, v] of r.headers ?? []) lines.push(`${k}: ${v}`);
  const body = r.body ?? '';
  if (body !== '' && !(r.headers ?? []).some(([k]) => k.toLowerCase() === 'content-length')) lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
  return `${lines.join('\r\n')}\r\n\r\n${body}`;
}

export function httpConversation(c: ConversationSpec): ConversationFrame[] {
  const mss = c.mss ?? 1460;
  if (!Number.isInteger(mss) || mss < 1) throw new RangeError(`mss must be a positive integer, not ${mss}`);
  const there: FrameOptions & { src: string; dst: string; sport: number; dport: number } = {
    src: c.client, dst: c.server, sport: c.clientPort, dport: c.serverPort,
    ...(c.clientMac ? { srcMac: c.clientMac } : {}), ...(c.serverMac ? { dstMac: c.serverMac } : {}),
  };
  const back: FrameOptions & { src: string; dst: string; sport: number; dport: number } = {
    src: c.server, dst: c.client, sport: c.serverPort, dport: c.clientPort,
    ...(c.serverMac ? { srcMac: c.serverMac } : {}), ...(c.clientMac ? { dstMac: c.clientMac } : {}),
  };
  const out: ConversationFrame[] = [];
  let cseq = CLIENT_ISN;
  let sseq = SERVER_ISN;
  const push = (way: 'request' | 'reply', frame: Uint8Array) => out.push({ way, frame, offsetNs: BigInt(out.length) * STEP_NS });
  const send = (way: 'request' | 'reply', text: Uint8Array) => {
    for (let i = 0; i < text.length; i += mss) {
      const piece = text.subarray(i, i + mss);
      const last = i + mss >= text.length;
      if (way === 'request') {
        push(way, tcp({ ...there, flags: last ? 'PA' : 'A', seq: cseq, ack: sseq, payload: piece }));
        cseq = (cseq + piece.length) >>> 0;
      } else {
        push(way, tcp({ ...back, flags: last ? 'PA' : 'A', seq: sseq, ack: cseq, payload: piece }));
        sseq = (sseq + piece.length) >>> 0;
      }
    }
  };
  push('request', tcp({ ...there, flags: 'S', seq: cseq }));
  cseq++;
  push('reply', tcp({ ...back, flags: 'SA', seq: sseq, ack: cseq }));
  sseq++;
  push('request', tcp({ ...there, flags: 'A', seq: cseq, ack: sseq }));
  send('request', new TextEncoder().encode(requestText(c.request)));
  if (c.response !== undefined) send('reply', new TextEncoder().encode(c.response));
  push('request', tcp({ ...there, flags: 'FA', seq: cseq, ack: sseq }));
  cseq++;
  push('reply', tcp({ ...back, flags: 'FA', seq: sseq, ack: cseq }));
  sseq++;
  push('request', tcp({ ...there, flags: 'A', seq: cseq, ack: sseq }));
  return out;
}

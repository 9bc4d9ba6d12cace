// Flows as `hubble observe` prints them for a person: the compact line (the default) and the
// table. The shapes follow Hubble's printer: `TIME: SRC (ID) -> DST (ID) TYPE VERDICT (SUMMARY)`,
// replies flipped to show the connection's direction with `<-`, reserved identities by name,
// policy verdicts as ALLOWED/DENIED. Times are UTC so that output is the same on every machine.
//
// Two twinpath additions, both after Hubble's fields: a consequence names the packet whose drop
// it follows from inside the summary's parentheses, and the table aligns its columns on its
// first rows and then streams (Hubble's table buffers everything; a replay may be millions of
// flows), so a later, wider cell pushes its row out instead of realigning the table.

import type { L7Flow } from '../l7/flow.js';
import { RESERVED } from '../policy/model.js';
import { dropReasonText } from './build.js';
import { formatTime, MESSAGE_TYPE, POLICY_MATCH_TYPES, type HubbleEndpoint, type HubbleFlow, type ReplayFlow, type TimeFormat } from './hubble.js';

export interface RenderOptions {
  timeFormat: TimeFormat;
  /** Print the node that observed the flow after the time, as `hubble observe --print-node-name`. */
  nodeName: boolean;
}

export const DEFAULT_RENDER: RenderOptions = { timeFormat: 'StampMilli', nodeName: false };

const RESERVED_NAMES = new Map<number, string>(Object.entries(RESERVED).map(([name, id]) => [id, name]));

function identity(ep: HubbleEndpoint | undefined): string {
  const id = ep?.identity ?? 0;
  const name = RESERVED_NAMES.get(id);
  return name !== undefined ? `(${name})` : `(ID:${id})`;
}

function ports(f: HubbleFlow): [string, string] {
  const l4 = f.l4;
  if (!l4) return ['', ''];
  const p = 'TCP' in l4 ? l4.TCP : 'UDP' in l4 ? l4.UDP : 'SCTP' in l4 ? l4.SCTP : undefined;
  if (!p) return ['', ''];
  return [String(p.source_port ?? 0), String(p.destination_port ?? 0)];
}

function hostname(ip: string, port: string, ep: HubbleEndpoint | undefined): string {
  const host = ep?.pod_name ? (ep.namespace ? `${ep.namespace}/${ep.pod_name}` : ep.pod_name) : ip;
  if (port === '' || port === '0') return host;
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Source and destination as Hubble names them: pod, else address; with the port. */
export function hostNames(f: HubbleFlow): [string, string] {
  if (!f.IP) return [f.ethernet?.source ?? '', f.ethernet?.destination ?? ''];
  const [sp, dp] = ports(f);
  return [hostname(f.IP.source, sp, f.source), hostname(f.IP.destination, dp, f.destination)];
}

/** The TYPE column: observation point, drop reason, or policy verdict with match and direction. */
export function flowType(f: HubbleFlow): string {
  switch (f.event_type.type) {
    case MESSAGE_TYPE.trace:
      return f.trace_observation_point === 'FROM_ENDPOINT' ? 'from-endpoint' : f.trace_observation_point === 'FROM_NETWORK' ? 'from-network' : 'to-endpoint';
    case MESSAGE_TYPE.drop:
      return dropReasonText(f.event_type.sub_type ?? 0);
    case MESSAGE_TYPE.policyVerdict:
      return `policy-verdict:${POLICY_MATCH_TYPES[f.policy_match_type ?? 0] ?? 'none'} ${f.traffic_direction ?? 'TRAFFIC_DIRECTION_UNKNOWN'}`;
    default:
      return 'UNKNOWN';
  }
}

/** The VERDICT column: policy verdicts say ALLOWED/DENIED, everything else the verdict. */
export function verdictWord(f: HubbleFlow): string {
  if (f.event_type.type === MESSAGE_TYPE.policyVerdict) return f.verdict === 'DROPPED' ? 'DENIED' : 'ALLOWED';
  return f.verdict;
}

function summaryText(r: ReplayFlow): string {
  const c = r.twinpath.consequence_of;
  return c === undefined ? r.flow.Summary : `${r.flow.Summary}; consequence of packet #${c}`;
}

export function compactLine(r: ReplayFlow, o: RenderOptions = DEFAULT_RENDER): string {
  const f = r.flow;
  let [src, dst] = hostNames(f);
  let [srcId, dstId] = [identity(f.source), identity(f.destination)];
  let arrow = '->';
  if (f.is_reply === undefined) {
    arrow = '<>';
  } else if (f.is_reply) {
    [src, dst] = [dst, src];
    [srcId, dstId] = [dstId, srcId];
    arrow = '<-';
  }
  const node = o.nodeName ? ` [${f.node_name}]` : '';
  return `${formatTime(r.timeNs, o.timeFormat)}${node}: ${src} ${srcId} ${arrow} ${dst} ${dstId} ${flowType(f)} ${verdictWord(f)} (${summaryText(r)})\n`;
}

/** Rows buffered to size the columns before the table starts streaming. */
export const TABLE_SIZING_ROWS = 256;
const TABLE_PADDING = 3;

/** `-o table`: Hubble's columns, aligned on the first rows, then streamed. */
export class TableWriter {
  private readonly pending: string[][] = [];
  private widths: number[] | undefined;

  constructor(private readonly out: (text: string) => void, private readonly o: RenderOptions = DEFAULT_RENDER) {
    const head = ['TIMESTAMP', ...(o.nodeName ? ['NODE'] : []), 'SOURCE', 'DESTINATION', 'TYPE', 'VERDICT', 'SUMMARY'];
    this.pending.push(head);
  }

  write(r: ReplayFlow): void {
    const f = r.flow;
    const [src, dst] = hostNames(f);
    this.row([formatTime(r.timeNs, this.o.timeFormat), ...(this.o.nodeName ? [f.node_name] : []), src, dst, flowType(f), verdictWord(f), summaryText(r)]);
  }

  /** A proxy's L7 flow: TYPE http-request or http-response, as the compact line names it. */
  writeL7(r: L7Flow): void {
    const f = r.flow;
    const src = hostname(f.IP.source, String(f.l4.TCP.source_port), f.source);
    const dst = hostname(f.IP.destination, String(f.l4.TCP.destination_port), f.destination);
    const type = f.l7.type === 'REQUEST' ? 'http-request' : 'http-response';
    const summary = r.twinpath.parse_error === undefined ? f.Summary : `${f.Summary}; ${r.twinpath.parse_error}`;
    this.row([formatTime(r.timeNs, this.o.timeFormat), ...(this.o.nodeName ? [f.node_name] : []), src, dst, type, f.verdict, summary]);
  }

  private row(row: string[]): void {
    if (this.widths) {
      this.out(this.line(row));
      return;
    }
    this.pending.push(row);
    if (this.pending.length > TABLE_SIZING_ROWS) this.flush();
  }

  /** Writes whatever is still buffered; call once at the end. */
  end(): void {
    if (!this.widths) this.flush();
  }

  private flush(): void {
    const cols = this.pending[0]!.length;
    this.widths = Array.from({ length: cols }, (_, c) => Math.max(...this.pending.map((row) => row[c]!.length)));
    for (const row of this.pending) this.out(this.line(row));
    this.pending.length = 0;
  }

  private line(row: string[]): string {
    const w = this.widths!;
    return `${row.map((cell, c) => (c === row.length - 1 ? cell : cell.padEnd(w[c]! + TABLE_PADDING))).join('')}\n`;
  }
}

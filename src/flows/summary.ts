// The summary at the end of a replay: packets by what became of them, flows by verdict (the
// proxy's L7 flows among them, also counted by kind), drops by reason, the L7 stage's notices,
// and the source/destination pairs denied most often. Every counter is bounded: the
// reasons and outcomes are small closed sets, and the denied pairs are kept with the
// space-saving scheme (a full table gives its least counted slot to a new pair), which keeps
// the true heavy hitters exact once they lead, in constant memory.

import type { PacketOutcome, PacketResult } from '../datapath/replay.js';
import type { L7Flow, L7Notice, L7NoticeKind } from '../l7/flow.js';
import { dropReasonText } from './build.js';
import { dropReasonDesc, MESSAGE_TYPE, type HubbleEndpoint, type HubbleFlow, type ReplayFlow } from './hubble.js';

export const DEFAULT_PAIR_CAPACITY = 1024;
export const DEFAULT_TOP_PAIRS = 10;

/** Each outcome and how the summary words it (one, several). */
const OUTCOMES: Array<[PacketOutcome, string, string]> = [
  ['forwarded', 'forwarded', 'forwarded'],
  ['dropped', 'dropped', 'dropped'],
  ['consequence', 'consequence of a drop', 'consequences of drops'],
  ['duplicate', 'duplicate skipped', 'duplicates skipped'],
  ['unhandled', 'not handled by any endpoint', 'not handled by any endpoint'],
  ['skipped', 'not IP or of an unsupported link type', 'not IP or of an unsupported link type'],
];

export interface SummaryJson {
  packets: { total: number } & Record<PacketOutcome, number>;
  /** Every flow shown, L7 flows included. */
  flows: { total: number; FORWARDED: number; DROPPED: number };
  /** The L7 flows shown, by kind and verdict (present when the replay had an L7 stage). */
  l7?: { total: number; 'http-request': { FORWARDED: number; DROPPED: number }; 'http-response': { FORWARDED: number; DROPPED: number } };
  /** The L7 stage's notices by kind (present when there were any). */
  l7_notices?: Partial<Record<L7NoticeKind, number>>;
  drop_reasons: Array<{ drop_reason: number; drop_reason_desc: string; description: string; packets: number; flows: number }>;
  top_denied_pairs: Array<{ source: string; destination: string; port: string; packets: number }>;
  /** The pair table was full at some point: counts of pairs other than the leaders may be high. */
  pairs_approximate: boolean;
}

export class ReplaySummary {
  private readonly outcomes = new Map<PacketOutcome, number>();
  private packets = 0;
  private flowsTotal = 0;
  private readonly flowVerdicts = { FORWARDED: 0, DROPPED: 0 };
  private readonly reasonPackets = new Map<number, number>();
  private readonly reasonFlows = new Map<number, number>();
  private readonly pairs = new Map<string, number>();
  private pairsApproximate = false;
  private l7: SummaryJson['l7'] | undefined;
  private readonly notices = new Map<L7NoticeKind, number>();

  constructor(private readonly pairCapacity = DEFAULT_PAIR_CAPACITY) {}

  /** Counts a packet (every packet, whatever the filters show). */
  addPacket(r: PacketResult): void {
    this.packets++;
    this.outcomes.set(r.outcome, (this.outcomes.get(r.outcome) ?? 0) + 1);
    if (r.dropReason !== undefined) this.reasonPackets.set(r.dropReason, (this.reasonPackets.get(r.dropReason) ?? 0) + 1);
    if (r.outcome === 'dropped') {
      const drop = [...r.flows].reverse().find((f) => f.flow.event_type.type === MESSAGE_TYPE.drop);
      if (drop) this.addPair(pairKey(drop.flow));
    }
  }

  /** Counts a flow that was shown. */
  addFlow(f: ReplayFlow): void {
    this.flowsTotal++;
    this.flowVerdicts[f.flow.verdict]++;
    if (f.flow.verdict === 'DROPPED' && f.flow.event_type.type === MESSAGE_TYPE.drop) {
      const reason = f.flow.drop_reason ?? 0;
      this.reasonFlows.set(reason, (this.reasonFlows.get(reason) ?? 0) + 1);
    }
  }

  /** Says that the replay had an L7 stage: the summary then counts L7 flows, even none. */
  expectL7(): void {
    this.l7 ??= { total: 0, 'http-request': { FORWARDED: 0, DROPPED: 0 }, 'http-response': { FORWARDED: 0, DROPPED: 0 } };
  }

  /** Counts an L7 flow that was shown. */
  addL7Flow(f: L7Flow): void {
    this.expectL7();
    this.flowsTotal++;
    this.flowVerdicts[f.flow.verdict]++;
    this.l7!.total++;
    this.l7![f.flow.l7.type === 'REQUEST' ? 'http-request' : 'http-response'][f.flow.verdict]++;
  }

  /** Counts a notice of the L7 stage (a gap, an eviction...): not a flow, every one counted. */
  addL7Notice(n: L7Notice): void {
    this.notices.set(n.kind, (this.notices.get(n.kind) ?? 0) + 1);
  }

  private addPair(key: string): void {
    const have = this.pairs.get(key);
    if (have !== undefined) {
      this.pairs.set(key, have + 1);
      return;
    }
    if (this.pairs.size < this.pairCapacity) {
      this.pairs.set(key, 1);
      return;
    }
    // Space-saving: the new pair inherits the smallest count, plus one.
    let minKey = '';
    let min = Infinity;
    for (const [k, v] of this.pairs) {
      if (v < min) {
        min = v;
        minKey = k;
      }
    }
    this.pairs.delete(minKey);
    this.pairs.set(key, min + 1);
    this.pairsApproximate = true;
  }

  toJson(top = DEFAULT_TOP_PAIRS): SummaryJson {
    const packets = { total: this.packets } as SummaryJson['packets'];
    for (const [o] of OUTCOMES) packets[o] = this.outcomes.get(o) ?? 0;
    const reasons = [...new Set([...this.reasonPackets.keys(), ...this.reasonFlows.keys()])].sort((a, b) => a - b);
    const pairs = [...this.pairs.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).slice(0, top);
    const l7 = this.l7 === undefined ? {} : { l7: structuredClone(this.l7) };
    const notices = this.notices.size === 0 ? {} : { l7_notices: Object.fromEntries([...this.notices].sort((a, b) => (a[0] < b[0] ? -1 : 1))) };
    return {
      packets,
      flows: { total: this.flowsTotal, ...this.flowVerdicts },
      ...l7,
      ...notices,
      drop_reasons: reasons.map((r) => ({
        drop_reason: r, drop_reason_desc: dropReasonDesc(r), description: dropReasonText(r), packets: this.reasonPackets.get(r) ?? 0, flows: this.reasonFlows.get(r) ?? 0,
      })),
      top_denied_pairs: pairs.map(([k, n]) => {
        const [source, destination, port] = k.split('\t') as [string, string, string];
        return { source, destination, port, packets: n };
      }),
      pairs_approximate: this.pairsApproximate,
    };
  }

  /** The summary as a person reads it. */
  format(top = DEFAULT_TOP_PAIRS): string {
    const j = this.toJson(top);
    const lines: string[] = [];
    const outcomeParts = OUTCOMES.filter(([o]) => j.packets[o] > 0).map(([o, one, many]) => `${j.packets[o]} ${j.packets[o] === 1 ? one : many}`);
    lines.push(`packets: ${j.packets.total}${outcomeParts.length ? ` (${outcomeParts.join(', ')})` : ''}`);
    lines.push(`flows: ${j.flows.total} (${j.flows.FORWARDED} FORWARDED, ${j.flows.DROPPED} DROPPED)`);
    if (j.l7) {
      const kinds = (['http-request', 'http-response'] as const).map((k) => `${k}: ${j.l7![k].FORWARDED} FORWARDED, ${j.l7![k].DROPPED} DROPPED`);
      lines.push(`L7 flows: ${j.l7.total} (${kinds.join('; ')})`);
    }
    if (j.l7_notices) lines.push(`L7 notices: ${Object.entries(j.l7_notices).map(([k, n]) => `${n} ${k}`).join(', ')}`);
    if (j.drop_reasons.length > 0) {
      lines.push('drop reasons:');
      const rows = j.drop_reasons.map((r) => [`  ${r.description} (${r.drop_reason}, ${r.drop_reason_desc})`, `${r.packets} packet${r.packets === 1 ? '' : 's'}`, `${r.flows} flow${r.flows === 1 ? '' : 's'}`]);
      lines.push(...align(rows));
    }
    if (j.top_denied_pairs.length > 0) {
      lines.push(`top denied pairs${j.pairs_approximate ? ' (approximate counts)' : ''}:`);
      lines.push(...align(j.top_denied_pairs.map((p) => [`  ${p.source} -> ${p.destination}${p.port ? ` ${p.port}` : ''}`, `${p.packets} packet${p.packets === 1 ? '' : 's'}`])));
    }
    return `${lines.join('\n')}\n`;
  }
}

function align(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  '));
}

function name(ip: string | undefined, ep: HubbleEndpoint | undefined): string {
  if (ep?.pod_name) return ep.namespace ? `${ep.namespace}/${ep.pod_name}` : ep.pod_name;
  return ip ?? '?';
}

/** source, destination and destination port/protocol, tab-separated (names hold no tabs). */
function pairKey(f: HubbleFlow): string {
  let port = '';
  const l4 = f.l4;
  if (l4) {
    if ('TCP' in l4) port = `TCP/${l4.TCP.destination_port ?? 0}`;
    else if ('UDP' in l4) port = `UDP/${l4.UDP.destination_port ?? 0}`;
    else if ('SCTP' in l4) port = `SCTP/${l4.SCTP.destination_port ?? 0}`;
    else if ('ICMPv4' in l4) port = 'ICMPv4';
    else port = 'ICMPv6';
  }
  return `${name(f.IP?.source, f.source)}\t${name(f.IP?.destination, f.destination)}\t${port}`;
}

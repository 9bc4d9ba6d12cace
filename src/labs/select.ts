// From an expectation's selector to the traffic it means: the named flows of the lab's traffic
// spec that match every field given, and which of their packets are judged (the packets the
// client sends; with `packet:`, that one packet). A selector that matches nothing is a mistake
// in lab.yaml, reported at the selector.

import { TwinpathError } from '../errors.js';
import type { FlowSelector } from './lab.js';
import type { Traffic, TrafficFlow } from './traffic.js';

export interface Selected {
  flow: TrafficFlow;
  /** Packet numbers to judge, in order. */
  packets: number[];
}

export function selectFlows(sel: FlowSelector, traffic: Traffic): Selected[] {
  const out: Selected[] = [];
  for (const f of traffic.flows) {
    if (sel.flow !== undefined && f.name !== sel.flow) continue;
    if (sel.from !== undefined && !sameEndpoint(sel.from, f.from, f.fromIp)) continue;
    if (sel.to !== undefined && !sameEndpoint(sel.to, f.to, f.toIp)) continue;
    if (sel.port !== undefined && f.port !== sel.port) continue;
    if (sel.protocol !== undefined && f.protocol !== sel.protocol) continue;
    if (sel.packet !== undefined) {
      if (!f.requests.includes(sel.packet) && !f.replies.includes(sel.packet)) continue;
      out.push({ flow: f, packets: [sel.packet] });
      continue;
    }
    out.push({ flow: f, packets: f.requests });
  }
  if (out.length === 0) throw new TwinpathError('LAB_BAD_FILE', `the selector matches no flow of ${traffic.spec.file}`, sel.at);
  return out;
}

function sameEndpoint(wanted: string, name: string, ip: string): boolean {
  return wanted === name || wanted === `ip:${ip}`;
}

/** `xwing-lands (default/xwing -> default/deathstar TCP/80)`. */
export function describeFlow(f: TrafficFlow): string {
  const port = f.protocol.startsWith('ICMP') ? f.protocol : `${f.protocol}/${f.port}`;
  return `${f.name} (${f.from} -> ${f.to} ${port})`;
}

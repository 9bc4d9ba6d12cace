// The L7 stage behind a capture replay: the replay's per-packet results (src/datapath/replay.ts,
// PacketResult) in, L7 flows and notices out. The datapath's verdict on each packet is already
// in its Hubble flows; the flow that carries a proxy port (a forwarded trace of the program
// whose policy entry redirects) becomes the stage's mark, read back into what the stage needs:
// the endpoint and direction of that policy, both identities, which way the packet travels and
// the server's port. Every forwarded TCP packet is handed over, marked or not: the stage
// follows a connection by address and port from its first marked packet on.
//
// Addresses must be the server pod's view on both ways: a request as it left the datapath
// (after any service translation), an answer as captured (it leaves the server pod before any
// reverse translation). Pass the captured Ethernet frame beside the result for answers.
//
// Hooking it into a replay is two calls per packet and one at the end:
//   const l7 = new L7Replay({ compiled, inputs });            // before the first packet
//   const out = l7.packet(result, capturedFrame);             // after each PacketResult
//   ... l7.finish(lastTimeNs)                                  // after the last

import type { PacketResult } from '../datapath/replay.js';
import { PROG_FROM_ENDPOINT, PROG_TO_ENDPOINT } from '../datapath/maps.js';
import type { ReplayFlow } from '../flows/hubble.js';
import type { Cluster, Policy } from '../policy/ast.js';
import type { CompiledPolicy } from '../policy/model.js';
import type { L7Flow, L7Notice } from './flow.js';
import { L7Policy } from './resolve.js';
import { L7Stage, type L7Mark, type L7Output, type L7StageOptions } from './stage.js';

export interface L7ReplayOptions {
  compiled: CompiledPolicy;
  /** The inputs the policy was compiled from (the HTTP rules are read from the policies). */
  inputs: { policies: Policy[]; cluster: Cluster };
  reassembly?: L7StageOptions['reassembly'];
  http?: L7StageOptions['http'];
}

/** The mark of a replayed packet: from its last forwarded flow with a proxy port, if any. */
export function markOfReplayFlows(flows: readonly ReplayFlow[], compiled: CompiledPolicy): L7Mark | null {
  let mark: L7Mark | null = null;
  for (const r of flows) {
    const f = r.flow;
    const proxyPort = f.proxy_port ?? 0;
    if (proxyPort === 0 || f.verdict !== 'FORWARDED' || f.Type !== 'L3_L4') continue;
    const program = r.twinpath.program;
    if (program !== PROG_TO_ENDPOINT && program !== PROG_FROM_ENDPOINT) continue;
    const ingress = program === PROG_TO_ENDPOINT;
    // The program runs for the pod the packet enters (to_container) or leaves (from_container).
    const side = ingress ? f.destination : f.source;
    const ip = ingress ? f.IP?.destination : f.IP?.source;
    const endpointId = side?.ID ?? compiled.endpoints.find((e) => ip !== undefined && e.ips.includes(ip))?.id;
    if (endpointId === undefined || !f.l4 || !('TCP' in f.l4)) continue;
    const isReply = f.is_reply === true;
    const ports = f.l4.TCP;
    const m: L7Mark = {
      proxyPort,
      endpointId,
      direction: ingress ? 'ingress' : 'egress',
      srcIdentity: f.source?.identity ?? 0,
      dstIdentity: f.destination?.identity ?? 0,
      isReply,
      serverPort: (isReply ? ports.source_port : ports.destination_port) ?? 0,
      node: f.node_name,
    };
    if (f.source) m.source = f.source;
    if (f.destination) m.destination = f.destination;
    mark = m;
  }
  return mark;
}

export class L7Replay {
  readonly stage: L7Stage;
  private readonly compiled: CompiledPolicy;

  /** Compiles the HTTP rules: a regular expression the proxy would refuse throws
   * POLICY_BAD_VALUE at its source, before any packet. */
  constructor(opts: L7ReplayOptions) {
    this.compiled = opts.compiled;
    const stageOpts: L7StageOptions = { policy: new L7Policy(opts.compiled, opts.inputs) };
    if (opts.reassembly) stageOpts.reassembly = opts.reassembly;
    if (opts.http) stageOpts.http = opts.http;
    this.stage = new L7Stage(stageOpts);
  }

  /** One replayed packet. Only forwarded packets reach a proxy (drops, consequences and
   * duplicates never do). `captured` is the packet's Ethernet frame as captured. */
  packet(result: PacketResult, captured?: Uint8Array): L7Output {
    if (result.outcome !== 'forwarded' || !result.frame) return { flows: [], notices: [] };
    const reply = result.flows[0]?.flow.is_reply === true;
    const frame = reply && captured ? captured : result.frame;
    return this.stage.packet(frame, result.timeNs, markOfReplayFlows(result.flows, this.compiled), result.packet);
  }

  /** The end of the capture: bytes still missing become gap notices. */
  finish(timeNs: bigint): L7Output {
    return this.stage.finish(timeNs);
  }
}

/** Counts for a replay summary: `http-request FORWARDED`, `http-request DROPPED`, `http-response FORWARDED`. */
export function l7SummaryKey(f: L7Flow): string {
  return `${f.flow.l7.type === 'REQUEST' ? 'http-request' : 'http-response'} ${f.flow.verdict}`;
}

export type { L7Flow, L7Notice };

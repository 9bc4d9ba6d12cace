// `node observe`: flows read live from the pinned ring buffers (cilium_events) of one or more
// attachments, decoded by src/datapath/flow.ts and turned into Hubble flows by src/flows, so
// they print and filter exactly as `replay` prints them. Reads until a count of flows, a
// timeout or an abort (SIGINT in the CLI).
//
// The reader polls without blocking and sleeps between empty polls: a blocking poll would hold
// the JavaScript thread, and with it the timers and signal handlers that end the observation.

import { setTimeout as sleep } from 'node:timers/promises';
import { RingBufferReader, type KernelMap } from '../kernel/bpf.js';
import { decodeFlowEvent } from '../datapath/flow.js';
import { MAP_EVENTS } from '../datapath/maps.js';
import { FlowBuilder } from '../flows/build.js';
import type { ReplayFlow } from '../flows/hubble.js';
import { compile } from '../policy/compile.js';
import { loadFiles } from '../policy/load.js';
import type { CompiledPolicy } from '../policy/model.js';
import { openPinned, requireNodeState } from './update.js';

export interface ObserveOptions {
  names: string[];
  /** Names for addresses, identities and rules; default: compiled from the first attachment's files. */
  compiled?: CompiledPolicy;
  /** Which flows count and are passed on; default all. */
  filter?: (f: ReplayFlow) => boolean;
  onFlow: (f: ReplayFlow) => void;
  /** Stop after this many flows (that passed the filter). */
  count?: number;
  /** Stop after this long. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Sleep between empty polls; default 20 ms. */
  idleMs?: number;
  /** Called once every reader is open: events from then on are seen. */
  onReady?: () => void;
}

export interface ObserveResult {
  /** Flows passed to onFlow. */
  flows: number;
  /** Ring buffer records read. */
  events: number;
  stoppedBy: 'count' | 'timeout' | 'signal';
}

export async function observeNodes(o: ObserveOptions): Promise<ObserveResult> {
  const states = o.names.map(requireNodeState);
  const compiled = o.compiled ?? compile(loadFiles([...states[0]!.clusterFiles, ...states[0]!.policyFiles]));
  const builder = new FlowBuilder(compiled);
  const open: Array<{ node: string; map: KernelMap; reader: RingBufferReader }> = [];
  let flows = 0;
  let events = 0;
  let packet = 0;
  const deadline = o.timeoutMs !== undefined ? performance.now() + o.timeoutMs : Infinity;
  try {
    for (const s of states) {
      const map = openPinned(s, MAP_EVENTS);
      try {
        open.push({ node: s.node, map, reader: new RingBufferReader(map) });
      } catch (e) {
        map.close();
        throw e;
      }
    }
    o.onReady?.();
    for (;;) {
      if (o.signal?.aborted) return { flows, events, stoppedBy: 'signal' };
      let got = 0;
      for (const r of open) {
        for (const rec of r.reader.poll(0)) {
          got++;
          events++;
          packet++;
          const ev = decodeFlowEvent(new Uint8Array(rec));
          const timeNs = BigInt(Date.now()) * 1_000_000n;
          for (const f of builder.flows({ event: ev, node: r.node, frame: new Uint8Array(0), timeNs, packet })) {
            if (o.filter && !o.filter(f)) continue;
            o.onFlow(f);
            flows++;
            if (o.count !== undefined && flows >= o.count) return { flows, events, stoppedBy: 'count' };
          }
        }
      }
      if (performance.now() >= deadline) return { flows, events, stoppedBy: 'timeout' };
      if (got === 0) {
        try {
          await sleep(o.idleMs ?? 20, undefined, o.signal ? { signal: o.signal } : undefined);
        } catch {
          return { flows, events, stoppedBy: 'signal' };
        }
      }
    }
  } finally {
    for (const r of open) {
      r.reader.close();
      r.map.close();
    }
  }
}

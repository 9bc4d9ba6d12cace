// The bundled Star Wars scenario (captures/starwars) as a fixture for replay tests: its compiled
// policy, its hosts, and a feeder that numbers packets and advances the capture clock.
//   deathstar 10.244.1.10 (kind-worker, ingress isolated: org=empire on TCP/80 only)
//   coredns 10.244.1.53 (kind-worker), tiefighter 10.244.2.20 and xwing 10.244.2.30 (kind-worker2)

import { join } from 'node:path';
import { loadFiles } from '../../src/policy/load.js';
import { compile } from '../../src/policy/compile.js';
import type { CompiledPolicy } from '../../src/policy/model.js';
import type { PacketResult, Replayer } from '../../src/datapath/replay.js';
import { LINKTYPE_ETHERNET } from '../../src/pcap/linktype.js';
import { ROOT } from '../helpers/paths.js';

export const SCENARIO = join(ROOT, 'captures/starwars');
export const CLUSTER = join(SCENARIO, 'cluster.yaml');
export const POLICY = join(SCENARIO, 'policy.yaml');
export const CAPTURE = join(SCENARIO, 'starwars.pcapng');

export const DS = '10.244.1.10';
export const DNS = '10.244.1.53';
export const TF = '10.244.2.20';
export const XW = '10.244.2.30';
export const OUT = '203.0.113.7';
export const NODE1 = '172.18.0.2';
export const NODE2 = '172.18.0.3';

let compiled: CompiledPolicy | undefined;

export function starwars(): CompiledPolicy {
  compiled ??= compile(loadFiles([CLUSTER, POLICY]));
  return compiled;
}

/** 2023-11-21T10:00:00Z, the scenario's start. */
export const T0 = 1_700_560_800_000_000_000n;
export const MS = 1_000_000n;

/** Feeds frames to a replayer as a capture would: numbered from 0, on a clock. */
export class Feeder {
  private index = 0;
  now = T0;

  constructor(private readonly replayer: Replayer) {}

  /** Advances the clock by `gapNs` (1 ms by default) and replays one frame. */
  send(data: Uint8Array, opts: { gapNs?: bigint; linkType?: number } = {}): PacketResult {
    this.now += opts.gapNs ?? MS;
    return this.replayer.packet({ index: this.index++, linkType: opts.linkType ?? LINKTYPE_ETHERNET, data, timestampNs: this.now });
  }
}

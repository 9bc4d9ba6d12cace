// Inputs for the explain tests: the probe fixtures (two namespaces on two nodes, an allow, an
// isolation and a deny), and a capture of a TCP handshake written on the fly, so that a reply
// and an established packet meet the conntrack entries the packets before them created.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PcapWriter } from '../../src/pcap/index.js';
import { tcp } from '../../src/pcap/build.js';
import { LINKTYPE_ETHERNET } from '../../src/pcap/linktype.js';
import { loadFiles } from '../../src/policy/load.js';
import type { Inputs } from '../../src/policy/ast.js';
import { CLUSTER, POLICIES } from '../cli/probe-golden.js';

export { CLUSTER, POLICIES };

export function inputs(): Inputs {
  return loadFiles([CLUSTER, POLICIES]);
}

const XA = '10.0.1.10';
const XB = '10.0.1.11';
const YA = '10.0.2.10';

/** 0: x/b -> x/a SYN (dropped: x/a takes TCP/80 from namespace y only), 1: y/a -> x/a SYN,
 * 2: x/a -> y/a SYN-ACK (a reply), 3: y/a -> x/a ACK (established). */
export const HANDSHAKE = [
  tcp({ src: XB, dst: XA, sport: 40000, dport: 80, flags: 'S', seq: 1 }),
  tcp({ src: YA, dst: XA, sport: 40001, dport: 80, flags: 'S', seq: 100 }),
  tcp({ src: XA, dst: YA, sport: 80, dport: 40001, flags: 'SA', seq: 500, ack: 101 }),
  tcp({ src: YA, dst: XA, sport: 40001, dport: 80, flags: 'A', seq: 101, ack: 501 }),
];

/** Writes the handshake capture into a new temporary directory; returns its directory and path. */
export async function handshakeCapture(): Promise<{ dir: string; file: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'twinpath-explain-'));
  const file = join(dir, 'handshake.pcap');
  const w = new PcapWriter({ path: file }, { linkType: LINKTYPE_ETHERNET });
  let t = 1_700_000_000_000_000_000n;
  for (const data of HANDSHAKE) {
    await w.write({ timestampNs: t, data });
    t += 1_000_000n;
  }
  await w.close();
  return { dir, file };
}

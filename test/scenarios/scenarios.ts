// The bundled replay scenarios (captures/<name>/) as test fixtures: their files, the packets each
// test explains, and the command lines of the replay and explain runs whose outputs are golden.
// Golden files live under test/golden/scenarios/<name>/ and are rewritten only on request:
//   TWINPATH_UPDATE_GOLDEN=1 npx vitest run test/scenarios

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers/paths.js';

export interface Scenario {
  name: string;
  dir: string;
  capture: string;
  cluster: string;
  policy: string;
  /** Packets of the capture to explain, counting from 0 as `explain --packet` does, and why each. */
  explain: Array<{ index: number; what: string }>;
}

function scenario(name: string, capture: string, explain: Scenario['explain']): Scenario {
  const dir = join(ROOT, 'captures', name);
  return { name, dir, capture: join(dir, capture), cluster: join(dir, 'cluster.yaml'), policy: join(dir, 'policy.yaml'), explain };
}

export const SCENARIOS: Scenario[] = [
  scenario('starwars', 'starwars.pcapng', [
    { index: 13, what: "the xwing's SYN to the deathstar, denied at the deathstar's ingress" },
    { index: 41, what: 'SCTP to the deathstar, which the rule does not name' },
  ]),
  scenario('linkerd', 'linkerd.pcapng', [
    { index: 31, what: "the kubelet's readiness probe of web's proxy admin port, let in by the clusterwide rule" },
    { index: 42, what: 'the unmeshed curl to emoji, stopped by deny-all-ingress' },
  ]),
  scenario('podinfo', 'podinfo.pcapng', [
    { index: 0, what: 'a DNS query to the kube-dns Service address, translated to coredns' },
    { index: 28, what: "the client's SYN to podinfo's gRPC port, outside its egress policy" },
    { index: 31, what: 'the second fragment of a denied datagram' },
  ]),
  scenario('tcpdump-any', 'any.pcap', [{ index: 16, what: "the client's UDP datagram, which the server's policy does not let in" }]),
];

/** The replay command line of a scenario. */
export function replayArgs(s: Scenario, ...extra: string[]): string[] {
  return ['replay', s.capture, '--cluster', s.cluster, '--policy', s.policy, ...extra];
}

export function explainArgs(s: Scenario, index: number, ...extra: string[]): string[] {
  return ['explain', '--cluster', s.cluster, '--policy', s.policy, '--pcap', s.capture, '--packet', String(index), ...extra];
}

/** A golden file's text as golden() compares it (paths of this checkout written `<root>`). */
export function goldenText(rel: string): string {
  const path = join(ROOT, 'test/golden', rel);
  if (!existsSync(path)) throw new Error(`test/golden/${rel} is missing: run the VM tests with TWINPATH_UPDATE_GOLDEN=1 first`);
  return readFileSync(path, 'utf8');
}

export function withRoot(text: string): string {
  return text.split(ROOT.replace(/\/$/, '')).join('<root>');
}

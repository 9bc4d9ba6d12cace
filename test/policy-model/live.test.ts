// Every case of the conformance-model suite with real connections: one sandbox of the suite's
// cluster, the datapath attached to both of its nodes (node attach), then for each case the
// policy changed in place (node update) and every probe opened as a real TCP connection, UDP
// request and response, or SCTP association, all of a case at once. Verdicts must equal the
// VM's, probe by probe (and so the expected tables).
//
// A pod's traffic to itself is left out: it goes over the pod's loopback and never crosses its
// veth, where the programs are (upstream's runner ignores those cells too; see README.md).

import { afterAll, beforeAll, expect, it } from 'vitest';
import { isIP } from 'node:net';
import { runProbes, type ProbeResult } from '../../src/datapath/probe.js';
import { compile } from '../../src/policy/compile.js';
import { loadFiles } from '../../src/policy/load.js';
import { LiveProber, sandboxUp, type LiveProbeResult, type SandboxState } from '../../src/sandbox/index.js';
import { attachSandbox, clearConntrack, updateNodes } from '../../src/node/index.js';
import { describeKernel } from '../helpers/kernel.js';
import { removeSandbox } from '../helpers/live.js';
import { describeRoot, uniqueSandboxName } from '../sandbox/helpers.js';
import { CLUSTER_FILE, caseNames, loadCase, loadModel } from './cases.js';
import { probeKey } from './expect.js';
import { formatComparison, probeList } from './matrix.js';
import type { Verdict } from './matrix.js';

const model = loadModel();
const cases = caseNames().map((name) => loadCase(name, model));
const TIMEOUT_MS = 1500;

/** Every address probed as `ip:` in any case: the sandbox's outside holds them all. */
function externals(): string[] {
  const out = new Set<string>();
  for (const c of cases) {
    for (const p of c.expected) {
      for (const ep of [p.from, p.to]) if (ep.startsWith('ip:') && isIP(ep.slice(3)) !== 0) out.add(ep.slice(3));
    }
  }
  return [...out].sort();
}

const timing = { cases: 0, probes: 0, ms: 0, updateMs: 0 };

describeRoot('conformance model, live', () => {
  describeKernel('real connections in a sandbox, policy attached with node attach and changed with node update', () => {
    let sb: SandboxState;
    let names: string[] = [];
    let prober: LiveProber;

    beforeAll(() => {
      sb = sandboxUp(loadFiles([CLUSTER_FILE]).cluster, { name: uniqueSandboxName(), externals: externals() });
      const first = cases[0]!;
      names = attachSandbox(sb, { compiled: compile(loadFiles([CLUSTER_FILE, ...first.policyFiles])), clusterFiles: [CLUSTER_FILE], policyFiles: first.policyFiles }).map((r) => r.state.name);
      prober = new LiveProber(sb);
    }, 120_000);

    afterAll(() => {
      removeSandbox(sb, prober);
      if (timing.cases > 0) {
        console.log(`policy-model live: ${timing.cases} cases, ${timing.probes} probes in ${(timing.ms / 1000).toFixed(1)} s (${(timing.ms / timing.cases).toFixed(0)} ms per case; node update ${(timing.updateMs / timing.cases).toFixed(1)} ms per case)`);
      }
    });

    for (const c of cases) {
      it(`${c.name}: same verdicts as the VM`, async () => {
        const compiled = compile(loadFiles([CLUSTER_FILE, ...c.policyFiles]));
        const probes = probeList(c.expected).filter((p) => p.from !== p.to);
        const vm = await runProbes({ compiled, probes, engine: 'vm' });
        const t0 = performance.now();
        const u = await updateNodes(names, { compiled, policyFiles: c.policyFiles });
        timing.updateMs += u.applyMs;
        // Connections of the previous case must not carry over as established ones.
        clearConntrack(names);
        const live = await prober.probe(probes, { timeoutMs: TIMEOUT_MS });
        timing.ms += performance.now() - t0;
        timing.cases += 1;
        timing.probes += live.length;
        expect(live.map(probeKey)).toEqual(probes.map(probeKey));
        const asVerdict = (r: ProbeResult | LiveProbeResult, detail: string): Verdict => ({ from: r.from, to: r.to, port: r.port, protocol: r.protocol, allowed: r.allowed, detail });
        const vmV = vm.map((r) => asVerdict(r, `${r.verdict}${r.dropReason ? `, ${r.dropReason}` : ''}${r.deniedAt ? ` at ${r.deniedAt}` : ''}`));
        const liveV = live.map((r) => asVerdict(r, r.detail));
        const report = formatComparison({ ...model }, vmV, liveV, { expected: 'vm', observed: 'live' });
        if (report !== '') throw new Error(`${c.name}: ${c.expectation.description}\n\n${report}`);
      });
    }
  });
});

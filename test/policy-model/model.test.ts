// Every case of the conformance-model suite through the real pipeline: the YAML loader, the
// policy compiler, and probes run as packets through the eBPF datapath, first in the VM (held to
// the expected truth table), then in the kernel (held to the same table and to the VM's
// verdicts, probe by probe). On a difference the failure prints the matrices upstream-style.

import { afterAll, describe, expect, it } from 'vitest';
import { loadFiles } from '../../src/policy/load.js';
import { compile } from '../../src/policy/compile.js';
import { runProbes } from '../../src/datapath/probe.js';
import type { ProbeResult } from '../../src/datapath/probe.js';
import type { CompiledPolicy } from '../../src/policy/model.js';
import { describeKernel } from '../helpers/kernel.js';
import { CLUSTER_FILE, caseNames, loadCase, loadModel } from './cases.js';
import type { Case } from './cases.js';
import { probeKey } from './expect.js';
import { formatComparison, probeList } from './matrix.js';
import type { Verdict } from './matrix.js';

const model = loadModel();
const cases = caseNames().map((name) => loadCase(name, model));

function compiled(c: Case): CompiledPolicy {
  return compile(loadFiles([CLUSTER_FILE, ...c.policyFiles]));
}

function detail(r: ProbeResult): string {
  const parts: string[] = [r.verdict];
  if (r.dropReason) parts.push(r.dropReason);
  if (r.deniedAt) parts.push(`at ${r.deniedAt}`);
  if (r.rule) parts.push(`rule ${r.ruleId}: ${r.rule}`);
  return parts.join(', ');
}

function verdicts(results: ProbeResult[]): Verdict[] {
  return results.map((r) => ({ from: r.from, to: r.to, port: r.port, protocol: r.protocol, allowed: r.allowed, detail: detail(r) }));
}

async function probe(c: Case, engine: 'vm' | 'kernel'): Promise<ProbeResult[]> {
  const results = await runProbes({ compiled: compiled(c), probes: probeList(c.expected), engine });
  // The runner answers in order; anything else would make the comparison below meaningless.
  expect(results.map(probeKey)).toEqual(c.expected.map(probeKey));
  return results;
}

function failIfDifferent(c: Case, engine: string, observed: Verdict[]): void {
  const report = formatComparison(model, c.expected, observed, { expected: 'expected', observed: engine });
  if (report !== '') {
    throw new Error(`${c.name} (${engine}): ${c.expectation.description}\n${c.expectation.reference.map((r) => `  see: ${r}`).join('\n')}\n\n${report}`);
  }
}

/** VM results by case, so the kernel block compares against the same run. */
const vmResults = new Map<string, ProbeResult[]>();
const timing = { vm: { probes: 0, ms: 0 }, kernel: { probes: 0, ms: 0 } };

async function timed(engine: 'vm' | 'kernel', c: Case): Promise<ProbeResult[]> {
  const t0 = performance.now();
  const r = await probe(c, engine);
  timing[engine].ms += performance.now() - t0;
  timing[engine].probes += r.length;
  return r;
}

afterAll(() => {
  for (const [engine, t] of Object.entries(timing)) {
    if (t.probes > 0) console.log(`policy-model ${engine}: ${t.probes} probes in ${(t.ms / 1000).toFixed(1)} s (${((t.ms * 1000) / t.probes).toFixed(0)} us per probe, compile included)`);
  }
});

describe('conformance model, VM engine', () => {
  for (const c of cases) {
    it(`${c.name}: ${c.expectation.description}`, async () => {
      const results = await timed('vm', c);
      vmResults.set(c.name, results);
      failIfDifferent(c, 'vm', verdicts(results));
    });
  }
});

describeKernel('conformance model, kernel engine', () => {
  for (const c of cases) {
    it(`${c.name}: same verdicts as the VM, and as expected`, async () => {
      const kernel = await timed('kernel', c);
      const vm = vmResults.get(c.name) ?? (await probe(c, 'vm'));
      // Engine agreement first: the kernel is the oracle for the VM, whatever the expectation says.
      const differ = kernel.flatMap((k, i) => {
        const v = vm[i];
        const fields = (r: ProbeResult) => [r.allowed, r.verdict, r.dropReason, r.deniedAt, r.ruleId, r.reply].map(String).join(' ');
        return fields(k) === fields(v) ? [] : [`  ${probeKey(k)}: kernel ${detail(k)} (reply ${k.reply}); vm ${detail(v)} (reply ${v.reply})`];
      });
      if (differ.length > 0) {
        const report = formatComparison(model, verdicts(vm), verdicts(kernel), { expected: 'vm', observed: 'kernel' });
        throw new Error(`${c.name}: ${differ.length} probe(s) differ between the engines\n${differ.slice(0, 20).join('\n')}\n\n${report}`);
      }
      failIfDifferent(c, 'kernel', verdicts(kernel));
    });
  }
});

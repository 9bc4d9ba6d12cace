// Every bundled scenario end to end through the CLI: the compact lines with the summary, the
// Hubble JSON lines with the summary on standard error, and `explain` of named packets, each a
// golden file; then the same command lines with `--engine kernel`, whose output must be the VM's
// byte for byte (the explanation names its engine, and nothing else may differ).
//   TWINPATH_UPDATE_GOLDEN=1 npx vitest run test/scenarios/scenarios.test.ts   rewrites the golden files

import { describe, expect, it } from 'vitest';
import { cli, golden } from '../cli/probe-golden.js';
import { describeKernel } from '../helpers/kernel.js';
import { explainArgs, goldenText, replayArgs, SCENARIOS, withRoot } from './scenarios.js';

for (const s of SCENARIOS) {
  describe(`scenario ${s.name} (VM)`, () => {
    it('compact flows, then the summary', async () => {
      const r = await cli(...replayArgs(s));
      expect(r.err).toBe('');
      expect(r.status).toBe(0);
      golden(`scenarios/${s.name}/compact.txt`, r.out);
      // Every kind of packet outcome the scenario is there to show is present.
      expect(r.out).toMatch(/FORWARDED/);
      expect(r.out).toMatch(/DROPPED/);
      expect(r.out).toMatch(/consequence of packet #\d+/);
    });

    it('-o json: Hubble flows, the summary on standard error', async () => {
      const r = await cli(...replayArgs(s, '-o', 'json'));
      expect(r.status).toBe(0);
      for (const line of r.out.trimEnd().split('\n')) expect(Object.keys(JSON.parse(line))).toEqual(['flow', 'node_name', 'time', 'twinpath']);
      golden(`scenarios/${s.name}/flows.jsonl`, r.out);
      golden(`scenarios/${s.name}/summary.txt`, r.err);
    });

    for (const x of s.explain) {
      it(`explain packet ${x.index}: ${x.what}`, async () => {
        const r = await cli(...explainArgs(s, x.index));
        expect(r.err).toBe('');
        expect(r.status).toBe(0);
        golden(`scenarios/${s.name}/explain-${x.index}.txt`, r.out);
      });
    }
  });
}

describeKernel('scenarios in the kernel: the same output as the VM', () => {
  for (const s of SCENARIOS) {
    it(`${s.name}: compact, JSON and summary`, async () => {
      const compact = await cli(...replayArgs(s, '--engine', 'kernel'));
      expect(compact.status).toBe(0);
      expect(withRoot(compact.out)).toBe(goldenText(`scenarios/${s.name}/compact.txt`));
      const json = await cli(...replayArgs(s, '--engine', 'kernel', '-o', 'json'));
      expect(json.status).toBe(0);
      expect(withRoot(json.out)).toBe(goldenText(`scenarios/${s.name}/flows.jsonl`));
      expect(withRoot(json.err)).toBe(goldenText(`scenarios/${s.name}/summary.txt`));
    });

    it(`${s.name}: explain`, async () => {
      for (const x of s.explain) {
        const r = await cli(...explainArgs(s, x.index, '--engine', 'kernel'));
        expect(r.status).toBe(0);
        expect(r.out).toContain('(engine kernel)');
        const asVm = withRoot(r.out).replace('(engine kernel)', '(engine vm)');
        expect(asVm).toBe(goldenText(`scenarios/${s.name}/explain-${x.index}.txt`));
      }
    });
  }
});

// Golden transcripts, one per lab: what a learner sees from `lab start`, a failing `lab check`,
// `lab hint`, applying the solution and a passing `lab check`. Rewritten only on request:
//   TWINPATH_UPDATE_GOLDEN=1 npx vitest run test/labs/golden.test.ts
// The working directory is shown as `my-lab`; the VM's memory addresses (lab 10's error) as 0x…;
// a ratio measured live (lab 9) as N.N.

import { test } from 'vitest';
import { listLabs } from '../../src/labs/catalog.js';
import { findClang } from '../../src/labs/toolchain.js';
import { cli, golden, workdir } from './helpers.js';

for (const lab of listLabs()) {
  const name = `${String(lab.number).padStart(2, '0')}-${lab.slug}`;
  test.runIf(lab.kind !== 'xdp' || findClang() !== undefined)(`lab ${name}: start, failing check, hint, solution, passing check`, async () => {
    const dir = workdir();
    const steps: string[][] = [
      ['lab', 'start', String(lab.number), dir],
      ['lab', 'check', dir],
      ['lab', 'hint', dir],
      ['lab', 'solution', dir, '--apply'],
      ['lab', 'check', dir],
    ];
    let transcript = '';
    for (const args of steps) {
      const r = await cli(...args);
      transcript += `$ twinpath ${args.join(' ')}\n${r.out}${r.err}${r.status !== 0 ? `[exit ${r.status}]\n` : ''}`;
    }
    const text = transcript.split(dir).join('my-lab').replace(/0x[0-9a-f]{5,}/g, '0x…').replace(/(iptables\/maps = )\d+\.\d/g, '$1N.N');
    golden(`${name}.txt`, text);
  });
}

// `twinpath policy compile`: the readable compilation and its JSON (golden files), the JSON
// being exactly the compiler's output, and errors with their positions.

import { describe, expect, it } from 'vitest';
import { compile } from '../../src/policy/compile.js';
import { loadFiles } from '../../src/policy/load.js';
import { cli, CLUSTER, FIXTURES, golden, POLICIES } from './probe-golden.js';

describe('twinpath policy compile', () => {
  it('prints the compiled policy (golden)', async () => {
    const r = await cli('policy', 'compile', '--cluster', CLUSTER, '--policy', POLICIES);
    expect(r.err).toBe('');
    expect(r.status).toBe(0);
    golden('policy-compile/x-y.txt', r.out);
  });

  it('--output json is the CompiledPolicy itself (golden)', async () => {
    const r = await cli('policy', 'compile', '--cluster', CLUSTER, '--policy', POLICIES, '-o', 'json');
    expect(r.status).toBe(0);
    expect(JSON.parse(r.out)).toEqual(JSON.parse(JSON.stringify(compile(loadFiles([CLUSTER, POLICIES])))));
    golden('policy-compile/x-y.json', r.out);
  });

  it('takes a directory for --cluster and files for --policy, in any split', async () => {
    const a = await cli('policy', 'compile', '--cluster', CLUSTER, '--policy', POLICIES, '-o', 'json');
    const b = await cli('policy', 'compile', '--cluster', CLUSTER, POLICIES, '-o', 'json');
    expect(b.out).toBe(a.out);
  });

  it('reports a missing file (IO_ERROR) and a missing subcommand (USAGE), exit 2', async () => {
    const r = await cli('policy', 'compile', '--cluster', `${FIXTURES}/absent.yaml`);
    expect(r.status).toBe(2);
    expect(r.err).toContain('[IO_ERROR]');
    const u = await cli('policy');
    expect(u.status).toBe(2);
    expect(u.err).toContain('[USAGE]');
  });
});

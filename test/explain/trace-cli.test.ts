// `twinpath explain --trace`: the text golden of a short flow (a SYN from the world to x/a,
// dropped by x/a's cil_to_container, the only program it passes), JSON records with stable names,
// --trace-limit, and the usage errors (the kernel engine, a limit without --trace, a bad limit).
//   TWINPATH_UPDATE_GOLDEN=1 npx vitest run test/explain/trace-cli.test.ts   rewrites the golden file
//
// The golden shows VM addresses (pointers in registers) and the datapath object's instruction
// numbers: a change to wasm/ or to bpf/datapath changes it, and is reviewed as its diff.

import { describe, expect, it } from 'vitest';
import { cli, CLUSTER, golden, POLICIES } from '../cli/probe-golden.js';

const world = ['explain', '--cluster', CLUSTER, '--policy', POLICIES, '--from', 'ip:8.8.8.8', '--to', 'x/a', '--port', '80', '--protocol', 'TCP'];

describe('twinpath explain --trace', () => {
  it('adds the executed instructions to the text (golden)', async () => {
    const r = await cli(...world, '--trace');
    expect(r.err).toBe('');
    expect(r.status).toBe(0);
    golden('explain/world-trace.txt', r.out);
    // Everything before the trace is the explanation without it.
    const plain = await cli(...world);
    expect(r.out.startsWith(plain.out)).toBe(true);
    expect(r.out.slice(plain.out.length)).toMatch(/^\nTrace \(instructions executed; insn numbers count from the start of each program\):\n {2}1\. cil_to_container on node-1 \(x\/a\): \d+ instructions\n/);
  });

  it('puts the records in the JSON under "trace", kept to --trace-limit', async () => {
    const r = await cli(...world, '--trace', '--trace-limit', '3', '-o', 'json');
    expect(r.status).toBe(0);
    const x = JSON.parse(r.out);
    expect(x.trace).toHaveLength(1);
    const t = x.trace[0];
    expect(Object.keys(t)).toEqual(['program', 'node', 'endpoint', 'total', 'truncated', 'limit', 'records']);
    expect(t).toMatchObject({ program: 'cil_to_container', node: 'node-1', endpoint: 'x/a', truncated: true, limit: 3 });
    expect(t.records).toHaveLength(3);
    const exit = t.records[2];
    expect(exit).toMatchObject({ program: 'cil_to_container', depth: 0, kind: 'exit', text: 'exit', reg: 0, value: '0x2', action: 'TC_ACT_SHOT' });
    expect(Object.keys(exit.source)).toEqual(['file', 'line', 'column', 'text']);
  });

  const errors: Array<[string, string[], RegExp]> = [
    ['the kernel engine', [...world, '--trace', '--engine', 'kernel'], /the kernel cannot trace a program; use --engine vm \[USAGE\]/],
    ['--trace-limit without --trace', [...world, '--trace-limit', '10'], /--trace-limit goes with --trace \[USAGE\]/],
    ['a limit of 0', [...world, '--trace', '--trace-limit', '0'], /trace limit must be a whole number of records in 1\.\.\d+, not 0 \[USAGE\]/],
  ];
  for (const [what, args, message] of errors) {
    it(`refuses ${what}: exit 2, USAGE`, async () => {
      const r = await cli(...args);
      expect(r.status).toBe(2);
      expect(r.out).toBe('');
      expect(r.err).toMatch(message);
    });
  }
});

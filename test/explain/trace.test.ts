// Traces as explain shows them: a clang object's run with its C source lines, a subprogram call
// and return (indented), a tail call (named, its target heading its instructions) and a failed
// one (its errno); the engine's runTraced; explain's trace of the very runs it reports, cut to
// the limit; the kernel refusing to trace.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readObject } from '../../src/elf/object.js';
import { vmEngine } from '../../src/engine/vm.js';
import { udp } from '../../src/pcap/build.js';
import { explain, formatExplanation, type FlowSpec } from '../../src/explain/index.js';
import { formatTrace, traceView } from '../../src/explain/trace.js';
import { TwinpathError } from '../../src/errors.js';
import { ROOT } from '../helpers/paths.js';
import { inputs } from './fixtures.js';

const file = join(ROOT, 'bpf', 'test', 'progs', 'tail.bpf.o');
const bytes = new Uint8Array(readFileSync(file));
const spec = readObject(bytes, 'tail.bpf.o');
const packet = udp({ src: '10.0.0.1', dst: '10.0.0.2', sport: 1000, dport: 53 });

describe('the trace of tail_sub (bpf/test/progs/tail.bpf.c)', () => {
  const o = vmEngine.open({ bytes, spec });
  const run = (mark: number) => o.runTraced!('tail_sub', { packet, ctx: { mark } });

  it('names programs in the records: the subprogram at depth 1, the tail call\'s target in its frame', () => {
    const r = run(0);
    expect(r.retval).toBe(0);
    expect(r.ctx.priority).toBe(42);
    expect(r.trace).toMatchObject({ total: 11, truncated: false, limit: 65_536 });
    expect(r.trace.records.map((x) => [x.program, x.insn, x.depth, x.kind])).toEqual([
      ['tail_sub', 0, 0, 'alu'],
      ['tail_sub', 1, 0, 'call'],
      ['tail_sub', 5, 1, 'alu'],
      ['tail_sub', 6, 1, 'load'],
      ['tail_sub', 7, 1, 'alu'],
      ['tail_sub', 9, 1, 'tail_call'],
      ['tail_leaf', 0, 1, 'alu'],
      ['tail_leaf', 1, 1, 'exit'],
      ['tail_sub', 2, 0, 'store'],
      ['tail_sub', 3, 0, 'alu'],
      ['tail_sub', 4, 0, 'exit'],
    ]);
    expect(r.trace.records[1]).toMatchObject({ kind: 'call', target: 5 });
    expect(r.trace.records[5]).toMatchObject({ kind: 'tail_call', tailCall: 'tail_leaf' });
    expect(r.trace.records[8]).toMatchObject({ kind: 'store', value: 42n, size: 4 });
  });

  it('renders the disassembly, the C lines where they change, calls indented and the tail call named', () => {
    const r = run(0);
    const ctx = `0x${r.trace.records[0]!.value!.toString(16)}`;
    const map = `0x${r.trace.records[4]!.value!.toString(16)}`;
    const v = traceView(spec, { program: 'tail_sub', node: 'n', endpoint: 'e' }, r.trace);
    expect(formatTrace(v, '')).toEqual([
      '; tail.bpf.c:160: int tail_sub(struct __sk_buff *skb)',
      `    0: r6 = r1                                  r6 = ${ctx}`,
      '; tail.bpf.c:162: skb->priority = sub_tail(skb);',
      '    1: call 0x3                                 -> sub_tail',
      '  ; tail.bpf.c:153: static __noinline int sub_tail(struct __sk_buff *skb)',
      `      5: r6 = r1                                  r6 = ${ctx}`,
      '  ; tail.bpf.c:155: bpf_tail_call(skb, &sub_jump, skb->mark);',
      '      6: r3 = *(u32 *)(r6 + 0x8)                  r3 = 0x0',
      `      7: r2 = 0x0 ll                              r2 = ${map} (map sub_jump)`,
      '      9: call 0xc                                 bpf_tail_call -> tail_leaf',
      '  tail_leaf:',
      '  ; tail.bpf.c:60: return 42;',
      '      0: w0 = 0x2a                                r0 = 0x2a',
      '      1: exit                                     return r0 = 0x2a',
      'tail_sub:',
      '; tail.bpf.c:162: skb->priority = sub_tail(skb);',
      '    2: *(u32 *)(r6 + 0x20) = r0                 stored 0x2a',
      '; tail.bpf.c:163: return TC_ACT_OK;',
      '    3: w0 = 0x0                                 r0 = 0x0',
      '    4: exit                                     r0 = 0x0 (TC_ACT_OK)',
    ]);
    expect(v.records[1]).toMatchObject({ kind: 'call', function: 'sub_tail', target: 5, text: 'call 0x3' });
    expect(v.records[3]).toMatchObject({ kind: 'load', reg: 3, value: '0x0', size: 4, source: { file: 'tail.bpf.c', line: 155, text: 'bpf_tail_call(skb, &sub_jump, skb->mark);' } });
    expect(v.records.at(-1)).toMatchObject({ kind: 'exit', action: 'TC_ACT_OK' });
  });

  it('shows a failed tail call as a helper call with its errno, and the subprogram going on', () => {
    const r = run(1); // slot 1 of sub_jump is empty
    const v = traceView(spec, { program: 'tail_sub', node: 'n', endpoint: 'e' }, r.trace);
    const text = formatTrace(v, '');
    expect(text).toContain('      9: call 0xc                                 bpf_tail_call: r0 = 0xfffffffffffffffe (-2)');
    expect(text).toContain(`     12: exit                                     return r0 = 0x${(packet.length + 1000).toString(16)}`);
    expect(v.records[5]).toMatchObject({ kind: 'helper', helper: 'bpf_tail_call', helperId: 12, reg: 0 });
  });

  it('leaves run() untraced', () => {
    expect('trace' in o.run('tail_sub', { packet })).toBe(false);
  });
});

describe('the trace of callbacks (bpf/test/progs/flows.bpf.c)', () => {
  it('marks each callback run, one frame deeper, before the helper that ran it', () => {
    const fbytes = new Uint8Array(readFileSync(join(ROOT, 'bpf', 'test', 'progs', 'flows.bpf.o')));
    const fspec = readObject(fbytes, 'flows.bpf.o');
    const o = vmEngine.open({ bytes: fbytes, spec: fspec });
    // Two payload bytes: bpf_loop's callback sums them and stops at the third (load fails).
    const pkt = udp({ src: '10.0.0.1', dst: '10.0.0.2', sport: 1000, dport: 53, payload: Uint8Array.from([1, 2]) });
    const v = traceView(fspec, { program: 'flows', node: 'n', endpoint: 'e' }, o.runTraced!('flows', { packet: pkt }).trace);
    const marks = v.records.flatMap((r, k) => (r.callback ? [[k, r.callback, r.depth]] : []));
    expect(marks.map(([, name, depth]) => [name, depth])).toEqual([
      ['sum_flow', 1],
      ['add_payload_byte', 1],
      ['add_payload_byte', 1],
      ['add_payload_byte', 1],
    ]);
    const helperAfter = (k: number) => v.records.slice(k).find((r) => r.depth === 0)!;
    expect(helperAfter(marks[0]![0] as number)).toMatchObject({ kind: 'helper', helper: 'bpf_for_each_map_elem', value: '0x1' });
    expect(helperAfter(marks[3]![0] as number)).toMatchObject({ kind: 'helper', helper: 'bpf_loop', value: '0x3' });
    expect(formatTrace(v, '')).toContain('  callback add_payload_byte:');
    o.close();
  });
});

const flow = (from: string, to: string, port: number): FlowSpec => ({ kind: 'connection', from, to, port, protocol: 'TCP' });

describe('explain with a trace', () => {
  it('traces each program run it reports, ending in that run\'s verdict', async () => {
    const x = await explain({ inputs: inputs(), spec: flow('x/b', 'x/a', 80), engine: 'vm', trace: {} });
    expect(x.programs.map((p) => [p.program, p.verdict])).toEqual([
      ['cil_from_container', 'FORWARDED'],
      ['cil_to_container', 'DROPPED'],
    ]);
    expect(x.trace!.map((t) => [t.program, t.node, t.endpoint, t.truncated])).toEqual([
      ['cil_from_container', 'node-1', 'x/b', false],
      ['cil_to_container', 'node-1', 'x/a', false],
    ]);
    for (const t of x.trace!) {
      expect(t.records).toHaveLength(t.total);
      expect(t.records[0]).toMatchObject({ program: t.program, insn: 0, depth: 0 });
    }
    expect(x.trace![0]!.records.at(-1)).toMatchObject({ kind: 'exit', depth: 0, value: '0x0', action: 'TC_ACT_OK' });
    expect(x.trace![1]!.records.at(-1)).toMatchObject({ kind: 'exit', depth: 0, value: '0x2', action: 'TC_ACT_SHOT' });
    // The policy map lookups the explanation reports were made by the traced run.
    const helpers = x.trace![1]!.records.filter((r) => r.kind === 'helper').map((r) => r.helper);
    expect(helpers).toContain('bpf_map_lookup_elem');
    expect(x.trace![1]!.records.some((r) => r.map === 'map cilium_policy_v2')).toBe(true);
  });

  it('gives the same explanation with and without the trace, and JSON that serializes', async () => {
    const plain = await explain({ inputs: inputs(), spec: flow('y/a', 'x/a', 81), engine: 'vm' });
    const traced = await explain({ inputs: inputs(), spec: flow('y/a', 'x/a', 81), engine: 'vm', trace: { limit: 5 } });
    expect(plain.trace).toBeUndefined();
    const { trace, ...rest } = traced;
    expect(rest).toEqual(plain);
    expect(JSON.parse(JSON.stringify(trace))).toEqual(trace);
  });

  it('keeps the last records of each run at the limit, and says how many it left out', async () => {
    const x = await explain({ inputs: inputs(), spec: flow('ip:8.8.8.8', 'x/a', 80), engine: 'vm', trace: { limit: 6 } });
    const t = x.trace![0]!;
    expect(t).toMatchObject({ program: 'cil_to_container', truncated: true, limit: 6 });
    expect(t.records).toHaveLength(6);
    expect(t.records.at(-1)).toMatchObject({ kind: 'exit', depth: 0, action: 'TC_ACT_SHOT' });
    const text = formatExplanation(x);
    expect(text).toContain(`     ... ${t.total - 6} earlier instructions not kept (trace limit 6)`);
  });

  it('refuses the kernel engine, which cannot trace a program', async () => {
    const err = await explain({ inputs: inputs(), spec: flow('x/b', 'x/a', 80), engine: 'kernel', trace: {} }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TwinpathError);
    expect((err as TwinpathError).code).toBe('USAGE');
    expect((err as TwinpathError).detail).toBe('the kernel cannot trace a program; use --engine vm');
  });
});

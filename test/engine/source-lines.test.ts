// VM errors name the C source line of the failing instruction (from .BTF.ext line info), in the
// location (source, line, column, sourceText) and in the message:
// `insn 42 (parse.bpf.c:37: if (ip->ihl < 5)): r0 = *(u8 *)(r10 + 0x7ff0): ...`.
// The failure is made by patching one load of a committed program into a read above the frame
// pointer, so the instruction keeps the line clang recorded for it.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readObject, type ObjectSpec } from '../../src/elf/object.js';
import { vmEngine } from '../../src/engine/vm.js';
import { lineAt, sourceLocation } from '../../src/engine/source.js';
import { TwinpathError } from '../../src/errors.js';
import { udp } from '../../src/pcap/build.js';
import { ROOT } from '../helpers/paths.js';

function load(name: string): { bytes: Uint8Array; spec: ObjectSpec } {
  const bytes = new Uint8Array(readFileSync(join(ROOT, 'bpf', 'test', 'progs', name)));
  return { bytes, spec: readObject(bytes, name) };
}

/** The first 1- or 4-byte load at or after `from` in the program, rewritten as
 * r0 = *(u8 *)(r10 + 0x7ff0). */
function breakLoad(spec: ObjectSpec, program: string, from = 0): number {
  const p = spec.programs.find((x) => x.name === program)!;
  for (let i = from; i < p.instructions.length / 8; i++) {
    if (p.instructions[i * 8] !== 0x71 && p.instructions[i * 8] !== 0x61) continue;
    const code = p.instructions.slice();
    code.set([0x71, 0xa0, 0xf0, 0x7f, 0, 0, 0, 0], i * 8); // above every frame of the stack
    (p as { instructions: Uint8Array }).instructions = code;
    return i;
  }
  throw new Error('no byte load');
}

const packet = udp({ src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2 });

describe('C source lines in VM errors', () => {
  it('names the line of an out-of-bounds access in the main program', () => {
    const { bytes, spec } = load('parse.bpf.o');
    const insn = breakLoad(spec, 'parse');
    const line = lineAt(spec.programs.find((p) => p.name === 'parse')!.lineInfo, insn)!;
    const o = vmEngine.open({ bytes, file: 'parse.bpf.o', spec });
    let err: unknown;
    try {
      o.run('parse', { packet });
    } catch (e) {
      err = e;
    }
    o.close();
    expect(err).toBeInstanceOf(TwinpathError);
    const e = err as TwinpathError;
    expect(e.code).toBe('VM_OOB_ACCESS');
    expect(e.location).toMatchObject({ file: 'parse.bpf.o', program: 'parse', insn, source: line.file.split('/').pop(), line: line.line });
    expect(e.location.sourceText).toBe(line.source.trim());
    expect(e.message).toContain(`insn ${insn} (${e.location.source}:${line.line}:${line.column}: ${line.source.trim()}): r0 = *(u8 *)(r10 + 0x7ff0)`);
  });

  it('names the line inside a subprogram, by the placed program\'s line info', () => {
    const { bytes, spec } = load('tail.bpf.o');
    const prog = spec.programs.find((p) => p.name === 'tail_entry')!;
    const sub = prog.functions.find((f) => f.name === 'parse_skb')!;
    const insn = breakLoad(spec, 'tail_entry', sub.insn);
    const o = vmEngine.open({ bytes, spec });
    let err: TwinpathError | undefined;
    try {
      o.run('tail_entry', { packet: udp({ src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 53 }) });
    } catch (e) {
      err = e as TwinpathError;
    }
    o.close();
    expect(err?.code).toBe('VM_OOB_ACCESS');
    expect(err?.location.insn).toBe(insn);
    expect(err?.location).toMatchObject(sourceLocation(prog.lineInfo, insn));
    expect(err?.location.source).toMatch(/\.(c|h)$/);
  });

  it('gives no source fields for code without line info', () => {
    expect(sourceLocation([], 3)).toEqual({});
  });
});

// `twinpath exec`: the CLI as a function, from hex, assembly, raw and ELF input.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/paths.js';
import { cli } from '../helpers/cli.js';

const tmp = mkdtempSync(join(tmpdir(), 'twinpath-exec-'));

describe('twinpath exec', () => {
  it('runs --hex bytes and prints r0', async () => {
    const r = await cli('exec', '--hex', 'b7 00 00 00 2a 00 00 00 95 00 00 00 00 00 00 00');
    expect(r).toEqual({ status: 0, out: '0x2a\n', err: '' });
  });

  it('passes --mem in r1 and its length in r2', async () => {
    const r = await cli('exec', '--hex', 'bf 20 00 00 00 00 00 00 95 00 00 00 00 00 00 00', '--mem', '01 02 03', '--json');
    expect(JSON.parse(r.out)).toEqual({ r0: '0x3', executed: 2 });
  });

  it('assembles a .s file in the conformance syntax', async () => {
    const f = join(tmp, 'sum.s');
    writeFileSync(f, 'mov %r0, 0\nldxb %r1, [%r1+1]\nadd %r0, %r1\nexit\n');
    const r = await cli('exec', f, '--mem', '05 07');
    expect(r.out).toBe('0x7\n');
  });

  it('runs a self-contained function of a clang-compiled object on a bundled packet', async () => {
    const obj = join(ROOT, 'bpf/bench/packet.bpf.o');
    const pass = await cli('exec', obj, '--function', 'bench_raw', '--mem-file', join(ROOT, 'captures/tcp-syn-8080.bin'));
    expect(pass).toEqual({ status: 0, out: '0x0\n', err: '' });
    const drop = await cli('exec', obj, '--function', 'bench_raw', '--mem-file', join(ROOT, 'captures/tcp-syn-telnet.bin'));
    expect(drop.out).toBe('0x1\n');
  });

  it('refuses a function that needs relocations', async () => {
    const r = await cli('exec', join(ROOT, 'bpf/bench/packet.bpf.o'), '--function', 'nope');
    expect(r.status).toBe(2);
    expect(r.err).toMatch(/ELF_NO_PROGRAM/);
  });

  it('reports a VM error with the file and the instruction index', async () => {
    const f = join(tmp, 'oob.s');
    writeFileSync(f, 'ldxw %r0, [%r1+8]\nexit\n');
    const r = await cli('exec', f, '--mem', '00 00 00 00');
    expect(r.status).toBe(2);
    expect(r.err).toMatch(/^twinpath: .*oob\.s: insn 0: r0 = \*\(u32 \*\)\(r1 \+ 0x8\).*\[VM_OOB_ACCESS\]\n$/);
  });

  it('reports a budget error', async () => {
    const r = await cli('exec', '--hex', '05 00 ff ff 00 00 00 00', '--budget', '50');
    expect(r.status).toBe(2);
    expect(r.err).toMatch(/VM_BUDGET_EXHAUSTED/);
  });

  it('rejects bad hex with the offset', async () => {
    const r = await cli('exec', '--hex', 'b7 0');
    expect(r.status).toBe(2);
    expect(r.err).toMatch(/HEX_BAD_INPUT/);
  });

  it('needs exactly one program source', async () => {
    const r = await cli('exec');
    expect(r.status).toBe(2);
    expect(r.err).toMatch(/give a program file or --hex/);
  });
});

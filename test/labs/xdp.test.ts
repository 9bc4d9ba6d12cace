// Lab 10's toolchain: clang found on PATH or a clear message naming what to install (the
// no-clang branch is simulated with a PATH that holds no clang), a program that does not
// compile, and the install advice per platform.

import { existsSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { findLab } from '../../src/labs/catalog.js';
import { checkLab } from '../../src/labs/check.js';
import { clangInstallAdvice, findClang } from '../../src/labs/toolchain.js';
import { cli, scratch, started } from './helpers.js';

const savedPath = process.env.PATH;
afterEach(() => {
  process.env.PATH = savedPath;
});

describe('finding clang', () => {
  test('clang-19 first, then clang, only executables on PATH', () => {
    const bin = scratch();
    expect(findClang(bin)).toBeUndefined();
    writeFileSync(join(bin, 'clang'), '#!/bin/sh\n', { mode: 0o755 });
    expect(findClang(bin)).toBe(join(bin, 'clang'));
    writeFileSync(join(bin, 'clang-19'), 'not executable', { mode: 0o644 });
    expect(findClang(bin)).toBe(join(bin, 'clang'));
    const other = scratch();
    writeFileSync(join(other, 'clang-19'), '#!/bin/sh\n', { mode: 0o755 });
    expect(findClang(`${bin}:${other}`)).toBe(join(other, 'clang-19'));
  });

  test('install advice for the platform', () => {
    expect(clangInstallAdvice('linux', 'ID=debian\n')).toBe('sudo apt install clang-19 libbpf-dev linux-libc-dev');
    expect(clangInstallAdvice('linux', 'ID=ubuntu\nID_LIKE=debian\n')).toContain('apt install clang-19');
    expect(clangInstallAdvice('linux', 'ID="fedora"\n')).toContain('dnf install clang');
    expect(clangInstallAdvice('linux', 'ID=alpine\n')).toContain('apk add clang');
    expect(clangInstallAdvice('darwin', undefined)).toContain('brew install llvm');
    expect(clangInstallAdvice('linux', undefined)).toContain('apt install clang-19');
  });
});

describe('lab 10 without clang', () => {
  test('lab check says clang is missing and how to install it', async () => {
    const dir = await started(10);
    process.env.PATH = scratch();
    const r = await cli('lab', 'check', dir);
    expect(r.status).toBe(2);
    expect(r.err).toContain('[LAB_NEEDS]');
    expect(r.err).toContain('clang, which is not on PATH (looked for clang-19, clang)');
    expect(r.err).toMatch(/install it: .*(apt install clang-19|dnf install clang|apk add clang|pacman -S clang|brew install llvm)/);
  });
});

describe.runIf(findClang() !== undefined)('lab 10 with clang', () => {
  test('with clang (and only clang) on PATH it builds and checks', async () => {
    const dir = await started(10);
    const bin = scratch();
    symlinkSync(findClang()!, join(bin, 'clang'));
    process.env.PATH = bin;
    const r = await checkLab(findLab('10'), dir);
    expect(r.tasks[0]!.status).toBe('fail');
    expect(r.notes[0]).toBe('built xdp_drop_port.bpf.o: clang -O2 -g -target bpf -mcpu=v3');
  });

  test('a compile error fails the first task with the compiler\'s message, relative to the directory', async () => {
    const dir = await started(10);
    writeFileSync(join(dir, 'xdp_drop_port.bpf.c'), '#include <linux/bpf.h>\nint f(struct xdp_md *ctx) { return ctx->nope; }\n');
    const r = await checkLab(findLab('10'), dir);
    expect(r.tasks.map((t) => t.status)).toEqual(['fail', 'not-checked', 'not-checked']);
    const f = r.tasks[0]!.failure!;
    expect(f.expected).toBe('xdp_drop_port.bpf.c compiles');
    expect(f.detail!.join('\n')).toMatch(/^xdp_drop_port\.bpf\.c:2:\d+: error: no member named 'nope'/m);
  });

  test('an object without the lab\'s program', async () => {
    const dir = await started(10);
    writeFileSync(join(dir, 'xdp_drop_port.bpf.c'), '#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\nSEC("xdp") int other(struct xdp_md *ctx) { return XDP_PASS; }\nchar LICENSE[] SEC("license") = "GPL";\n');
    const r = await checkLab(findLab('10'), dir);
    expect(r.tasks[0]!.failure!.expected).toBe('xdp_drop_port.bpf.o has an XDP program named xdp_drop_port');
  });

  test('a program that drops everything fails where a packet must pass', async () => {
    const dir = await started(10);
    writeFileSync(join(dir, 'xdp_drop_port.bpf.c'), '#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\nSEC("xdp") int xdp_drop_port(struct xdp_md *ctx) { return XDP_DROP; }\nchar LICENSE[] SEC("license") = "GPL";\n');
    const r = await checkLab(findLab('10'), dir);
    expect(r.tasks.map((t) => t.status)).toEqual(['fail', 'pass', 'fail']);
    expect(r.tasks[0]!.failure!.got).toBe('packet #10 got XDP_DROP');
    expect(r.tasks[2]!.failure!.got).toBe('packet #1 got XDP_DROP');
  });

  test('the built object stays beside the source, for twinpath run', async () => {
    const dir = await started(10);
    await checkLab(findLab('10'), dir);
    expect(existsSync(join(dir, 'xdp_drop_port.bpf.o'))).toBe(true);
  });
});

// Kernel engine availability: what a machine without the addon, root or eBPF is told. Runs
// everywhere; the cases that need a built addon and root are in describeKernel.

import { spawnSync } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { addonPath, kernelAvailability } from '../../src/kernel/addon.js';
import { KernelObject, numPossibleCpus } from '../../src/kernel/index.js';
import { describeKernel, kernelFixture } from '../helpers/kernel.js';

describe('kernel availability without the addon', () => {
  const saved = { addon: process.env.TWINPATH_NATIVE_ADDON, require: process.env.TWINPATH_REQUIRE_KERNEL };
  beforeEach(() => {
    process.env.TWINPATH_NATIVE_ADDON = '/nonexistent/twinpath_bpf.node';
  });
  afterEach(() => {
    for (const [key, value] of [
      ['TWINPATH_NATIVE_ADDON', saved.addon],
      ['TWINPATH_REQUIRE_KERNEL', saved.require],
    ] as const) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  });

  it('says what is missing and how to fix it', () => {
    const a = kernelAvailability();
    expect(a.ok).toBe(false);
    if (a.ok) return;
    if (process.platform === 'linux') {
      expect(a.reason).toContain('libbpf-dev');
      expect(a.reason).toContain('npm rebuild');
    }
  });

  it('makes every entry point throw KERNEL_UNAVAILABLE', () => {
    expect(() => KernelObject.open(Buffer.alloc(8), 'x.o')).toThrow(expect.objectContaining({ code: 'KERNEL_UNAVAILABLE' }));
    expect(() => numPossibleCpus()).toThrow(expect.objectContaining({ code: 'KERNEL_UNAVAILABLE' }));
  });

  it('fails kernel suites instead of skipping them when TWINPATH_REQUIRE_KERNEL=1', () => {
    process.env.TWINPATH_REQUIRE_KERNEL = '1';
    expect(() => describeKernel('needs the kernel', () => {})).toThrow(/TWINPATH_REQUIRE_KERNEL=1.*unavailable/);
  });
});

describeKernel('kernel availability with the addon', () => {
  it('is available here', () => {
    expect(kernelAvailability()).toEqual({ ok: true });
  });

  it('a process without privileges is refused by the kernel (EPERM), not crashed', () => {
    // As user nobody, loading the addon works but the kernel refuses BPF maps and programs.
    const script = `
      const a = require(${JSON.stringify(addonPath())});
      const out = { probe: a.probe() };
      try { a.loadObject(a.openObject(require('fs').readFileSync(0), 'tc_mark')); }
      catch (e) { out.load = { code: e.code, errnoName: e.errnoName }; }
      process.stdout.write(JSON.stringify(out));`;
    const r = spawnSync(process.execPath, ['-e', script], { uid: 65534, gid: 65534, input: kernelFixture('tc_mark'), encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { probe: { ok: boolean; errnoName?: string }; load?: { code: string; errnoName: string } };
    expect(out.probe).toMatchObject({ ok: false, errnoName: 'EPERM' });
    expect(out.load).toMatchObject({ code: 'KERNEL_ERROR', errnoName: 'EPERM' });
  });
});

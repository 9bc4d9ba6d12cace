// getEngine: the kernel engine always, the VM engine when src/engine/vm.ts exists (a clear
// ENGINE_UNAVAILABLE until then); and the kernel engine on a machine without the kernel engine,
// seen by pointing TWINPATH_NATIVE_ADDON at nothing.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { getEngine, kernelEngine } from '../../src/engine/index.js';
import { readObject } from '../../src/elf/object.js';
import { main } from '../../src/cli/main.js';
import { bufferIo } from '../../src/cli/io.js';
import { ROOT } from '../helpers/paths.js';


describe('getEngine', () => {
  it('gives the kernel engine', async () => {
    expect(await getEngine('kernel')).toBe(kernelEngine);
    expect(kernelEngine.kind).toBe('kernel');
  });

  it('gives the VM engine', async () => {
    expect((await getEngine('vm')).kind).toBe('vm');
  });

  it('refuses an unknown kind', async () => {
    await expect(getEngine('gpu' as 'vm')).rejects.toMatchObject({ code: 'USAGE' });
  });
});

describe('kernel engine without the kernel', () => {
  const saved = process.env.TWINPATH_NATIVE_ADDON;
  afterEach(() => {
    if (saved === undefined) delete process.env.TWINPATH_NATIVE_ADDON;
    else process.env.TWINPATH_NATIVE_ADDON = saved;
  });

  it('fails to open with KERNEL_UNAVAILABLE and the reason', async () => {
    process.env.TWINPATH_NATIVE_ADDON = join(ROOT, 'no-such-dir', 'twinpath_bpf.node');
    const file = 'bpf/test/kernel/tc_mark.bpf.o';
    const bytes = new Uint8Array(readFileSync(join(ROOT, file)));
    expect(() => kernelEngine.open({ bytes, file, spec: readObject(bytes, file) }))
      .toThrow(expect.objectContaining({ code: 'KERNEL_UNAVAILABLE', message: expect.stringMatching(/native addon|Linux/) }));
    const io = bufferIo();
    const status = await main(['run', join(ROOT, file), '--engine', 'kernel', '--packet', '00'.repeat(64)], io);
    expect(status).toBe(2);
    expect(io.stderr()).toMatch(/\[KERNEL_UNAVAILABLE\]\n$/);
  });
});

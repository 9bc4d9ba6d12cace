// `twinpath run --engine both` over every program of every object in bpf/test/progs, each on its
// object's capture, with what a user would pass: the globals of its expected file, the map
// contents committed beside the program (`NAME.map-init.json`), and --ignore only for values
// that cannot agree (a clock, random numbers, the kernel's per-boot hash seed, a ring buffer's
// fill level as the reader found it). Zero differences, exit status 0. The test runs on CPU 0 in
// the kernel (the engine pins each test run there), so bpf_get_smp_processor_id agrees.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { bufferIo } from '../../src/cli/io.js';
import { readObject } from '../../src/elf/object.js';
import { describeKernel } from '../helpers/kernel.js';
import { capturesDir, progsDir } from './expected.js';

interface Setup {
  /** Extra arguments: --global, --ctx, --ignore (each with why in a comment). */
  args?: string[];
}

const SETUP: Record<string, Setup> = {
  clock: {
    args: [
      '--ignore', 'map:samples:0:28', // mono, boot, jiffies (the clock) and random; cpu and seq compare
      '--ignore', 'global:last_mono', '--ignore', 'global:last_jiffies',
    ],
  },
  events: {
    args: ['--ctx', 'mark=85', '--ctx', 'priority=3', '--ignore', 'global:avail_data'], // BPF_RB_AVAIL_DATA: when the reader consumed
  },
  nat: {
    args: [
      '--global', 'svc_v4=0a60000a', '--global', 'be_v4=0a000307', '--global', 'svc_v6=fd000096000000000000000000000010',
      '--global', 'be_v6=fd000000000000000000000000030007', '--global', 'svc_port=80', '--global', 'be_port=8080',
      '--global', 'redirect_ifindex=1',
      '--ignore', 'global:last_hash', // bpf_get_hash_recalc: keyed by a per-boot random seed
    ],
  },
  tail: { args: ['--global', 'fallback_verdict=3', '--global', 'tcp_mark=1993'] },
  ipcache: { args: ['--global', 'deny_identity=666'] },
};

/** Every object (variants too) and every program in it. */
function cases(): { object: string; base: string; program: string }[] {
  const out: { object: string; base: string; program: string }[] = [];
  for (const object of readdirSync(progsDir).filter((f) => f.endsWith('.bpf.o')).sort()) {
    const base = object.replace(/(\.clang-\d+-v\d)?\.bpf\.o$/, '');
    const spec = readObject(new Uint8Array(readFileSync(join(progsDir, object))), object);
    for (const p of spec.programs) out.push({ object, base, program: p.name });
  }
  return out;
}

describeKernel('twinpath run --engine both on every test program', () => {
  const all = cases();

  it('covers every object with a capture', () => {
    expect(new Set(all.map((c) => c.base)).size).toBeGreaterThanOrEqual(11);
    for (const c of all) expect(existsSync(join(capturesDir, `${c.base}.pcap`)), `${c.base}.pcap`).toBe(true);
  });

  for (const { object, base, program } of all) {
    it(`${object} ${program}: zero differences`, async () => {
      const mapInit = join(progsDir, `${base}.map-init.json`);
      const args = [
        'run', join(progsDir, object), '--program', program, '--pcap', join(capturesDir, `${base}.pcap`), '--engine', 'both', '--json',
        ...(existsSync(mapInit) ? ['--map-init', mapInit] : []),
        ...(SETUP[base]?.args ?? []),
      ];
      const io = bufferIo();
      const status = await main(args, io);
      expect(io.stderr()).toBe('');
      const lines = io.stdout().trim().split('\n').map((l) => JSON.parse(l) as { engine: string; differences?: { text: string }[] });
      const kernelLines = lines.filter((l) => l.engine === 'kernel');
      expect(kernelLines.length).toBeGreaterThan(0);
      expect(kernelLines.flatMap((l) => (l.differences ?? []).map((d) => d.text))).toEqual([]);
      expect(status).toBe(0);
    });
  }
});

#!/usr/bin/env node
// twinpath benchmarks: figures, never assertions. Each figure is measured after a warm-up (V8
// runs a module's first calls in its baseline tier) and reported with ratios from the same run,
// since these machines are shared and noisy. Run with `npm run bench`; `npm run bench -- PART...`
// runs only some of the parts: vm (the VM on its own, the packet program in both engines), compile
// (policy compilation of a 50,000-pod cluster; `--namespaces N` for a smaller one), datapath
// (per-packet cost of policy at 10, 1,000 and 50,000 rules beside a linear rule list) and replay
// (a 1,000,000-packet capture replayed in both engines, bench/replay.js).

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Vm } from '../dist/vm/vm.js';
import { readElf, sectionByName } from '../dist/elf/elf.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const now = () => process.hrtime.bigint();

/** Median of `rounds` timings of `iterations` calls to fn, in ns per call. */
function measure(fn, iterations, rounds = 7) {
  for (let k = 0; k < Math.min(iterations, 20000); k++) fn(); // warm-up
  const per = [];
  for (let r = 0; r < rounds; r++) {
    const t = now();
    for (let k = 0; k < iterations; k++) fn();
    per.push(Number(now() - t) / iterations);
  }
  per.sort((a, b) => a - b);
  return per[rounds >> 1];
}

function insn(op, dst, src, off, imm) {
  const b = new Uint8Array(8);
  const dv = new DataView(b.buffer);
  b[0] = op;
  b[1] = (src << 4) | dst;
  dv.setInt16(2, off, true);
  dv.setInt32(4, imm, true);
  return b;
}
const concat = (parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) out.set(p, (o += p.length) - p.length);
  return out;
};

/** A 64-byte Ethernet/IPv4/TCP SYN from 192.168.1.10:40000 to 10.0.0.5:8080. */
function tcpSyn() {
  const p = new Uint8Array(64);
  p.set([0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00], 0);
  p.set([0x45, 0, 0, 50, 0, 1, 0x40, 0, 64, 6, 0, 0, 192, 168, 1, 10, 10, 0, 0, 5], 14);
  p.set([0x9c, 0x40, 0x1f, 0x90, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0], 34);
  return p;
}

/** The VM on its own (arithmetic, a packet program, the fixed cost of a run) and the XDP packet
 * program in both engines. */
async function vmBench() {
  const vm = new Vm();
  const lines = [];

  // 1. A tight arithmetic loop: r0 += r1; r1 += 1; while r1 != N.
  const N = 100000;
  const loop = vm.load(
    concat([
      insn(0xb7, 0, 0, 0, 0),
      insn(0xb7, 1, 0, 0, 0),
      insn(0x0f, 0, 1, 0, 0),
      insn(0x07, 1, 0, 0, 1),
      insn(0x55, 1, 0, -3, N),
      insn(0x95, 0, 0, 0, 0),
    ]),
  );
  const loopExecuted = loop.run().executed;
  const loopNs = measure(() => loop.run(), 20, 9);
  lines.push(['arithmetic loop', loopExecuted, loopNs]);

  // 2. The clang-compiled packet program (bpf/bench/packet.bpf.c), on a 64-byte TCP packet.
  const objPath = `${root}bpf/bench/packet.bpf.o`;
  const elf = readElf(new Uint8Array(readFileSync(objPath)), 'bpf/bench/packet.bpf.o');
  const prog = vm.load(sectionByName(elf, 'raw').data);
  const packet = tcpSyn();
  const first = prog.run({ memory: packet });
  const pktNs = measure(() => prog.run({ memory: packet }), 200000);
  lines.push(['packet program (64-byte TCP)', first.executed, pktNs]);

  // 3. The cost of an empty run (r0 = 0; exit): the fixed price of crossing into the VM.
  const empty = vm.load(concat([insn(0xb7, 0, 0, 0, 0), insn(0x95, 0, 0, 0, 0)]));
  const emptyNs = measure(() => empty.run({ memory: packet }), 200000);

  console.log(`twinpath VM benchmark (node ${process.version}, ${new Date().toISOString().slice(0, 10)})`);
  console.log('');
  console.log('program                          insns/run      ns/run   ns/insn');
  for (const [name, executed, ns] of lines) {
    console.log(
      `${name.padEnd(32)} ${String(executed).padStart(9)} ${ns.toFixed(0).padStart(11)} ${(ns / executed).toFixed(2).padStart(9)}`,
    );
  }
  console.log('');
  console.log(`fixed cost of one run (2-insn program, 64-byte input): ${emptyNs.toFixed(0)} ns`);
  console.log(
    `packet program excluding that fixed cost: ${((pktNs - emptyNs) / first.executed).toFixed(2)} ns/insn; ` +
      `packet program / arithmetic loop per insn: ${(pktNs / first.executed / (loopNs / loopExecuted)).toFixed(2)}x`,
  );
  console.log(`verdict of the bench packet: r0 = ${first.r0}`);

  // 4. The same clang-compiled XDP program (bench_xdp in bpf/bench/packet.bpf.o) in both engines:
  // the VM engine per packet (context, packet buffer and all), and the kernel's BPF_PROG_TEST_RUN
  // as the kernel times it (repeat=1000) and as a caller sees one call (a system call each).
  {
    const { readObject } = await import('../dist/elf/object.js');
    const { vmEngine } = await import('../dist/engine/vm.js');
    const bytes = new Uint8Array(readFileSync(objPath));
    const spec = readObject(bytes, 'bpf/bench/packet.bpf.o');
    const obj = vmEngine.open({ bytes, file: 'bpf/bench/packet.bpf.o', spec });
    const vmNs = measure(() => obj.run('bench_xdp', { packet }), 100000);
    console.log('');
    console.log(`XDP program on a 64-byte packet, VM engine (context, copy in and out): ${vmNs.toFixed(0)} ns/packet`);
    obj.close();
    try {
      const { kernelAvailability, KernelObject } = await import('../dist/kernel/index.js');
      const ok = kernelAvailability();
      if (!ok.ok) {
        console.log(`kernel: not measured (${ok.reason})`);
      } else {
        const ko = KernelObject.open(bytes, 'packet');
        ko.setAutoload('bench_raw', false);
        ko.load();
        const kp = ko.program('bench_xdp');
        const inKernel = kp.testRun(packet, { repeat: 1000 }).durationNs;
        const callNs = measure(() => kp.testRun(packet), 20000, 5);
        console.log(`same program, kernel test run: ${inKernel} ns/packet as the kernel times it (repeat=1000), ${callNs.toFixed(0)} ns per call from Node`);
        console.log(`VM engine / kernel per call: ${(vmNs / callNs).toFixed(2)}x; VM engine / kernel in-kernel time: ${(vmNs / inKernel).toFixed(1)}x`);
        ko.close();
      }
    } catch (e) {
      console.log(`kernel: not measured (${e.message})`);
    }
  }
}

const args = process.argv.slice(2);
const nsArg = args.indexOf('--namespaces');
const namespaces = nsArg >= 0 ? args.splice(nsArg, 2)[1] : undefined;
const parts = new Set(args.length > 0 ? args : ['vm', 'compile', 'datapath', 'replay']);
for (const p of parts) {
  if (!['vm', 'compile', 'datapath', 'replay'].includes(p)) {
    console.error(`bench: unknown part "${p}" (parts: vm, compile, datapath, replay)`);
    process.exit(2);
  }
}

if (parts.has('vm')) await vmBench();

// Policy compilation at scale, in a process of its own: its heap (gigabytes) would otherwise slow
// the timings that follow, and --expose-gc lets it report the heap that stays in use.
if (parts.has('compile')) {
  console.log('');
  const extra = namespaces !== undefined ? ['--namespaces', namespaces] : [];
  const r = spawnSync(process.execPath, ['--expose-gc', `${root}bench/policy-compile.js`, ...extra], { stdio: 'inherit' });
  if (r.status !== 0) process.exitCode = 1;
}

if (parts.has('datapath')) {
  console.log('');
  const { datapathBench } = await import('./policy-datapath.js');
  await datapathBench();
}

if (parts.has('replay')) {
  const { replayBench } = await import('./replay.js');
  await replayBench();
}

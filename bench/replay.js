#!/usr/bin/env node
// Replay throughput: a deterministic capture of 1,000,000 packets (the Star Wars cluster's
// traffic: pod-to-pod connections allowed and denied with the answers that follow a drop, the
// deathstar's Service, DNS, clients outside the cluster) written to a temporary directory, then
// replayed by `twinpath replay` in a child process per case: VM and kernel engines, compact
// output to /dev/null and the summary alone. Each child reports packets per second (wall time
// of the whole command: opening the engine, reading the capture, printing), the CPU time it
// used, and its peak resident memory (getrusage maxrss).
//   node bench/replay.js [--packets N]        (npm run bench runs it with the default)
//   node bench/replay.js --write FILE [N]     only writes the capture (for profiling a replay)

import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const scenario = join(root, 'captures', 'starwars');
const CLUSTER = join(scenario, 'cluster.yaml');
const POLICY = join(scenario, 'policy.yaml');

const DS = '10.244.1.10';
const DNS = '10.244.1.53';
const TF = '10.244.2.20';
const XW = '10.244.2.30';
const OUT = '203.0.113.7';
const VIP = '10.96.50.10';
const T0 = 1_700_560_800_000_000_000n;

/** The packets of conversation `c`; ports vary per conversation so conntrack holds many flows. */
function conversation(build, c) {
  const p = 20_000 + c;
  const q = 45_000 + c;
  const dns = new Uint8Array(40).fill(0x61);
  return [
    build.udp({ src: TF, dst: DNS, sport: p, dport: 53, payload: dns }),
    build.udp({ src: DNS, dst: TF, sport: 53, dport: p, payload: dns }),
    build.tcp({ src: TF, dst: DS, sport: p, dport: 80, flags: 'S', seq: 1 }),
    build.tcp({ src: DS, dst: TF, sport: 80, dport: p, flags: 'SA', seq: 9, ack: 2 }),
    build.tcp({ src: TF, dst: DS, sport: p, dport: 80, flags: 'A', seq: 2, ack: 10 }),
    build.tcp({ src: TF, dst: DS, sport: p, dport: 80, flags: 'PA', seq: 2, ack: 10, payload: 'POST /v1/request-landing HTTP/1.1\r\n\r\n' }),
    build.tcp({ src: DS, dst: TF, sport: 80, dport: p, flags: 'PA', seq: 10, ack: 39, payload: 'HTTP/1.1 200 OK\r\n\r\nShip landed\n' }),
    build.tcp({ src: TF, dst: DS, sport: p, dport: 80, flags: 'FA', seq: 39, ack: 41 }),
    build.tcp({ src: DS, dst: TF, sport: 80, dport: p, flags: 'FA', seq: 41, ack: 40 }),
    build.tcp({ src: TF, dst: DS, sport: p, dport: 80, flags: 'A', seq: 40, ack: 42 }),
    build.tcp({ src: XW, dst: DS, sport: q, dport: 80, flags: 'S', seq: 1 }),
    build.tcp({ src: DS, dst: XW, sport: 80, dport: q, flags: 'SA', seq: 9, ack: 2 }),
    build.tcp({ src: TF, dst: VIP, sport: q, dport: 80, flags: 'S', seq: 1 }),
    build.tcp({ src: DS, dst: TF, sport: 80, dport: q, flags: 'SA', seq: 9, ack: 2 }),
    build.tcp({ src: OUT, dst: TF, sport: q, dport: 8000, flags: 'S', seq: 1 }),
    build.tcp({ src: TF, dst: OUT, sport: 8000, dport: q, flags: 'SA', seq: 9, ack: 2 }),
  ];
}

async function writeCapture(path, packets) {
  const { build, PcapWriter, LINKTYPE_ETHERNET } = await import('../dist/pcap/index.js');
  const w = new PcapWriter({ path }, { linkType: LINKTYPE_ETHERNET });
  // 1,000 conversations (16,000 frames) built once and cycled: a port comes back 0.8 s later,
  // after its connection closed (TCP) or while its entry still lives (UDP).
  const frames = [];
  for (let c = 0; c < 1000; c++) frames.push(...conversation(build, c));
  for (let i = 0; i < packets; i++) {
    // 50 µs apart: well outside the duplicate window, well inside every conntrack timeout.
    await w.write({ timestampNs: T0 + BigInt(i) * 50_000n, data: frames[i % frames.length] });
  }
  await w.close();
}

/** The child: one replay through the command's code, its figures as JSON on standard error. */
async function child(engine, output, capture) {
  const { main } = await import('../dist/cli/main.js');
  const { processIo } = await import('../dist/cli/io.js');
  const t = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  const status = await main(['replay', capture, '--cluster', CLUSTER, '--policy', POLICY, '--engine', engine, '-o', output], processIo);
  const seconds = Number(process.hrtime.bigint() - t) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  process.stderr.write(`\n${JSON.stringify({ status, seconds, cpuSeconds, maxRssKb: process.resourceUsage().maxRSS })}\n`);
}

function runChild(engine, output, capture) {
  return new Promise((resolve, reject) => {
    const devnull = openSync('/dev/null', 'w');
    const p = spawn(process.execPath, [fileURLToPath(import.meta.url), '--child', engine, output, capture], { stdio: ['ignore', devnull, 'pipe'] });
    closeSync(devnull);
    let err = '';
    p.stderr.on('data', (d) => (err += d));
    p.on('error', reject);
    p.on('exit', () => {
      const last = err.trim().split('\n').at(-1) ?? '';
      try {
        resolve(JSON.parse(last));
      } catch {
        resolve({ error: err.trim().split('\n').slice(-3).join(' ') });
      }
    });
  });
}

/** Every case, in one run (bench/run.js part `replay`). */
export async function replayBench(packets = 1_000_000) {
  const dir = mkdtempSync(join(tmpdir(), 'twinpath-bench-replay-'));
  try {
    const capture = join(dir, 'replay.pcap');
    const t = process.hrtime.bigint();
    await writeCapture(capture, packets);
    console.log('');
    console.log(`replay of ${packets.toLocaleString('en-US')} packets (Star Wars cluster; written in ${(Number(process.hrtime.bigint() - t) / 1e9).toFixed(1)} s)`);
    // CPU time beside wall time: on a shared machine the wall clock also counts waiting for a core.
    console.log('engine  output                 packets/s   µs/packet   CPU µs/packet   peak RSS');
    const { kernelAvailability } = await import('../dist/kernel/index.js');
    const kernel = kernelAvailability();
    for (const engine of ['vm', 'kernel']) {
      for (const [output, label] of [['compact', 'compact > /dev/null'], ['summary', 'summary only']]) {
        if (engine === 'kernel' && !kernel.ok) {
          console.log(`${engine.padEnd(7)} ${label.padEnd(20)} not measured (${kernel.reason})`);
          continue;
        }
        const r = await runChild(engine, output, capture);
        if (r.error || r.status !== 0) {
          console.log(`${engine.padEnd(7)} ${label.padEnd(20)} failed: ${r.error ?? `exit status ${r.status}`}`);
          continue;
        }
        const pps = packets / r.seconds;
        console.log(
          `${engine.padEnd(7)} ${label.padEnd(20)} ${Math.round(pps).toLocaleString('en-US').padStart(10)} ${(1e6 / pps).toFixed(1).padStart(11)} ${((1e6 * r.cpuSeconds) / packets).toFixed(1).padStart(15)} ${`${(r.maxRssKb / 1024).toFixed(0)} MB`.padStart(10)}`,
        );
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  if (process.argv[2] === '--child') {
    await child(process.argv[3], process.argv[4], process.argv[5]);
  } else if (process.argv[2] === '--write') {
    // For profiling: `node bench/replay.js --write FILE [N]`, then
    // `node --cpu-prof bench/replay.js --child vm compact FILE > /dev/null`.
    await writeCapture(process.argv[3], Number(process.argv[4] ?? 1_000_000));
  } else {
    const at = process.argv.indexOf('--packets');
    await replayBench(at > 0 ? Number(process.argv[at + 1]) : 1_000_000);
  }
}

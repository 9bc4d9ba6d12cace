// Per-packet cost of policy enforcement as the rule count grows: the endpoint datapath
// (bpf/datapath/endpoint.bpf.o, cil_to_container: ipcache and policy-map lookups in LPM tries)
// beside the iptables model (bpf/bench/linear.bpf.o: a rule list walked in order, first match
// wins), with the same N rules, in the VM engine and in the kernel (BPF_PROG_TEST_RUN), in one
// run. The packet's matching rule is the last one added: the worst case for the list.
//
// The matching rule denies the packet. A denied new flow creates no conntrack entry, so every
// run of the packet, including the kernel's repeated test runs of one packet, goes through the
// ipcache and both policy lookups; the flow event of each measured setup is checked to say that
// the policy entry (not conntrack) decided. The linear list's last rule drops it likewise.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { medianInterleaved, nsPerCallInterleaved } from './timing.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = (p) => import(new URL(`../dist/${p}`, import.meta.url).href);

const { readObject } = await dist('elf/object.js');
const { getEngine } = await dist('engine/index.js');
const { DATAPATH_OBJECT, DatapathMaps, PROG_TO_ENDPOINT, endpointContext } = await dist('datapath/maps.js');
const { flowEvents, DROP_POLICY_DENY } = await dist('datapath/flow.js');
const { tcp } = await dist('pcap/build.js');

const LINEAR_OBJECT = `${root}bpf/bench/linear.bpf.o`;
const TC_ACT_SHOT = 2;

/** The endpoint under test: pod 10.0.0.5 on interface 7, isolated for ingress. */
const IFINDEX = 7;
const ENDPOINT = {
  id: 42, namespace: 'bench', pod: 'target', node: 'node-0', ips: ['10.0.0.5'], identity: 300,
  ingressEnforced: true, egressEnforced: false,
};
const DPORT = 80;

/** Remote i: its own address (10.64.0.0/16 onwards) and its own identity. */
const remoteIp = (i) => {
  const n = 0x0a400000 + i + 1;
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
};
const remoteIdentity = (i) => 100000 + i;

const packetFrom = (i) => tcp({ src: remoteIp(i), dst: ENDPOINT.ips[0], sport: 40000, dport: DPORT, flags: 'S' });

function u32(n) {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
}

function readObj(file) {
  const bytes = new Uint8Array(readFileSync(file));
  return { bytes, file, spec: readObject(bytes, file) };
}

/** The datapath with n policy entries for the endpoint: n - 1 allows, then the deny that matches. */
function openDatapath(engine, n) {
  const obj = engine.open(readObj(DATAPATH_OBJECT));
  const maps = new DatapathMaps(obj);
  maps.setEndpoint(IFINDEX, ENDPOINT);
  for (let i = 0; i < n; i++) {
    maps.setIpcache(`${remoteIp(i)}/32`, remoteIdentity(i));
    maps.setPolicy({
      endpointId: ENDPOINT.id, direction: 'ingress', identity: remoteIdentity(i), protocol: 6, port: DPORT,
      portPrefixLen: 16, deny: i === n - 1, ruleId: i + 1, proxyPort: 0,
    });
  }
  return obj;
}

/** One rule as bpf/bench/linear.bpf.c lays it out: src/32, dst/32, TCP, port DPORT. */
function linearRule(i, drop) {
  const v = new Uint8Array(24);
  const dv = new DataView(v.buffer);
  const be = (ip) => ip.split('.').reduce((x, b) => ((x << 8) | Number(b)) >>> 0, 0);
  dv.setUint32(0, be(remoteIp(i)), false);
  dv.setUint32(4, 0xffffffff, false);
  dv.setUint32(8, be(ENDPOINT.ips[0]), false);
  dv.setUint32(12, 0xffffffff, false);
  dv.setUint16(16, DPORT, true);
  dv.setUint16(18, DPORT, true);
  v[20] = 6;
  v[21] = drop ? 1 : 0;
  return v;
}

/** The linear list with n rules: n - 1 accepts of other sources, then the drop that matches. */
function openLinear(engine, n) {
  const obj = engine.open(readObj(LINEAR_OBJECT), { globals: { nrules: u32(n) } });
  const rules = obj.map('linear_rules');
  for (let i = 0; i < n; i++) rules.update(u32(i), linearRule(i, i === n - 1));
  return obj;
}

/** Throws unless the run was decided by the policy entry that was added last (not conntrack). */
function checkDatapath(out, n) {
  const ev = flowEvents(out).at(-1);
  const ok = out.retval === TC_ACT_SHOT && ev && ev.ctState === 'new' && ev.policyMatch === 'exact' &&
    ev.dropReason === DROP_POLICY_DENY && ev.ruleId === n && ev.srcIdentity === remoteIdentity(n - 1);
  if (!ok) throw new Error(`datapath with ${n} rules: not decided by the last policy entry: ${JSON.stringify({ retval: out.retval, ev })}`);
}

function checkLinear(out, n) {
  if (out.retval !== TC_ACT_SHOT || out.ctx['cb[0]'] !== n - 1) {
    throw new Error(`linear list with ${n} rules: rule ${out.ctx['cb[0]']} decided (retval ${out.retval}), not rule ${n - 1}`);
  }
}

/**
 * A kernel program's ns/packet as the kernel times it: BPF_PROG_TEST_RUN with repeat (the mean of
 * the repeats), the repeat count chosen to make a test run about 50 ms. After each timed run a
 * checked run drains the ring buffer (one event a packet), so it never fills.
 */
async function kernelTimer(obj, program, packet, ctx, check) {
  const { rawAddon } = await dist('kernel/addon.js');
  const { skbIn } = await dist('engine/kernel.js');
  const fd = obj.programRef(program);
  const ctxIn = ctx ? skbIn(ctx, {}) : null;
  const once = rawAddon().testRun(fd, packet, ctxIn, { repeat: 1 }).durationNs;
  // The events of one repeated run must fit the 256 KiB ring buffer (88-byte records).
  const repeat = Math.max(1, Math.min(2000, Math.round(50e6 / Math.max(once, 1))));
  const timed = () => {
    const ns = rawAddon().testRun(fd, packet, ctxIn, { repeat }).durationNs;
    check(obj.run(program, { packet, ctx }));
    return ns;
  };
  for (let w = 0; w < 3; w++) timed();
  return timed;
}

async function kernelEngine() {
  try {
    const { kernelAvailability } = await dist('kernel/index.js');
    const a = kernelAvailability();
    if (!a.ok) return { reason: a.reason };
    return { engine: await getEngine('kernel') };
  } catch (e) {
    return { reason: e.message };
  }
}

/** Measures every size in both engines and prints one table; returns the rows (ns a packet). */
export async function datapathBench({ sizes = [10, 1000, 50000], log = console.log } = {}) {
  const vm = await getEngine('vm');
  const kernel = await kernelEngine();
  // Warm up the whole path first (the engine's JavaScript and the VM's wasm, which V8 compiles
  // again in its optimizing tier in the background), so the first size is not paying for it.
  {
    const packet = packetFrom(9);
    const ctx = endpointContext(IFINDEX);
    const dp = openDatapath(vm, 10);
    const lin = openLinear(vm, 10);
    const t = Date.now();
    while (Date.now() - t < 1500) {
      dp.run(PROG_TO_ENDPOINT, { packet, ctx });
      lin.run('linear_chain', { packet });
    }
    dp.close();
    lin.close();
  }
  // Everything is set up and checked first, then timed in interleaved rounds (every setup of an
  // engine once a round), so the machine's load changing meanwhile does not skew the ratios.
  const rows = sizes.map((n) => ({ rules: n }));
  const open = [];
  const vmTimed = [];
  const kernelTimed = [];
  try {
    for (const row of rows) {
      const n = row.rules;
      const packet = packetFrom(n - 1);
      const ctx = endpointContext(IFINDEX);
      const dp = openDatapath(vm, n);
      open.push(dp);
      checkDatapath(dp.run(PROG_TO_ENDPOINT, { packet, ctx }), n);
      vmTimed.push({ row, col: 'dpVm', fn: () => dp.run(PROG_TO_ENDPOINT, { packet, ctx }) });
      const lin = openLinear(vm, n);
      open.push(lin);
      checkLinear(lin.run('linear_chain', { packet }), n);
      vmTimed.push({ row, col: 'linVm', fn: () => lin.run('linear_chain', { packet }) });
      if (kernel.engine) {
        const kdp = openDatapath(kernel.engine, n);
        open.push(kdp);
        checkDatapath(kdp.run(PROG_TO_ENDPOINT, { packet, ctx }), n);
        kernelTimed.push({ row, col: 'dpKernel', fn: await kernelTimer(kdp, PROG_TO_ENDPOINT, packet, ctx, (out) => checkDatapath(out, n)) });
        const klin = openLinear(kernel.engine, n);
        open.push(klin);
        checkLinear(klin.run('linear_chain', { packet }), n);
        kernelTimed.push({ row, col: 'linKernel', fn: await kernelTimer(klin, 'linear_chain', packet, undefined, (out) => checkLinear(out, n)) });
      }
    }
    nsPerCallInterleaved(vmTimed.map((t) => t.fn), { clock: 'cpu' }).forEach((ns, i) => (vmTimed[i].row[vmTimed[i].col] = ns));
    medianInterleaved(kernelTimed.map((t) => t.fn)).forEach((ns, i) => (kernelTimed[i].row[kernelTimed[i].col] = ns));
  } finally {
    for (const o of open) o.close();
  }

  const f = (x) => (x === undefined ? '-' : x >= 100 ? x.toFixed(0) : x.toFixed(1));
  const ratio = (a, b) => (a === undefined || b === undefined ? '-' : `${(a / b).toFixed(1)}x`);
  log('Per-packet cost of policy at N rules (cil_to_container, the matching rule added last; ns/packet, medians;');
  log('VM: CPU time of EngineObject.run; kernel: BPF_PROG_TEST_RUN with repeat, as the kernel times it)');
  log('');
  const head = ['rules', 'datapath VM', 'linear VM', 'linear/dp', 'datapath kernel', 'linear kernel', 'linear/dp'];
  const width = [7, 13, 13, 10, 16, 14, 10];
  const line = (cells) => cells.map((c, i) => String(c).padStart(width[i])).join(' ');
  log(line(head));
  for (const r of rows) {
    log(line([r.rules, f(r.dpVm), f(r.linVm), ratio(r.linVm, r.dpVm), f(r.dpKernel), f(r.linKernel), ratio(r.linKernel, r.dpKernel)]));
  }
  const first = rows[0];
  const last = rows.at(-1);
  log('');
  log(`growth from ${first.rules} to ${last.rules} rules: datapath VM ${ratio(last.dpVm, first.dpVm)}, linear VM ${ratio(last.linVm, first.linVm)}` +
    (kernel.engine ? `, datapath kernel ${ratio(last.dpKernel, first.dpKernel)}, linear kernel ${ratio(last.linKernel, first.linKernel)}` : ''));
  if (!kernel.engine) log(`kernel: not measured (${kernel.reason})`);
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const sizes = process.argv.slice(2).map(Number).filter((x) => Number.isInteger(x) && x > 0);
  await datapathBench(sizes.length > 0 ? { sizes } : {});
}

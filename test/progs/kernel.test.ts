// The engine-agreement test programs (bpf/test/progs) in the kernel: every object loads, every
// packet of its capture (captures/test) gives the return code, output bytes and context written
// down in test/progs/expected/<name>.json, and after the capture the maps, globals and ring
// buffer records are as written there too. Those files are what the VM will be held to.
// Beside the recorded results, each program's own promises are checked directly (checksums
// after NAT are valid, the clock never goes backwards, ...), so a recorded file is not merely
// whatever the kernel happened to say.
//
// TWINPATH_UPDATE_EXPECTED=1 rewrites the `results` of the expected files from this kernel
// instead of comparing; review the diff before committing.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { internetChecksum, pseudoHeader } from '../../src/pcap/index.js';
import { numPossibleCpus } from '../../src/kernel/index.js';
import { describeKernel } from '../helpers/kernel.js';
import { PROGRAMS, readExpected, writeExpected, type Expected } from './expected.js';
import { runInKernel, type KernelRun } from './kernel_run.js';

const UPDATE = process.env.TWINPATH_UPDATE_EXPECTED === '1';
const TC_ACT_OK = 0;
const TC_ACT_SHOT = 2;
const TC_ACT_REDIRECT = 7;
const TC_ACT_UNSPEC = -1;
const XDP_ABORTED = 0;
const XDP_DROP = 1;
const XDP_PASS = 2;
const XDP_TX = 3;
const XDP_REDIRECT = 4;

const u32 = (hexText: string, at = 0): number => Buffer.from(hexText, 'hex').readUInt32LE(at);
const u64 = (hexText: string, at = 0): bigint => Buffer.from(hexText, 'hex').readBigUInt64LE(at);
const s64 = (hexText: string): bigint => Buffer.from(hexText, 'hex').readBigInt64LE(0);

/** Loads, runs and compares one program; returns the run for the program's own checks. */
function agreement(name: string): { run: () => KernelRun; exp: () => Expected } {
  let exp: Expected;
  let run: KernelRun;
  beforeAll(() => {
    exp = readExpected(name);
    run = runInKernel(exp);
    if (UPDATE) {
      exp = { ...exp, results: run.results };
      writeExpected(name, exp);
    }
  });
  it('gives the recorded return codes and output packets', () => {
    expect(exp.results, `${name}.json has no results: run with TWINPATH_UPDATE_EXPECTED=1`).toBeDefined();
    expect(run.results.packets).toHaveLength(exp.results!.packets.length);
    run.results.packets.forEach((p, i) => expect(p, `${name} packet ${i}`).toEqual(exp.results!.packets[i]));
  });
  it('leaves the recorded maps, globals and ring buffer records', () => {
    expect(run.results.maps).toEqual(exp.results!.maps);
    expect(run.results.globals).toEqual(exp.results!.globals);
    expect(run.results.ringbuf).toEqual(exp.results!.ringbuf);
  });
  return { run: () => run, exp: () => exp };
}

const retvals = (r: KernelRun): number[] => r.results.packets.map((p) => p.retval);

describeKernel('engine-agreement programs in the kernel', () => {
  describe('parse', () => {
    const t = agreement('parse');
    it('counts every packet once and agrees with its verdicts', () => {
      const counts = t.run().results.maps.parse_counts!.map(([, v]) => Number(u64(v)));
      const [packets, bytes, short, bad, notIp, vlan, v4, v6] = counts;
      const r = retvals(t.run());
      expect(packets).toBe(r.length);
      expect(bytes).toBe(t.run().inputs.reduce((n, p) => n + p.length, 0));
      expect(short! + bad!).toBe(r.filter((v) => v === TC_ACT_SHOT).length);
      expect(notIp).toBe(r.filter((v) => v === TC_ACT_UNSPEC).length);
      expect(v4! + v6!).toBe(r.filter((v) => v === TC_ACT_OK).length);
      expect(vlan).toBe(4);
      expect(short).toBe(3);
      expect(bad).toBe(2);
    });
  });

  describe('flows', () => {
    const t = agreement('flows');
    it('deletes closed flows, sums the rest, and ran on a real CPU', () => {
      const r = t.run();
      expect(retvals(r).filter((v) => v === TC_ACT_UNSPEC)).toHaveLength(1); // the ARP frame
      const marks = r.results.packets.map((p) => p.ctx?.mark ?? 0);
      expect(marks[2]).toBe(2); // second packet of the first flow
      expect(marks[8]).toBe(0); // FIN: deleted
      expect(marks[9]).toBe(3); // third UDP packet
      const flows = r.results.maps.flow_table!;
      const totals = r.results.globals.totals!;
      expect(Number(u64(totals, 0))).toBe(flows.length);
      expect(u64(totals, 8)).toBe(flows.reduce((n, [, v]) => n + u64(v, 0), 0n));
      expect(r.rawGlobals.last_cpu!.readUInt32LE(0)).toBeLessThan(numPossibleCpus());
    });
  });

  describe('ipcache', () => {
    const t = agreement('ipcache');
    it('puts the source identity in front of every packet it passes or drops', () => {
      const r = t.run();
      const ids = [1001, 1000, 2, 666, 2001, 2, 666, 1001, 1001, 1001, 1000, 2, 2001, 2001, 1001];
      ids.forEach((id, i) => {
        expect(r.outputs[i]!.readUInt32LE(0), `packet ${i}`).toBe(id);
        expect(r.outputs[i]!.subarray(4)).toEqual(r.inputs[i]);
      });
      expect(retvals(r)).toEqual([
        XDP_PASS, XDP_PASS, XDP_PASS, XDP_DROP, XDP_PASS, XDP_PASS, XDP_DROP, XDP_PASS, XDP_PASS,
        XDP_PASS, XDP_PASS, XDP_PASS, XDP_PASS, XDP_PASS, XDP_PASS, XDP_ABORTED, XDP_ABORTED,
      ]);
      const g = r.results.globals;
      expect(u32(g.last_popped!)).toBe(666);
      // The fifth push (packet 5) overwrote the oldest (1001), so the dequeue took 1000.
      expect(u32(g.last_dequeued!)).toBe(1000);
      // The queue left, oldest first, after three more overwrites.
      expect(r.results.maps.seen_queue!.map(([, v]) => u32(v))).toEqual([1001, 1000, 2, 2001]);
      expect(r.results.maps.drop_stack).toEqual([]);
    });
  });

  describe('tail', () => {
    const t = agreement('tail');
    it('reaches both filled slots, falls through the empty one, and fills inner maps', () => {
      const r = t.run();
      expect(retvals(r)).toEqual([TC_ACT_OK, TC_ACT_OK, TC_ACT_OK, TC_ACT_OK, TC_ACT_OK, TC_ACT_OK, TC_ACT_SHOT, 3, 3, TC_ACT_UNSPEC, TC_ACT_UNSPEC]);
      expect(r.results.packets.slice(0, 3).map((p) => p.ctx?.mark)).toEqual([1993, 1993, 1993]);
      const g = r.results.globals;
      expect(u32(g.entries!)).toBe(100 + 11);
      expect(u64(g.missed!)).toBe(2n);
      expect(u64(g.tcp_seen!)).toBe(3n);
      expect(u64(g.udp_seen!)).toBe(4n);
      expect(r.results.maps.tcp_counts!.map(([, v]) => u64(v))).toEqual([1n, 2n]);
      expect(r.results.maps.udp_dns).toEqual([['b80b', '0200000000000000'], ['b90b', '0100000000000000']]);
    });
  });

  describe('events', () => {
    const t = agreement('events');
    it('submits, discards and copies records as the program says, in order', () => {
      const r = t.run();
      const recs = r.results.ringbuf.events!.map((h) => Buffer.from(h, 'hex'));
      expect(recs.map((b) => b.readUInt32LE(28))).toEqual([1, 2, 3, 4, 5, 6, 7]); // seq
      expect(recs.map((b) => b[25])).toEqual([1, 1, 2, 2, 1, 1, 1]); // how
      const g = r.results.globals;
      expect(s64(g.perf_ret!)).toBe(-2n); // -ENOENT: no perf event in the slot
      expect(u64(g.ring_size!)).toBe(4096n);
      expect(u32(g.discarded!)).toBe(1);
      expect(r.results.packets.every((p) => p.ctx === undefined)).toBe(true); // mark/priority passed through
    });
  });

  describe('clock', () => {
    const t = agreement('clock');
    it('has a clock that never goes backwards, and masks only what varies', () => {
      const r = t.run();
      const g = r.results.globals;
      expect([u64(g.mono_ok!), u64(g.boot_ok!), u64(g.jiffies_ok!), u64(g.seq!)]).toEqual([10n, 10n, 10n, 10n]);
      const raw = r.rawMaps.samples!.map(([, v]) => v);
      const cpus = numPossibleCpus();
      for (const v of raw) {
        expect(v.readBigUInt64LE(0)).toBeGreaterThan(0n);
        expect(v.readUInt32LE(28)).toBeLessThan(cpus);
      }
      expect(r.results.maps.samples!.map(([, v]) => u64(v, 32))).toEqual([9n, 10n, 3n, 4n, 5n, 6n, 7n, 8n]);
    });
  });

  describe('nat', () => {
    const t = agreement('nat');
    it('rewrites the frontend to the backend with valid checksums and redirects', () => {
      const r = t.run();
      expect(retvals(r)).toEqual([7, 7, 7, 7, 0, 0, 7, 7, 7, 0, -1, -1].map((v) => (v === 7 ? TC_ACT_REDIRECT : v)));
      for (const i of [0, 1, 2, 3, 6, 7, 8]) {
        const out = r.outputs[i]!;
        const l3 = i === 8 ? 18 : 14;
        const v6 = out[l3]! >> 4 === 6;
        const ihl = v6 ? 40 : (out[l3]! & 15) * 4;
        const proto = v6 ? out[l3 + 6]! : out[l3 + 9]!;
        const src = out.subarray(l3 + (v6 ? 8 : 12), l3 + (v6 ? 24 : 16));
        const dst = out.subarray(l3 + (v6 ? 24 : 16), l3 + (v6 ? 40 : 20));
        const l4 = out.subarray(l3 + ihl);
        expect(dst.toString('hex'), `packet ${i}`).toBe(v6 ? 'fd000000000000000000000000030007' : '0a000307');
        expect(l4.readUInt16BE(2)).toBe(8080);
        if (!v6) expect(internetChecksum(out.subarray(l3, l3 + ihl)), `packet ${i} IP checksum`).toBe(0);
        const zeroUdp = proto === 17 && l4.readUInt16BE(6) === 0;
        if (i === 3) expect(zeroUdp).toBe(true); // a datagram without a checksum stays without
        if (!zeroUdp) expect(internetChecksum(pseudoHeader(src, dst, proto, l4.length), l4), `packet ${i} L4 checksum`).toBe(0);
      }
      const g = r.results.globals;
      expect(s64(g.csum_update_ret!)).toBe(-524n); // -ENOTSUPP: a test-run skb is CHECKSUM_NONE
      expect(u64(g.rewritten!)).toBe(7n);
      expect(u64(g.hashed_nonzero!)).toBe(10n);
    });
  });

  describe('encap', () => {
    const t = agreement('encap');
    it('changes sizes as the program says and writes a valid outer header', () => {
      const r = t.run();
      const lens = r.outputs.map((b) => b.length);
      const ins = r.inputs.map((b) => b.length);
      // Packet 7: once IPIP-encapsulated, the skb may not be trimmed (skb->encapsulation).
      expect(lens).toEqual([ins[0]! + 20, ins[1]! + 4, ins[2]! + 14, ins[3]! - 8, ins[4], ins[5], 256, ins[7]! + 20, 256, ins[9], ins[10]]);
      expect(retvals(r)).toEqual([0, 0, 0, 0, -1, -1, 0, TC_ACT_SHOT, 0, -1, -1]);
      expect(s64(r.results.globals.last_err!)).toBe(-524n); // -ENOTSUPP
      const outer = r.outputs[0]!.subarray(14, 34);
      expect(outer[9]).toBe(4);
      expect(internetChecksum(outer)).toBe(0);
      expect(r.outputs[0]!.subarray(34)).toEqual(r.inputs[0]!.subarray(14));
      expect(s64(r.results.globals.pull_ret!)).toBe(-12n); // the last packet (ARP, 42 bytes): -ENOMEM
    });
  });

  describe('vlan', () => {
    agreement('vlan');
  });

  describe('xdp_edit', () => {
    const t = agreement('xdp_edit');
    it('adjusts heads and tails as the program says', () => {
      const r = t.run();
      expect(retvals(r)).toEqual([XDP_PASS, XDP_PASS, XDP_TX, XDP_PASS, XDP_PASS, XDP_PASS, XDP_PASS, XDP_PASS, XDP_PASS, XDP_TX]);
      const lens = r.outputs.map((b) => b.length);
      const ins = r.inputs.map((b) => b.length);
      expect(lens).toEqual([ins[0]! - 4, ins[1]! + 4, 42, 60, ins[4]! + 8, 60, 60, ins[7], ins[8], 42]);
    });
  });

  describe('xdp_redirect', () => {
    const t = agreement('xdp_redirect');
    it('redirects through a filled slot and falls back to XDP_PASS on an empty one', () => {
      expect(retvals(t.run())).toEqual([XDP_PASS, XDP_REDIRECT, XDP_DROP]);
    });
  });

  it('has an expected file for every program', () => {
    expect(PROGRAMS.length).toBe(11);
  });
});

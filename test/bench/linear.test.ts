// The benchmark's linear rule list (bpf/bench/linear.bpf.c, the iptables model): first match
// wins, the chain's default is drop, in both engines. The benchmark only times it; this proves
// it computes what it claims, so the comparison with the policy datapath is a fair one.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getEngine, type EngineKind, type EngineObject } from '../../src/engine/index.js';
import { readObject } from '../../src/elf/object.js';
import { ROOT } from '../helpers/paths.js';
import { describeKernel } from '../helpers/kernel.js';

const file = join(ROOT, 'bpf', 'bench', 'linear.bpf.o');

function ip4(a: string): number[] {
  return a.split('.').map(Number);
}

/** Ethernet/IPv4/TCP or UDP, checksums not needed by the program. */
function packet(src: string, dst: string, proto: number, dport: number): Uint8Array {
  const p = new Uint8Array(64);
  p.set([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00], 0);
  p.set([0x45, 0, 0, 50, 0, 1, 0x40, 0, 64, proto, 0, 0, ...ip4(src), ...ip4(dst)], 14);
  p.set([0x9c, 0x40, dport >> 8, dport & 0xff], 34);
  return p;
}

interface Rule { src: string; srcLen: number; dst: string; dstLen: number; proto: number; lo: number; hi: number; drop: boolean }

function encodeRule(r: Rule): Uint8Array {
  const v = new Uint8Array(24);
  const dv = new DataView(v.buffer);
  const mask = (len: number) => (len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0);
  const net = (a: string, len: number) => (ip4(a).reduce((x, b) => (x << 8) | b, 0) & mask(len)) >>> 0;
  // Addresses and masks in network order, as the program reads them from the header.
  dv.setUint32(0, net(r.src, r.srcLen), false);
  dv.setUint32(4, mask(r.srcLen), false);
  dv.setUint32(8, net(r.dst, r.dstLen), false);
  dv.setUint32(12, mask(r.dstLen), false);
  dv.setUint16(16, r.lo, true);
  dv.setUint16(18, r.hi, true);
  v[20] = r.proto;
  v[21] = r.drop ? 1 : 0;
  return v;
}

const rules: Rule[] = [
  { src: '10.0.0.0', srcLen: 8, dst: '10.1.0.5', dstLen: 32, proto: 6, lo: 80, hi: 80, drop: false },
  { src: '10.2.0.0', srcLen: 16, dst: '0.0.0.0', dstLen: 0, proto: 0, lo: 0, hi: 65535, drop: true },
  { src: '0.0.0.0', srcLen: 0, dst: '10.1.0.5', dstLen: 32, proto: 17, lo: 5000, hi: 5999, drop: false },
];

function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
}

function suite(kind: EngineKind): void {
  let obj: EngineObject;
  beforeAll(async () => {
    const bytes = new Uint8Array(readFileSync(file));
    obj = (await getEngine(kind)).open({ bytes, file, spec: readObject(bytes, file) }, { globals: { nrules: u32(rules.length) } });
    rules.forEach((r, i) => obj.map('linear_rules').update(u32(i), encodeRule(r)));
  });
  afterAll(() => obj?.close());

  const cases: Array<[string, string, number, number, number, number]> = [
    // src, dst, proto, dport -> retval, index of the matching rule (3 = none: the default drop)
    ['10.9.9.9', '10.1.0.5', 6, 80, 0, 0],
    ['10.2.3.4', '10.1.0.5', 6, 80, 0, 0], // rule 0 comes before the drop of 10.2/16
    ['10.2.3.4', '10.1.0.5', 6, 81, 2, 1],
    ['192.168.1.1', '10.1.0.5', 17, 5500, 0, 2],
    ['192.168.1.1', '10.1.0.5', 17, 6000, 2, 3],
    ['192.168.1.1', '10.1.0.6', 6, 80, 2, 3],
  ];
  for (const [src, dst, proto, dport, retval, matched] of cases) {
    it(`${src} -> ${dst} proto ${proto} port ${dport}: rule ${matched}`, () => {
      const out = obj.run('linear_chain', { packet: packet(src, dst, proto, dport) });
      expect(out.retval).toBe(retval);
      expect(out.ctx['cb[0]']).toBe(matched);
    });
  }
}

describe('linear rule list in the VM', () => suite('vm'));
describeKernel('linear rule list in the kernel', () => suite('kernel'));

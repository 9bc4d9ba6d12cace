// `twinpath run`: the --json contract ({"index","engine","retval","action","data"} per packet and
// engine), text output, captures written here with src/pcap (streamed, other link types skipped
// with a message, a damaged capture failing after the packets before the damage), --ctx and
// --global, and the errors a user can cause. The kernel cases skip on a laptop.

import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import type { Engine, EngineObject } from '../../src/engine/engine.js';
import { build, encodePcap, encodePcapng, LINKTYPE_ETHERNET } from '../../src/pcap/index.js';
import { describeKernel } from '../helpers/kernel.js';
import { ROOT } from '../helpers/paths.js';
import { cli } from '../helpers/cli.js';

// --engine both needs a VM engine. Until src/engine/vm.ts exists (and besides it), a test can
// stand a tampering kernel engine in for the VM, to see every kind of difference reported.
let standInVm: Engine | undefined;
vi.mock('../../src/engine/index.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../src/engine/index.js')>();
  return { ...actual, getEngine: async (k: 'vm' | 'kernel') => (k === 'vm' && standInVm ? standInVm : actual.getEngine(k)) };
});

/** The kernel engine, but every run returns retval+1, one flipped byte, mark+1, no events, and
 * leaves an extra entry in map "counts". */
async function tamperingEngine(): Promise<Engine> {
  const { kernelEngine } = await import('../../src/engine/kernel.js');
  return {
    kind: 'vm',
    open(object, opts) {
      const inner = kernelEngine.open(object, opts);
      const o: EngineObject = {
        engine: 'vm',
        spec: inner.spec,
        map: (n) => inner.map(n),
        maps: () => inner.maps(),
        close: () => inner.close(),
        run(program, input) {
          const r = inner.run(program, input);
          const packet = r.packet.slice();
          packet[5]! ^= 1;
          inner.map('counts').update(Uint8Array.from([0xe7, 3, 0, 0]), new Uint8Array(8));
          return { ...r, retval: r.retval + 1, packet, ctx: { ...r.ctx, mark: r.ctx.mark! + 1 }, events: [] };
        },
      };
      return o;
    },
  };
}

const tmp = mkdtempSync(join(tmpdir(), 'twinpath-run-'));
const obj = (rel: string) => join(ROOT, 'bpf/test', `${rel}.bpf.o`);
const TC = obj('kernel/tc_mark');
const XDP = obj('kernel/xdp_grow');
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const lines = (out: string) => out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);

const PACKETS = [
  build.tcp({ src: '10.0.0.1', dst: '10.0.0.2', sport: 40000, dport: 80 }),
  build.udp({ src: '10.0.0.1', dst: '10.0.0.3', sport: 5353, dport: 53, payload: 'query' }),
  build.icmpEcho({ src: 'fd00::1', dst: 'fd00::2' }),
];

async function writeCapture(name: string, bytes: Uint8Array): Promise<string> {
  const path = join(tmp, name);
  writeFileSync(path, bytes);
  return path;
}

const pcap = () => encodePcap(PACKETS.map((data, i) => ({ data, timestampNs: 1_000_000_000n * BigInt(i + 1) })), { linkType: LINKTYPE_ETHERNET });

describe('twinpath run: usage errors (no engine needed)', () => {
  it('needs exactly one of --pcap and --packet', async () => {
    expect((await cli('run', TC, '--engine', 'kernel')).err).toMatch(/\[USAGE\]/);
    const both = await cli('run', TC, '--engine', 'kernel', '--packet', '00', '--pcap', 'x.pcap');
    expect(both.status).toBe(2);
    expect(both.err).toMatch(/\[USAGE\]/);
  });

  it('refuses an object with several programs and no --program, listing them', async () => {
    const r = await cli('run', obj('elf/globals'), '--engine', 'kernel', '--packet', '00'.repeat(64));
    expect(r.status).toBe(2);
    expect(r.err).toContain('xdp_first, xdp_second, xdp_frags, tc_out, tc_legacy');
    expect(r.err).toMatch(/\[ELF_NO_PROGRAM\]\n$/);
    const named = await cli('run', obj('elf/globals'), '--program', 'nope', '--engine', 'kernel', '--packet', '00');
    expect(named.err).toMatch(/no program named "nope".*\[ELF_NO_PROGRAM\]/);
  });

  it('refuses an object without any xdp or tc program', async () => {
    const { minimalElf } = await import('../helpers/minimal-elf.js');
    const path = join(tmp, 'noprog.o');
    writeFileSync(path, minimalElf(Uint8Array.from([0xb7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0])));
    const r = await cli('run', path, '--engine', 'kernel', '--packet', '00'.repeat(64));
    expect(r.status).toBe(2);
    expect(r.err).toMatch(/no xdp or tc program.*\[ELF_NO_PROGRAM\]\n$/);
  });

  it('refuses bad hex, bad --ctx and bad --global', async () => {
    expect((await cli('run', TC, '--engine', 'kernel', '--packet', '0g')).err).toMatch(/\[HEX_BAD_INPUT\]\n$/);
    expect((await cli('run', TC, '--engine', 'kernel', '--packet', '000', '--json')).err).toMatch(/\[HEX_BAD_INPUT\]\n$/);
    expect((await cli('run', TC, '--engine', 'kernel', '--packet', '00', '--ctx', 'colour=1')).err).toMatch(/unknown field "colour".*\[USAGE\]/);
    expect((await cli('run', TC, '--engine', 'kernel', '--packet', '00', '--ctx', 'mark=0x1ffffffff')).err).toMatch(/32 bits.*\[USAGE\]/);
    expect((await cli('run', TC, '--engine', 'kernel', '--packet', '00', '--global', 'nope=1')).err).toMatch(/mark_base.*\[USAGE\]/);
    expect((await cli('run', TC, '--engine', 'kernel', '--packet', '00', '--global', 'first_byte=256')).err).toMatch(/fit 1 bytes.*\[USAGE\]/);
    expect((await cli('run', TC, '--engine', 'kernel', '--packet', '00', '--global', 'mark_base=aabb')).err).toMatch(/\[USAGE\]/);
  });
});

describe('twinpath run --engine vm|both', () => {
  it('runs in the VM with the same JSON shape', async () => {
    const r = await cli('run', XDP, '--engine', 'vm', '--packet', hex(PACKETS[0]!), '--json');
    expect(r.status).toBe(0);
    expect(lines(r.out)[0]).toMatchObject({ index: 0, engine: 'vm', retval: 2, action: 'XDP_PASS' });
  });

  describeKernel('both engines', () => {
    it('agrees with the kernel on the test objects and exits 0', async () => {
      const path = await writeCapture('both.pcap', await pcap());
      for (const o of [TC, XDP]) {
        const r = await cli('run', o, '--engine', 'both', '--pcap', path, '--json');
        expect(r.err).toBe('');
        expect(r.status).toBe(0);
        const out = lines(r.out);
        expect(out.map((l) => l.engine)).toEqual(['vm', 'kernel', 'vm', 'kernel', 'vm', 'kernel']);
        expect(out.filter((l) => l.engine === 'kernel').every((l) => Array.isArray(l.differences) && l.differences.length === 0)).toBe(true);
      }
    });

    it('honours --global in both engines', async () => {
      const r = await cli('run', TC, '--engine', 'both', '--packet', hex(PACKETS[0]!), '--global', 'verdict=2');
      expect(r.out).toMatch(/^packet 0: vm TC_ACT_SHOT \d+ bytes \| kernel TC_ACT_SHOT \d+ bytes \| same\n$/);
    });
  });
});

describeKernel('twinpath run --engine both, with a stand-in VM that differs', () => {
  async function withStandIn<T>(fn: () => Promise<T>): Promise<T> {
    standInVm = await tamperingEngine();
    try {
      return await fn();
    } finally {
      standInVm = undefined;
    }
  }

  it('reports every difference in text, one line per packet plus one per difference, and exits 1', async () => {
    const r = await withStandIn(() => cli('run', TC, '--engine', 'both', '--packet', hex(PACKETS[0]!)));
    expect(r.status).toBe(1);
    const [head, ...rest] = r.out.trimEnd().split('\n');
    const len = PACKETS[0]!.length;
    expect(head).toBe(`packet 0: vm TC_ACT_RECLASSIFY ${len} bytes | kernel TC_ACT_OK ${len} bytes | 5 differences: retval, data@5, ctx mark, map counts, events`);
    expect(rest).toEqual([
      '  retval: vm 1 (TC_ACT_RECLASSIFY), kernel 0 (TC_ACT_OK)',
      `  output packet differs at offset 5 (vm 0x${(PACKETS[0]![5]! ^ 1).toString(16).padStart(2, '0')}, kernel 0x${PACKETS[0]![5]!.toString(16).padStart(2, '0')}); lengths vm ${len}, kernel ${len}`,
      `  ctx mark: vm ${0x100 + len + 1}, kernel ${0x100 + len}`,
      '  map counts key e7030000: vm 0000000000000000, kernel (absent)',
      expect.stringMatching(/^ {2}event 0: vm \(none\), kernel ringbuf events [0-9a-f]{32}$/),
    ]);
  });

  it('puts the differences on the kernel line of --json output', async () => {
    const r = await withStandIn(() => cli('run', TC, '--engine', 'both', '--packet', hex(PACKETS[0]!), '--json'));
    expect(r.status).toBe(1);
    const [vm, kernel] = lines(r.out);
    expect(vm).toMatchObject({ index: 0, engine: 'vm', retval: 1, action: 'TC_ACT_RECLASSIFY' });
    expect(vm!.differences).toBeUndefined();
    const diffs = kernel!.differences as { kind: string; text: string }[];
    expect(diffs.map((d) => d.kind)).toEqual(['retval', 'data', 'ctx', 'map', 'event']);
    expect(diffs[0]).toMatchObject({ kind: 'retval', a: 1, b: 0, text: 'retval: vm 1 (TC_ACT_RECLASSIFY), kernel 0 (TC_ACT_OK)' });
  });
});

describeKernel('twinpath run --engine kernel', () => {
  it('prints one JSON object per packet with the contract fields, from a capture', async () => {
    const path = await writeCapture('three.pcap', await pcap());
    const r = await cli('run', TC, '--engine', 'kernel', '--pcap', path, '--json', '--ctx', 'priority=7', 'cb[2]=9');
    expect(r.err).toBe('');
    expect(r.status).toBe(0);
    const out = lines(r.out);
    expect(out).toHaveLength(3);
    out.forEach((l, i) => {
      const input = PACKETS[i]!;
      expect(Object.keys(l).slice(0, 5)).toEqual(['index', 'engine', 'retval', 'action', 'data']);
      expect(l).toMatchObject({ index: i, engine: 'kernel', retval: 0, action: 'TC_ACT_OK' });
      expect(l.data).toBe('aa' + hex(input.subarray(1)));
      expect(l.ctx).toMatchObject({ mark: 0x100 + input.length, priority: 7, 'cb[2]': 9, tstamp: '0' });
      const events = l.events as { kind: string; map: string; data: string }[];
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({ kind: 'ringbuf', map: 'events' });
      expect(Buffer.from(events[0]!.data, 'hex').readBigUInt64LE(8)).toBe(BigInt(i + 1)); // maps persist across packets
    });
  });

  it('prints one text line per packet', async () => {
    const r = await cli('run', XDP, '--engine', 'kernel', '--packet', hex(PACKETS[1]!), '--global', 'verdict=3');
    expect(r).toEqual({ status: 0, out: `packet 0: kernel XDP_TX ${PACKETS[1]!.length + 4} bytes\n`, err: '' });
  });

  it('names return codes, with --global set before load', async () => {
    const shot = await cli('run', TC, '--engine', 'kernel', '--packet', hex(PACKETS[0]!), '--global', 'verdict=2', '--json');
    expect(lines(shot.out)[0]).toMatchObject({ retval: 2, action: 'TC_ACT_SHOT' });
    const unspec = await cli('run', TC, '--engine', 'kernel', '--packet', hex(PACKETS[0]!), '--global', 'verdict=-1', '--json');
    expect(lines(unspec.out)[0]).toMatchObject({ retval: -1, action: 'TC_ACT_UNSPEC' });
    const odd = await cli('run', TC, '--engine', 'kernel', '--packet', hex(PACKETS[0]!), '--global', 'verdict=0x63', '--json');
    expect(lines(odd.out)[0]).toMatchObject({ retval: 99, action: 'UNKNOWN(99)' });
    const xdp = await cli('run', XDP, '--engine', 'kernel', '--packet', hex(PACKETS[0]!), '--global', 'tag=0x41424344', '--json');
    expect(lines(xdp.out)[0]).toMatchObject({ retval: 2, action: 'XDP_PASS', data: '41424344' + hex(PACKETS[0]!) });
  });

  it('skips packets of other link types with a message on stderr, keeping capture indexes', async () => {
    const records = [
      { data: PACKETS[0]!, timestampNs: 1n, linkType: LINKTYPE_ETHERNET },
      { data: Uint8Array.from([1, 2, 3, 4]), timestampNs: 2n, linkType: 105 }, // IEEE 802.11
      { data: PACKETS[1]!, timestampNs: 3n, linkType: LINKTYPE_ETHERNET },
      { data: Uint8Array.from([5, 6, 7, 8]), timestampNs: 4n, linkType: 105 },
    ];
    const path = await writeCapture('mixed.pcapng', await encodePcapng(records));
    const r = await cli('run', TC, '--engine', 'kernel', '--pcap', path, '--json');
    expect(r.status).toBe(0);
    expect(lines(r.out).map((l) => l.index)).toEqual([0, 2]);
    expect(r.err).toBe('skipped 2 packets of link type 105 (IEEE802_11)\n');
  });

  it('prints the packets before a damaged record, then fails with the file and offset', async () => {
    const whole = await pcap();
    const path = await writeCapture('cut.pcap', whole.subarray(0, whole.length - 10));
    const r = await cli('run', TC, '--engine', 'kernel', '--pcap', path, '--json');
    expect(r.status).toBe(2);
    expect(lines(r.out).map((l) => l.index)).toEqual([0, 1]);
    const third = 24 + 2 * 16 + PACKETS[0]!.length + PACKETS[1]!.length;
    expect(r.err).toContain(`cut.pcap: offset ${third} `);
    expect(r.err).toMatch(/\[PCAP_TRUNCATED\]\n$/);
  });

  it('fails on a missing capture with IO_ERROR', async () => {
    const r = await cli('run', TC, '--engine', 'kernel', '--pcap', join(tmp, 'absent.pcap'));
    expect(r.status).toBe(2);
    expect(r.err).toMatch(/\[IO_ERROR\]\n$/);
  });

  it('refuses a tc packet over 3712 bytes, naming the packet and program', async () => {
    const big = new Uint8Array(3713);
    big[12] = 0x08;
    const r = await cli('run', TC, '--engine', 'kernel', '--packet', hex(big));
    expect(r.status).toBe(2);
    expect(r.err).toMatch(/program "tc_mark".*packet 0 \(kernel\): a tc test run takes at most 3712 bytes.*\[KERNEL_PACKET_SIZE\]\n$/);
  });

  it('refuses ctx fields the kernel cannot set', async () => {
    const r = await cli('run', TC, '--engine', 'kernel', '--packet', hex(PACKETS[0]!), '--ctx', 'tc_index=1');
    expect(r.status).toBe(2);
    expect(r.err).toMatch(/cannot set tc_index.*\[USAGE\]\n$/);
  });

  it('reads a capture it did not have to hold in memory: a thousand packets stream through', async () => {
    const many = Array.from({ length: 1000 }, (_, i) => ({ data: PACKETS[i % 3]!, timestampNs: BigInt(i) }));
    const path = await writeCapture('many.pcap', await encodePcap(many, { linkType: LINKTYPE_ETHERNET }));
    const r = await cli('run', XDP, '--engine', 'kernel', '--pcap', path);
    expect(r.status).toBe(0);
    expect(r.out.trim().split('\n')).toHaveLength(1000);
    expect(readFileSync(path).length).toBeGreaterThan(1000 * 16);
  });
});

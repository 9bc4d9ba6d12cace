// `twinpath run --map-init FILE` and `--ignore`/`--mask`: the file's forms (numbers, hex, BTF
// fields, program and map references, queue pushes) written before the first packet, its errors
// with the file and the JSON path and nothing run, and the ignore specs against an object. The VM
// engine is enough here; test/progs/run-both.test.ts runs the committed files in both engines.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readObject, type ObjectSpec } from '../../src/elf/object.js';
import { vmEngine } from '../../src/engine/vm.js';
import { applyMapInit, parseMapInit } from '../../src/engine/map_init.js';
import { maskMaps, maskRun, parseIgnore } from '../../src/engine/ignore.js';
import { readFileSync } from 'node:fs';
import { ROOT } from '../helpers/paths.js';
import { cli } from '../helpers/cli.js';
import { thrown } from '../helpers/errors.js';

const progs = join(ROOT, 'bpf', 'test', 'progs');
const caps = join(ROOT, 'captures', 'test');
const tmp = mkdtempSync(join(tmpdir(), 'tp-mapinit-'));

function spec(name: string): { bytes: Uint8Array; spec: ObjectSpec } {
  const bytes = new Uint8Array(readFileSync(join(progs, name)));
  return { bytes, spec: readObject(bytes, name) };
}

describe('map-init files', () => {
  const ipcache = spec('ipcache.bpf.o');

  it('turns numbers, hex and BTF fields into the map\'s bytes', () => {
    const init = parseMapInit(JSON.stringify({
      ipcache_v4: [{ key: { prefixlen: 24, addr: '0a000100' }, value: 1001 }, { key: '200000000a000242', value: '9a020000' }],
      ipcache_v6: [{ key: { prefixlen: 64, addr: 'fd000000000000000000000000000000' }, value: '0x7d1' }],
    }), 'x.json', ipcache.spec);
    const hex = (b: unknown) => Buffer.from(b as Uint8Array).toString('hex');
    expect(init.entries.map((e) => [e.map, hex(e.key), hex(e.value)])).toEqual([
      ['ipcache_v4', '180000000a000100', 'e9030000'],
      ['ipcache_v4', '200000000a000242', '9a020000'],
      ['ipcache_v6', '40000000fd000000000000000000000000000000', 'd1070000'],
    ]);
  });

  it('names the file and the JSON path of what is wrong', () => {
    const cases: [unknown, string][] = [
      [{ nope: [] }, '$.nope'],
      [{ ipcache_v4: {} }, '$.ipcache_v4'],
      [{ ipcache_v4: [{ key: 1 }] }, '$.ipcache_v4[0]'],
      [{ ipcache_v4: [{ key: { prefixlen: 8, port: 1 }, value: 1 }] }, '$.ipcache_v4[0].key.port'],
      [{ ipcache_v4: [{ key: '0a', value: 1 }] }, '$.ipcache_v4[0].key'],
      [{ ipcache_v4: [{ key: { prefixlen: 8 }, value: 4294967296 }] }, '$.ipcache_v4[0].value'],
      [{ ipcache_v4: [{ key: { prefixlen: 8 }, value: 1, extra: 2 }] }, '$.ipcache_v4[0].extra'],
      [{ ipcache_v4: [{ key: { prefixlen: 8 }, value: 1.5 }] }, '$.ipcache_v4[0].value'],
    ];
    for (const [json, path] of cases) {
      const e = thrown(() => parseMapInit(JSON.stringify(json), 'bad.json', ipcache.spec));
      expect(e.code).toBe('MAP_INIT_BAD');
      expect(e.location).toEqual(expect.objectContaining({ file: 'bad.json', path }));
    }
    expect(thrown(() => parseMapInit('{', 'bad.json', ipcache.spec)).location.path).toBe('$');
  });

  it('fills prog arrays and maps of maps by name, and pushes into queues', () => {
    const tail = spec('tail.bpf.o');
    const init = parseMapInit(readFileSync(join(progs, 'tail.map-init.json'), 'utf8'), 'tail.map-init.json', tail.spec);
    const o = vmEngine.open(tail);
    applyMapInit(o, init);
    expect(o.map('jump_table').entries().length).toBe(2);
    expect(o.map('per_port').entries().length).toBe(1);
    o.close();
    const bad = thrown(() => parseMapInit(JSON.stringify({ jump_table: [{ key: 0, value: 1 }] }), 'x.json', tail.spec));
    expect(bad.location.path).toBe('$.jump_table[0].value');
    const q = parseMapInit(JSON.stringify({ seen_queue: [{ value: 7 }, { value: 8 }] }), 'q.json', ipcache.spec);
    const oi = vmEngine.open(ipcache);
    applyMapInit(oi, q);
    expect(oi.map('seen_queue').entries().map(([, v]) => v[0])).toEqual([7, 8]);
    oi.close();
  });

  it('reports an entry the engine refuses with its path', () => {
    const xr = spec('xdp_redirect.bpf.o');
    const init = parseMapInit(JSON.stringify({ tx_ports: [{ key: 1, value: 1 }, { key: 5, value: 1 }] }), 'r.json', xr.spec);
    const o = vmEngine.open(xr);
    const e = thrown(() => applyMapInit(o, init));
    o.close();
    expect(e.code).toBe('MAP_INIT_BAD');
    expect(e.location).toEqual(expect.objectContaining({ file: 'r.json', path: '$.tx_ports[1]' }));
    expect(e.message).toMatch(/E2BIG/);
  });
});

describe('ignore specs', () => {
  const clock = spec('clock.bpf.o');

  it('resolves globals to bytes of their section and refuses unknown names', () => {
    expect(parseIgnore('global:last_mono', clock.spec)).toEqual({ kind: 'map', map: '.bss', range: [8, 16] });
    expect(parseIgnore('map:samples:0:28', clock.spec)).toEqual({ kind: 'map', map: 'samples', range: [0, 28] });
    expect(parseIgnore('events:0:8', clock.spec)).toEqual({ kind: 'events', range: [0, 8] });
    expect(parseIgnore('ctx:hash', clock.spec)).toEqual({ kind: 'ctx', field: 'hash' });
    expect(parseIgnore('redirect', clock.spec)).toBeUndefined();
    for (const bad of ['global:nope', 'map:nope', 'map:samples:x:1', 'events:a:b:c:d', 'what', 'ctx:']) {
      expect(thrown(() => parseIgnore(bad, clock.spec)).code).toBe('USAGE');
    }
  });

  it('zeroes ignored bytes and drops ignored maps, events and fields in both runs alike', () => {
    const run = { retval: 2, packet: new Uint8Array([1]), ctx: { mark: 1, hash: 9 }, events: [{ kind: 'ringbuf' as const, map: 'rb', data: new Uint8Array([1, 2, 3]) }] };
    const rules = [parseIgnore('ctx:hash', clock.spec)!, { kind: 'events' as const, range: [0, 2] as [number, number] }];
    const m = maskRun(run, rules);
    expect(m.ctx).toEqual({ mark: 1 });
    expect([...m.events[0]!.data]).toEqual([0, 0, 3]);
    expect(run.ctx.hash).toBe(9); // the original is untouched
    const maps = [{ name: 'samples', type: 2, entries: () => [[new Uint8Array(4), new Uint8Array([5, 6, 7])] as [Uint8Array, Uint8Array]] }, { name: '.bss', type: 2, entries: () => [] }];
    const masked = maskMaps(maps, [{ kind: 'map', map: 'samples', range: [1, 2] }, { kind: 'map', map: '.bss' }]);
    expect(masked.map((x) => x.name)).toEqual(['samples']);
    expect([...masked[0]!.entries()[0]![1]]).toEqual([5, 0, 7]);
  });
});

describe('twinpath run --map-init and --ignore', () => {
  it('fills maps before the first packet (the VM redirects through the filled DEVMAP)', async () => {
    const r = await cli('run', join(progs, 'xdp_redirect.bpf.o'), '--program', 'xdp_redirect', '--pcap', join(caps, 'xdp_redirect.pcap'),
      '--map-init', join(progs, 'xdp_redirect.map-init.json'), '--json');
    expect(r.status).toBe(0);
    const lines = r.out.trim().split('\n').map((l) => JSON.parse(l) as { action: string; redirect?: unknown });
    expect(lines.map((l) => l.action)).toEqual(['XDP_PASS', 'XDP_REDIRECT', 'XDP_DROP']);
    expect(lines[1]!.redirect).toEqual({ flags: 0, map: 'tx_ports', key: 1, ifindex: 1 });
  });

  it('refuses a bad file before running anything, naming the file and path', async () => {
    const file = join(tmp, 'bad.json');
    writeFileSync(file, JSON.stringify({ tx_ports: [{ key: 'zz', value: 1 }] }));
    const r = await cli('run', join(progs, 'xdp_redirect.bpf.o'), '--program', 'xdp_redirect', '--pcap', join(caps, 'xdp_redirect.pcap'), '--map-init', file);
    expect(r.status).not.toBe(0);
    expect(r.out).toBe('');
    expect(r.err).toContain('bad.json');
    expect(r.err).toContain('$.tx_ports[0].key');
    expect(r.err).toContain('MAP_INIT_BAD');
  });

  it('refuses an --ignore that names nothing in the object', async () => {
    const r = await cli('run', join(progs, 'clock.bpf.o'), '--pcap', join(caps, 'clock.pcap'), '--ignore', 'global:nope');
    expect(r.status).not.toBe(0);
    expect(r.err).toMatch(/global:nope/);
  });
});

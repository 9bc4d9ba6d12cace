import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { findType, formatValue, typeSize } from '../../src/elf/btf.js';
import { BPF_MAP_TYPE_LRU_HASH, MAP_TYPES, mapTypeName } from '../../src/elf/map_types.js';
import { findProgram, programKind, readObject, setGlobal } from '../../src/elf/object.js';
import { specToJson } from '../../src/elf/spec_json.js';
import { caught, load, objectNames, OBJECT_DIR } from './helpers.js';

describe('object specs match their golden files', () => {
  for (const name of objectNames()) {
    it(name, () => {
      const spec = readObject(load(name), `${OBJECT_DIR}/${name}`);
      const golden = JSON.parse(readFileSync(`test/golden/elf/${name.replace(/\.o$/, '.json')}`, 'utf8'));
      // Round-trip through JSON so the comparison sees exactly what the golden file holds.
      expect(JSON.parse(JSON.stringify(specToJson(spec)))).toEqual(golden);
    });
  }

  it('is deterministic', () => {
    const a = JSON.stringify(specToJson(readObject(load('maps.bpf.o'))));
    const b = JSON.stringify(specToJson(readObject(load('maps.bpf.o'))));
    expect(a).toBe(b);
  });
});

describe('programs', () => {
  const spec = readObject(load('globals.bpf.o'), 'globals.bpf.o');

  it('classifies libbpf section names', () => {
    expect(programKind('xdp')).toEqual({ hook: 'xdp' });
    expect(programKind('xdp.frags')).toEqual({ hook: 'xdp', frags: true });
    expect(programKind('xdp/devmap')).toEqual({ hook: 'xdp' });
    expect(programKind('tc')).toEqual({ hook: 'tc' });
    expect(programKind('tc/ingress')).toEqual({ hook: 'tc', attach: 'ingress' });
    expect(programKind('tcx/egress')).toEqual({ hook: 'tc', attach: 'egress' });
    for (const s of ['classifier', 'sched_cls', 'action']) expect(programKind(s)).toEqual({ hook: 'tc' });
    expect(programKind('kprobe/x')).toBeUndefined();
    expect(programKind('tc/other')).toBeUndefined();
  });

  it('keeps several programs of one section apart and reports unsupported ones', () => {
    expect(spec.programs.map((p) => p.name)).toEqual(['xdp_first', 'xdp_second', 'xdp_frags', 'tc_out', 'tc_legacy']);
    expect(spec.unsupported).toEqual([expect.objectContaining({ name: 'probe_open', section: 'kprobe/do_sys_open' })]);
    expect(caught(() => readObject(load('globals.bpf.o'), 'g.o', { strictPrograms: true })))
      .toEqual({ code: 'ELF_BAD_SECTION', location: { file: 'g.o', program: 'probe_open', section: 'kprobe/do_sys_open', offset: 0 } });
  });

  it('appends subprograms and points calls at them', () => {
    const p = findProgram(spec, 'xdp_first');
    expect(p.functions.map((f) => f.name)).toEqual(['xdp_first', 'verdict', 'bump']);
    const dv = new DataView(p.instructions.buffer);
    // Every pseudo call lands on the first slot of a placed function.
    const starts = new Set(p.functions.map((f) => f.insn));
    let calls = 0;
    for (let i = 0; i < p.instructions.length / 8; i++) {
      if (p.instructions[i * 8] === 0x85 && p.instructions[i * 8 + 1]! >> 4 === 1) {
        calls++;
        expect(starts.has(i + 1 + dv.getInt32(i * 8 + 4, true))).toBe(true);
      }
    }
    expect(calls).toBe(2);
  });

  it('turns a callback address into a BPF_PSEUDO_FUNC ld_imm64', () => {
    const p = findProgram(spec, 'xdp_second');
    const step = p.functions.find((f) => f.name === 'step')!;
    const i = [...Array(p.instructions.length / 8).keys()].find((k) => p.instructions[k * 8] === 0x18 && p.instructions[k * 8 + 1]! >> 4 === 4)!;
    expect(i + 1 + new DataView(p.instructions.buffer).getInt32(i * 8 + 4, true)).toBe(step.insn);
  });

  it('finds programs by name or section, or fails with ELF_NO_PROGRAM', () => {
    expect(findProgram(spec, 'tcx/egress').name).toBe('tc_out');
    expect(caught(() => findProgram(spec)).code).toBe('ELF_NO_PROGRAM');
    expect(caught(() => findProgram(spec, 'nope')).code).toBe('ELF_NO_PROGRAM');
  });

  it('carries line info with the source text', () => {
    const p = findProgram(readObject(load('maps.bpf.o')), 'xdp_count');
    const at = p.lineInfo.find((l) => l.source.includes('bpf_map_lookup_elem(&flows'));
    expect(at).toMatchObject({ file: './bpf/test/elf/maps.bpf.c', line: 98 });
    expect(p.references.find((r) => r.map === 'flows')!.insn).toBe(at!.insn);
  });
});

describe('maps and globals', () => {
  it('reads BTF-defined maps, pinning and map-in-map', () => {
    const spec = readObject(load('maps.bpf.o'));
    const flows = spec.maps.find((m) => m.name === 'flows')!;
    expect(flows).toMatchObject({ type: BPF_MAP_TYPE_LRU_HASH, typeName: 'BPF_MAP_TYPE_LRU_HASH', keySize: 16, valueSize: 24, maxEntries: 1024, pinning: 1 });
    const outer = spec.maps.find((m) => m.name === 'outer')!;
    expect(outer.inner).toMatchObject({ typeName: 'BPF_MAP_TYPE_ARRAY', keySize: 4, valueSize: 4, maxEntries: 8 });
    expect(outer.initial).toEqual([{ index: 0, name: 'inner_a' }, { index: 2, name: 'inner_b' }]);
    expect(spec.maps.find((m) => m.name === 'ipcache')!.flags).toBe(1);
  });

  it('names map types as the kernel does', () => {
    expect(MAP_TYPES[9]!.name).toBe('BPF_MAP_TYPE_LRU_HASH');
    expect(mapTypeName(27)).toBe('BPF_MAP_TYPE_RINGBUF');
    expect(MAP_TYPES.map((t) => t.id)).toEqual([...MAP_TYPES.keys()]);
  });

  it('sets a const volatile global by name', () => {
    const spec = readObject(load('globals.bpf.o'), 'g.o');
    const ro = spec.maps.find((m) => m.name === '.rodata')!;
    expect(ro.data!.readOnly).toBe(true);
    setGlobal(spec, 'cfg_mode', Uint8Array.of(2, 0, 0, 0));
    expect([...ro.data!.contents.subarray(0, 4)]).toEqual([2, 0, 0, 0]);
    expect(caught(() => setGlobal(spec, 'cfg_mode', Uint8Array.of(1))).location).toEqual({ file: 'g.o', section: '.rodata', offset: 0 });
    expect(caught(() => setGlobal(spec, 'nope', Uint8Array.of(1))).code).toBe('USAGE');
    // The object's bytes are untouched: specs own their contents.
    expect(readObject(load('globals.bpf.o')).maps.find((m) => m.name === '.rodata')!.data!.contents[0]).toBe(1);
  });

  it('formats values by their BTF types', () => {
    const spec = readObject(load('globals.bpf.o'));
    const btf = spec.btf!;
    const ro = spec.maps.find((m) => m.name === '.rodata')!;
    expect(formatValue(btf, ro.valueTypeId, ro.data!.contents))
      .toBe('{ .cfg_mode = 1, .cfg_mac = [2, 0, 0, 0, 0, 1], .greeting = "hello", .tc_out.____fmt = "%s %d" }');
    const data = spec.maps.find((m) => m.name === '.data')!;
    expect(formatValue(btf, data.valueTypeId, data.data!.contents)).toBe('{ .packets = 0x7 }');

    const maps = readObject(load('maps.bpf.o'));
    const flows = maps.maps.find((m) => m.name === 'flows')!;
    const key = new Uint8Array(16);
    key.set([10, 0, 0, 1, 10, 0, 0, 2, 0x1f, 0x90, 0, 0x50, 6]);
    expect(formatValue(maps.btf!, flows.keyTypeId, key))
      .toBe('{ .saddr = 16777226, .daddr = 33554442, .sport = 36895, .dport = 20480, .proto = 6, .pad = [0, 0, 0] }');
    const val = new Uint8Array(24);
    val.set([3], 0); val.set([0xff, 0xff, 0xff, 0xff], 16); val.set([0x6f, 0x6b], 20);
    expect(formatValue(maps.btf!, flows.valueTypeId, val))
      .toBe('{ .packets = 0x3, .bytes = 0x0, .last_verdict = -1, .tag = "ok" }');
    expect(typeSize(maps.btf!, findType(maps.btf!, 'struct', 'flow_key')!.id)).toBe(16);
    expect(caught(() => formatValue(maps.btf!, flows.keyTypeId, new Uint8Array(3))).code).toBe('BTF_BAD');
  });
});

// The coverage table in bpf/test/progs/README.md is true: for every object it lists, the map
// types and helpers in the table are exactly those in the object (helpers found as `call`
// instructions with src 0 in its programs, map types in its BTF-defined maps), and together the
// objects use every map type and helper issue 3 requires. Needs no kernel.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeInsns } from '../../src/asm/insn.js';
import { readObject } from '../../src/elf/object.js';
import { progsDir } from './expected.js';

/** UAPI helper ids (enum bpf_func_id) of the helpers issue 3 requires. */
const HELPERS: Record<string, number> = {
  map_lookup_elem: 1, map_update_elem: 2, map_delete_elem: 3, ktime_get_ns: 5, trace_printk: 6,
  get_prandom_u32: 7, get_smp_processor_id: 8, skb_store_bytes: 9, l3_csum_replace: 10,
  l4_csum_replace: 11, tail_call: 12, skb_vlan_push: 18, skb_vlan_pop: 19, redirect: 23,
  perf_event_output: 25, skb_load_bytes: 26, csum_diff: 28, get_hash_recalc: 34,
  skb_change_tail: 38, skb_pull_data: 39, csum_update: 40, skb_change_head: 43,
  xdp_adjust_head: 44, skb_adjust_room: 50, redirect_map: 51, xdp_adjust_meta: 54,
  xdp_adjust_tail: 65, map_push_elem: 87, map_pop_elem: 88, map_peek_elem: 89, jiffies64: 118,
  ktime_get_boot_ns: 125, ringbuf_output: 130, ringbuf_reserve: 131, ringbuf_submit: 132,
  ringbuf_discard: 133, ringbuf_query: 134, for_each_map_elem: 164, loop: 181,
};

/** The map types issue 3 requires, by their BPF_MAP_TYPE_ suffix. */
const MAP_TYPES = [
  'HASH', 'ARRAY', 'PERCPU_HASH', 'PERCPU_ARRAY', 'LRU_HASH', 'LRU_PERCPU_HASH', 'LPM_TRIE',
  'PROG_ARRAY', 'RINGBUF', 'PERF_EVENT_ARRAY', 'ARRAY_OF_MAPS', 'HASH_OF_MAPS', 'QUEUE', 'STACK',
  'DEVMAP', 'DEVMAP_HASH', 'CPUMAP', 'XSKMAP',
];

const BPF_JMP_CALL = 0x85;
const helperName = new Map(Object.entries(HELPERS).map(([n, id]) => [id, n]));

interface Row {
  object: string;
  maps: string[];
  helpers: string[];
}

/** Rows of the table whose first cell is an object: `| name.bpf.o | hook | MAPS | helpers |`. */
function readTable(): Row[] {
  const text = readFileSync(join(progsDir, 'README.md'), 'utf8');
  const rows: Row[] = [];
  for (const line of text.split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    if (cells.length < 5 || !/^`?[\w-]+\.bpf\.o`?$/.test(cells[1]!)) continue;
    const list = (c: string): string[] => (c === '—' || c === '' ? [] : c.split(',').map((x) => x.trim().replace(/`/g, '')));
    rows.push({ object: cells[1]!.replace(/`/g, ''), maps: list(cells[3]!), helpers: list(cells[4]!) });
  }
  return rows;
}

function objectUses(file: string): { maps: Set<string>; helpers: Set<string>; unknown: number[] } {
  const spec = readObject(new Uint8Array(readFileSync(join(progsDir, file))), file);
  const maps = new Set(spec.maps.filter((m) => m.data === undefined).map((m) => m.typeName.replace(/^BPF_MAP_TYPE_/, '')));
  const helpers = new Set<string>();
  const unknown: number[] = [];
  for (const p of spec.programs) {
    for (const insn of decodeInsns(p.instructions)) {
      if (insn.opcode !== BPF_JMP_CALL || insn.src !== 0) continue;
      const name = helperName.get(insn.imm);
      if (name) helpers.add(name);
      else unknown.push(insn.imm);
    }
  }
  return { maps, helpers, unknown };
}

describe('bpf/test/progs/README.md coverage table', () => {
  const rows = readTable();

  it('lists every object in the folder', () => {
    const objects = readdirObjects();
    expect(rows.map((r) => r.object).sort()).toEqual(objects);
  });

  for (const row of rows) {
    it(`${row.object}: the table names exactly its map types and helpers`, () => {
      const uses = objectUses(row.object);
      expect(uses.unknown, 'helpers outside the required list').toEqual([]);
      expect([...uses.maps].sort()).toEqual([...row.maps].sort());
      expect([...uses.helpers].sort()).toEqual([...row.helpers].sort());
    });
  }

  it('covers every required map type and helper', () => {
    const maps = new Set(rows.flatMap((r) => [...objectUses(r.object).maps]));
    const helpers = new Set(rows.flatMap((r) => [...objectUses(r.object).helpers]));
    expect(MAP_TYPES.filter((t) => !maps.has(t))).toEqual([]);
    expect(Object.keys(HELPERS).filter((h) => !helpers.has(h))).toEqual([]);
  });
});

function readdirObjects(): string[] {
  // Variants (NAME.clang-NN-vN.bpf.o) are the same source; the table lists each source once.
  return readdirSyncSorted(progsDir).filter((f) => f.endsWith('.bpf.o') && !/\.clang-\d+-v\d\.bpf\.o$/.test(f));
}

function readdirSyncSorted(dir: string): string[] {
  return readdirSync(dir).sort();
}

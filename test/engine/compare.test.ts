// compareRuns on hand-made outputs: each kind of difference is found, equal runs give none, and
// what one engine cannot observe (ctx fields only one side reports, trace lines, fd-valued map
// values) is left out. describeDifference and summarizeDifferences word them.

import { describe, expect, it } from 'vitest';
import { compareRuns, describeDifference, summarizeDifferences, type MapLike } from '../../src/engine/compare.js';
import type { RunOutput } from '../../src/engine/engine.js';

const bytes = (...b: number[]) => Uint8Array.from(b);

function run(over: Partial<RunOutput> = {}): RunOutput {
  return {
    retval: 2,
    packet: bytes(1, 2, 3, 4),
    ctx: { mark: 5, 'cb[0]': 0 },
    ctx64: { tstamp: 1n },
    events: [{ kind: 'ringbuf', map: 'events', data: bytes(9, 9) }],
    ...over,
  };
}

function map(name: string, entries: Array<[number[], number[]]>, type = 1): MapLike {
  return { name, type, entries: () => entries.map(([k, v]) => [Uint8Array.from(k), Uint8Array.from(v)]) };
}

describe('compareRuns', () => {
  it('finds nothing in equal runs with equal maps', () => {
    const maps = [map('counts', [[[1, 0, 0, 0], [7, 0]], [[2, 0, 0, 0], [8, 0]]])];
    // entries in another order are the same contents
    const other = [map('counts', [[[2, 0, 0, 0], [8, 0]], [[1, 0, 0, 0], [7, 0]]])];
    expect(compareRuns(run(), run(), maps, other)).toEqual([]);
  });

  it('reports the return code', () => {
    expect(compareRuns(run(), run({ retval: 1 }))).toEqual([{ kind: 'retval', a: 2, b: 1 }]);
    // the low 32 bits are what the hook sees
    expect(compareRuns(run({ retval: -1 }), run({ retval: 0xffffffff }))).toEqual([]);
  });

  it('reports output bytes with the first differing offset', () => {
    expect(compareRuns(run(), run({ packet: bytes(1, 2, 9, 4) }))).toEqual([
      { kind: 'data', offset: 2, lengthA: 4, lengthB: 4, byteA: 3, byteB: 9 },
    ]);
    expect(compareRuns(run(), run({ packet: bytes(1, 2, 3, 4, 5) }))).toEqual([
      { kind: 'data', offset: 4, lengthA: 4, lengthB: 5, byteB: 5 },
    ]);
  });

  it('reports ctx fields both sides report, 64-bit ones exactly', () => {
    const b = run({ ctx: { mark: 6, 'cb[0]': 0, tc_index: 3 }, ctx64: { tstamp: 2n } });
    expect(compareRuns(run(), b)).toEqual([
      { kind: 'ctx', field: 'mark', a: 5, b: 6 },
      { kind: 'ctx', field: 'tstamp', a: 1n, b: 2n },
    ]);
  });

  it('reports map entries that differ, are missing on one side, and maps only one side has', () => {
    const a = [map('counts', [[[1, 0, 0, 0], [7, 0]], [[2, 0, 0, 0], [8, 0]]]), map('only_a', [])];
    const b = [map('counts', [[[1, 0, 0, 0], [7, 1]], [[3, 0, 0, 0], [1, 0]]]), map('only_b', [])];
    expect(compareRuns(run(), run(), a, b)).toEqual([
      { kind: 'map', map: 'counts', key: '01000000', a: '0700', b: '0701' },
      { kind: 'map', map: 'counts', key: '02000000', a: '0800' },
      { kind: 'map', map: 'counts', key: '03000000', b: '0100' },
      { kind: 'map-missing', map: 'only_a', only: 'a' },
      { kind: 'map-missing', map: 'only_b', only: 'b' },
    ]);
  });

  it('compares queues by position and prog arrays by filled slots only', () => {
    const qa = map('fifo', [[[], [1]], [[], [2]]], 22);
    const qb = map('fifo', [[[], [1]]], 22);
    expect(compareRuns(run(), run(), [qa], [qb])).toEqual([{ kind: 'map', map: 'fifo', key: '#1', a: '02' }]);
    const pa = map('jumps', [[[0, 0, 0, 0], [17, 0, 0, 0]]], 3);
    const pb = map('jumps', [[[0, 0, 0, 0], [99, 0, 0, 0]]], 3);
    expect(compareRuns(run(), run(), [pa], [pb])).toEqual([]);
    const pc = map('jumps', [[[1, 0, 0, 0], [99, 0, 0, 0]]], 3);
    expect(compareRuns(run(), run(), [pa], [pc])).toHaveLength(2);
  });

  it('reports events that differ or are missing, and ignores trace lines by default', () => {
    const b = run({
      events: [
        { kind: 'trace', data: bytes(0x41) },
        { kind: 'ringbuf', map: 'events', data: bytes(9, 8) },
        { kind: 'ringbuf', map: 'events', data: bytes(1) },
      ],
    });
    const diffs = compareRuns(run(), b);
    expect(diffs).toEqual([
      { kind: 'event', index: 0, a: run().events[0], b: b.events[1] },
      { kind: 'event', index: 1, b: b.events[2] },
    ]);
    expect(compareRuns(run(), b, [], [], { ignoreEventKinds: [] })).toHaveLength(3);
  });

  it('reports every kind at once, and words each one', () => {
    const b = run({ retval: 1, packet: bytes(1), ctx: { mark: 1 }, events: [] });
    const diffs = compareRuns(run(), b, [map('m', [[[1], [1]]])], [map('m', [])]);
    expect(diffs.map((d) => d.kind)).toEqual(['retval', 'data', 'ctx', 'map', 'event']);
    const text = diffs.map((d) => describeDifference(d, ['vm', 'kernel'], (n) => `${n}!`));
    expect(text).toEqual([
      'retval: vm 2!, kernel 1!',
      'output packet differs at offset 1 (vm 0x02, kernel end); lengths vm 4, kernel 1',
      'ctx mark: vm 5, kernel 1',
      'map m key 01: vm 01, kernel (absent)',
      'event 0: vm ringbuf events 0909, kernel (none)',
    ]);
    expect(summarizeDifferences(diffs)).toBe('retval, data@1, ctx mark, map m, events');
    expect(describeDifference({ kind: 'map-missing', map: 'x', only: 'b' }, ['vm', 'kernel'])).toBe('map x: only in kernel');
  });
});

// Comparing two runs of the same program on the same packet: what `twinpath run --engine both`
// reports. Owns the list of differences (return code, output bytes, context fields, map contents
// after the run, events) and their wording; which engine is "a" and which "b" is the caller's.
//
// What is deliberately not compared, because one engine cannot observe it:
// - context fields only one side reports (the kernel never reports tc_index or tc_classid);
// - trace_printk lines and perf events (the kernel engine does not see them), unless asked;
// - values of maps that hold file descriptors or ids (prog arrays, map-in-map, sockmaps, xskmaps):
//   only which slots are filled, since ids are per-process and per-engine.
// - the redirect target (RunOutput.redirect): a kernel test run reports only the verdict.
// What a caller asks to leave out (`--ignore`) is taken out before, by src/engine/ignore.ts.

import type { RunEvent, RunOutput } from './engine.js';

/** What compareRuns needs of a map: an EngineMap, or a snapshot made by hand. */
export interface MapLike {
  readonly name: string;
  readonly type: number;
  entries(): Array<[Uint8Array, Uint8Array]>;
}

export type Difference =
  | { kind: 'retval'; a: number; b: number }
  /** `offset` is the first byte that differs, or the shorter length when one is a prefix. */
  | { kind: 'data'; offset: number; lengthA: number; lengthB: number; byteA?: number; byteB?: number }
  | { kind: 'ctx'; field: string; a: number | bigint; b: number | bigint }
  /** A key (hex; `#n` for the n-th element of a queue or stack) whose value differs; absent = undefined. */
  | { kind: 'map'; map: string; key: string; a?: string; b?: string }
  | { kind: 'map-missing'; map: string; only: 'a' | 'b' }
  /** The index-th compared event; absent = undefined. */
  | { kind: 'event'; index: number; a?: RunEvent; b?: RunEvent };

export interface CompareOptions {
  /** Event kinds left out of the comparison; default trace and perf (see the header). */
  ignoreEventKinds?: RunEvent['kind'][];
}

/** Maps whose values are fds or ids: PROG_ARRAY, ARRAY_OF_MAPS, HASH_OF_MAPS, SOCKMAP, XSKMAP, SOCKHASH. */
const ID_VALUED = new Set([3, 12, 13, 15, 17, 18]);

export function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/** Every difference between two runs and the maps of their engines after the runs. */
export function compareRuns(
  a: RunOutput,
  b: RunOutput,
  mapsA: Iterable<MapLike> = [],
  mapsB: Iterable<MapLike> = [],
  opts: CompareOptions = {},
): Difference[] {
  const out: Difference[] = [];
  if (a.retval >>> 0 !== b.retval >>> 0) out.push({ kind: 'retval', a: a.retval >>> 0, b: b.retval >>> 0 });
  const d = firstDifference(a.packet, b.packet);
  if (d !== undefined) {
    const diff: Difference = { kind: 'data', offset: d, lengthA: a.packet.length, lengthB: b.packet.length };
    if (d < a.packet.length) diff.byteA = a.packet[d]!;
    if (d < b.packet.length) diff.byteB = b.packet[d]!;
    out.push(diff);
  }
  compareFields(a.ctx, b.ctx, out);
  compareFields(a.ctx64 ?? {}, b.ctx64 ?? {}, out);
  compareMaps(mapsA, mapsB, out);
  compareEvents(a.events, b.events, opts.ignoreEventKinds ?? ['trace', 'perf'], out);
  return out;
}

function firstDifference(a: Uint8Array, b: Uint8Array): number | undefined {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? undefined : n;
}

function compareFields(a: Record<string, number | bigint>, b: Record<string, number | bigint>, out: Difference[]): void {
  for (const field of Object.keys(a).sort()) {
    if (!(field in b)) continue;
    if (a[field] !== b[field]) out.push({ kind: 'ctx', field, a: a[field]!, b: b[field]! });
  }
}

/** A map's contents keyed by key hex; keyless maps (queue, stack) by position. */
function contents(m: MapLike): Map<string, string> {
  const idOnly = ID_VALUED.has(m.type);
  const r = new Map<string, string>();
  m.entries().forEach(([k, v], i) => r.set(k.length === 0 ? `#${i}` : hex(k), idOnly ? '(filled)' : hex(v)));
  return r;
}

function compareMaps(mapsA: Iterable<MapLike>, mapsB: Iterable<MapLike>, out: Difference[]): void {
  const byName = (ms: Iterable<MapLike>) => new Map([...ms].map((m) => [m.name, m] as const));
  const A = byName(mapsA);
  const B = byName(mapsB);
  for (const [name, ma] of A) {
    const mb = B.get(name);
    if (!mb) {
      out.push({ kind: 'map-missing', map: name, only: 'a' });
      continue;
    }
    const ca = contents(ma);
    const cb = contents(mb);
    const keys = [...new Set([...ca.keys(), ...cb.keys()])].sort();
    for (const key of keys) {
      const va = ca.get(key);
      const vb = cb.get(key);
      if (va === vb) continue;
      const diff: Difference = { kind: 'map', map: name, key };
      if (va !== undefined) diff.a = va;
      if (vb !== undefined) diff.b = vb;
      out.push(diff);
    }
  }
  for (const name of B.keys()) if (!A.has(name)) out.push({ kind: 'map-missing', map: name, only: 'b' });
}

function compareEvents(a: RunEvent[], b: RunEvent[], ignore: RunEvent['kind'][], out: Difference[]): void {
  const fa = a.filter((e) => !ignore.includes(e.kind));
  const fb = b.filter((e) => !ignore.includes(e.kind));
  for (let i = 0; i < Math.max(fa.length, fb.length); i++) {
    const ea = fa[i];
    const eb = fb[i];
    if (ea && eb && ea.kind === eb.kind && ea.map === eb.map && hex(ea.data) === hex(eb.data)) continue;
    const diff: Difference = { kind: 'event', index: i };
    if (ea) diff.a = ea;
    if (eb) diff.b = eb;
    out.push(diff);
  }
}

function eventText(e: RunEvent | undefined): string {
  if (!e) return '(none)';
  return `${e.kind}${e.map !== undefined ? ` ${e.map}` : ''} ${hex(e.data) || '(empty)'}`;
}

/** One line for a person: `retval: vm 2 (XDP_PASS), kernel 1 (XDP_DROP)`. */
export function describeDifference(d: Difference, labels: [string, string], retval: (n: number) => string = String): string {
  const [la, lb] = labels;
  switch (d.kind) {
    case 'retval':
      return `retval: ${la} ${retval(d.a)}, ${lb} ${retval(d.b)}`;
    case 'data': {
      const bytes = (x: number | undefined) => (x === undefined ? 'end' : `0x${x.toString(16).padStart(2, '0')}`);
      return `output packet differs at offset ${d.offset} (${la} ${bytes(d.byteA)}, ${lb} ${bytes(d.byteB)}); ` +
        `lengths ${la} ${d.lengthA}, ${lb} ${d.lengthB}`;
    }
    case 'ctx':
      return `ctx ${d.field}: ${la} ${d.a}, ${lb} ${d.b}`;
    case 'map':
      return `map ${d.map} key ${d.key}: ${la} ${d.a ?? '(absent)'}, ${lb} ${d.b ?? '(absent)'}`;
    case 'map-missing':
      return `map ${d.map}: only in ${d.only === 'a' ? la : lb}`;
    case 'event':
      return `event ${d.index}: ${la} ${eventText(d.a)}, ${lb} ${eventText(d.b)}`;
  }
}

/** A few words per kind for a one-line summary: `retval, data@14, ctx mark, map counts`. */
export function summarizeDifferences(diffs: Difference[]): string {
  const parts: string[] = [];
  const add = (s: string) => {
    if (!parts.includes(s)) parts.push(s);
  };
  for (const d of diffs) {
    if (d.kind === 'retval') add('retval');
    else if (d.kind === 'data') add(`data@${d.offset}`);
    else if (d.kind === 'ctx') add(`ctx ${d.field}`);
    else if (d.kind === 'map' || d.kind === 'map-missing') add(`map ${d.map}`);
    else add('events');
  }
  return parts.join(', ');
}

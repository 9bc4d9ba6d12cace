// What `twinpath run --engine both` leaves out of the comparison (`--ignore SPEC`, `--mask SPEC`):
// values that legitimately differ between engines (a clock, a kernel's per-boot hash seed, how
// full a ring buffer was when it was read). Owns the spec syntax and applying the rules to runs
// and maps before compareRuns looks at them; a rule hides only what it names.
//
//   retval | data                   the return code, the output packet
//   ctx:FIELD                       a context field (ctx:hash, ctx:tstamp)
//   map:NAME                        a whole map
//   map:NAME:OFF:LEN                bytes [OFF, OFF+LEN) of every value of the map
//   global:NAME                     a global variable (the bytes it has in its data section)
//   events | events:MAP             every event (of that map)
//   events:OFF:LEN | events:MAP:OFF:LEN   bytes [OFF, OFF+LEN) of every event (of that map)
//   redirect                        the redirect target (only the VM reports one; never compared)

import { TwinpathError } from '../errors.js';
import type { ObjectSpec } from '../elf/object.js';
import type { RunEvent, RunOutput } from './engine.js';
import type { MapLike } from './compare.js';

export type IgnoreRule =
  | { kind: 'retval' }
  | { kind: 'data' }
  | { kind: 'ctx'; field: string }
  | { kind: 'map'; map: string; range?: [number, number] }
  | { kind: 'events'; map?: string; range?: [number, number] };

const NUM = /^(0x[0-9a-f]+|\d+)$/i;

/** Parses one spec against the object (map and global names must exist). */
export function parseIgnore(text: string, spec: ObjectSpec): IgnoreRule | undefined {
  const bad = (why: string): never => {
    throw new TwinpathError('USAGE', `--ignore ${text}: ${why}`);
  };
  const parts = text.trim().split(':');
  const [what, ...rest] = parts;
  const range = (off: string, len: string): [number, number] => {
    if (!NUM.test(off) || !NUM.test(len)) bad('OFF and LEN are numbers');
    const o = Number(off);
    const l = Number(len);
    if (l <= 0) bad('LEN must be positive');
    return [o, o + l];
  };
  const mapNamed = (name: string) => {
    if (!spec.maps.some((m) => m.name === name)) bad(`no map "${name}" (maps: ${spec.maps.map((m) => m.name).join(', ') || 'none'})`);
    return name;
  };
  switch (what) {
    case 'retval':
    case 'data':
      if (rest.length) bad(`${what} takes no arguments`);
      return { kind: what };
    case 'redirect':
      if (rest.length) bad('redirect takes no arguments');
      return undefined; // never compared: the kernel test run cannot report it
    case 'ctx':
      if (rest.length !== 1 || !rest[0]) bad('ctx:FIELD');
      return { kind: 'ctx', field: rest[0]! };
    case 'map':
      if (rest.length === 1) return { kind: 'map', map: mapNamed(rest[0]!) };
      if (rest.length === 3) return { kind: 'map', map: mapNamed(rest[0]!), range: range(rest[1]!, rest[2]!) };
      return bad('map:NAME or map:NAME:OFF:LEN');
    case 'global': {
      if (rest.length !== 1) bad('global:NAME');
      for (const m of spec.maps) {
        const v = m.data?.variables.find((x) => x.name === rest[0]);
        if (v) return { kind: 'map', map: m.name, range: [v.offset, v.offset + v.size] };
      }
      const known = spec.maps.flatMap((m) => m.data?.variables.map((x) => x.name) ?? []);
      return bad(`no global variable "${rest[0]}" (${known.join(', ') || 'the object has none'})`);
    }
    case 'events':
      if (rest.length === 0) return { kind: 'events' };
      if (rest.length === 1) return { kind: 'events', map: mapNamed(rest[0]!) };
      if (rest.length === 2) return { kind: 'events', range: range(rest[0]!, rest[1]!) };
      if (rest.length === 3) return { kind: 'events', map: mapNamed(rest[0]!), range: range(rest[1]!, rest[2]!) };
      return bad('events, events:MAP, events:OFF:LEN or events:MAP:OFF:LEN');
    default:
      return bad('expected retval, data, ctx:FIELD, map:NAME[:OFF:LEN], global:NAME, events[:MAP][:OFF:LEN] or redirect');
  }
}

function zero(b: Uint8Array, ranges: [number, number][]): Uint8Array {
  if (!ranges.length) return b;
  const c = b.slice();
  for (const [from, to] of ranges) c.fill(0, Math.min(from, c.length), Math.min(to, c.length));
  return c;
}

/** A run with the ignored parts removed or zeroed (the same for both engines). */
export function maskRun(r: RunOutput, rules: readonly IgnoreRule[]): RunOutput {
  if (!rules.length) return r;
  const out: RunOutput = { ...r, ctx: { ...r.ctx }, ...(r.ctx64 ? { ctx64: { ...r.ctx64 } } : {}) };
  for (const rule of rules) {
    if (rule.kind === 'retval') out.retval = 0;
    else if (rule.kind === 'data') out.packet = new Uint8Array(0);
    else if (rule.kind === 'ctx') {
      delete out.ctx[rule.field];
      if (out.ctx64) delete out.ctx64[rule.field];
    }
  }
  const eventRules = rules.filter((x): x is Extract<IgnoreRule, { kind: 'events' }> => x.kind === 'events');
  if (eventRules.length) {
    const events: RunEvent[] = [];
    for (const e of r.events) {
      const mine = eventRules.filter((x) => x.map === undefined || x.map === e.map);
      if (mine.some((x) => !x.range)) continue;
      events.push({ ...e, data: zero(e.data, mine.map((x) => x.range!)) });
    }
    out.events = events;
  }
  return out;
}

/** Maps with ignored maps left out and ignored value bytes zeroed. */
export function maskMaps(maps: Iterable<MapLike>, rules: readonly IgnoreRule[]): MapLike[] {
  const mapRules = rules.filter((x): x is Extract<IgnoreRule, { kind: 'map' }> => x.kind === 'map');
  const out: MapLike[] = [];
  for (const m of maps) {
    const mine = mapRules.filter((x) => x.map === m.name);
    if (mine.some((x) => !x.range)) continue;
    if (!mine.length) {
      out.push(m);
      continue;
    }
    const ranges = mine.map((x) => x.range!);
    out.push({ name: m.name, type: m.type, entries: () => m.entries().map(([k, v]) => [k, zero(v, ranges)] as [Uint8Array, Uint8Array]) });
  }
  return out;
}

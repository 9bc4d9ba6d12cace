// Cross-checks the BTF reader and the map specs against bpftool's own reading of the same
// objects (`bpftool btf dump file X`), where bpftool is installed.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { readObject } from '../../src/elf/object.js';
import { load, objectNames, OBJECT_DIR } from './helpers.js';

function findBpftool(): string | undefined {
  for (const cand of ['bpftool', '/usr/sbin/bpftool', '/sbin/bpftool']) {
    try {
      execFileSync(cand, ['version'], { stdio: 'pipe' });
      return cand;
    } catch {
      // try the next place
    }
  }
  return undefined;
}

const bpftool = findBpftool();

interface Raw { id: number; kind: string; name: string; attrs: Record<string, string>; members: Record<string, number> }

/** bpftool's plain-text dump: `[id] KIND 'name' k=v ...`, members indented as `'name' type_id=N`. */
function dump(file: string): Map<number, Raw> {
  const out = new Map<number, Raw>();
  let cur: Raw | undefined;
  for (const line of execFileSync(bpftool!, ['btf', 'dump', 'file', file], { encoding: 'utf8' }).split('\n')) {
    const head = /^\[(\d+)\] (\w+) '([^']*)'(.*)$/.exec(line);
    if (head) {
      const attrs: Record<string, string> = {};
      for (const m of head[4]!.matchAll(/(\w+)=(\S+?),?(?=\s|$)/g)) attrs[m[1]!] = m[2]!;
      cur = { id: Number(head[1]), kind: head[2]!, name: head[3]!, attrs, members: {} };
      out.set(cur.id, cur);
      continue;
    }
    const mem = /^\s+'([^']*)' type_id=(\d+)/.exec(line);
    if (mem && cur) cur.members[mem[1]!] = Number(mem[2]);
  }
  return out;
}

describe('bpftool cross-check', () => {
  if (!bpftool) {
    it.skip('skipped: the bpftool binary is not installed', () => {});
    return;
  }
  for (const name of objectNames()) {
    const path = `${OBJECT_DIR}/${name}`;
    it(`${name}: every BTF type has bpftool's kind and name`, () => {
      const raw = dump(path);
      const btf = readObject(load(name)).btf!;
      expect(btf.types.length - 1).toBe(raw.size);
      for (const r of raw.values()) {
        const t = btf.types[r.id]!;
        expect([r.id, t.kind.toUpperCase(), t.name || '(anon)']).toEqual([r.id, r.kind, r.name]);
      }
    });

    it(`${name}: map types and max_entries agree with bpftool's BTF`, () => {
      const raw = dump(path);
      const intField = (def: Raw, field: string): number | undefined => {
        const ptr = def.members[field];
        if (ptr === undefined) return undefined;
        return Number(raw.get(Number(raw.get(ptr)!.attrs.type_id))!.attrs.nr_elems);
      };
      const spec = readObject(load(name));
      const maps = spec.maps.filter((m) => !m.data);
      expect(maps.length).toBeGreaterThan(0);
      for (const m of maps) {
        const v = [...raw.values()].find((r) => r.kind === 'VAR' && r.name === m.name)!;
        const def = raw.get(Number(v.attrs.type_id))!;
        expect({ name: m.name, type: intField(def, 'type'), max: intField(def, 'max_entries') ?? 0, pinning: intField(def, 'pinning') ?? 0 })
          .toEqual({ name: m.name, type: m.type, max: m.maxEntries, pinning: m.pinning });
      }
    });
  }
});

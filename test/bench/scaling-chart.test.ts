// The scaling benchmark's outputs, from results made up here (no timing involved): the SVG chart's
// structure (well-formed, axes, legend, one group per series with a point per measured size,
// points placed in order of size and of value), the table's shape, and option checking.

import { describe, expect, it } from 'vitest';
import { scalingSvg, escapeXml, SERIES } from '../../src/bench/svg.js';
import { formatScaling, COLUMNS } from '../../src/bench/format.js';
import { checkScalingOptions, median, type ScalingPoint, type ScalingResult } from '../../src/bench/scaling.js';
import { parseSizes } from '../../src/cli/commands/bench.js';
import { errorCode } from '../helpers/errors.js';

function point(services: number, mapsNs: number, perRuleNs: number | null): ScalingPoint {
  return {
    services,
    rules: services,
    maps: { last: mapsNs, random: mapsNs * 1.1 },
    iptables: perRuleNs === null ? null : { last: 100 + services * perRuleNs, random: 100 + (services * perRuleNs) / 2 },
    ...(perRuleNs === null ? { skipped: 'walking 50000 rules takes more than the <budget> & more' } : {}),
    checked: 8,
  };
}

function result(points: ScalingPoint[], engine: 'vm' | 'kernel' = 'kernel'): ScalingResult {
  return { engine, packets: 100, rounds: 5, backends: 3, maglevTableSize: 7, points };
}

const full = result([point(10, 1500, 10), point(100, 1600, 10), point(1000, 1550, 10), point(10000, 1700, 10), point(50000, 1650, 10)]);

/** Tags in document order; throws unless every element is closed in order (XML well-formedness
 * as far as this chart's subset goes: elements, attributes in double quotes, escaped text). */
function checkWellFormed(svg: string): Array<{ name: string; attrs: Record<string, string> }> {
  const stack: string[] = [];
  const opened: Array<{ name: string; attrs: Record<string, string> }> = [];
  const re = /<(\/?)([a-zA-Z]+)((?:\s+[a-zA-Z][a-zA-Z0-9:-]*="[^"<>]*")*)\s*(\/?)>|([^<]+)/g;
  let m: RegExpExecArray | null;
  let consumed = 0;
  while ((m = re.exec(svg)) !== null) {
    if (m.index !== consumed) throw new Error(`unparseable at ${consumed}: ${svg.slice(consumed, consumed + 40)}`);
    consumed = re.lastIndex;
    if (m[5] !== undefined) {
      if (/&(?!amp;|lt;|gt;|quot;)/.test(m[5])) throw new Error(`unescaped & in text: ${m[5]}`);
      continue;
    }
    const [, close, name, attrText, selfClose] = m;
    if (close) {
      if (stack.pop() !== name) throw new Error(`</${name}> closes the wrong element`);
      continue;
    }
    const attrs: Record<string, string> = {};
    for (const a of attrText!.matchAll(/([a-zA-Z][a-zA-Z0-9:-]*)="([^"]*)"/g)) attrs[a[1]!] = a[2]!;
    opened.push({ name: name!, attrs });
    if (!selfClose) stack.push(name!);
  }
  if (consumed !== svg.length) throw new Error('trailing garbage');
  if (stack.length) throw new Error(`unclosed: ${stack.join(', ')}`);
  return opened;
}

describe('scaling chart (SVG)', () => {
  const svg = scalingSvg(full);
  const tags = checkWellFormed(svg);

  it('is one well-formed svg element with a title naming the engine', () => {
    expect(tags[0]!.name).toBe('svg');
    expect(tags[0]!.attrs.xmlns).toBe('http://www.w3.org/2000/svg');
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(svg).toMatch(/<title>Finding a service: eBPF maps vs iptables rules \(Linux kernel\)<\/title>/);
    expect(svg).not.toMatch(/<script|href=|@import|url\(/);
  });

  it('has labelled log-scale axes with a tick per decade', () => {
    expect(svg).toContain('services (log scale)');
    expect(svg).toContain('time per packet (log scale)');
    const xTicks = [...svg.matchAll(/<g class="axis x-axis">([\s\S]*?)<\/g>/g)][0]![1]!.match(/class="tick"[^>]*>([^<]+)</g)!.map((t) => t.replace(/.*>/, '').replace('<', ''));
    expect(xTicks).toEqual(['10', '100', '1,000', '10,000', '100,000']);
    const yTicks = [...svg.matchAll(/<g class="axis y-axis">([\s\S]*?)<\/g>/g)][0]![1]!.match(/class="tick"[^>]*>([^<]+)</g)!.map((t) => t.replace(/.*>/, '').replace('<', ''));
    expect(yTicks).toEqual(['100 ns', '1 µs', '10 µs', '100 µs', '1 ms']); // 150 ns .. 500 µs
  });

  it('draws every series with one point per size, placed in order of size and of value', () => {
    const groups = [...svg.matchAll(/<g class="series" data-series="([^"]+)">([\s\S]*?)<\/g>/g)];
    expect(groups.map((g) => g[1])).toEqual(SERIES.map((s) => s.id));
    for (const [, id, body] of groups) {
      const pts = [...body!.matchAll(/<circle class="point" cx="([\d.]+)" cy="([\d.]+)"[^>]*data-services="(\d+)" data-ns="(\d+)"/g)].map((m) => ({
        cx: Number(m[1]), cy: Number(m[2]), n: Number(m[3]), ns: Number(m[4]),
      }));
      expect(pts.map((p) => p.n), id).toEqual([10, 100, 1000, 10000, 50000]);
      for (let i = 1; i < pts.length; i++) {
        expect(pts[i]!.cx).toBeGreaterThan(pts[i - 1]!.cx);
        // A larger value sits higher (smaller y), an equal one at the same height.
        expect(Math.sign(pts[i - 1]!.cy - pts[i]!.cy)).toBe(Math.sign(pts[i]!.ns - pts[i - 1]!.ns));
      }
      // The polyline goes through the markers.
      const line = body!.match(/points="([^"]+)"/)![1]!.split(' ');
      expect(line).toEqual(pts.map((p) => `${p.cx},${p.cy}`));
    }
    expect(svg).toContain('data-services="50000" data-ns="500100"');
  });

  it('has a legend naming the four series, and the ratio at the largest size', () => {
    const legend = svg.match(/<g class="legend">([\s\S]*?)<\/g>/)![1]!;
    for (const s of SERIES) expect(legend).toContain(s.label);
    expect(svg).toContain('at 50,000 services, a packet to the last service costs 303 times as much');
  });

  it('is the same text for the same numbers (no dates, nothing from the environment)', () => {
    expect(scalingSvg(full)).toBe(svg);
    expect(svg).not.toMatch(/20\d\d-\d\d-\d\d/);
  });

  it('leaves out what was not measured and says why, escaped', () => {
    const partial = result([point(10, 5000, 120), point(1000, 5100, 120), point(50000, 5200, null)], 'vm');
    const s = scalingSvg(partial);
    checkWellFormed(s);
    const ipt = s.match(/data-series="iptables-last">([\s\S]*?)<\/g>/)![1]!;
    expect(ipt.match(/class="point"/g)).toHaveLength(2);
    const maps = s.match(/data-series="maps-last">([\s\S]*?)<\/g>/)![1]!;
    expect(maps.match(/class="point"/g)).toHaveLength(3);
    expect(s).toContain('iptables rules not measured at 50,000 services: walking 50000 rules takes more than the &lt;budget&gt; &amp; more');
    expect(s).toContain('at 1,000 services');
    expect(s).toContain('(VM engine)');
  });

  it('copes with a single size (one decade wide axes)', () => {
    const s = scalingSvg(result([point(100, 2000, 10)]));
    const tags1 = checkWellFormed(s);
    expect(tags1.filter((t) => t.name === 'circle')).toHaveLength(4);
    expect(s).not.toContain('NaN');
  });

  it('escapes XML', () => {
    expect(escapeXml('a<b & "c">')).toBe('a&lt;b &amp; &quot;c&quot;&gt;');
  });
});

describe('scaling table', () => {
  it('has a heading, the columns, and one row per size with the last-service ratio', () => {
    const text = formatScaling(full);
    const lines = text.split('\n');
    const header = lines.findIndex((l) => l.includes('iptables random'));
    expect(lines[0]).toContain('Linux kernel');
    expect(lines[0]).toContain('median of 5 rounds of 100 packets');
    for (const c of COLUMNS) expect(lines[header]).toContain(c);
    const rows = lines.slice(header + 1).filter((l) => l.trim() !== '');
    expect(rows).toHaveLength(5);
    expect(rows.map((r) => r.trim().split(/\s{2,}/).length)).toEqual([7, 7, 7, 7, 7]);
    expect(rows[4]!.trim().split(/\s{2,}/)).toEqual(['50,000', '50,000', '1,650', '1,815', '500,100', '250,100', '303x']);
    expect(rows[0]!.trim().split(/\s{2,}/).at(-1)).toBe('0.13x');
  });

  it('prints "-" and the reason for what was not measured', () => {
    const text = formatScaling(result([point(10, 5000, 120), point(50000, 5200, null)], 'vm'));
    const row = text.split('\n').find((l) => l.trim().startsWith('50,000'))!;
    expect(row.trim().split(/\s{2,}/)).toEqual(['50,000', '50,000', '5,200', '5,720', '-', '-', '-']);
    expect(text).toContain('50,000 services: iptables not measured: walking 50000 rules');
  });
});

describe('scaling options', () => {
  it('reads counts given comma-separated or repeated', () => {
    expect(parseSizes(['10,100', '1000', ' 50_000 '])).toEqual([10, 100, 1000, 50000]);
    expect(errorCode(() => parseSizes(['10k']))).toBe('USAGE');
    expect(errorCode(() => parseSizes(['-5']))).toBe('USAGE');
  });

  it('refuses counts out of range, repeated counts, and bad packet or round counts', () => {
    const ok = { sizes: [10], packets: 10, rounds: 3 };
    expect(errorCode(() => checkScalingOptions(ok))).toBe('no error');
    expect(errorCode(() => checkScalingOptions({ ...ok, sizes: [] }))).toBe('USAGE');
    expect(errorCode(() => checkScalingOptions({ ...ok, sizes: [0] }))).toBe('USAGE');
    expect(errorCode(() => checkScalingOptions({ ...ok, sizes: [70000] }))).toBe('USAGE');
    expect(errorCode(() => checkScalingOptions({ ...ok, sizes: [10, 10] }))).toBe('USAGE');
    expect(errorCode(() => checkScalingOptions({ ...ok, packets: 0 }))).toBe('USAGE');
    expect(errorCode(() => checkScalingOptions({ ...ok, packets: 1.5 }))).toBe('USAGE');
    expect(errorCode(() => checkScalingOptions({ ...ok, rounds: 0 }))).toBe('USAGE');
  });

  it('takes the median of rounds', () => {
    expect(median([5, 1, 9])).toBe(5);
    expect(median([4, 1, 9, 2])).toBe(3);
  });
});

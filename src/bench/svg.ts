// The scaling chart: a self-contained SVG line chart of a ScalingResult (no scripts, no external
// fonts or styles, so a browser opens it from disk and a repository can show it). Both axes are
// logarithmic: services span four decades and costs five, and on log-log axes a cost that grows
// in proportion to the number of services is a straight line of slope one while a constant cost
// is flat, which is the whole point of the chart. The output is a pure function of the result
// (no dates, no environment), so the same numbers always give the same file.
//
// Each point carries data-services and data-ns attributes and a <title> (the browser's tooltip),
// so the figure can be read back exactly.

import type { PathCost, ScalingResult } from './scaling.js';

const W = 760;
const H = 480;
const M = { left: 92, right: 28, top: 76, bottom: 92 };
const PW = W - M.left - M.right;
const PH = H - M.top - M.bottom;

interface SeriesStyle {
  id: string;
  label: string;
  color: string;
  dashed: boolean;
  pick: (p: { maps: PathCost; iptables: PathCost | null }) => number | undefined;
}

export const SERIES: SeriesStyle[] = [
  { id: 'maps-last', label: 'eBPF maps, last service', color: '#1f6fb4', dashed: false, pick: (p) => p.maps.last },
  { id: 'maps-random', label: 'eBPF maps, random service', color: '#1f6fb4', dashed: true, pick: (p) => p.maps.random },
  { id: 'iptables-last', label: 'iptables rules, last service', color: '#d1591a', dashed: false, pick: (p) => p.iptables?.last },
  { id: 'iptables-random', label: 'iptables rules, random service', color: '#d1591a', dashed: true, pick: (p) => p.iptables?.random },
];

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const px = (n: number) => (Math.round(n * 10) / 10).toString();

/** Decades [lo, hi] (powers of ten) that hold every value, at least one decade wide. */
function decades(values: number[]): [number, number] {
  const pos = values.filter((v) => v > 0);
  if (pos.length === 0) return [0, 1];
  let lo = Math.floor(Math.log10(Math.min(...pos)));
  let hi = Math.ceil(Math.log10(Math.max(...pos)));
  if (hi === lo) hi = lo + 1;
  return [lo, hi];
}

/** "100 ns", "1 µs", "10 ms". */
function timeLabel(exp: number): string {
  const units = ['ns', 'µs', 'ms', 's'];
  const u = Math.min(Math.max(Math.floor(exp / 3), 0), units.length - 1);
  const v = 10 ** (exp - 3 * u);
  return `${v.toLocaleString('en-US')} ${units[u]}`;
}

export function engineName(engine: string): string {
  return engine === 'vm' ? 'VM engine' : 'Linux kernel';
}

export function scalingSvg(r: ScalingResult): string {
  const sizes = r.points.map((p) => p.services);
  const [x0, x1] = decades(sizes);
  const values = r.points.flatMap((p) => SERIES.map((s) => s.pick(p)).filter((v): v is number => v !== undefined));
  const [y0, y1] = decades(values);
  const x = (n: number) => M.left + ((Math.log10(n) - x0) / (x1 - x0)) * PW;
  const y = (v: number) => M.top + PH - ((Math.log10(Math.max(v, 10 ** y0)) - y0) / (y1 - y0)) * PH;

  const notes = chartNotes(r);
  const height = H + Math.max(0, notes.length - 1) * 15;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`);
  const title = `Finding a service: eBPF maps vs iptables rules (${engineName(r.engine)})`;
  out.push(`<title>${escapeXml(title)}</title>`);
  out.push(`<rect width="${W}" height="${height}" fill="#ffffff"/>`);
  out.push(`<text class="title" x="${W / 2}" y="28" text-anchor="middle" font-size="17" font-weight="bold">${escapeXml(title)}</text>`);
  const sub = `first packet of a new connection; median of ${r.rounds} round${r.rounds === 1 ? '' : 's'} of ${r.packets} packet${r.packets === 1 ? '' : 's'}; lower is better`;
  out.push(`<text class="subtitle" x="${W / 2}" y="48" text-anchor="middle" fill="#555555">${escapeXml(sub)}</text>`);

  // Grid and ticks.
  out.push(`<g class="axis x-axis">`);
  for (let e = x0; e <= x1; e++) {
    const gx = px(x(10 ** e));
    out.push(`<line x1="${gx}" y1="${M.top}" x2="${gx}" y2="${M.top + PH}" stroke="#e2e2e2"/>`);
    out.push(`<text class="tick" x="${gx}" y="${M.top + PH + 18}" text-anchor="middle">${(10 ** e).toLocaleString('en-US')}</text>`);
  }
  out.push(`<line x1="${M.left}" y1="${M.top + PH}" x2="${M.left + PW}" y2="${M.top + PH}" stroke="#333333"/>`);
  out.push(`<text class="label" x="${M.left + PW / 2}" y="${M.top + PH + 44}" text-anchor="middle" font-size="13">services (log scale)</text>`);
  out.push(`</g>`);
  out.push(`<g class="axis y-axis">`);
  for (let e = y0; e <= y1; e++) {
    const gy = px(y(10 ** e));
    out.push(`<line x1="${M.left}" y1="${gy}" x2="${M.left + PW}" y2="${gy}" stroke="#e2e2e2"/>`);
    out.push(`<text class="tick" x="${M.left - 8}" y="${gy}" text-anchor="end" dominant-baseline="middle">${escapeXml(timeLabel(e))}</text>`);
  }
  out.push(`<line x1="${M.left}" y1="${M.top}" x2="${M.left}" y2="${M.top + PH}" stroke="#333333"/>`);
  const ly = M.top + PH / 2;
  out.push(`<text class="label" x="24" y="${ly}" text-anchor="middle" font-size="13" transform="rotate(-90 24 ${ly})">time per packet (log scale)</text>`);
  out.push(`</g>`);

  // Series: a polyline through the measured points, and a marker per point.
  for (const s of SERIES) {
    const pts = r.points.flatMap((p) => {
      const v = s.pick(p);
      return v === undefined ? [] : [{ n: p.services, v }];
    });
    out.push(`<g class="series" data-series="${s.id}">`);
    if (pts.length > 1) {
      const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
      out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2"${dash} points="${pts.map((q) => `${px(x(q.n))},${px(y(q.v))}`).join(' ')}"/>`);
    }
    for (const q of pts) {
      const fill = s.dashed ? '#ffffff' : s.color;
      out.push(
        `<circle class="point" cx="${px(x(q.n))}" cy="${px(y(q.v))}" r="4" fill="${fill}" stroke="${s.color}" stroke-width="2" data-services="${q.n}" data-ns="${Math.round(q.v)}">` +
          `<title>${escapeXml(`${s.label}: ${fmt(q.n)} services, ${fmt(q.v)} ns per packet`)}</title></circle>`,
      );
    }
    out.push(`</g>`);
  }

  // Legend inside the plot, in the first corner no point falls in (top left usually: the
  // iptables lines rise to the right).
  const lw = 232;
  const lh = SERIES.length * 18 + 10;
  const marks = r.points.flatMap((p) => SERIES.map((s) => s.pick(p)).filter((v): v is number => v !== undefined).map((v) => ({ cx: x(p.services), cy: y(v) })));
  const corners = [
    { lx: M.left + 10, ly: M.top + 8 },
    { lx: M.left + PW - lw - 10, ly: M.top + PH - lh - 8 },
    { lx: M.left + PW - lw - 10, ly: M.top + 8 },
    { lx: M.left + 10, ly: M.top + PH - lh - 8 },
  ];
  const free = (c: { lx: number; ly: number }) => marks.every((m) => m.cx < c.lx - 6 || m.cx > c.lx + lw + 6 || m.cy < c.ly - 6 || m.cy > c.ly + lh + 6);
  const at = corners.find(free) ?? corners[0]!;
  out.push(`<g class="legend">`);
  out.push(`<rect x="${px(at.lx)}" y="${px(at.ly)}" width="${lw}" height="${lh}" fill="#ffffff" fill-opacity="0.9" stroke="#cccccc"/>`);
  SERIES.forEach((s, i) => {
    const ly2 = at.ly + 14 + i * 18;
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    out.push(`<line x1="${px(at.lx + 8)}" y1="${px(ly2)}" x2="${px(at.lx + 38)}" y2="${px(ly2)}" stroke="${s.color}" stroke-width="2"${dash}/>`);
    out.push(`<text x="${px(at.lx + 46)}" y="${px(ly2)}" dominant-baseline="middle">${escapeXml(s.label)}</text>`);
  });
  out.push(`</g>`);

  notes.forEach((t, i) => out.push(`<text class="note" x="${M.left}" y="${M.top + PH + 64 + i * 15}" fill="#555555" font-size="11">${escapeXml(t)}</text>`));
  out.push(`</svg>`);
  return `${out.join('\n')}\n`;
}

/** Lines under the chart: the ratio at the largest size where both were measured, and what was
 * skipped. */
function chartNotes(r: ScalingResult): string[] {
  const notes: string[] = [];
  const both = [...r.points].reverse().find((p) => p.iptables !== null);
  if (both && both.iptables) {
    notes.push(`at ${fmt(both.services)} services, a packet to the last service costs ${ratioText(both.iptables.last / both.maps.last)} as much through the iptables rules as through the maps`);
  }
  for (const p of r.points) if (p.skipped) notes.push(`iptables rules not measured at ${fmt(p.services)} services: ${p.skipped}`);
  return notes;
}

/** 187 -> "187 times", 0.25 -> "0.25 times". */
export function ratioText(r: number): string {
  const digits = r >= 10 ? 0 : r >= 1 ? 1 : 2;
  return `${r.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })} times`;
}

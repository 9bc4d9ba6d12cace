// The scaling benchmark as text: a heading that says what was measured and how, then one row per
// number of services, printed as each size finishes (the largest take a while to set up).

import type { ScalingPoint, ScalingResult } from './scaling.js';
import { engineName } from './svg.js';

export const COLUMNS = ['services', 'rules', 'maps last', 'maps random', 'iptables last', 'iptables random', 'iptables/maps'] as const;
const WIDTHS = [8, 8, 11, 12, 14, 16, 14];

export function scalingHeading(r: Pick<ScalingResult, 'engine' | 'packets' | 'rounds' | 'backends' | 'maglevTableSize'>): string {
  return (
    `twinpath bench scaling: ${engineName(r.engine)}, ns per packet (first packet of a new connection), ` +
    `median of ${r.rounds} round${r.rounds === 1 ? '' : 's'} of ${r.packets} packet${r.packets === 1 ? '' : 's'}\n` +
    `maps: service lookup, conntrack, Maglev (${r.maglevTableSize} slots, ${r.backends} backends per service), DNAT; ` +
    `iptables: one rule per service, walked until the first match\n\n` +
    `${COLUMNS.map((c, i) => c.padStart(WIDTHS[i]!)).join('  ')}\n`
  );
}

const num = (n: number) => Math.round(n).toLocaleString('en-US');

/** One row; `iptables/maps` is the ratio of the last-service costs. */
export function scalingRow(p: ScalingPoint): string {
  const cells = [
    num(p.services),
    num(p.rules),
    num(p.maps.last),
    num(p.maps.random),
    p.iptables ? num(p.iptables.last) : '-',
    p.iptables ? num(p.iptables.random) : '-',
    p.iptables ? `${(p.iptables.last / p.maps.last).toFixed(p.iptables.last / p.maps.last >= 10 ? 0 : 2)}x` : '-',
  ];
  return `${cells.map((c, i) => c.padStart(WIDTHS[i]!)).join('  ')}\n`;
}

/** Lines after the table: what could not be measured, and why. */
export function scalingFooter(r: ScalingResult): string {
  const skipped = r.points.filter((p) => p.skipped);
  return skipped.map((p) => `\n${num(p.services)} services: iptables not measured: ${p.skipped}`).join('') + (skipped.length ? '\n' : '');
}

export function formatScaling(r: ScalingResult): string {
  return scalingHeading(r) + r.points.map(scalingRow).join('') + scalingFooter(r);
}

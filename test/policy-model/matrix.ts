// Truth tables printed the way the upstream netpol e2e tests print them: one matrix per
// protocol/port, rows are the sources, columns the destinations, `.` allowed and `X` denied; a
// comparison matrix marks each cell where two tables disagree. Also the list form for probes
// outside the pod matrix (host, ip:ADDRESS).

import { probeKey } from './expect.js';
import type { ExpectedProbe, Model, Probe, Protocol } from './expect.js';

export interface Verdict extends Probe {
  allowed: boolean;
  /** Why, when the engine said so: drop reason, rule. */
  detail?: string;
}

/** One matrix as text; `cell` decides what each cell shows. */
export function formatMatrix(
  model: Model,
  protocol: Protocol,
  port: number,
  cell: (from: string, to: string) => string,
): string {
  const width = Math.max(3, ...model.pods.map((p) => p.length)) + 1;
  const pad = (s: string) => s.padEnd(width);
  const lines = [`${protocol}/${port}`, pad('-') + model.pods.map(pad).join('').trimEnd()];
  for (const from of model.pods) {
    lines.push(pad(from) + model.pods.map((to) => pad(cell(from, to))).join('').trimEnd());
  }
  return lines.join('\n');
}

function index(verdicts: readonly Verdict[]): Map<string, Verdict> {
  return new Map(verdicts.map((v) => [probeKey(v), v]));
}

/** Probes whose verdicts differ (or that one side lacks), in the order of `expected`. */
export function mismatches(expected: readonly Verdict[], observed: readonly Verdict[]): Array<{ expected: Verdict; observed?: Verdict }> {
  const obs = index(observed);
  const out: Array<{ expected: Verdict; observed?: Verdict }> = [];
  for (const e of expected) {
    const o = obs.get(probeKey(e));
    if (!o || o.allowed !== e.allowed) out.push({ expected: e, observed: o });
  }
  return out;
}

/** The report for a failed comparison: for every protocol/port with a difference, the expected,
 * observed and comparison matrices (comparison: `.` agree, `X` differ), then the differing
 * probes outside the matrix one per line. Empty when the tables agree. */
export function formatComparison(
  model: Model,
  expected: readonly Verdict[],
  observed: readonly Verdict[],
  labels: { expected: string; observed: string } = { expected: 'expected', observed: 'observed' },
): string {
  const diff = mismatches(expected, observed);
  if (diff.length === 0) return '';
  const exp = index(expected);
  const obs = index(observed);
  const sym = (v: Verdict | undefined) => (v === undefined ? '?' : v.allowed ? '.' : 'X');
  const parts: string[] = [];
  let total = 0;
  for (const protocol of model.protocols) {
    for (const port of model.ports) {
      const key = (from: string, to: string) => probeKey({ from, to, port, protocol });
      let count = 0;
      for (const f of model.pods) for (const t of model.pods) if (sym(exp.get(key(f, t))) !== sym(obs.get(key(f, t)))) count++;
      if (count === 0) continue;
      total += count;
      parts.push(`${protocol}/${port}: ${count} of ${model.pods.length ** 2} differ`);
      parts.push(`${labels.expected}:\n${formatMatrix(model, protocol, port, (f, t) => sym(exp.get(key(f, t))))}`);
      parts.push(`${labels.observed}:\n${formatMatrix(model, protocol, port, (f, t) => sym(obs.get(key(f, t))))}`);
      parts.push(
        `comparison:\n${formatMatrix(model, protocol, port, (f, t) => (sym(exp.get(key(f, t))) === sym(obs.get(key(f, t))) ? '.' : 'X'))}`,
      );
    }
  }
  const inMatrix = new Set(model.pods);
  const outside = diff.filter((d) => !(inMatrix.has(d.expected.from) && inMatrix.has(d.expected.to)));
  for (const d of outside) {
    total += 1;
    const o = d.observed;
    const said = o === undefined ? 'no verdict' : o.allowed ? 'allowed' : 'denied';
    parts.push(
      `${probeKey(d.expected)}: ${labels.expected} ${d.expected.allowed ? 'allowed' : 'denied'}, ${labels.observed} ${said}${o?.detail ? ` (${o.detail})` : ''}`,
    );
  }
  // Details of the first few differing matrix cells: the engine's reason is the quickest lead.
  const details = diff
    .filter((d) => inMatrix.has(d.expected.from) && inMatrix.has(d.expected.to) && d.observed?.detail)
    .slice(0, 8)
    .map((d) => `  ${probeKey(d.expected)}: ${labels.observed} ${d.observed!.allowed ? 'allowed' : 'denied'} (${d.observed!.detail})`);
  if (details.length > 0) parts.push(`first differing cells:\n${details.join('\n')}`);
  return `${total} probe(s) differ\n\n${parts.join('\n\n')}`;
}

/** Expected probes of a case, matrix first, as the list a probe runner takes. */
export function probeList(expected: readonly ExpectedProbe[]): Probe[] {
  return expected.map(({ from, to, port, protocol }) => ({ from, to, port, protocol }));
}

// Check results, hints and lab listings as text for a person. Stable line for line (no machine
// paths, no timings), so the transcripts are golden files: paths are shown relative to the
// installation (labs/...) or to the working directory.

import { dirname, relative } from 'node:path';
import { compactLine } from '../flows/render.js';
import type { Lab } from './lab.js';
import { labDirName } from './lab.js';
import type { CheckResult, TaskResult } from './result.js';
import { firstFailure } from './result.js';

const STATUS: Record<TaskResult['status'], string> = { pass: 'ok  ', fail: 'FAIL', 'not-checked': '--  ' };

/** `labs/01-star-wars/lab.yaml:17:9`: relative to the directory that holds labs/. */
function labLocation(lab: Lab, at: { file?: string; line?: number; column?: number }): string {
  const file = at.file ? relative(dirname(dirname(lab.dir)), at.file) : '';
  return `${file}${at.line !== undefined ? `:${at.line}${at.column !== undefined ? `:${at.column}` : ''}` : ''}`;
}

export function formatCheck(r: CheckResult, hintsShown: Record<string, number> = {}): string {
  const out: string[] = [];
  const lab = r.lab;
  const what = r.packets > 0 ? `, ${r.packets} packets` : '';
  out.push(`lab ${labDirName(lab.number, lab.slug)}: ${lab.title} [${r.engine}${what}]`);
  for (const n of r.notes) out.push(`  ${n}`);
  r.tasks.forEach((t, i) => {
    out.push(`  ${STATUS[t.status]}  task ${i + 1} ${t.task.id}: ${t.task.title}${t.status === 'not-checked' && t.reason ? ` (not checked: ${t.reason})` : ''}`);
  });
  const failed = firstFailure(r);
  if (failed?.failure) {
    const i = r.tasks.indexOf(failed) + 1;
    const f = failed.failure;
    const where = f.packet !== undefined || f.flows.length > 0 || failed.task.at.line !== undefined ? ` (${labLocation(lab, failed.task.at)})` : '';
    out.push('', `task ${i} ${failed.task.id} fails${where}:`);
    out.push(`  expected: ${f.expected}`);
    out.push(`  got:      ${f.got}`);
    for (const d of f.detail ?? []) out.push(`  ${d}`);
    for (const fl of f.flows) out.push(`  ${compactLine(fl).trimEnd()}`);
    const shown = hintsShown[failed.task.id] ?? 0;
    const total = failed.task.hints.length;
    out.push('', shown >= total
      ? `hints: all ${total} shown (twinpath lab hint repeats the last; twinpath lab solution shows the answer)`
      : `hint: twinpath lab hint (${shown} of ${total} shown for this task)`);
  }
  const pass = r.tasks.filter((t) => t.status === 'pass').length;
  out.push(r.passed ? `all ${r.tasks.length} tasks pass` : `${pass} of ${r.tasks.length} tasks pass`);
  return `${out.join('\n')}\n`;
}

export function formatList(labs: Lab[]): string {
  const rows = labs.map((l) => [String(l.number).padStart(2, '0'), l.slug, l.title, l.needs.length > 0 ? `needs ${l.needs.join(', ')}` : '']);
  const widths = [2, Math.max(...rows.map((r) => r[1]!.length)), Math.max(...rows.map((r) => r[2]!.length))];
  return rows.map((r) => r.map((c, i) => (i < 3 ? c.padEnd(widths[i]!) : c)).join('  ').trimEnd()).join('\n') + '\n';
}

// The check of lab 9 (iptables versus eBPF maps): the learner's answers.yaml, judged question by
// question. Three questions are about what the chart shows and have one right answer; the last
// asks for the measured ratio at 10,000 services as an order of magnitude, and the check measures
// it live on the same engine and accepts the answer when it is within 0.6 decades of that
// measurement (so the right power of ten passes however noisy the machine, and the wrong ones do
// not). 10,000 rather than 50,000: the VM's instruction budget stops a walk of 50,000 rules.
//
// A check takes seconds, and building 10,000 services (maps filled, Maglev rows written) takes
// longer than a whole check may. So the check measures two small clusters, 250 and 2,000
// services, and extends the iptables line to 10,000: a walk to the last rule costs a fixed part
// plus a part per rule, a straight line (the chart's question 2), and the maps line is flat. The
// estimate agrees with `bench scaling --services 10000` to well within the tolerance.
//
// The result has the lab framework's shape (src/labs/result.ts), one task per question, tasks
// named by the ids in QUESTIONS; the lab's lab.yaml gives their titles and hints.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isMap, isScalar, parseDocument } from 'yaml';
import type { EngineKind } from '../engine/engine.js';
import { TwinpathError } from '../errors.js';
import type { Lab, Task } from '../labs/lab.js';
import type { CheckResult, Failure, TaskResult } from '../labs/result.js';
import { benchScaling, type ScalingPoint } from './scaling.js';

export const ANSWERS_FILE = 'answers.yaml';
export const RATIO_SERVICES = 10_000;
/** The clusters the check measures; the iptables line is extended from them to RATIO_SERVICES. */
export const MEASURED_SERVICES = [250, 2_000] as const;
/** How far (in powers of ten) an order-of-magnitude answer may be from the live measurement. */
export const RATIO_TOLERANCE_DECADES = 0.6;

interface Question {
  /** The task id and the key in answers.yaml. */
  id: string;
  key: string;
  choices: string[];
  /** The right choice, or 'measured' for the ratio. */
  answer: string;
  /** What the failure says was expected. */
  expected: string;
}

export const QUESTIONS: Question[] = [
  { id: 'which-grows', key: 'grows', choices: ['iptables', 'maps'], answer: 'iptables', expected: 'the path whose cost per packet grows with the number of services' },
  { id: 'read-the-slope', key: 'slope', choices: ['0', '1', '2'], answer: '1', expected: 'the slope of "iptables rules, last service" on the log-log chart' },
  { id: 'average-case', key: 'random', choices: ['1/10', '1/2', '1'], answer: '1/2', expected: "iptables: a random service's cost relative to the last service's" },
  {
    id: 'ratio-at-10000',
    key: 'ratio',
    choices: ['1', '10', '100', '1000', '10000'],
    answer: 'measured',
    expected: `at ${RATIO_SERVICES.toLocaleString('en-US')} services, iptables/maps for the last service, to the nearest power of ten`,
  },
];

export interface ScalingLabOptions {
  engine: EngineKind;
  /** The live ratio (iptables/maps, last service, at RATIO_SERVICES); tests may pass their own. */
  measure?: (engine: EngineKind) => Promise<number>;
}

/** The live measurement: two small clusters, few packets (the answer is an order of magnitude). */
export async function measureRatio(engine: EngineKind): Promise<number> {
  const r = await benchScaling({ sizes: [...MEASURED_SERVICES], engine, packets: 30, rounds: 5 });
  return ratioAt(RATIO_SERVICES, r.points);
}

/**
 * iptables/maps for the last service at `services`, from measured points: the iptables cost on
 * the line through the smallest and largest points, the maps cost their mean (it does not grow).
 * A line that does not rise (noise at small sizes) falls back to cost proportional to rules.
 */
export function ratioAt(services: number, points: ScalingPoint[]): number {
  const measured = points.filter((p) => p.iptables !== null).sort((a, b) => a.services - b.services);
  if (measured.length === 0) throw new TwinpathError('BENCH_ERROR', 'the iptables model was not timed at any size');
  const lo = measured[0]!;
  const hi = measured.at(-1)!;
  const perRule = hi.services > lo.services ? (hi.iptables!.last - lo.iptables!.last) / (hi.services - lo.services) : 0;
  const iptables = perRule > 0 ? hi.iptables!.last + perRule * (services - hi.services) : (hi.iptables!.last * services) / hi.services;
  const maps = measured.reduce((sum, p) => sum + p.maps.last, 0) / measured.length;
  return iptables / maps;
}

type Answers = Map<string, string>;

/** answers.yaml as key -> text; a file that does not read or parse gives the reason instead. */
function readAnswers(path: string, name: string): Answers | string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return `${name} is missing from your working directory`;
  }
  const doc = parseDocument(text);
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const at = e.linePos?.[0];
    return `${name}${at ? `:${at.line}:${at.col}` : ''}: ${e.message.split('\n')[0]}`;
  }
  const out: Answers = new Map();
  if (doc.contents === null) return out;
  if (!isMap(doc.contents)) return `${name}: expected "key: answer" lines`;
  for (const item of doc.contents.items) {
    const k = isScalar(item.key) ? String(item.key.value) : '';
    const known = QUESTIONS.find((q) => q.key === k);
    if (!known) return `${name}: "${k}" is not a question (the questions are ${QUESTIONS.map((q) => q.key).join(', ')})`;
    const v = isScalar(item.value) && item.value.value !== null ? String(item.value.value).trim() : '';
    out.set(k, v);
  }
  return out;
}

export async function checkScalingLab(lab: Lab, dir: string, opts: ScalingLabOptions): Promise<CheckResult> {
  const started = Date.now();
  const result: CheckResult = { lab, engine: opts.engine, passed: false, tasks: [], packets: 0, notes: [], elapsedMs: 0 };
  const taskOf = (q: Question): Task => lab.tasks.find((t) => t.id === q.id) ?? { id: q.id, title: q.expected, hints: [], expect: [], mustStayBlocked: [], noUnexpectedDrops: false, at: {} };
  const done = () => {
    result.passed = result.tasks.every((t) => t.status === 'pass');
    result.elapsedMs = Date.now() - started;
    return result;
  };
  const file = lab.answers ?? ANSWERS_FILE;
  const answers = readAnswers(join(dir, file), file);
  if (typeof answers === 'string') {
    const [first, ...rest] = QUESTIONS;
    result.tasks.push({ task: taskOf(first!), status: 'fail', failure: { expected: `your ${file} reads`, got: answers, flows: [] } });
    for (const q of rest) result.tasks.push({ task: taskOf(q), status: 'not-checked', reason: `your ${file} does not read` });
    return done();
  }
  let measured: number | undefined;
  for (const q of QUESTIONS) {
    const given = answers.get(q.key) ?? '';
    const fail = (got: string, detail?: string[]): TaskResult => {
      const failure: Failure = { expected: `${q.key}: ${q.expected} (${q.choices.join(', ')})`, got, flows: [] };
      if (detail) failure.detail = detail;
      return { task: taskOf(q), status: 'fail', failure };
    };
    if (given === '') {
      result.tasks.push(fail(`${q.key} is not answered yet`));
      continue;
    }
    if (!q.choices.includes(given)) {
      result.tasks.push(fail(`"${given}" is not one of the choices`));
      continue;
    }
    if (q.answer !== 'measured') {
      result.tasks.push(given === q.answer ? { task: taskOf(q), status: 'pass' } : fail(`"${given}" is not what the chart shows`));
      continue;
    }
    measured ??= await (opts.measure ?? measureRatio)(opts.engine);
    const sizes = MEASURED_SERVICES.map((n) => n.toLocaleString('en-US')).join(' and ');
    result.notes.push(`measured at ${sizes} services (${opts.engine === 'vm' ? 'VM' : 'kernel'}), the iptables line extended to ${RATIO_SERVICES.toLocaleString('en-US')}: iptables/maps = ${measured.toFixed(1)}`);
    const off = Math.abs(Math.log10(Number(given)) - Math.log10(measured));
    result.tasks.push(off <= RATIO_TOLERANCE_DECADES ? { task: taskOf(q), status: 'pass' }
      : fail(`${given}, but this check measured ${measured.toFixed(1)}`, [`run: twinpath bench scaling --services ${RATIO_SERVICES}${opts.engine === 'kernel' ? ' --engine kernel' : ''} and read the last column`]));
  }
  return done();
}

// The check of lab 9 (iptables versus eBPF maps): the learner's answers.yaml, judged question by
// question. Three questions are about what the chart shows and have one right answer; the last
// asks for the measured ratio at 10,000 services as an order of magnitude, and the check measures
// it live on the same engine and accepts the answer when it is within 0.6 decades of that
// measurement (so the right power of ten passes however noisy the machine, and the wrong ones do
// not). 10,000 rather than 50,000: the VM's instruction budget stops a walk of 50,000 rules, and
// a check should take seconds, not minutes.
//
// The result has the lab framework's shape (src/labs/result.ts), one task per question, tasks
// named by the ids in QUESTIONS; the lab's lab.yaml gives their titles and hints.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isMap, isScalar, parseDocument } from 'yaml';
import type { EngineKind } from '../engine/engine.js';
import type { Lab, Task } from '../labs/lab.js';
import type { CheckResult, Failure, TaskResult } from '../labs/result.js';
import { benchScaling } from './scaling.js';

export const ANSWERS_FILE = 'answers.yaml';
export const RATIO_SERVICES = 10_000;
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

/** The live measurement: one size, few packets (the answer is an order of magnitude). */
export async function measureRatio(engine: EngineKind): Promise<number> {
  const r = await benchScaling({ sizes: [RATIO_SERVICES], engine, packets: 20, rounds: 3 });
  const p = r.points[0]!;
  return p.iptables!.last / p.maps.last;
}

type Answers = Map<string, string>;

/** answers.yaml as key -> text; a file that does not read or parse gives the reason instead. */
function readAnswers(file: string): Answers | string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return `${ANSWERS_FILE} is missing from your working directory`;
  }
  const doc = parseDocument(text);
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const at = e.linePos?.[0];
    return `${ANSWERS_FILE}${at ? `:${at.line}:${at.col}` : ''}: ${e.message.split('\n')[0]}`;
  }
  const out: Answers = new Map();
  if (doc.contents === null) return out;
  if (!isMap(doc.contents)) return `${ANSWERS_FILE}: expected "key: answer" lines`;
  for (const item of doc.contents.items) {
    const k = isScalar(item.key) ? String(item.key.value) : '';
    const known = QUESTIONS.find((q) => q.key === k);
    if (!known) return `${ANSWERS_FILE}: "${k}" is not a question (the questions are ${QUESTIONS.map((q) => q.key).join(', ')})`;
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
  const answers = readAnswers(join(dir, ANSWERS_FILE));
  if (typeof answers === 'string') {
    const [first, ...rest] = QUESTIONS;
    result.tasks.push({ task: taskOf(first!), status: 'fail', failure: { expected: `your ${ANSWERS_FILE} reads`, got: answers, flows: [] } });
    for (const q of rest) result.tasks.push({ task: taskOf(q), status: 'not-checked', reason: `your ${ANSWERS_FILE} does not read` });
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
    result.notes.push(`measured at ${RATIO_SERVICES.toLocaleString('en-US')} services (${opts.engine === 'vm' ? 'VM' : 'kernel'}): iptables/maps = ${measured.toFixed(1)}`);
    const off = Math.abs(Math.log10(Number(given)) - Math.log10(measured));
    result.tasks.push(off <= RATIO_TOLERANCE_DECADES ? { task: taskOf(q), status: 'pass' }
      : fail(`${given}, but this check measured ${measured.toFixed(1)}`, [`run: twinpath bench scaling --services ${RATIO_SERVICES}${opts.engine === 'kernel' ? ' --engine kernel' : ''} and read the last column`]));
  }
  return done();
}

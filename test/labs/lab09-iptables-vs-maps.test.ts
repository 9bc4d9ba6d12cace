// Lab 9 (iptables versus eBPF maps): the answers check over the lab's starting and solution
// files, with the ratio measured live in each engine, and every way an answers file can be wrong
// (with a fixed measurement, so those cases do not depend on the machine's speed).
//
// The lab framework (src/labs) has no `bench` kind yet, so the lab's definition sits in
// labs/09-iptables-vs-maps/lab.pending.yaml and these tests call the checker directly.

import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { checkScalingLab, QUESTIONS, RATIO_SERVICES } from '../../src/bench/lab_answers.js';
import type { Lab } from '../../src/labs/lab.js';
import { firstFailure } from '../../src/labs/result.js';
import type { EngineKind } from '../../src/engine/engine.js';
import { describeKernel } from '../helpers/kernel.js';
import { LABS, scratch } from './helpers.js';

const LAB_DIR = join(LABS, '09-iptables-vs-maps');

/** The pending definition as the framework's Lab (titles and hints; the kind is not registered). */
function pendingLab(): Lab {
  const y = parse(readFileSync(join(LAB_DIR, 'lab.pending.yaml'), 'utf8'));
  return {
    number: y.number, slug: y.slug, title: y.title, kind: y.kind, needs: y.needs, engines: y.engines,
    dir: LAB_DIR, file: join(LAB_DIR, 'lab.pending.yaml'), traffic: '',
    tasks: y.tasks.map((t: { id: string; title: string; hints: string[] }) => ({ ...t, expect: [], mustStayBlocked: [], noUnexpectedDrops: false, at: {} })),
  } as Lab;
}

function workWith(answers: string | undefined): string {
  const dir = join(scratch(), 'work');
  mkdirSync(dir);
  if (answers !== undefined) writeFileSync(join(dir, 'answers.yaml'), answers);
  return dir;
}

function copyOf(sub: 'start' | 'solution'): string {
  const dir = workWith(undefined);
  copyFileSync(join(LAB_DIR, sub, 'answers.yaml'), join(dir, 'answers.yaml'));
  return dir;
}

const fixed = (ratio: number) => async () => ratio;
const lab = pendingLab();

describe('lab 9 definition', () => {
  it('has one task per question, in order, each with two or three hints', () => {
    expect(lab.tasks.map((t) => t.id)).toEqual(QUESTIONS.map((q) => q.id));
    for (const t of lab.tasks) expect(t.hints.length).toBeGreaterThanOrEqual(2);
    expect(lab.number).toBe(9);
  });
});

function liveSuite(engine: EngineKind): void {
  it('fails the starting files at the first question, unanswered', async () => {
    const r = await checkScalingLab(lab, copyOf('start'), { engine });
    expect(r.passed).toBe(false);
    const f = firstFailure(r)!;
    expect(f.task.id).toBe('which-grows');
    expect(f.failure!.expected).toBe('grows: the path whose cost per packet grows with the number of services (iptables, maps)');
    expect(f.failure!.got).toBe('grows is not answered yet');
    expect(r.tasks.map((t) => t.status)).toEqual(['fail', 'fail', 'fail', 'fail']);
  });

  it('passes the solution, with the ratio measured here', async () => {
    const r = await checkScalingLab(lab, copyOf('solution'), { engine });
    expect(r.tasks.map((t) => [t.task.id, t.status, t.failure?.got])).toEqual(QUESTIONS.map((q) => [q.id, 'pass', undefined]));
    expect(r.passed).toBe(true);
    expect(r.notes.join('\n')).toMatch(new RegExp(`measured at 10,000 services \\(${engine === 'vm' ? 'VM' : 'kernel'}\\): iptables/maps = \\d+\\.\\d`));
  }, 60_000);
}

describe('lab 9 in the VM', () => liveSuite('vm'));
describeKernel('lab 9 in the kernel', () => liveSuite('kernel'));

describe('lab 9 answers', () => {
  const solution = readFileSync(join(LAB_DIR, 'solution', 'answers.yaml'), 'utf8');
  const check = (text: string | undefined, ratio = 200) => checkScalingLab(lab, workWith(text), { engine: 'vm', measure: fixed(ratio) });

  it('accepts the power of ten nearest to the measurement, and says what it measured otherwise', async () => {
    expect((await check(solution, 200)).passed).toBe(true);
    expect((await check(solution, 45)).passed).toBe(true);
    const far = await check(solution.replace('ratio: 100', 'ratio: 1000'), 200);
    const f = firstFailure(far)!;
    expect(f.task.id).toBe('ratio-at-10000');
    expect(f.failure!.got).toBe('1000, but this check measured 200.0');
    expect(f.failure!.detail).toEqual([`run: twinpath bench scaling --services ${RATIO_SERVICES} and read the last column`]);
    expect((await check(solution.replace('ratio: 100', 'ratio: 10'), 200)).passed).toBe(false);
    expect((await check(solution.replace('ratio: 100', 'ratio: 1000'), 800)).passed).toBe(true);
  });

  it('judges each question on its own', async () => {
    const r = await check(solution.replace('slope: 1', 'slope: 2').replace('random: 1/2', 'random: 1'));
    expect(r.tasks.map((t) => t.status)).toEqual(['pass', 'fail', 'fail', 'pass']);
    expect(r.tasks[1]!.failure!.got).toBe('"2" is not what the chart shows');
    expect(r.tasks[1]!.task.title).toBe('The slope of the iptables line');
  });

  it('refuses answers that are not among the choices', async () => {
    const r = await check(solution.replace('grows: iptables', 'grows: IPVS'));
    expect(firstFailure(r)!.failure!.got).toBe('"IPVS" is not one of the choices');
  });

  it('fails the first task, and checks nothing else, when the file is missing or does not read', async () => {
    for (const [text, got] of [
      [undefined, /^answers\.yaml is missing/],
      ['grows: [iptables\n', /^answers\.yaml:\d+:\d+: /],
      ['- iptables\n', /expected "key: answer" lines/],
      ['grows: iptables\nspeed: fast\n', /"speed" is not a question/],
    ] as const) {
      let measured = false;
      const r = await checkScalingLab(lab, workWith(text), { engine: 'vm', measure: async () => { measured = true; return 100; } });
      expect(r.tasks.map((t) => t.status)).toEqual(['fail', 'not-checked', 'not-checked', 'not-checked']);
      expect(r.tasks[0]!.failure!.got).toMatch(got);
      expect(measured).toBe(false);
    }
  });
});

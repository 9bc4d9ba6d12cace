// lab.yaml: every committed lab loads; bad definitions are LAB_BAD_FILE errors with the file,
// line, column and path of the offending node; a lab is found by number, slug or directory.

import { cpSync, existsSync, writeFileSync, readFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { findLab, labDirs, listLabs } from '../../src/labs/catalog.js';
import { loadLab } from '../../src/labs/lab.js';
import { LABS, scratch } from './helpers.js';
import { thrown } from '../helpers/errors.js';

/** A copy of lab 1 (or of the lab `name`, when it exists) under a scratch labs/ directory, with
 * lab.yaml replaced by `text`. */
function variant(text: string, name = '01-star-wars'): string {
  const root = join(scratch(), 'labs');
  mkdirSync(root);
  const dir = join(root, name);
  cpSync(join(LABS, existsSync(join(LABS, name)) ? name : '01-star-wars'), dir, { recursive: true });
  writeFileSync(join(dir, 'lab.yaml'), text);
  return dir;
}

const LAB1 = readFileSync(join(LABS, '01-star-wars', 'lab.yaml'), 'utf8');
const LAB8 = readFileSync(join(LABS, '08-service-load-balancing', 'lab.yaml'), 'utf8');
const LAB9 = readFileSync(join(LABS, '09-iptables-vs-maps', 'lab.yaml'), 'utf8');

describe('the committed labs', () => {
  test('all load, in number order, with their tasks and hints', () => {
    const labs = listLabs();
    expect(labs.map((l) => l.number)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    for (const l of labs) {
      expect(l.tasks.length).toBeGreaterThan(0);
      for (const t of l.tasks) expect(t.hints.length).toBeGreaterThanOrEqual(2);
    }
    expect(labDirs().length).toBe(labs.length);
  });

  test('a lab is found by number, slug or directory name; an unknown one is LAB_NOT_FOUND', () => {
    expect(findLab('1').slug).toBe('star-wars');
    expect(findLab('01').slug).toBe('star-wars');
    expect(findLab('deny-precedence').number).toBe(6);
    expect(findLab('10-xdp-drop-port').kind).toBe('xdp');
    expect(findLab('8').kind).toBe('services');
    expect(findLab('iptables-vs-maps').kind).toBe('bench');
    const e = thrown(() => findLab('11'));
    expect(e.code).toBe('LAB_NOT_FOUND');
    expect(e.detail).toContain('01-star-wars');
  });
});

describe('bad lab.yaml', () => {
  test('an unknown field, at its position', () => {
    const e = thrown(() => loadLab(variant(LAB1.replace('kind: policy', 'kind: policy\nengine: [vm]'))));
    expect(e.code).toBe('LAB_BAD_FILE');
    expect(e.location).toMatchObject({ path: 'engine', line: 5, column: 1 });
    expect(e.location.file).toMatch(/01-star-wars\/lab\.yaml$/);
  });

  test('a typo inside a task expectation names the task and the expectation', () => {
    const e = thrown(() => loadLab(variant(LAB1.replace('        dropReason: POLICY_DENIED', '        dropreason: POLICY_DENIED'))));
    expect(e.code).toBe('LAB_BAD_FILE');
    expect(e.location.path).toBe('tasks[0].expect[0].dropreason');
    expect(e.location.line).toBe(19);
  });

  test('a drop reason that does not exist, and one without verdict DROPPED', () => {
    const e = thrown(() => loadLab(variant(LAB1.replace('dropReason: POLICY_DENIED', 'dropReason: POLICY_DENIED_PLEASE'))));
    expect(e.location.path).toBe('tasks[0].expect[0].dropReason');
    const f = thrown(() => loadLab(variant(LAB1.replace('verdict: DROPPED\n        dropReason', 'verdict: FORWARDED\n        dropReason'))));
    expect(f.detail).toContain('goes with verdict DROPPED');
  });

  test('numbers and Hubble names of drop reasons both work', () => {
    const lab = loadLab(variant(LAB1.replace('dropReason: POLICY_DENIED', 'dropReason: 133')));
    expect(lab.tasks[0]!.expect[0]!.dropReason).toBe(133);
    expect(loadLab(variant(LAB1)).tasks[0]!.expect[0]!.dropReason).toBe(133);
  });

  test('one hint, or four, is refused', () => {
    const one = LAB1.replace(/hints:\n( {6}- .*\n){3}/, 'hints:\n      - only one\n');
    expect(thrown(() => loadLab(variant(one))).location.path).toBe('tasks[0].hints');
  });

  test('the directory must match number and slug', () => {
    const e = thrown(() => loadLab(variant(LAB1, '02-star-wars')));
    expect(e.location.path).toBe('slug');
    expect(e.detail).toContain('01-star-wars');
  });

  test('a missing traffic file, a path out of the lab, a missing capture', () => {
    expect(thrown(() => loadLab(variant(LAB1.replace('traffic: traffic.json', 'traffic: nowhere.json')))).location.path).toBe('traffic');
    expect(thrown(() => loadLab(variant(LAB1.replace('cluster: cluster.yaml', 'cluster: ../02-namespace-isolation/cluster.yaml')))).detail).toContain('inside the lab');
    const dir = variant(LAB1.replace('traffic: traffic.json', 'traffic: other.json'));
    writeFileSync(join(dir, 'other.json'), '{"flows": []}');
    const e = thrown(() => loadLab(dir));
    expect(e.location.path).toBe('traffic');
    expect(e.detail).toContain('other.pcap is missing');
  });

  test('xdp fields in a policy lab, a task that checks nothing, twice the same task id', () => {
    expect(thrown(() => loadLab(variant(LAB1.replace('kind: policy', 'kind: policy\nsource: x.bpf.c')))).detail).toContain('xdp labs');
    const empty = LAB1.replace('    noUnexpectedDrops: true\n', '');
    expect(thrown(() => loadLab(variant(empty))).location.path).toBe('tasks[2]');
    const twice = LAB1.replace('id: let-the-empire-land', 'id: keep-the-xwing-out');
    expect(thrown(() => loadLab(variant(twice))).detail).toContain('used twice');
  });

  test('not YAML at all: the position of the syntax error', () => {
    const e = thrown(() => loadLab(variant('number: 1\nslug: [star-wars\n')));
    expect(e.code).toBe('LAB_BAD_FILE');
    expect(e.location.line).toBeGreaterThanOrEqual(2);
  });

  test('a selector that matches no flow is reported at the selector when checked', async () => {
    const { checkLab } = await import('../../src/labs/check.js');
    const dir = variant(LAB1.replace('flow: xwing-exhaust-port', 'flow: no-such-flow'));
    const lab = loadLab(dir);
    const work = join(scratch(), 'w');
    mkdirSync(work);
    writeFileSync(join(work, '.twinpath-lab'), '{"lab": "01-star-wars"}');
    await expect(checkLab(lab, work)).rejects.toMatchObject({ code: 'LAB_BAD_FILE', location: { path: 'tasks[0].mustStayBlocked[0]', line: 22 } });
  });
});

describe('services and bench labs', () => {
  const lab8 = (text: string) => loadLab(variant(text, '08-service-load-balancing'));
  const lab9 = (text: string) => loadLab(variant(text, '09-iptables-vs-maps'));

  test('lab 8 reads its backend expectations and its backends check', () => {
    const lab = lab8(LAB8);
    expect(lab.kind).toBe('services');
    expect(lab.tasks[0]!.expect[0]).toMatchObject({ select: { to: 'ip:10.96.0.40' }, verdict: 'FORWARDED', dnat: true, revNat: true });
    expect(lab.tasks[0]!.expect[1]).toMatchObject({ select: { flow: 'checkout-to-cart-01' }, backend: 'shop/cart-0' });
    expect(lab.tasks[0]!.expect[1]!.verdict).toBeUndefined();
    expect(lab.tasks[1]!.backends).toMatchObject({ notTo: ['shop/cart-1'], moved: 3, kept: 9 });
  });

  test('service fields elsewhere, a backend that is no pod name, an expectation that expects nothing', () => {
    expect(thrown(() => loadLab(variant(LAB1.replace('        verdict: DROPPED\n', '        verdict: DROPPED\n        dnat: true\n')))).detail).toContain('services labs');
    expect(thrown(() => loadLab(variant(LAB1.replace('    noUnexpectedDrops: true\n', '    backends: { notTo: [default/xwing] }\n')))).detail).toContain('services labs');
    expect(thrown(() => lab8(LAB8.replace('backend: shop/cart-0', 'backend: cart-0'))).location.path).toBe('tasks[0].expect[1].backend');
    expect(thrown(() => lab8(LAB8.replace('        backend: shop/cart-0', '        port: 80'))).detail).toContain('expect something of the flow');
    expect(thrown(() => lab8(LAB8.replace('verdict: FORWARDED', 'verdict: DROPPED'))).detail).toContain('reaches no backend');
    expect(thrown(() => lab8(LAB8.replace('      moved: 3\n', '      moved: many\n'))).location.path).toBe('tasks[1].backends.moved');
  });

  test('lab 9 has no traffic, an answers file in start/ and solution/, and tasks that are questions', () => {
    const lab = lab9(LAB9);
    expect(lab).toMatchObject({ kind: 'bench', answers: 'answers.yaml' });
    expect(lab.traffic).toBeUndefined();
    expect(lab.tasks.map((t) => t.id)).toEqual(['which-grows', 'read-the-slope', 'average-case', 'ratio-at-10000']);
    expect(thrown(() => lab9(LAB9.replace('answers: answers.yaml', 'answers: nowhere.yaml'))).detail).toContain('start/nowhere.yaml does not exist');
    expect(thrown(() => lab9(LAB9.replace('answers: answers.yaml', 'answers: answers.yaml\ntraffic: traffic.json'))).location.path).toBe('traffic');
    expect(thrown(() => lab9(LAB9.replace('answers: answers.yaml\n', ''))).location.path).toBe('answers');
    expect(thrown(() => lab9(LAB9.replace('    hints:\n      - Follow', '    noUnexpectedDrops: true\n    hints:\n      - Follow'))).detail).toContain('not for bench labs');
    expect(thrown(() => loadLab(variant(LAB1.replace('kind: policy', 'kind: policy\nanswers: answers.yaml')))).detail).toContain('bench labs');
  });

  test('a bench task that is not a question of the benchmark is refused when checked', async () => {
    const { checkLab } = await import('../../src/labs/check.js');
    const lab = lab9(LAB9.replace('id: average-case', 'id: average-cost'));
    const work = join(scratch(), 'w');
    mkdirSync(work);
    await expect(checkLab(lab, work)).rejects.toMatchObject({ code: 'LAB_BAD_FILE', location: { path: 'tasks[2]' } });
  });
});

// twinpath lab list|start|check|hint|solution|watch as a learner uses them: exit statuses, the
// marker, refusals (a non-empty directory, the repository's own labs/), hints in order, the
// solution printed and applied, and watch re-checking after a save.

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, test } from 'vitest';
import { findLab } from '../../src/labs/catalog.js';
import { checkLab, missingNeeds } from '../../src/labs/check.js';
import type { CheckResult } from '../../src/labs/result.js';
import { watchLab } from '../../src/labs/watch.js';
import { applySolution } from '../../src/labs/workdir.js';
import { cli, LABS, scratch, started, workdir } from './helpers.js';

function treeHash(dir: string): string {
  const h = createHash('sha256');
  const walk = (d: string) => {
    for (const n of readdirSync(d).sort()) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else h.update(relative(dir, p)).update(readFileSync(p));
    }
  };
  walk(dir);
  return h.digest('hex');
}

describe('lab list', () => {
  test('every lab, in order, with what it needs', async () => {
    const r = await cli('lab', 'list');
    expect(r.status).toBe(0);
    const lines = r.out.trimEnd().split('\n');
    expect(lines.map((l) => l.slice(0, 2))).toEqual(['01', '02', '03', '04', '05', '06', '07', '08', '09', '10']);
    expect(lines[7]).toMatch(/^08  service-load-balancing +Service load balancing, DNAT and Maglev +needs lb$/);
    expect(lines.at(-1)).toMatch(/xdp-drop-port +Write your own XDP program in C +needs clang$/);
  });
});

describe('lab start', () => {
  test('copies the starting files, the README and the lab material, writes the marker, and leaves labs/ alone', async () => {
    const before = treeHash(LABS);
    const dir = workdir();
    const r = await cli('lab', 'start', 'star-wars', dir);
    expect(r.status).toBe(0);
    expect(readdirSync(dir).sort()).toEqual(['.twinpath-lab', 'README.md', 'deathstar-policy.yaml', 'lab']);
    expect(readdirSync(join(dir, 'lab')).sort()).toEqual(['cluster.yaml', 'traffic.json', 'traffic.pcap']);
    expect(JSON.parse(readFileSync(join(dir, '.twinpath-lab'), 'utf8'))).toEqual({ lab: '01-star-wars', hintsShown: {} });
    expect(readFileSync(join(dir, 'deathstar-policy.yaml'), 'utf8')).toBe(readFileSync(join(LABS, '01-star-wars/start/deathstar-policy.yaml'), 'utf8'));
    expect(treeHash(LABS)).toBe(before);
  });

  test('refuses a directory that is not empty, unless --force', async () => {
    const dir = workdir();
    mkdirSync(dir);
    writeFileSync(join(dir, 'notes.txt'), 'mine');
    const r = await cli('lab', 'start', '1', dir);
    expect(r.status).toBe(2);
    expect(r.err).toContain('[LAB_WORKDIR]');
    expect(existsSync(join(dir, '.twinpath-lab'))).toBe(false);
    const f = await cli('lab', 'start', '1', dir, '--force');
    expect(f.status).toBe(0);
    expect(readFileSync(join(dir, 'notes.txt'), 'utf8')).toBe('mine');
    expect(existsSync(join(dir, 'deathstar-policy.yaml'))).toBe(true);
  });

  test('refuses the repository\'s own labs/ as a working directory', async () => {
    const before = treeHash(LABS);
    const r = await cli('lab', 'start', '1', join(LABS, '01-star-wars', 'scratch'), '--force');
    expect(r.status).toBe(2);
    expect(r.err).toContain('[LAB_WORKDIR]');
    expect(treeHash(LABS)).toBe(before);
  });

  test('an unknown lab', async () => {
    const r = await cli('lab', 'start', '99', workdir());
    expect(r.status).toBe(2);
    expect(r.err).toContain('[LAB_NOT_FOUND]');
  });
});

describe('lab check, hint, solution', () => {
  test('check without a marker says how to start', async () => {
    const r = await cli('lab', 'check', scratch());
    expect(r.status).toBe(2);
    expect(r.err).toContain('lab start');
    expect(r.err).toContain('[LAB_WORKDIR]');
  });

  test('exit 1 with the starting files, 0 with the solution', async () => {
    const dir = await started(1);
    const fail = await cli('lab', 'check', dir);
    expect(fail.status).toBe(1);
    expect(fail.out).toContain('task 1 keep-the-xwing-out fails');
    expect(fail.out).toContain('hint: twinpath lab hint (0 of 3 shown for this task)');
    const apply = await cli('lab', 'solution', dir, '--apply');
    expect(apply.out).toContain('deathstar-policy.yaml');
    const pass = await cli('lab', 'check', dir);
    expect(pass.status).toBe(0);
    expect(pass.out).toMatch(/all 3 tasks pass\n$/);
  });

  test('hints come in order for the first failing task, are remembered, and stop at the last', async () => {
    const dir = await started(1);
    const lab = findLab('1');
    const hints = lab.tasks[0]!.hints;
    for (let i = 1; i <= hints.length + 1; i++) {
      const r = await cli('lab', 'hint', dir);
      expect(r.status).toBe(0);
      const n = Math.min(i, hints.length);
      expect(r.out).toContain(`hint ${n} of ${hints.length}: ${hints[n - 1]}`);
    }
    expect(JSON.parse(readFileSync(join(dir, '.twinpath-lab'), 'utf8')).hintsShown).toEqual({ 'keep-the-xwing-out': 3 });
    expect((await cli('lab', 'check', dir)).out).toContain('hints: all 3 shown');
    applySolution(lab, dir);
    expect((await cli('lab', 'hint', dir)).out).toBe('all 3 tasks pass: no hint needed\n');
  });

  test('a policy file that does not load fails the first task with its position', async () => {
    const dir = await started(1);
    writeFileSync(join(dir, 'deathstar-policy.yaml'), 'apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: rule1, namespace: default}\nspec:\n  endpointSelector: {matchLabels: {org: empire}}\n  ingres: []\n');
    const r = await cli('lab', 'check', dir);
    expect(r.status).toBe(1);
    expect(r.out).toContain('expected: your files load and compile');
    expect(r.out).toMatch(/got: {6}deathstar-policy\.yaml:6:3: .*\[POLICY_UNKNOWN_FIELD\]/);
    expect(r.out).toContain('not checked: your files do not load');
  });

  test('an over-broad policy fails on traffic that must stay blocked', async () => {
    const dir = await started(1);
    const solution = readFileSync(join(LABS, '01-star-wars/solution/deathstar-policy.yaml'), 'utf8');
    // Allow every port from the Empire... and from everyone.
    writeFileSync(join(dir, 'deathstar-policy.yaml'), solution.replace('    - matchLabels:\n        org: empire\n    toPorts:\n    - ports:\n      - port: "80"\n        protocol: TCP\n', '    - matchLabels:\n        org: empire\n  - fromEntities: [cluster]\n    toPorts:\n    - ports:\n      - port: "443"\n        protocol: TCP\n'));
    const r = await checkLab(findLab('1'), dir);
    const first = r.tasks.find((t) => t.status === 'fail')!;
    expect(first.task.id).toBe('keep-the-xwing-out');
    expect(first.failure!.expected).toBe('flow xwing-exhaust-port (default/xwing -> default/deathstar TCP/443) stays blocked');
    expect(first.failure!.got).toMatch(/^packet #\d+ was FORWARDED \(allowed by rule1: .*\): the policy is too broad$/);
  });

  test('an endpointSelector that isolates every pod fails on unexpected drops', async () => {
    const dir = await started(1);
    const solution = readFileSync(join(LABS, '01-star-wars/solution/deathstar-policy.yaml'), 'utf8');
    writeFileSync(join(dir, 'deathstar-policy.yaml'), solution.replace('    matchLabels:\n      org: empire\n      class: deathstar\n', '    {}\n'));
    const r = await checkLab(findLab('1'), dir);
    expect(r.tasks.map((t) => t.status)).toEqual(['pass', 'pass', 'fail']);
    expect(r.tasks[2]!.failure!.got).toMatch(/^packet #\d+ of flow (xwing-pings-tiefighter|tiefighter-pings-xwing) .* was DROPPED \(Policy denied at default\/\w+ ingress, no rule allows it\)$/);
  });

  test('solution prints every solution file', async () => {
    const dir = await started(2);
    const r = await cli('lab', 'solution', dir);
    expect(r.status).toBe(0);
    expect(r.out).toContain('--- allow-linkerd.yaml\n');
    expect(r.out).toContain('--- deny-all-ingress.yaml\n');
    expect(r.out).toContain('name: allow-linkerd-viz');
  });

  test('--kernel on a lab the kernel cannot check; l7 and lb are provided', async () => {
    const lab = { ...findLab('1'), engines: ['vm' as const] };
    expect(missingNeeds(lab, 'kernel')).toContain('VM only');
    await expect(checkLab(lab, await started(1), { kernel: true })).rejects.toMatchObject({ code: 'LAB_NEEDS' });
    expect(missingNeeds({ ...findLab('1'), needs: ['l7', 'lb'] }, 'vm')).toBeUndefined();
    expect(missingNeeds(findLab('8'), 'vm')).toBeUndefined();
    expect(missingNeeds(findLab('1'), 'vm')).toBeUndefined();
  });
});

describe('lab watch', () => {
  test('checks at once, then again after a save', async () => {
    const dir = await started(1);
    const lab = findLab('1');
    const results: CheckResult[] = [];
    const stop = new AbortController();
    let saved = false;
    const done = watchLab(lab, dir, {
      check: () => checkLab(lab, dir),
      onResult: (r) => {
        results.push(r);
        if (!saved) {
          saved = true;
          // The learner saves the answer.
          setTimeout(() => applySolution(lab, dir), 50);
        } else if (r.passed) {
          stop.abort();
        }
      },
      onError: (e) => {
        stop.abort();
        throw e;
      },
      signal: stop.signal,
      debounceMs: 50,
    });
    const timeout = setTimeout(() => stop.abort(), 20_000);
    await done;
    clearTimeout(timeout);
    expect(results.map((r) => r.passed)).toEqual([false, true]);
  });

  test('the command stops after --timeout, with the last check\'s status', async () => {
    const dir = await started(1);
    const r = await cli('lab', 'watch', dir, '--timeout', '1');
    expect(r.status).toBe(1);
    expect(r.out).toContain('task 1 keep-the-xwing-out fails');
    expect(r.out).toMatch(/-- watching .* for changes \(Ctrl-C stops\)\n$/);
    expect((await cli('lab', 'watch', dir, '--timeout', '0')).err).toContain('[USAGE]');
  });
});

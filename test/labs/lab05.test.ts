// Lab 5 (L7 HTTP rules) step by step, as a learner goes: the starting files, the L4 rule alone
// (task 1 passes, the exhaust-port call still gets through: the datapath sees no requests),
// the solution (the proxy refuses PUT /v1/exhaust-port with 403), and over-narrow or broken
// HTTP rules; in the VM and the kernel.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { findLab } from '../../src/labs/catalog.js';
import { checkLab } from '../../src/labs/check.js';
import { firstFailure } from '../../src/labs/result.js';
import { describeKernel } from '../helpers/kernel.js';
import { cli, LABS, started } from './helpers.js';

const SOLUTION = readFileSync(join(LABS, '05-l7-http/solution/deathstar-policy.yaml'), 'utf8');
/** The solution without its HTTP rules: an L4 rule on port 80. */
const L4_ONLY = SOLUTION.replace(/\n +rules:\n +http:\n( +- method: POST\n +path: \/v1\/request-landing\n)/, '\n');

async function withPolicy(text: string): Promise<string> {
  const dir = await started(5);
  writeFileSync(join(dir, 'deathstar-policy.yaml'), text);
  return dir;
}

function steps(kernel: boolean): void {
  const lab = () => findLab('05-l7-http');
  test('the L4 rule alone passes task 1 and fails task 2 on the exhaust-port call, FORWARDED without the proxy', async () => {
    expect(L4_ONLY).not.toContain('http');
    const r = await checkLab(lab(), await withPolicy(L4_ONLY), { kernel });
    expect(r.tasks.map((t) => t.status)).toEqual(['pass', 'fail', 'pass']);
    const f = firstFailure(r)!.failure!;
    expect(f.expected).toBe('flow tiefighter-exhaust-port (default/tiefighter -> default/deathstar TCP/80) is DROPPED');
    expect(f.got).toMatch(/^packet #9 was FORWARDED \(allowed by rule1: .*\); the connection is not redirected to the L7 proxy: no HTTP rule applies to it$/);
  });

  test('the solution: the proxy forwards the landing and refuses the exhaust port with 403', async () => {
    const dir = await withPolicy(SOLUTION);
    const r = await checkLab(lab(), dir, { kernel });
    expect(r.passed).toBe(true);
    expect(r.notes).toContain('the L7 proxy judged 2 HTTP requests');
  });

  test('an HTTP rule that allows too little fails on the landing (task 1), showing the proxy flows', async () => {
    // A regular expression matches the whole path: /v1/request does not allow /v1/request-landing.
    const r = await checkLab(lab(), await withPolicy(SOLUTION.replace('path: /v1/request-landing', 'path: /v1/request')), { kernel });
    const t = firstFailure(r)!;
    expect(t.task.id).toBe('empire-only');
    expect(t.failure!.expected).toBe('flow tiefighter-lands (default/tiefighter -> default/deathstar TCP/80) is FORWARDED');
    expect(t.failure!.got).toMatch(/^its request POST http:\/\/deathstar\.default\.svc\.cluster\.local\/v1\/request-landing \(packet #4\) was DROPPED by the L7 proxy \(no HTTP rule allows it, answered 403 Access denied\)$/);
    expect(t.failure!.detail!.join('\n')).toMatch(/http-request DROPPED \(HTTP\/1\.1 POST http:\/\/deathstar\.default\.svc\.cluster\.local\/v1\/request-landing\)\n.*http-response FORWARDED \(HTTP\/1\.1 403 0ms/);
  });

  test('an HTTP rule that allows too much fails on the exhaust port at the proxy', async () => {
    const broad = SOLUTION.replace('method: POST', 'method: "POST|PUT"').replace('path: /v1/request-landing', 'path: "/v1/.*"');
    const r = await checkLab(lab(), await withPolicy(broad), { kernel });
    const t = firstFailure(r)!;
    expect(t.task.id).toBe('protect-the-exhaust-port');
    expect(t.failure!.got).toMatch(/^its request PUT http:\/\/deathstar\.default\.svc\.cluster\.local\/v1\/exhaust-port \(packet #9\) was FORWARDED by the L7 proxy \(allowed by rule1 http\[0\]: method=POST\|PUT path=\/v1\/\.\* \(.*deathstar-policy\.yaml:\d+:\d+\)\)$/);
  });
}

describe('lab 05-l7-http in the VM', () => {
  steps(false);

  test('a regular expression the proxy refuses fails the first task at its position', async () => {
    const r = await checkLab(findLab('05-l7-http'), await withPolicy(SOLUTION.replace('path: /v1/request-landing', 'path: "/v1/(request"')));
    const f = firstFailure(r)!;
    expect(f.task.id).toBe('empire-only');
    expect(f.failure!.got).toMatch(/deathstar-policy\.yaml:\d+:\d+.*\[POLICY_BAD_VALUE\]$/);
  });

  test('lab check from the command line: the starting files fail first on the X-wing', async () => {
    const dir = await started(5);
    const r = await cli('lab', 'check', dir);
    expect(r.status).toBe(1);
    expect(r.out).toContain('expected: flow xwing-lands (default/xwing -> default/deathstar TCP/80) is DROPPED');
  });
});

describeKernel('lab 05-l7-http in the kernel', () => {
  steps(true);
});

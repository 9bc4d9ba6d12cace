// Lab 8 (service load balancing): what the lab teaches holds for its files, and its check judges
// what left the datapath. Replayed through the datapath, every connection to the ClusterIP is
// DNATed to a cart pod and every reply, recorded as it left the cart pod, reaches checkout from
// the ClusterIP again (reverse NAT); with cart-1 drained from the EndpointSlice (the solution),
// only the connections that were on cart-1 move and every other one keeps its pod (Maglev).
// Wrong answers fail where they should: a pod drained too many, a Service left without backends.

import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findLab } from '../../src/labs/catalog.js';
import type { Expectation, Lab } from '../../src/labs/lab.js';
import { checkLab } from '../../src/labs/check.js';
import { firstFailure } from '../../src/labs/result.js';
import { readTrafficSpec } from '../../src/labs/traffic.js';
import { describeKernel } from '../helpers/kernel.js';
import { cli, LABS, scratch, started } from './helpers.js';

const DIR = join(LABS, '08-service-load-balancing');
const SLICE = 'cart-endpointslice.yaml';

/** Client port -> the pod its SYN reached, from the replay's compact output. */
async function backends(slice: 'start' | 'solution'): Promise<Map<number, string>> {
  const r = await cli('replay', join(DIR, 'traffic.pcap'), '--cluster', join(DIR, 'cluster.yaml'), '--policy', join(DIR, slice, SLICE));
  expect(r.err).toBe('');
  expect(r.status).toBe(0);
  const out = new Map<number, string>();
  for (const line of r.out.split('\n')) {
    const m = /checkout-\S+:(\d+) \(ID:\d+\) -> (shop\/cart-\d):8080 .* from-endpoint FORWARDED \(TCP Flags: SYN\)$/.exec(line);
    if (m) out.set(Number(m[1]), m[2]!);
  }
  return out;
}

describe('lab 8 content', () => {
  it('spreads the twelve connections over the three cart pods, as the capture recorded them', async () => {
    const before = await backends('start');
    expect(before.size).toBe(12);
    expect(new Set(before.values())).toEqual(new Set(['shop/cart-0', 'shop/cart-1', 'shop/cart-2']));
    // The spec's replyFrom is the pod each connection reaches with the starting files.
    const spec = readTrafficSpec(join(DIR, 'traffic.json'));
    expect(spec.flows.map((f) => f.replyFrom)).toEqual([...before.values()]);
    expect(spec.flows.every((f) => f.replyPort === 8080)).toBe(true);
  });

  it('moves only cart-1\'s connections when cart-1 is drained', async () => {
    const before = await backends('start');
    const after = await backends('solution');
    expect(after.size).toBe(12);
    expect([...after.values()]).not.toContain('shop/cart-1');
    const moved = [...before].filter(([port, pod]) => after.get(port) !== pod);
    expect(moved.length).toBe(3);
    expect(moved.every(([, pod]) => pod === 'shop/cart-1')).toBe(true);
  });
});

/** A started lab 8 whose EndpointSlice is the solution's, edited by `edit`. */
async function withSlice(edit: (yaml: string) => string): Promise<string> {
  const dir = await started(8);
  writeFileSync(join(dir, SLICE), edit(readFileSync(join(DIR, 'solution', SLICE), 'utf8')));
  return dir;
}

function checkSuite(kernel: boolean): void {
  it('the starting files pass the translation task and fail the drain at cart-1', async () => {
    const r = await checkLab(findLab('8'), await started(8), { kernel });
    expect(r.tasks.map((t) => t.status)).toEqual(['pass', 'fail']);
    const f = firstFailure(r)!.failure!;
    expect(f.expected).toBe('no connection reaches shop/cart-1');
    expect(f.got).toBe('flow checkout-to-cart-05 (shop/checkout-7d9f8b6c5-x2vql -> ip:10.96.0.40 TCP/80) reached shop/cart-1 (packet #21)');
    expect(f.packet).toBe(21);
    expect(f.flows.length).toBeGreaterThan(0);
    expect(r.notes).toContain('service shop/cart 10.96.0.40:80/TCP: 3 backends (shop/cart-0, shop/cart-1, shop/cart-2)');
  });

  it('the solution passes: the moved connections are translated both ways too', async () => {
    const dir = await started(8);
    expect((await cli('lab', 'solution', dir, '--apply')).status).toBe(0);
    const r = await checkLab(findLab('8'), dir, { kernel });
    expect(r.tasks.map((t) => [t.task.id, t.status, t.failure?.got])).toEqual([['see-the-translation', 'pass', undefined], ['drain-cart-1', 'pass', undefined]]);
    expect(r.packets).toBe(60);
  });

  it('draining cart-0 as well moves connections that did not need to move', async () => {
    const dir = await withSlice((y) => y.replace(/ {2}- addresses: \[10\.0\.1\.31\]\n(?: {4}.*\n)+/, ''));
    const r = await checkLab(findLab('8'), dir, { kernel });
    const failed = firstFailure(r)!;
    // Flow 01 was on cart-0: the first task names it.
    expect(failed.task.id).toBe('see-the-translation');
    expect(failed.failure!.expected).toBe('flow checkout-to-cart-01 (shop/checkout-7d9f8b6c5-x2vql -> ip:10.96.0.40 TCP/80) reaches shop/cart-0');
    expect(failed.failure!.got).toBe('packet #1 was translated to shop/cart-2 (10.0.1.33:8080); the capture recorded shop/cart-0');
    expect(r.tasks[1]!.failure!.expected).toBe('3 of the 12 connections move from their recorded backend and 9 keep it');
    expect(r.tasks[1]!.failure!.got).toMatch(/^7 moved, 5 kept: flow checkout-to-cart-01 \(.*\) moved from shop\/cart-0 to shop\/cart-2, though shop\/cart-0 was not drained$/);
  });

  it('a Service without endpoints drops its connections (no backend), and says so', async () => {
    const dir = await withSlice((y) => y.replace(/endpoints:\n(?: {2}.*\n)+/, 'endpoints: []\n'));
    const r = await checkLab(findLab('8'), dir, { kernel });
    const f = firstFailure(r)!.failure!;
    expect(f.expected).toBe('flow checkout-to-cart-01 (shop/checkout-7d9f8b6c5-x2vql -> ip:10.96.0.40 TCP/80) is FORWARDED');
    expect(f.got).toMatch(/^packet #1 was DROPPED \(Service backend not found at shop\/checkout-\S+ egress\)$/);
  });
}

/** Lab 8 with one task expecting `e` of flow `flow`. */
function expecting(flow: string, e: Partial<Expectation>): Lab {
  const lab = findLab('8');
  return { ...lab, tasks: [{ ...lab.tasks[0]!, expect: [{ select: { flow, at: {} }, at: {}, ...e }] }] };
}

describe('lab 8 per-flow expectations', () => {
  it('moved: flow 05 was on cart-1, moves when it is drained, and keeps it otherwise', async () => {
    const solved = await withSlice((y) => y);
    const start = await started(8);
    expect((await checkLab(expecting('checkout-to-cart-05', { moved: true }), solved)).passed).toBe(true);
    expect((await checkLab(expecting('checkout-to-cart-01', { moved: false, backend: 'shop/cart-0' }), solved)).passed).toBe(true);
    const f = firstFailure(await checkLab(expecting('checkout-to-cart-05', { moved: true }), start))!.failure!;
    expect(f.expected).toBe('flow checkout-to-cart-05 (shop/checkout-7d9f8b6c5-x2vql -> ip:10.96.0.40 TCP/80) moves from shop/cart-1, its recorded backend');
    expect(f.got).toBe('packet #21 was translated to shop/cart-1 (10.0.1.32:8080), its recorded backend');
  });

  it('dnat and revNat false fail on the translated packets, naming both addresses', async () => {
    const dir = await started(8);
    const d = firstFailure(await checkLab(expecting('checkout-to-cart-01', { dnat: false }), dir))!.failure!;
    expect(d.got).toBe('packet #1 left addressed to 10.0.1.31:8080, translated from 10.96.0.40:80');
    const r = firstFailure(await checkLab(expecting('checkout-to-cart-01', { revNat: false }), dir))!.failure!;
    expect(r.got).toBe('packet #2 was rewritten from 10.0.1.31:8080 to 10.96.0.40:80');
  });

  it('a moved flow is judged on the replies of its new backend: translated back too', async () => {
    const dir = await withSlice((y) => y);
    expect((await checkLab(expecting('checkout-to-cart-05', { verdict: 'FORWARDED', backend: 'shop/cart-0', dnat: true, revNat: true }), dir)).passed).toBe(true);
  });

  it('moved on a flow without a recorded backend is a mistake in lab.yaml', async () => {
    // A copy of the lab whose spec no longer says who answered flow 01.
    const copy = join(scratch(), '08-service-load-balancing');
    cpSync(DIR, copy, { recursive: true });
    const spec = JSON.parse(readFileSync(join(copy, 'traffic.json'), 'utf8'));
    delete spec.flows[0].replyFrom;
    delete spec.flows[0].replyPort;
    writeFileSync(join(copy, 'traffic.json'), JSON.stringify(spec));
    const lab = { ...expecting('checkout-to-cart-01', { moved: false }), ...{ dir: copy, traffic: join(copy, 'traffic.json') } };
    lab.tasks[0]!.expect[0]!.at = { file: join(copy, 'lab.yaml'), path: 'tasks[0].expect[0]' };
    await expect(checkLab(lab, await started(8))).rejects.toMatchObject({ code: 'LAB_BAD_FILE', detail: expect.stringContaining('flow checkout-to-cart-01 has no recorded backend'), location: { path: 'tasks[0].expect[0]' } });
  });
});

describe('lab 8 check in the VM', () => checkSuite(false));
describeKernel('lab 8 check in the kernel', () => checkSuite(true));

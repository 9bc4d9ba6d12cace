// Lab 8 (service load balancing): what the lab teaches holds for its files, and its check judges
// what left the datapath. Replayed through the datapath, every connection to the ClusterIP is
// DNATed to a cart pod and every reply, recorded as it left the cart pod, reaches checkout from
// the ClusterIP again (reverse NAT); with cart-1 drained from the EndpointSlice (the solution),
// only the connections that were on cart-1 move and every other one keeps its pod (Maglev).
// Wrong answers fail where they should: a pod drained too many, a Service left without backends.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findLab } from '../../src/labs/catalog.js';
import { checkLab } from '../../src/labs/check.js';
import { firstFailure } from '../../src/labs/result.js';
import { readTrafficSpec } from '../../src/labs/traffic.js';
import { describeKernel } from '../helpers/kernel.js';
import { cli, LABS, started } from './helpers.js';

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
    expect(r.elapsedMs).toBeLessThan(5000);
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

describe('lab 8 check in the VM', () => checkSuite(false));
describeKernel('lab 8 check in the kernel', () => checkSuite(true));

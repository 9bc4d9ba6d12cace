// Identity-relevant labels (lab 7): which keys a filter keeps, the file's refusals, what the
// filter does to identities and policy-map sizes on the lab's own cluster.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { applyLabelFilter, keepsLabel, measure, readIdentityLabels } from '../../src/labs/identity_labels.js';
import { loadFiles } from '../../src/policy/load.js';
import { compile } from '../../src/policy/compile.js';
import { TwinpathError } from '../../src/errors.js';
import { LABS, scratch } from './helpers.js';

function file(text: string): string {
  const p = join(scratch(), 'identity-labels.yaml');
  writeFileSync(p, text);
  return p;
}

describe('the filter', () => {
  test('empty keeps everything; includes keep only matches; "!" entries leave out; k8s: is optional; prefix*', () => {
    const all = readIdentityLabels(file('identityLabels: []\n'));
    expect(keepsLabel(all, 'pod-template-hash')).toBe(true);
    const only = readIdentityLabels(file('identityLabels: [k8s:app, "team.example.com/*"]\n'));
    expect(['app', 'team.example.com/owner', 'tier'].map((k) => keepsLabel(only, k))).toEqual([true, true, false]);
    const except = readIdentityLabels(file('identityLabels: ["!pod-template-hash", "!statefulset.kubernetes.io/*"]\n'));
    expect(['app', 'pod-template-hash', 'statefulset.kubernetes.io/pod-name'].map((k) => keepsLabel(except, k))).toEqual([true, false, false]);
  });

  test('a missing file keeps everything; bad entries are refused at their position', () => {
    expect(readIdentityLabels(join(scratch(), 'absent.yaml'))).toEqual({ include: [], exclude: [] });
    for (const [text, path] of [['identityLabels: ["!"]\n', 'identityLabels[0]'], ['labels: []\n', 'labels'], ['identityLabels: [a=b]\n', 'identityLabels[0]']] as const) {
      let err: unknown;
      try {
        readIdentityLabels(file(text));
      } catch (e) {
        err = e;
      }
      expect((err as TwinpathError).code).toBe('LAB_BAD_FILE');
      expect((err as TwinpathError).location).toMatchObject({ path, line: 1 });
    }
  });
});

describe('on lab 7\'s cluster', () => {
  const inputs = loadFiles([join(LABS, '07-identities/cluster.yaml'), join(LABS, '07-identities/start/orders-api-ingress.yaml')]);

  test('every label counting: one identity per worker, and the API\'s map over 16,384', () => {
    const m = measure(compile(inputs));
    expect(m.identities).toBe(565);
    // 560 workers x (15 TCP + 15 UDP port blocks) + 3 frontend rollouts x 1 port + the node.
    expect(m.maxEntries).toBeGreaterThan(16384);
    expect(m.maxEntries).toBe(560 * 30 + 3 + 1);
    expect(m.maxEntriesAt).toMatch(/^shop\/orders-api-7d4b9c6f5-\w+ ingress$/);
  });

  test('leaving out the per-pod and per-rollout labels collapses identities and the map; the input is not changed', () => {
    const filter = readIdentityLabels(join(LABS, '07-identities/solution/identity-labels.yaml'));
    const m = measure(compile(applyLabelFilter(inputs, filter)));
    expect(m.identities).toBe(4);
    expect(m.maxEntries).toBe(30 + 1 + 1);
    expect(inputs.cluster.pods.find((p) => p.name === 'worker-3')!.labels['apps.kubernetes.io/pod-index']).toBe('3');
  });
});

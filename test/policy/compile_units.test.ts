// Building blocks of the compiler: label selectors (Kubernetes and Cilium, with Cilium's
// namespace scoping), port-range decomposition into aligned blocks, and prefix arithmetic.

import { describe, expect, it } from 'vitest';
import { formatPrefix, parseAddr, parsePrefix, prefixContains } from '../../src/policy/compile_cidr.js';
import { blockRange, rangeToBlocks } from '../../src/policy/ports.js';
import {
  matchCilium,
  matchK8s,
  parseCiliumSelector,
  scopePeerSelector,
  scopeSubjectSelector,
  type Label,
} from '../../src/policy/selector.js';
import { TwinpathError } from '../../src/errors.js';
import { csel, sel, src } from './compile_helpers.js';

const k8s = (o: Record<string, string>): Label[] => Object.entries(o).map(([key, value]) => ({ source: 'k8s', key, value }));
const podLabels = (ns: string, o: Record<string, string>): Label[] => [...k8s(o), { source: 'k8s', key: 'io.kubernetes.pod.namespace', value: ns }];

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return e instanceof TwinpathError ? e.code : `not a TwinpathError: ${String(e)}`;
  }
  return undefined;
}

describe('Kubernetes label selectors', () => {
  const l = { app: 'web', tier: 'fe' };
  it('matchLabels', () => {
    expect(matchK8s(sel({ app: 'web' }), l)).toBe(true);
    expect(matchK8s(sel({ app: 'db' }), l)).toBe(false);
    expect(matchK8s(sel({ app: 'web', tier: 'be' }), l)).toBe(false);
    expect(matchK8s(sel(), l)).toBe(true);
    expect(matchK8s(sel(), {})).toBe(true);
  });
  it.each([
    ['In', ['web', 'db'], true, false],
    ['In', ['db'], false, false],
    ['NotIn', ['db'], true, true],
    ['NotIn', ['web'], false, true],
    ['Exists', [], true, false],
    ['DoesNotExist', [], false, true],
  ] as const)('%s %j: with the key %s, without it %s', (operator, values, withKey, withoutKey) => {
    const s = sel({}, [{ key: 'app', operator, values: [...values] }]);
    expect(matchK8s(s, l)).toBe(withKey);
    expect(matchK8s(s, { tier: 'fe' })).toBe(withoutKey);
  });
  it('requirements are AND-ed with matchLabels', () => {
    const s = sel({ tier: 'fe' }, [{ key: 'app', operator: 'NotIn', values: ['db'] }]);
    expect(matchK8s(s, l)).toBe(true);
    expect(matchK8s(s, { tier: 'be', app: 'web' })).toBe(false);
  });
});

describe('Cilium selectors', () => {
  const web = podLabels('a', { app: 'web' });
  it('sources: none and any: match any source, k8s: only k8s, reserved: only reserved', () => {
    expect(matchCilium(parseCiliumSelector(csel({ app: 'web' })), web)).toBe(true);
    expect(matchCilium(parseCiliumSelector(csel({ 'any:app': 'web' })), web)).toBe(true);
    expect(matchCilium(parseCiliumSelector(csel({ 'k8s:app': 'web' })), web)).toBe(true);
    expect(matchCilium(parseCiliumSelector(csel({ 'reserved:host': '' })), web)).toBe(false);
    expect(matchCilium(parseCiliumSelector(csel({ 'reserved:host': '' })), [{ source: 'reserved', key: 'host', value: '' }])).toBe(true);
    expect(matchCilium(parseCiliumSelector(csel({ 'k8s:host': '' })), [{ source: 'reserved', key: 'host', value: '' }])).toBe(false);
  });
  it('expressions over sources', () => {
    const s = parseCiliumSelector(csel({}, [{ key: 'reserved:world', operator: 'DoesNotExist', values: [] }]));
    expect(matchCilium(s, web)).toBe(true);
    expect(matchCilium(s, [{ source: 'reserved', key: 'world', value: '' }])).toBe(false);
    const n = parseCiliumSelector(csel({}, [{ key: 'k8s:app', operator: 'NotIn', values: ['db'] }]));
    expect(matchCilium(n, web)).toBe(true);
    expect(matchCilium(n, podLabels('a', { app: 'db' }))).toBe(false);
  });
  it('an unknown source prefix or reserved name is POLICY_BAD_SELECTOR with the selector location', () => {
    const s = csel({ 'kube:app': 'web' });
    try {
      parseCiliumSelector(s);
      expect.fail('accepted');
    } catch (e) {
      expect((e as TwinpathError).code).toBe('POLICY_BAD_SELECTOR');
      expect((e as TwinpathError).location.line).toBe(s.src.line);
      expect((e as TwinpathError).location.path).toContain('kube:app');
    }
    expect(codeOf(() => parseCiliumSelector(csel({ 'reserved:nobody': '' })))).toBe('POLICY_BAD_SELECTOR');
    expect(codeOf(() => parseCiliumSelector(csel({}, [{ key: 'app', operator: 'In', values: [] }])))).toBe('POLICY_BAD_SELECTOR');
    expect(codeOf(() => parseCiliumSelector(csel({}, [{ key: 'app', operator: 'Exists', values: ['x'] }])))).toBe('POLICY_BAD_SELECTOR');
  });
  it('peer scoping in a namespaced policy: own namespace unless the namespace or its labels are named', () => {
    const inA = podLabels('a', { app: 'web' });
    const inB = podLabels('b', { app: 'web' });
    const scoped = scopePeerSelector(parseCiliumSelector(csel({ app: 'web' })), 'a');
    expect(matchCilium(scoped, inA)).toBe(true);
    expect(matchCilium(scoped, inB)).toBe(false);
    const named = scopePeerSelector(parseCiliumSelector(csel({ 'k8s:io.kubernetes.pod.namespace': 'b' })), 'a');
    expect(matchCilium(named, inB)).toBe(true);
    expect(matchCilium(named, inA)).toBe(false);
    const nsLabel = scopePeerSelector(parseCiliumSelector(csel({ 'k8s:io.cilium.k8s.namespace.labels.team': 'x' })), 'a');
    expect(matchCilium(nsLabel, [...inB, { source: 'k8s', key: 'io.cilium.k8s.namespace.labels.team', value: 'x' }])).toBe(true);
    const empty = scopePeerSelector(parseCiliumSelector(csel()), 'a');
    expect(matchCilium(empty, inA)).toBe(true);
    expect(matchCilium(empty, inB)).toBe(false);
    const host = scopePeerSelector(parseCiliumSelector(csel({ 'reserved:host': '' })), 'a');
    expect(matchCilium(host, [{ source: 'reserved', key: 'host', value: '' }])).toBe(true);
  });
  it('peer scoping in a clusterwide policy: pods of every namespace, never reserved identities', () => {
    const empty = scopePeerSelector(parseCiliumSelector(csel()), '');
    expect(matchCilium(empty, podLabels('a', {}))).toBe(true);
    expect(matchCilium(empty, podLabels('z', { app: 'x' }))).toBe(true);
    expect(matchCilium(empty, [{ source: 'reserved', key: 'world', value: '' }])).toBe(false);
  });
  it('a namespaced endpointSelector always applies in its own namespace', () => {
    const s = scopeSubjectSelector(parseCiliumSelector(csel({ 'k8s:io.kubernetes.pod.namespace': 'b', app: 'web' })), 'a');
    expect(matchCilium(s, podLabels('a', { app: 'web' }))).toBe(true);
    expect(matchCilium(s, podLabels('b', { app: 'web' }))).toBe(false);
  });
});

describe('port ranges as aligned blocks', () => {
  it('known decompositions', () => {
    expect(rangeToBlocks(80, 80)).toEqual([{ port: 80, prefixLen: 16 }]);
    expect(rangeToBlocks(0, 65535)).toEqual([{ port: 0, prefixLen: 0 }]);
    expect(rangeToBlocks(8000, 8100).map((b) => `${b.port}/${b.prefixLen}`)).toEqual([
      '8000/10',
      '8064/11',
      '8096/14',
      '8100/16',
    ]);
    expect(rangeToBlocks(1, 65535)).toHaveLength(16);
  });
  it('random ranges: the blocks are aligned, disjoint, cover exactly the range, and are minimal', () => {
    let seed = 7;
    const next = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed);
    for (let i = 0; i < 2000; i++) {
      const a = next() % 65536;
      const b = i % 3 === 0 ? Math.min(65535, a + (next() % 300)) : next() % 65536;
      const [lo, hi] = a <= b ? [a, b] : [b, a];
      const blocks = rangeToBlocks(lo, hi);
      let at = lo;
      for (const blk of blocks) {
        const [s, e] = blockRange(blk);
        expect(s).toBe(at);
        expect(s % (e - s + 1)).toBe(0);
        at = e + 1;
      }
      expect(at).toBe(hi + 1);
      // Minimal: no two neighbouring blocks of equal size could merge into one aligned block.
      for (let j = 1; j < blocks.length; j++) {
        const [p, q] = [blocks[j - 1]!, blocks[j]!];
        const mergeable = p.prefixLen === q.prefixLen && p.prefixLen > 0 && p.port % (2 * (1 << (16 - p.prefixLen))) === 0;
        expect(mergeable).toBe(false);
      }
    }
  });
});

describe('prefixes', () => {
  it('parses, normalises and prints both families', () => {
    expect(formatPrefix(parsePrefix('10.1.2.3/8', src()))).toBe('10.0.0.0/8');
    expect(formatPrefix(parsePrefix('10.1.2.3', src()))).toBe('10.1.2.3/32');
    expect(formatPrefix(parsePrefix('fd00:0:0:0::1/64', src()))).toBe('fd00::/64');
    expect(formatPrefix(parsePrefix('::ffff:10.0.0.1/128', src()))).toBe('::ffff:a00:1/128');
    expect(formatPrefix(parsePrefix('2001:db8:0:1:0:0:0:1/128', src()))).toBe('2001:db8:0:1::1/128');
    expect(parseAddr('1:2:3:4:5:6:7:8')!.value).toBe(0x00010002000300040005000600070008n);
  });
  it('containment', () => {
    const p = (s: string) => parsePrefix(s, src());
    expect(prefixContains(p('10.0.0.0/8'), p('10.1.0.0/16'))).toBe(true);
    expect(prefixContains(p('10.1.0.0/16'), p('10.0.0.0/8'))).toBe(false);
    expect(prefixContains(p('0.0.0.0/0'), p('fd00::/8'))).toBe(false);
    expect(prefixContains(p('::/0'), p('fd00::/8'))).toBe(true);
  });
  it('bad CIDRs are POLICY_BAD_CIDR', () => {
    for (const bad of ['10.0.0.0/33', '10.0.0/8', 'fd00::/129', 'x', '10.0.0.0/a']) {
      expect(codeOf(() => parsePrefix(bad, src()))).toBe('POLICY_BAD_CIDR');
    }
  });
});

// withNetns (src/kernel/netns.ts): addon calls inside fn run in the named namespace, and the
// thread always comes back, also when fn throws or calls nest.

import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { interfaceIndex, netnsDepth, withNetns } from '../../src/kernel/netns.js';
import { describeKernel, uniqueName } from '../helpers/kernel.js';

const ip = (...args: string[]) => {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
};

describeKernel('withNetns', () => {
  const ns1 = uniqueName('ns');
  const ns2 = uniqueName('ns');
  const only1 = uniqueName('h');
  const only2 = uniqueName('h');
  let index1 = 0;

  beforeAll(() => {
    ip('netns', 'add', ns1);
    ip('netns', 'add', ns2);
    ip('-n', ns1, 'link', 'add', only1, 'type', 'veth', 'peer', 'name', 'peer1');
    ip('-n', ns2, 'link', 'add', only2, 'type', 'veth', 'peer', 'name', 'peer2');
    index1 = (JSON.parse(ip('-n', ns1, '-j', 'link', 'show', 'dev', only1)) as Array<{ ifindex: number }>)[0]!.ifindex;
  });

  afterAll(() => {
    spawnSync('ip', ['netns', 'del', ns1]);
    spawnSync('ip', ['netns', 'del', ns2]);
  });

  test('an interface that exists only in the namespace is found inside it, not outside', () => {
    expect(withNetns(ns1, () => interfaceIndex(only1))).toBe(index1);
    expect(() => interfaceIndex(only1)).toThrow(expect.objectContaining({ code: 'KERNEL_ERROR', errnoName: 'ENODEV' }));
    expect(interfaceIndex('lo')).toBe(1);
  });

  test('nested calls return to the caller\'s namespace; a throw still returns home', () => {
    const seen = withNetns(ns1, () => {
      const inner = withNetns(ns2, () => [netnsDepth(), interfaceIndex(only2) > 0]);
      return [...inner, netnsDepth(), interfaceIndex(only1) === index1];
    });
    expect(seen).toEqual([2, true, 1, true]);
    expect(netnsDepth()).toBe(0);
    expect(() =>
      withNetns(ns1, () => {
        throw new Error('inside');
      }),
    ).toThrow('inside');
    expect(() => interfaceIndex(only1)).toThrow();
    expect(netnsDepth()).toBe(0);
  });

  test('a missing namespace or a bad name is an error, and nothing changes', () => {
    expect(() => withNetns(`${ns1}-missing`, () => 1)).toThrow(expect.objectContaining({ code: 'KERNEL_ERROR', errnoName: 'ENOENT' }));
    expect(() => withNetns('../etc', () => 1)).toThrow(expect.objectContaining({ code: 'USAGE' }));
    expect(interfaceIndex('lo')).toBe(1);
  });
});

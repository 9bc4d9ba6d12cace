// Interface maps and attachment names, without root.

import { describe, expect, it } from 'vitest';
import { parseInterfaceMap } from '../../src/node/interfaces.js';
import { checkNodeName, defaultNodeName, pinDirOf, sandboxNodeName } from '../../src/node/names.js';

describe('interface maps', () => {
  it('read "namespace/pod: ifname" lines with comments, and JSON', () => {
    expect([...parseInterfaceMap('# pods of node-1\nx/a: lxc0\n\ny/b:lxc12   # the second\n', 'm.txt')]).toEqual([['x/a', 'lxc0'], ['y/b', 'lxc12']]);
    expect([...parseInterfaceMap('{"x/a": "veth1", "z/c": "eth9"}', 'm.json')]).toEqual([['x/a', 'veth1'], ['z/c', 'eth9']]);
  });

  it('refuse what is not a map, with the file and line', () => {
    const bad: Array<[string, RegExp, number | undefined]> = [
      ['x/a lxc0\n', /expected "namespace\/pod: ifname"/, 1],
      ['x/a: lxc0\nxa: lxc1\n', /"xa" is not namespace\/pod/, 2],
      ['x/a: lxc0\nx/a: lxc1\n', /listed twice/, 2],
      ['x/a: an-interface-name-too-long\n', /is not an interface name/, 1],
      ['{"x/a": 3}', /is not an interface name/, undefined],
      ['{"x/a": ', /not valid JSON/, undefined],
    ];
    for (const [text, re, line] of bad) {
      let err: { code?: string; detail?: string; location?: { file?: string; line?: number } } = {};
      try {
        parseInterfaceMap(text, 'm.txt');
      } catch (e) {
        err = e as typeof err;
      }
      expect(err.code, text).toBe('NODE_ERROR');
      expect(err.detail, text).toMatch(re);
      expect(err.location?.file).toBe('m.txt');
      expect(err.location?.line).toBe(line);
    }
  });
});

describe('attachment names', () => {
  it('take letters, digits, - and _ (no dot: bpffs refuses it), and never "sandbox"', () => {
    expect(checkNodeName('node-1_a')).toBe('node-1_a');
    for (const bad of ['node.1', '-x', '', 'a/b', 'sandbox', 'x'.repeat(64)]) {
      expect(() => checkNodeName(bad), bad).toThrow(expect.objectContaining({ code: 'NODE_ERROR' }));
    }
    expect(checkNodeName(defaultNodeName())).toBe(defaultNodeName());
  });

  it('pin under /sys/fs/bpf/twinpath/NAME, or inside the sandbox\'s directory', () => {
    expect(pinDirOf('worker-1')).toBe('/sys/fs/bpf/twinpath/worker-1');
    expect(sandboxNodeName('lab', 'node.example.com')).toBe('lab-node-example-com');
    expect(pinDirOf('lab-node-1', 'lab')).toBe('/sys/fs/bpf/twinpath/sandbox/lab/lab-node-1');
  });
});

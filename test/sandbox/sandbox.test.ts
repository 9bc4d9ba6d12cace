// Building and removing sandboxes for real (root): what `up` creates, that `down` leaves
// nothing, two sandboxes of one cluster side by side, and cleanup after a failure or a crash
// part way through `up`.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, test } from 'vitest';
import { openSandbox, readState, sandboxDown, sandboxStatus, sandboxUp, statePath } from '../../src/sandbox/index.js';
import { describeRoot, twoNodeCluster, uniqueSandboxName } from './helpers.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function ip(...args: string[]): string {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

const netnsWith = (name: string): string[] =>
  (existsSync('/run/netns') ? ip('netns', 'list') : '')
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter((n) => n.startsWith(`tp-${name}-`));

const made: string[] = [];
function fresh(): string {
  const n = uniqueSandboxName();
  made.push(n);
  return n;
}

afterEach(() => {
  for (const n of made.splice(0)) sandboxDown(n);
});

describeRoot('sandbox up/down', () => {
  test('up builds a namespace per node and pod with addresses, veths and routes; down removes all', () => {
    const name = fresh();
    const s = sandboxUp(twoNodeCluster(), { name });
    expect(s.status).toBe('up');
    expect(netnsWith(name).sort()).toEqual([...s.namespaces].sort());
    expect(s.namespaces).toHaveLength(8); // underlay, outside, 2 nodes, 4 pods

    const d = s.pods['y/d']!;
    const addrs = ip('-n', d.netns, '-j', 'addr', 'show', 'dev', 'eth0');
    expect(addrs).toContain('10.244.1.11');
    expect(addrs).toContain('fd00:10:244:1::11');
    // The host-side veth is where `node attach` will find it, with the recorded ifindex.
    const lxc = JSON.parse(ip('-n', d.nodeNetns, '-j', 'link', 'show', 'dev', d.hostIfname!)) as Array<{ ifindex: number }>;
    expect(lxc[0]!.ifindex).toBe(d.hostIfindex);
    expect(ip('-n', d.nodeNetns, 'route')).toContain(`10.244.1.11 dev ${d.hostIfname}`);
    expect(ip('-n', 'tp-' + name + '-n0', 'route')).toContain('10.244.1.11 via 172.18.0.3 dev eth0');
    // Forwarding on in nodes.
    const fwd = spawnSync('nsenter', [`--net=/run/netns/${d.nodeNetns}`, 'sysctl', '-n', 'net.ipv4.ip_forward'], { encoding: 'utf8' });
    expect(fwd.stdout.trim()).toBe('1');
    // Nothing in the root namespace.
    expect(ip('-o', 'link', 'show')).not.toContain('lxc');

    expect(readState(name)!.pods['x/a']!.hostIfname).toBe('lxc0');
    expect(sandboxStatus(name)!.status).toBe('up');

    const r = sandboxDown(name);
    expect(r.removed.sort()).toEqual([...s.namespaces].sort());
    expect(netnsWith(name)).toEqual([]);
    expect(existsSync(statePath(name))).toBe(false);
    expect(sandboxStatus(name)).toBeUndefined();
  });

  test('two sandboxes of the same cluster live side by side, and one goes without the other', () => {
    const a = fresh();
    const b = fresh();
    const sa = sandboxUp(twoNodeCluster(), { name: a });
    const sb = sandboxUp(twoNodeCluster(), { name: b });
    expect(sa.namespaces.filter((n) => sb.namespaces.includes(n))).toEqual([]);
    expect(ip('-n', sa.pods['x/a']!.netns, 'addr')).toContain('10.244.0.10/32');
    expect(ip('-n', sb.pods['x/a']!.netns, 'addr')).toContain('10.244.0.10/32');
    sandboxDown(a);
    expect(netnsWith(a)).toEqual([]);
    expect(netnsWith(b)).toHaveLength(8);
    expect(openSandbox(b).status).toBe('up');
  });

  test('a name in use is refused; --replace rebuilds it', () => {
    const name = fresh();
    const first = sandboxUp(twoNodeCluster(), { name });
    expect(() => sandboxUp(twoNodeCluster(), { name })).toThrow(expect.objectContaining({ code: 'SANDBOX_ERROR' }));
    const again = sandboxUp(twoNodeCluster(), { name, replace: true });
    expect(again.createdAt >= first.createdAt).toBe(true);
    expect(netnsWith(name)).toHaveLength(8);
  });

  test('a failure part way through up removes what was made before it is reported', () => {
    const name = fresh();
    process.env.TWINPATH_SANDBOX_FAIL_AFTER = '5';
    try {
      expect(() => sandboxUp(twoNodeCluster(), { name })).toThrow(expect.objectContaining({ code: 'SANDBOX_ERROR' }));
    } finally {
      delete process.env.TWINPATH_SANDBOX_FAIL_AFTER;
    }
    expect(netnsWith(name)).toEqual([]);
    expect(existsSync(statePath(name))).toBe(false);
  });

  test.each([3, 9, 14])('a crash after %i steps of up leaves a state file that down cleans up completely', (steps) => {
    const bin = join(root, 'bin', 'twinpath.js');
    expect(existsSync(join(root, 'dist', 'cli', 'main.js')), 'dist/ is built (npm run build)').toBe(true);
    const name = fresh();
    const child = spawnSync(
      process.execPath,
      [bin, 'sandbox', 'up', '--cluster', join(root, 'test', 'sandbox', 'fixtures', 'two-nodes.yaml'), '--name', name],
      { env: { ...process.env, TWINPATH_SANDBOX_CRASH_AFTER: String(steps) }, encoding: 'utf8' },
    );
    expect(child.signal).toBe('SIGKILL');
    const st = readState(name)!;
    expect(st.status).toBe('creating');
    expect(st.steps).toBe(steps);
    expect(netnsWith(name).length).toBeGreaterThan(0);
    expect(sandboxStatus(name)!.status).toBe('crashed');
    sandboxDown(name);
    expect(netnsWith(name)).toEqual([]);
    expect(existsSync(statePath(name))).toBe(false);
  });

  test('up after a crash tears the remains down first', () => {
    const name = fresh();
    const bin = join(root, 'bin', 'twinpath.js');
    const child = spawnSync(
      process.execPath,
      [bin, 'sandbox', 'up', '--cluster', join(root, 'test', 'sandbox', 'fixtures', 'two-nodes.yaml'), '--name', name],
      { env: { ...process.env, TWINPATH_SANDBOX_CRASH_AFTER: '4' } },
    );
    expect(child.signal).toBe('SIGKILL');
    const s = sandboxUp(twoNodeCluster(), { name });
    expect(s.status).toBe('up');
    expect(netnsWith(name).sort()).toEqual([...s.namespaces].sort());
  });
});

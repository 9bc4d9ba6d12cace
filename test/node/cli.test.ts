// The node commands and `probe --engine live` from the command line (root for the live parts).

import { existsSync, readdirSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { bufferIo } from '../../src/cli/io.js';
import { loadFiles } from '../../src/policy/load.js';
import { sandboxDown, sandboxUp, type SandboxState } from '../../src/sandbox/index.js';
import { sandboxAttachments } from '../../src/node/index.js';
import { describeKernel, uniqueName } from '../helpers/kernel.js';
import { describeRoot, uniqueSandboxName } from '../sandbox/helpers.js';
import { CLUSTER_FILE, loadCase, loadModel } from '../policy-model/cases.js';

const c = loadCase('09-namespace-selector', loadModel());
const dir = mkdtempSync(join(tmpdir(), 'twinpath-node-cli-'));
const probesFile = join(dir, 'probes.json');
const PROBES = [
  { from: 'y/a', to: 'x/a', port: 80, protocol: 'TCP' },
  { from: 'x/b', to: 'x/a', port: 80, protocol: 'UDP' },
  { from: 'z/c', to: 'x/a', port: 81, protocol: 'SCTP' },
  { from: 'x/a', to: 'host', port: 80, protocol: 'TCP' },
  { from: 'ip:198.51.100.10', to: 'x/a', port: 80, protocol: 'TCP' },
];
writeFileSync(probesFile, JSON.stringify(PROBES));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const io = bufferIo();
  const code = await main(args, io);
  return { code, out: io.stdout(), err: io.stderr() };
}

const base = ['probe', '--cluster', CLUSTER_FILE, '--policy', ...c.policyFiles, '--probes', probesFile, '--output', 'json'];

describe('usage', () => {
  it('--sandbox and --timeout go with --engine live only', async () => {
    const r = await run([...base, '--sandbox', 'x']);
    expect(r.code).toBe(2);
    expect(r.err).toContain('[USAGE]');
  });
});

describeRoot('node commands', () => {
  it('status without attachments, update and observe of an attachment that does not exist', async () => {
    const env = process.env.TWINPATH_NODE_DIR;
    process.env.TWINPATH_NODE_DIR = join(dir, 'state');
    try {
      expect((await run(['node', 'status', '--json'])).out).toBe('[]\n');
      const u = await run(['node', 'update', 'nosuch', '--policy']);
      expect(u.code).toBe(2);
      expect(u.err).toMatch(/no node attachment "nosuch".*\[NODE_ERROR\]/);
      const o = await run(['node', 'observe', 'nosuch', '--count', '1']);
      expect(o.err).toContain('[NODE_ERROR]');
      const d = await run(['node', 'detach', 'nosuch']);
      expect(d.out).toBe('no attachment "nosuch"\n');
    } finally {
      if (env === undefined) delete process.env.TWINPATH_NODE_DIR;
      else process.env.TWINPATH_NODE_DIR = env;
    }
  });

  it('attach for a node the cluster does not have is refused', async () => {
    const r = await run(['node', 'attach', '--cluster', CLUSTER_FILE, '--node', 'node-9', '--name', 'nope']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/no node "node-9" in the cluster \(nodes: node-1, node-2\).*\[NODE_ERROR\]/);
  });

  describeKernel('probe --engine live', () => {
    let sb: SandboxState;
    beforeAll(() => {
      sb = sandboxUp(loadFiles([CLUSTER_FILE]).cluster, { name: uniqueSandboxName(), externals: ['198.51.100.10'] });
    }, 60_000);
    afterAll(() => {
      if (sb) sandboxDown(sb.name);
    });

    it('in a sandbox: the VM\'s shape and verdicts, details from the flow events; nothing stays attached', async () => {
      const vm = await run(base);
      const live = await run([...base, '--engine', 'live', '--sandbox', sb.name, '--timeout', '800']);
      expect(live.err).toBe('');
      expect(live.code).toBe(0);
      const v = JSON.parse(vm.out) as Array<Record<string, unknown>>;
      const l = JSON.parse(live.out) as Array<Record<string, unknown>>;
      expect(l.map((r) => [r.from, r.to, r.port, r.protocol, r.allowed, r.verdict])).toEqual(v.map((r) => [r.from, r.to, r.port, r.protocol, r.allowed, r.verdict]));
      expect(l.some((r) => r.allowed === false)).toBe(true);
      for (let i = 0; i < l.length; i++) {
        if (v[i]!.allowed) continue;
        expect([l[i]!.dropReason, l[i]!.deniedAt, l[i]!.ruleId], JSON.stringify(PROBES[i])).toEqual([v[i]!.dropReason, v[i]!.deniedAt, v[i]!.ruleId]);
      }
      expect(typeof l[0]!.detail).toBe('string');
      expect(sandboxAttachments(sb.name)).toEqual([]);
    });

    it('node attach --netns finds each pod\'s interface by its route; status and detach by name', async () => {
      const name = uniqueName('node');
      const n = sb.nodes.find((x) => x.name === 'node-2')!;
      const a = await run(['node', 'attach', '--cluster', CLUSTER_FILE, '--policy', ...c.policyFiles, '--node', 'node-2', '--netns', n.netns, '--name', name, '--json']);
      expect(a.err).toBe('');
      try {
        const [state] = JSON.parse(a.out) as Array<{ pinDir: string; endpoints: Array<{ pod: string; ifname: string }> }>;
        expect(state!.pinDir).toBe(`/sys/fs/bpf/twinpath/${name}`);
        const want = Object.entries(sb.pods).filter(([, p]) => p.node === 'node-2').map(([pod, p]) => ({ pod, ifname: p.hostIfname }));
        expect(state!.endpoints.map((e) => ({ pod: e.pod, ifname: e.ifname }))).toEqual(want);
        const st = await run(['node', 'status', name]);
        expect(st.out).toMatch(new RegExp(`"${name}": attached, node node-2 in ${n.netns}`));
        expect(st.out).not.toContain('MISSING');
      } finally {
        const d = await run(['node', 'detach', name]);
        expect(d.out).toMatch(new RegExp(`detached "${name}": 8 hooks, \\d+ pins removed`));
      }
      expect(existsSync(`/sys/fs/bpf/twinpath/${name}`)).toBe(false);
    });

    it('without a sandbox: builds one from the cluster and removes it', async () => {
      const r = await run([...base, '--engine', 'live', '--timeout', '800', '--output', 'table']);
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/y\/a\s+x\/a\s+TCP\/80\s+(allowed|denied)/);
      expect(existsSync('/run/netns') ? readdirSync('/run/netns').filter((n) => n.startsWith(`tp-lp${process.pid}-`)) : []).toEqual([]);
    });
  });
});

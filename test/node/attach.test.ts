// Node attachments on a real sandbox (root): attach, status and detach; a second attach
// replaces in place (one filter per hook, counted with tc); clear errors without root, for a
// missing interface and without bpffs; a killed attach cleaned up by detach or by the next
// attach; observe sees the flows of probes; update under a steady stream of connections lets
// through nothing that both policies deny.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { main } from '../../src/cli/main.js';
import { bufferIo } from '../../src/cli/io.js';
import { compile } from '../../src/policy/compile.js';
import { loadFiles } from '../../src/policy/load.js';
import { LiveProber, sandboxUp, type LiveProbeSpec, type SandboxState } from '../../src/sandbox/index.js';
import {
  attachNode, attachSandbox, checkNodePrerequisites, detachNode, detachSandbox, nodeStatus, pinDirOf, readNodeState, sandboxAttachments,
  sandboxNodeName, updateNodes,
} from '../../src/node/index.js';
import { observeNodes } from '../../src/node/observe.js';
import type { ReplayFlow } from '../../src/flows/hubble.js';
import { describeKernel } from '../helpers/kernel.js';
import { removeSandbox } from '../helpers/live.js';
import { describeRoot, uniqueSandboxName } from '../sandbox/helpers.js';
import { CLUSTER_FILE, loadCase, loadModel } from '../policy-model/cases.js';
import { probeKey } from '../policy-model/expect.js';

const ROOT = join(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'bin', 'twinpath.js');
const model = loadModel();
const caseA = loadCase('01-deny-ingress-namespace', model);
const caseB = loadCase('02-deny-egress-namespace', model);

function filters(netns: string, dev: string, dir: 'ingress' | 'egress'): number {
  const r = spawnSync('nsenter', [`--net=/run/netns/${netns}`, 'tc', '-j', 'filter', 'show', 'dev', dev, dir], { encoding: 'utf8' });
  if (r.status !== 0) return -1;
  return (JSON.parse(r.stdout || '[]') as Array<{ options?: unknown }>).filter((f) => f.options !== undefined).length;
}

function hasClsact(netns: string, dev: string): boolean {
  const r = spawnSync('nsenter', [`--net=/run/netns/${netns}`, 'tc', '-j', 'qdisc', 'show', 'dev', dev], { encoding: 'utf8' });
  return (JSON.parse(r.stdout || '[]') as Array<{ kind: string }>).some((q) => q.kind === 'clsact');
}

function cli(args: string[], env: Record<string, string> = {}): { status: number | null; signal: string | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

describeRoot('node attachments', () => {
  describeKernel('on a sandbox', () => {
    let sb: SandboxState;
    const compiledA = compile(loadFiles([CLUSTER_FILE, ...caseA.policyFiles]));

    beforeAll(() => {
      sb = sandboxUp(loadFiles([CLUSTER_FILE]).cluster, { name: uniqueSandboxName(), externals: ['198.51.100.10'] });
    });

    afterAll(() => removeSandbox(sb));

    const attachA = () => attachSandbox(sb, { compiled: compiledA, clusterFiles: [CLUSTER_FILE], policyFiles: caseA.policyFiles });

    test('attach puts one filter on each hook of every pod veth; status reports them; detach removes filters, clsact, pins and state', () => {
      const results = attachA();
      expect(results.map((r) => r.state.name)).toEqual(sb.nodes.map((n) => sandboxNodeName(sb.name, n.name)));
      for (const r of results) {
        const st = nodeStatus(r.state.name)!;
        expect(st.status).toBe('attached');
        expect(st.hooks.length).toBe(2 * r.state.endpoints.length);
        expect(st.hooks.every((h) => typeof h.progId === 'number' && h.progId > 0)).toBe(true);
        expect(st.pins.every((p) => p.exists)).toBe(true);
        for (const e of r.state.endpoints) {
          expect(filters(r.state.netns!, e.ifname, 'ingress')).toBe(1);
          expect(filters(r.state.netns!, e.ifname, 'egress')).toBe(1);
        }
      }
      const io = bufferIo();
      return main(['node', 'status', sandboxNodeName(sb.name, 'node-1')], io).then((code) => {
        expect(code).toBe(0);
        expect(io.stdout()).toContain('lxc0 tc-ingress: cil_from_container (prog id');
        for (const r of detachSandbox(sb.name)) expect(r.hadState).toBe(true);
        for (const r of results) {
          for (const e of r.state.endpoints) {
            expect(filters(r.state.netns!, e.ifname, 'ingress')).toBe(0);
            expect(hasClsact(r.state.netns!, e.ifname)).toBe(false);
          }
          expect(existsSync(r.state.pinDir)).toBe(false);
          expect(readNodeState(r.state.name)).toBeUndefined();
        }
      });
    });

    test('a second attach of the same name replaces the programs in place, never doubling a filter', () => {
      const first = attachA();
      const ids = nodeStatus(first[0]!.state.name)!.hooks.map((h) => h.progId);
      const second = attachA();
      expect(second.every((r) => r.replaced)).toBe(true);
      const st = nodeStatus(second[0]!.state.name)!;
      expect(st.hooks.map((h) => h.progId)).not.toEqual(ids);
      expect(st.pins.every((p) => p.exists)).toBe(true);
      for (const r of second) for (const e of r.state.endpoints) {
        expect(filters(r.state.netns!, e.ifname, 'ingress')).toBe(1);
        expect(filters(r.state.netns!, e.ifname, 'egress')).toBe(1);
      }
      detachSandbox(sb.name);
      expect(sandboxAttachments(sb.name)).toEqual([]);
    });

    test('a missing interface is a NODE_ERROR naming it, and nothing is made', () => {
      const name = sandboxNodeName(sb.name, 'node-1');
      const n = sb.nodes[0]!;
      expect(() =>
        attachNode({
          name, compiled: compiledA, node: n.name, endpoints: [{ pod: 'x/a', ifname: 'nosuch0' }], netns: n.netns, sandbox: sb.name,
          pinDir: pinDirOf(name, sb.name), clusterFiles: [CLUSTER_FILE], policyFiles: [],
        }),
      ).toThrow(expect.objectContaining({ code: 'NODE_ERROR', detail: expect.stringContaining('"nosuch0"') }));
      expect(readNodeState(name)).toBeUndefined();
      expect(existsSync(pinDirOf(name, sb.name))).toBe(false);
      // From the command line, with an interface map.
      const r = cli(['node', 'attach', '--cluster', CLUSTER_FILE, '--node', 'node-1', '--name', `${sb.name}-map`, '--netns', n.netns, '--interfaces', join(import.meta.dirname, 'fixtures', 'missing-interface.txt')]);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/pod x\/a: no interface "lxc9" in network namespace .*\[NODE_ERROR\]/);
    });

    test('without root: a clear error, nothing made', () => {
      const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, CLI, 'node', 'attach', '--sandbox', sb.name, '--cluster', CLUSTER_FILE], { encoding: 'utf8' });
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/needs root.*\[KERNEL_UNAVAILABLE\]/);
      expect(sandboxAttachments(sb.name)).toEqual([]);
    });

    test('without bpffs where pins go: a clear error, or a mount when asked', () => {
      expect(() => checkNodePrerequisites({ pinDir: '/tmp/twinpath-no-bpffs/a/b' })).toThrow(
        expect.objectContaining({ code: 'NODE_ERROR', detail: expect.stringMatching(/no bpf filesystem is mounted at \/tmp\/twinpath-no-bpffs.*--mount-bpffs/) }),
      );
    });

    for (const after of [3, 14]) {
      test(`an attach killed after ${after} steps leaves a state from which detach, or the next attach, removes everything`, () => {
        const r = cli(['node', 'attach', '--sandbox', sb.name, '--node', 'node-1', '--cluster', CLUSTER_FILE, '--policy', ...caseA.policyFiles], { TWINPATH_NODE_CRASH_AFTER: String(after) });
        expect(r.signal).toBe('SIGKILL');
        const name = sandboxNodeName(sb.name, 'node-1');
        const st = nodeStatus(name)!;
        expect(st.status).toBe('crashed');
        expect(st.pins.filter((p) => p.exists).length + st.hooks.length).toBeGreaterThan(0);
        const n = sb.nodes[0]!;
        if (after === 14) {
          // The next attach of the same name takes over what the crashed one left.
          const again = attachSandbox(sb, { compiled: compiledA, clusterFiles: [CLUSTER_FILE], policyFiles: caseA.policyFiles, nodes: ['node-1'] });
          for (const e of again[0]!.state.endpoints) expect(filters(n.netns, e.ifname, 'ingress')).toBe(1);
        }
        const d = cli(['node', 'detach', '--sandbox', sb.name]);
        expect(d.status).toBe(0);
        for (const p of Object.values(sb.pods)) {
          if (p.nodeNetns !== n.netns || !p.hostIfname) continue;
          expect(filters(n.netns, p.hostIfname, 'ingress')).toBe(0);
          expect(filters(n.netns, p.hostIfname, 'egress')).toBe(0);
          expect(hasClsact(n.netns, p.hostIfname)).toBe(false);
        }
        expect(existsSync(pinDirOf(name, sb.name))).toBe(false);
        expect(readNodeState(name)).toBeUndefined();
      });
    }

    test('observe returns the flows of probes made, forwarded and denied, filtered as replay filters', async () => {
      attachA();
      const prober = new LiveProber(sb);
      try {
        const seen: ReplayFlow[] = [];
        let ready!: () => void;
        const isReady = new Promise<void>((r) => (ready = r));
        const probes: LiveProbeSpec[] = [
          { from: 'x/a', to: 'y/b', port: 80, protocol: 'TCP' },
          { from: 'y/a', to: 'x/a', port: 80, protocol: 'TCP' },
        ];
        const watching = observeNodes({ names: sandboxAttachments(sb.name), onFlow: (f) => seen.push(f), timeoutMs: 2500, onReady: ready });
        await isReady;
        const results = await prober.probe(probes, { timeoutMs: 500 });
        expect(results.map((r) => r.allowed)).toEqual([true, false]);
        await watching;
        // The command line, filtered. (A ring buffer has one consumer position: one reader at a time.)
        const io = bufferIo();
        const cliRun = main(['node', 'observe', '--sandbox', sb.name, '--timeout', '2', '-o', 'json', '--verdict', 'DROPPED'], io);
        await new Promise((r) => setTimeout(r, 300));
        await prober.probe(probes, { timeoutMs: 500 });
        expect(await cliRun).toBe(0);
        const fwd = seen.find((f) => f.flow.verdict === 'FORWARDED' && f.flow.source?.pod_name === 'a' && f.flow.destination?.pod_name === 'b' && f.flow.destination?.namespace === 'y');
        expect(fwd).toBeDefined();
        const drop = seen.find((f) => f.flow.verdict === 'DROPPED' && f.flow.source?.namespace === 'y' && f.flow.destination?.namespace === 'x');
        expect(drop?.flow.drop_reason_desc).toBe('POLICY_DENIED');
        const lines = io.stdout().trim().split('\n').map((l) => JSON.parse(l) as { flow: { verdict: string } });
        expect(lines.length).toBeGreaterThan(0);
        expect(lines.every((l) => l.flow.verdict === 'DROPPED')).toBe(true);
      } finally {
        prober.close();
        detachSandbox(sb.name);
      }
    });

    test('update under a steady stream of connections lets through no connection both policies deny', async () => {
      attachA();
      const names = sandboxAttachments(sb.name);
      const expA = new Map(caseA.expected.map((p) => [probeKey(p), p.allowed]));
      const expB = new Map(caseB.expected.map((p) => [probeKey(p), p.allowed]));
      // Pairs of every kind: allowed by A only, by B only, by both, by neither.
      const kinds = new Map<string, LiveProbeSpec[]>();
      for (const p of caseA.expected.slice(0, caseA.matrixSize)) {
        if (p.from === p.to || p.port !== 80 || p.protocol === 'SCTP') continue;
        const k = `${expA.get(probeKey(p)) ? 'A' : '-'}${expB.get(probeKey(p)) ? 'B' : '-'}`;
        const list = kinds.get(k) ?? [];
        if (list.length < 6) list.push({ from: p.from, to: p.to, port: p.port, protocol: p.protocol });
        kinds.set(k, list);
      }
      expect([...kinds.keys()].sort()).toEqual(['--', '-B', 'A-', 'AB']);
      const probes = [...kinds.values()].flat();
      const prober = new LiveProber(sb);
      const results: Array<{ key: string; allowed: boolean }> = [];
      let stop = false;
      const stream = (async () => {
        const batches: Promise<void>[] = [];
        while (!stop) {
          batches.push(prober.probe(probes, { timeoutMs: 400 }).then((rs) => {
            for (const r of rs) results.push({ key: probeKey(r), allowed: r.allowed });
          }));
          await new Promise((r) => setTimeout(r, 15));
        }
        await Promise.all(batches);
      })();
      const through = (k: string, from = 0) => results.slice(from).filter((r) => r.allowed && kinds.get(k)!.some((p) => probeKey(p) === r.key)).length;
      const until = async (done: () => boolean): Promise<void> => {
        for (let waited = 0; !done() && waited < 5000; waited += 50) await new Promise((r) => setTimeout(r, 50));
        await new Promise((r) => setTimeout(r, 300));
      };
      try {
        // The stream runs under A until A's own pairs get through, then across the update, then
        // under B until B's own pairs get through.
        await until(() => through('A-') > 0);
        const mark = results.length;
        const report = await updateNodes(names, { policyFiles: caseB.policyFiles });
        await until(() => through('-B', mark) > 0);
        stop = true;
        await stream;
        const both = results.filter((r) => r.allowed && !expA.get(r.key) && !expB.get(r.key));
        expect(both).toEqual([]);
        // The stream saw both policies at work: A-only pairs got through before, B-only after.
        expect(through('AB')).toBeGreaterThan(0);
        expect(through('A-')).toBeGreaterThan(0);
        expect(through('-B', mark)).toBeGreaterThan(0);
        console.log(`node update under load: ${results.length} connections (${results.filter((r) => r.allowed).length} allowed), applied in ${report.applyMs.toFixed(2)} ms (map operations ${report.opsMs.toFixed(2)} ms, grace ${report.graceMs} ms asked), ${report.nodes.map((n) => `${n.name}: ${n.operations} operations`).join(', ')}`);
        expect(nodeStatus(names[0]!)!.policyFiles).toEqual(caseB.policyFiles);
      } finally {
        stop = true;
        await stream;
        prober.close();
        detachSandbox(sb.name);
      }
    });
  });
});


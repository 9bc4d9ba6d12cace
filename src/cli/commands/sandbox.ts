// `twinpath sandbox up|down|status|exec|probe`: a cluster built in network namespaces on this
// machine (src/sandbox), so the datapath programs can be attached to real veths and probed
// with real connections. Needs root and iproute2.
//
//   sandbox up --cluster FILE... [--name NAME] [--external IP...] [--replace] [--json]
//   sandbox down [NAME] [--all]
//   sandbox status [NAME] [--json]
//   sandbox exec NAME POD -- CMD...     (POD: namespace/pod, node:NAME or outside)
//   sandbox probe NAME --probes FILE [--timeout MS] [--output table|json]

import { readInputText } from '../../util/files.js';
import type { CommandRegistrar } from '../main.js';
import { processIo } from '../io.js';
import { TwinpathError } from '../../errors.js';
import { loadFiles } from '../../policy/load.js';
import {
  DEFAULT_EXTERNALS,
  DEFAULT_SANDBOX_NAME,
  liveProbe,
  openSandbox,
  sandboxDown,
  sandboxNames,
  sandboxStatus,
  sandboxUp,
  type LiveProbeResult,
  type LiveProbeSpec,
  type SandboxState,
  type SandboxStatus,
} from '../../sandbox/index.js';
import { execIn } from '../../sandbox/system.js';

function describeUp(s: SandboxState): string {
  const lines = [`sandbox "${s.name}" is up: ${s.namespaces.length} namespaces`];
  for (const n of s.nodes) lines.push(`  node ${n.name}: ${n.netns} (${n.addresses.join(', ')})`);
  for (const [key, p] of Object.entries(s.pods)) {
    const where = p.hostNetwork ? `${p.netns} (host network)` : `${p.netns}, host veth ${p.hostIfname} (ifindex ${p.hostIfindex}) in ${p.nodeNetns}`;
    lines.push(`  pod ${key}: ${p.ips.join(', ')} on ${p.node}: ${where}`);
  }
  for (const sk of s.skipped) lines.push(`  skipped ${sk.pod}: ${sk.reason}`);
  lines.push(`  outside: ${s.outside} (${s.externals.join(', ')})`);
  return lines.join('\n') + '\n';
}

function describeStatus(st: SandboxStatus): string {
  const lines = [`sandbox "${st.name}": ${st.status}${st.pid !== undefined && st.status !== 'up' ? ` (process ${st.pid})` : ''}`];
  for (const ns of st.namespaces) {
    const links = ns.links?.filter((l) => l.ifname !== 'lo').map((l) => `${l.ifname}#${l.ifindex} ${l.operstate.toLowerCase()}`) ?? [];
    lines.push(`  ${ns.name}: ${ns.exists ? (links.length ? links.join(', ') : 'exists') : 'missing'}`);
  }
  for (const s of st.strays) lines.push(`  ${s}: not in the state file`);
  return lines.join('\n') + '\n';
}

/** The namespace `sandbox exec` enters: a pod's, a node's, or the outside one. */
function targetNetns(s: SandboxState, target: string): string {
  if (target === 'outside') return s.outside;
  if (target.startsWith('node:')) {
    const n = s.nodes.find((x) => x.name === target.slice(5));
    if (n === undefined) throw new TwinpathError('SANDBOX_ERROR', `no node ${target.slice(5)} in sandbox "${s.name}"`);
    return n.netns;
  }
  const p = s.pods[target];
  if (p === undefined) throw new TwinpathError('SANDBOX_ERROR', `no pod ${target} in sandbox "${s.name}" (name a pod as namespace/pod, a node as node:NAME, or outside)`);
  return p.netns;
}

function readProbes(path: string): LiveProbeSpec[] {
  const text = readInputText(path);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new TwinpathError('PROBE_BAD_FILE', `not valid JSON: ${(e as Error).message}`, { file: path });
  }
  if (!Array.isArray(v)) throw new TwinpathError('PROBE_BAD_FILE', 'a probe file is a JSON array of {"from", "to", "port", "protocol"}', { file: path });
  return v.map((p: Record<string, unknown>) => ({
    ...p,
    protocol: typeof p?.protocol === 'string' ? p.protocol.toUpperCase() : p?.protocol,
  })) as LiveProbeSpec[];
}

function probeTable(results: LiveProbeResult[]): string {
  const rows = [['FROM', 'TO', 'PORT', 'VERDICT', 'DETAIL']];
  for (const r of results) rows.push([r.from, r.to, `${r.protocol}/${r.port}`, r.allowed ? 'allowed' : 'denied', r.detail]);
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
  const lines = rows.map((row) => row.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd());
  lines.push('', `${results.filter((r) => r.allowed).length} of ${results.length} allowed`);
  return lines.join('\n') + '\n';
}

export const registerSandbox: CommandRegistrar = (y, ctx) =>
  y.command('sandbox', 'a cluster in network namespaces on this machine (root): up, down, status, exec, probe', (a) =>
    a
      .command(
        'up',
        'build a sandbox for a cluster: a namespace per node and per pod, veths, a bridge, routes, an outside namespace',
        (b) =>
          b
            .option('cluster', { type: 'string', array: true, demandOption: true, describe: 'Kubernetes YAML files (Namespaces, Pods, Nodes)' })
            .option('name', { type: 'string', default: DEFAULT_SANDBOX_NAME, describe: 'sandbox name (lowercase letters and digits)' })
            .option('external', { type: 'string', array: true, default: DEFAULT_EXTERNALS, describe: 'addresses of the outside namespace' })
            .option('replace', { type: 'boolean', default: false, describe: 'tear down a sandbox of the same name first' })
            .option('json', { type: 'boolean', default: false, describe: 'print the state as JSON' }),
        (args) => {
          const { cluster } = loadFiles(args.cluster);
          const state = sandboxUp(cluster, { name: args.name, externals: args.external, replace: args.replace });
          ctx.io.out(args.json ? JSON.stringify(state, null, 2) + '\n' : describeUp(state));
        },
      )
      .command(
        'down [name]',
        'remove a sandbox (everything named tp-NAME-*) and its state',
        (b) =>
          b
            .positional('name', { type: 'string', describe: `sandbox name (default ${DEFAULT_SANDBOX_NAME})` })
            .option('all', { type: 'boolean', default: false, describe: 'remove every sandbox' }),
        (args) => {
          if (args.all && args.name !== undefined) throw new TwinpathError('USAGE', 'give a sandbox name or --all, not both');
          const names = args.all ? sandboxNames() : [args.name ?? DEFAULT_SANDBOX_NAME];
          for (const name of names) {
            const r = sandboxDown(name);
            ctx.io.out(r.removed.length === 0 && !r.hadState ? `sandbox "${name}": nothing to remove\n` : `sandbox "${name}" removed (${r.removed.length} namespaces)\n`);
          }
          if (names.length === 0) ctx.io.out('no sandboxes\n');
        },
      )
      .command(
        'status [name]',
        'what exists of one sandbox, or of all',
        (b) => b.positional('name', { type: 'string' }).option('json', { type: 'boolean', default: false }),
        (args) => {
          const names = args.name !== undefined ? [args.name] : sandboxNames();
          const all = names.map((n) => sandboxStatus(n));
          if (args.name !== undefined && all[0] === undefined) throw new TwinpathError('SANDBOX_ERROR', `no sandbox named "${args.name}"`);
          const found = all.filter((s): s is SandboxStatus => s !== undefined);
          if (args.json) ctx.io.out(JSON.stringify(args.name !== undefined ? found[0] : found, null, 2) + '\n');
          else ctx.io.out(found.length === 0 ? 'no sandboxes\n' : found.map(describeStatus).join(''));
        },
      )
      .command(
        'exec <name> <pod> [cmd..]',
        'run a command in a pod\'s namespace (or node:NAME, outside): sandbox exec NAME ns/pod -- ip addr',
        (b) => b.positional('name', { type: 'string', demandOption: true }).positional('pod', { type: 'string', demandOption: true }),
        (args) => {
          const cmd = ((args.cmd as string[] | undefined)?.length ? (args.cmd as string[]) : args._.slice(2)).map(String);
          if (cmd.length === 0) throw new TwinpathError('USAGE', 'name a command to run: sandbox exec NAME POD -- CMD...');
          const netns = targetNetns(openSandbox(args.name), args.pod);
          const r = execIn(netns, cmd, ctx.io === processIo);
          ctx.io.out(r.stdout);
          if (r.stderr) ctx.io.err(r.stderr);
          ctx.exitCode = r.status;
        },
      )
      .command(
        'probe <name>',
        'answer a probe file with real connections in the sandbox (TCP, UDP, SCTP INIT/INIT-ACK)',
        (b) =>
          b
            .positional('name', { type: 'string', demandOption: true })
            .option('probes', { type: 'string', demandOption: true, describe: 'JSON array of {"from", "to", "port", "protocol"}' })
            .option('timeout', { type: 'number', default: 1000, describe: 'milliseconds one probe waits for its answer' })
            .option('output', { alias: 'o', choices: ['table', 'json'] as const, default: 'table' as const }),
        async (args) => {
          const results = await liveProbe(args.name, readProbes(args.probes), { timeoutMs: args.timeout });
          ctx.io.out(args.output === 'json' ? JSON.stringify(results, null, 2) + '\n' : probeTable(results));
        },
      )
      .demandCommand(1, 'name a sandbox command: up, down, status, exec or probe'),
  );

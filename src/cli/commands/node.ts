// `twinpath node attach|update|observe|status|detach`: the endpoint datapath on this machine's
// interfaces, through libbpf (src/node). Needs root, a kernel with BTF and bpffs.
//
//   node attach --cluster F... --policy F... [--name NAME] [--node NODE] [--interfaces FILE]
//               [--netns NS | --sandbox SB] [--xdp IF... [--prefilter CIDR...]] [--netdev IF...]
//               [--no-services] [--maglev-table-size N] [--mount-bpffs]
//   node update [NAME] [--sandbox SB] [--policy F...] [--cluster F...] [--prefilter CIDR...] [--grace MS]
//   node observe [NAME...] [--sandbox SB] [-o compact|json|table] [filters] [--count N] [--timeout S]
//   node status [NAME] [--json]
//   node detach [NAME] [--sandbox SB] [--all]

import type { Argv } from 'yargs';
import type { CommandRegistrar } from '../main.js';
import { flowFilterOf, flowOptions, flowRenderOf, inputOptions } from '../options.js';
import { TwinpathError } from '../../errors.js';
import { loadFiles } from '../../policy/load.js';
import { compile } from '../../policy/compile.js';
import { openSandbox } from '../../sandbox/sandbox.js';
import { flowJsonLine } from '../../flows/hubble.js';
import { compactLine, TableWriter } from '../../flows/render.js';
import {
  attachNode, attachSandbox, checkNodeName, defaultNodeName, detachNode, listNodeStates, localEndpoints, nodeStatus, pinDirOf,
  readInterfaceMap, sandboxAttachments, sandboxNodeName, updateNodes, type AttachResult, type NodeStatus, type UpdateReport,
} from '../../node/index.js';
import { observeNodes } from '../../node/observe.js';

function nameOption<T>(a: Argv<T>) {
  return a.positional('name', { type: 'string', describe: 'attachment name (default: this host name)' });
}

function describeAttach(results: AttachResult[]): string {
  const lines: string[] = [];
  for (const r of results) {
    const s = r.state;
    lines.push(`${r.replaced ? 'replaced' : 'attached'} "${s.name}" as node ${s.node}${s.netns ? ` in ${s.netns}` : ''}: ${s.endpoints.length} endpoints, ${r.tables.ipcache} ipcache and ${r.tables.policy} policy entries; pinned in ${s.pinDir}`);
    for (const e of s.endpoints) lines.push(`  ${e.pod}: ${e.ifname} (ifindex ${e.ifindex}), endpoint ${e.endpointId}`);
    for (const h of s.hooks.filter((x) => !s.endpoints.some((e) => e.ifindex === x.ifindex))) lines.push(`  ${h.ifname}: ${h.program} (${h.hook})`);
    if (s.services) lines.push(`  services: ${r.tables.frontends} frontends, ${r.tables.backends} backends (Maglev table size ${s.services.maglevTableSize})`);
    if (s.prefilter) lines.push(`  prefilter: ${s.prefilter.cidrs.length ? s.prefilter.cidrs.join(', ') : 'empty deny list'}`);
  }
  return `${lines.join('\n')}\n`;
}

function describeStatus(st: NodeStatus): string {
  const lines = [`"${st.name}": ${st.status}${st.status !== 'attached' ? ` (process ${st.pid})` : ''}, node ${st.node}${st.netns ? ` in ${st.netns}` : ''}${st.sandbox ? ` (sandbox ${st.sandbox})` : ''}`];
  for (const h of st.hooks) lines.push(`  ${h.ifname} ${h.hook}: ${h.program} ${h.progId !== undefined ? `(prog id ${h.progId})` : 'MISSING'}`);
  const missing = st.pins.filter((p) => !p.exists);
  lines.push(`  pins: ${st.pins.length - missing.length} of ${st.pins.length} in ${st.pinDir}${missing.length ? ` (missing: ${missing.map((p) => p.path).join(', ')})` : ''}`);
  lines.push(`  policy: ${st.policyFiles.length ? st.policyFiles.join(', ') : '(none)'}`);
  if (st.services) lines.push(`  services: ${st.services.frontends} frontends, ${st.services.groups} backend groups, ${st.services.backends} backends (Maglev table size ${st.services.maglevTableSize})`);
  if (st.prefilter) {
    const p = st.prefilter;
    const list = p.cidrs === undefined ? 'UNREADABLE' : p.cidrs.length ? p.cidrs.join(', ') : 'empty';
    const counts = p.counters ? `; passed ${p.counters.passed.packets} packets (${p.counters.passed.bytes} bytes), dropped ${p.counters.dropped.packets} (${p.counters.dropped.bytes} bytes)` : '';
    lines.push(`  prefilter deny list: ${list}${counts}`);
  }
  if (st.lastUpdate) lines.push(`  last update ${st.lastUpdate.at}: ${st.lastUpdate.applyMs.toFixed(2)} ms, +${st.lastUpdate.added} -${st.lastUpdate.removed} ~${st.lastUpdate.changed} entries`);
  return `${lines.join('\n')}\n`;
}

function describeUpdate(r: UpdateReport): string {
  const lines = [`applied in ${r.applyMs.toFixed(2)} ms (${r.opsMs.toFixed(2)} ms of map operations, and the ${r.graceMs} ms grace period)`];
  for (const n of r.nodes) {
    const c = n.counts;
    const part = (k: keyof typeof c) => `${k} +${c[k].added} -${c[k].removed} ~${c[k].changed}`;
    lines.push(`  ${n.name}: ${part('policy')}, ${part('ipcache')}, ${part('endpoints')}; ${n.operations} map operations, ${n.halfOpenRemoved} half-open conntrack entries removed`);
    if (n.services) lines.push(`    services: ${n.services.set} entries written, ${n.services.removed} removed`);
    if (n.prefilter) lines.push(`    prefilter: +${n.prefilter.added.length} -${n.prefilter.removed.length}${[...n.prefilter.added.map((c) => ` +${c}`), ...n.prefilter.removed.map((c) => ` -${c}`)].join('')}`);
  }
  return `${lines.join('\n')}\n`;
}

/** The attachments a command acts on: named, a sandbox's, or the default name. */
function targets(name: string | undefined, sandbox: string | undefined, node?: string): string[] {
  if (sandbox !== undefined) {
    if (name !== undefined) throw new TwinpathError('USAGE', 'name an attachment or a --sandbox, not both');
    if (node !== undefined) return [sandboxNodeName(sandbox, node)];
    const all = sandboxAttachments(sandbox);
    if (all.length === 0) throw new TwinpathError('NODE_ERROR', `sandbox "${sandbox}" has no node attachments: run "twinpath node attach --sandbox ${sandbox}"`);
    return all;
  }
  return [checkNodeName(name ?? defaultNodeName())];
}

export const registerNode: CommandRegistrar = (y, ctx) =>
  y.command('node <command>', 'attach the datapath to this machine\'s interfaces (root, libbpf, bpffs)', (n) =>
    n
      .command(
        'attach',
        'load, fill, pin and attach the datapath programs for the pods of this node',
        (a) =>
          inputOptions(a)
            .option('name', { type: 'string', describe: 'attachment name (default: this host name; with --sandbox: SANDBOX-NODE)' })
            .option('node', { type: 'string', describe: 'which cluster node this machine is (default: this host name; with --sandbox: every node)' })
            .option('interfaces', { type: 'string', describe: 'file of "namespace/pod: ifname" lines (or JSON); default: found by route' })
            .option('netns', { type: 'string', describe: 'do the interface work in this network namespace (a name under /run/netns)' })
            .option('sandbox', { type: 'string', describe: 'attach to a sandbox\'s nodes (interfaces from its state)' })
            .option('xdp', { type: 'string', array: true, describe: 'also attach the object\'s XDP program to these interfaces' })
            .option('xdp-mode', { choices: ['auto', 'skb', 'drv'] as const, default: 'auto' as const, describe: 'XDP attach mode' })
            .option('netdev', { type: 'string', array: true, describe: 'attach cil_from_netdev to these interfaces (tc ingress), when the object has it' })
            .option('prefilter', { type: 'string', array: true, describe: 'deny list of source CIDRs for the XDP prefilter (with --xdp; with --sandbox: on every node\'s uplink)' })
            .option('services', { type: 'boolean', default: true, describe: 'load balance the cluster\'s services (--no-services: policy only)' })
            .option('maglev-table-size', { type: 'number', describe: 'Maglev table size per service, a prime (default 16381)' })
            .option('mount-bpffs', { type: 'boolean', default: false, describe: 'mount bpffs at /sys/fs/bpf when it is not mounted' })
            .option('object', { type: 'string', describe: 'the datapath object (default: the bundled endpoint.bpf.o)' })
            .option('json', { type: 'boolean', default: false, describe: 'print the state(s) as JSON' })
            .conflicts('sandbox', ['netns', 'interfaces']),
        (args) => {
          if (args.prefilter !== undefined && args.xdp === undefined && args.sandbox === undefined) {
            throw new TwinpathError('USAGE', '--prefilter needs --xdp: name the interfaces the prefilter runs on');
          }
          const inputs = loadFiles([...args.cluster, ...args.policy]);
          const compiled = compile(inputs);
          const svc = {
            cluster: inputs.cluster, services: args.services,
            ...(args['maglev-table-size'] !== undefined ? { maglevTableSize: args['maglev-table-size'] } : {}),
          };
          let results: AttachResult[];
          if (args.sandbox !== undefined) {
            if (args.name !== undefined) throw new TwinpathError('USAGE', 'with --sandbox each node gets its own name (SANDBOX-NODE): drop --name');
            if (args.xdp !== undefined || args.netdev !== undefined) throw new TwinpathError('USAGE', '--xdp and --netdev take interfaces of one node: attach without --sandbox, with --netns (with --sandbox, --prefilter goes on every node\'s uplink)');
            const sb = openSandbox(args.sandbox);
            results = attachSandbox(sb, {
              compiled, clusterFiles: args.cluster, policyFiles: args.policy, ...svc,
              ...(args.prefilter !== undefined ? { prefilter: args.prefilter, xdpMode: args['xdp-mode'] } : {}),
              ...(args.node !== undefined ? { nodes: [args.node] } : {}),
              ...(args.object !== undefined ? { object: args.object } : {}),
            });
          } else {
            const node = args.node ?? defaultNodeName();
            const known = new Set([...compiled.nodes.map((x) => x.name), ...compiled.endpoints.map((e) => e.node).filter((x) => x !== '')]);
            if (!known.has(node)) {
              throw new TwinpathError('NODE_ERROR', `no node "${node}" in the cluster (nodes: ${[...known].sort().join(', ') || 'none'}): pick one with --node`);
            }
            const name = checkNodeName(args.name ?? defaultNodeName());
            const interfaces = args.interfaces !== undefined ? readInterfaceMap(args.interfaces) : undefined;
            const endpoints = localEndpoints(compiled, node, { ...(interfaces ? { interfaces } : {}), ...(args.netns !== undefined ? { netns: args.netns } : {}) });
            results = [
              attachNode({
                name, compiled, node, endpoints, pinDir: pinDirOf(name),
                ...(args.netns !== undefined ? { netns: args.netns } : {}),
                ...(args.object !== undefined ? { object: args.object } : {}),
                ...(args.xdp !== undefined ? { xdp: args.xdp, xdpMode: args['xdp-mode'] } : {}),
                ...(args.prefilter !== undefined ? { prefilter: args.prefilter } : {}),
                ...svc,
                ...(args.netdev !== undefined ? { netdev: args.netdev } : {}),
                clusterFiles: args.cluster, policyFiles: args.policy, mountBpffs: args['mount-bpffs'],
              }),
            ];
          }
          ctx.io.out(args.json ? `${JSON.stringify(results.map((r) => r.state), null, 2)}\n` : describeAttach(results));
        },
      )
      .command(
        'update [name]',
        'recompile and change only the map entries that differ, in an order that never lets through what both policies deny',
        (a) =>
          nameOption(a)
            .option('policy', { type: 'string', array: true, describe: 'the new policy files (default: those of the attach; give --policy with no file for none)' })
            .option('cluster', { type: 'string', array: true, describe: 'new cluster files (default: those of the attach); the node\'s pods must not change, its services may' })
            .option('prefilter', { type: 'string', array: true, describe: 'the XDP prefilter\'s new deny list of source CIDRs (give --prefilter with none to empty it)' })
            .option('sandbox', { type: 'string', describe: 'update every node attachment of this sandbox together' })
            .option('grace', { type: 'number', describe: 'milliseconds the ipcache phase is held (default 5)' })
            .option('json', { type: 'boolean', default: false }),
        async (args) => {
          if (args.policy === undefined && args.cluster === undefined && args.prefilter === undefined) {
            throw new TwinpathError('USAGE', 'say what changes: --policy, --cluster and/or --prefilter');
          }
          const names = targets(args.name, args.sandbox);
          const r = await updateNodes(names, {
            ...(args.policy !== undefined ? { policyFiles: (args.policy as string[]).filter((p) => p !== '') } : {}),
            ...(args.cluster !== undefined ? { clusterFiles: args.cluster } : {}),
            ...(args.prefilter !== undefined ? { prefilter: (args.prefilter as string[]).filter((p) => p !== '') } : {}),
            ...(args.grace !== undefined ? { graceMs: args.grace } : {}),
          });
          ctx.io.out(args.json ? `${JSON.stringify(r, null, 2)}\n` : describeUpdate(r));
        },
      )
      .command(
        'observe [names..]',
        'print flows read live from the attachments\' ring buffers, as replay prints them',
        (a) =>
          flowOptions(
            a
              .positional('names', { type: 'string', array: true, describe: 'attachment names (default: this host name)' })
              .option('sandbox', { type: 'string', describe: 'every node attachment of this sandbox' })
              .option('output', { alias: 'o', choices: ['compact', 'json', 'table'] as const, default: 'compact' as const, describe: 'output format' }),
          )
            .option('count', { type: 'number', describe: 'stop after this many flows' })
            .option('timeout', { type: 'number', describe: 'stop after this many seconds' }),
        async (args) => {
          const names = args.sandbox !== undefined ? targets(undefined, args.sandbox) : (args.names as string[] | undefined)?.length ? (args.names as string[]).map(checkNodeName) : targets(undefined, undefined);
          const filter = flowFilterOf(args);
          const render = flowRenderOf(args);
          const table = args.output === 'table' ? new TableWriter((t) => ctx.io.out(t), render) : undefined;
          const abort = new AbortController();
          const onSigint = (): void => abort.abort();
          process.once('SIGINT', onSigint);
          try {
            await observeNodes({
              names, filter, signal: abort.signal,
              ...(args.count !== undefined ? { count: args.count } : {}),
              ...(args.timeout !== undefined ? { timeoutMs: args.timeout * 1000 } : {}),
              onFlow: (f) => {
                if (table) table.write(f);
                else ctx.io.out(args.output === 'json' ? `${flowJsonLine(f)}\n` : compactLine(f, render));
              },
            });
          } finally {
            process.removeListener('SIGINT', onSigint);
            table?.end();
          }
        },
      )
      .command(
        'status [name]',
        'what each attachment has attached and pinned, checked against the kernel',
        (a) => nameOption(a).option('json', { type: 'boolean', default: false }),
        (args) => {
          const names = args.name !== undefined ? [checkNodeName(args.name)] : listNodeStates();
          const all = names.map((nm) => nodeStatus(nm)).filter((s): s is NodeStatus => s !== undefined);
          if (args.name !== undefined && all.length === 0) throw new TwinpathError('NODE_ERROR', `no node attachment "${args.name}"`);
          if (args.json) ctx.io.out(`${JSON.stringify(all, null, 2)}\n`);
          else ctx.io.out(all.length === 0 ? 'no node attachments\n' : all.map(describeStatus).join(''));
        },
      )
      .command(
        'detach [name]',
        'remove an attachment: its tc filters and XDP programs, the clsact qdiscs it made, its pins',
        (a) =>
          nameOption(a)
            .option('sandbox', { type: 'string', describe: 'every node attachment of this sandbox' })
            .option('all', { type: 'boolean', default: false, describe: 'every attachment with a state file' }),
        (args) => {
          const names = args.all ? listNodeStates() : args.sandbox !== undefined ? sandboxAttachments(args.sandbox) : targets(args.name, undefined);
          for (const nm of names) {
            const r = detachNode(nm);
            ctx.io.out(r.hadState ? `detached "${nm}": ${r.hooks} hooks, ${r.pins} pins removed\n` : `no attachment "${nm}"\n`);
          }
        },
      )
      .demandCommand(1, 'name a node command: attach, update, observe, status, detach'));

// Options several commands share, defined once so that they read and behave alike everywhere:
// the cluster and policy inputs, the engine, Hubble's flow filters and how a flow line is
// rendered. A command adds its own options around these.

import type { Argv } from 'yargs';
import { compileFilter, type FilterSpec, type FlowFilter } from '../flows/filter.js';
import { TIME_FORMATS, type TimeFormat } from '../flows/hubble.js';
import type { RenderOptions } from '../flows/render.js';

/** The --cluster and --policy options (files or directories, each repeatable). */
export function inputOptions<T>(a: Argv<T>) {
  return a
    .option('cluster', { type: 'string', array: true, demandOption: true, describe: 'cluster objects (Namespaces, Pods, Nodes...): YAML or JSON files or directories' })
    .option('policy', { type: 'string', array: true, default: [] as string[], describe: 'NetworkPolicy / CiliumNetworkPolicy files or directories' });
}

/** --engine vm|kernel, the VM by default. */
export function engineOption<T>(a: Argv<T>) {
  return a.option('engine', { choices: ['vm', 'kernel'] as const, default: 'vm' as const, describe: 'where the programs run' });
}

/** Hubble's flow filters, as `hubble observe` spells them. */
export function flowFilterOptions<T>(a: Argv<T>) {
  return a
    .option('verdict', { type: 'string', array: true, describe: 'show flows with this verdict (FORWARDED, DROPPED)' })
    .option('from-pod', { type: 'string', array: true, describe: 'show flows from pods [namespace/]name-prefix' })
    .option('to-pod', { type: 'string', array: true, describe: 'show flows to pods [namespace/]name-prefix' })
    .option('namespace', { type: 'string', array: true, describe: 'show flows from or to this namespace' })
    .option('port', { type: 'string', array: true, describe: 'show flows with this source or destination port' })
    .option('protocol', { type: 'string', array: true, describe: 'show flows of this protocol (tcp, udp, sctp, icmp, icmpv4, icmpv6)' })
    .option('drop-reason', { type: 'string', array: true, describe: 'show drops for this reason (POLICY_DENIED, 133, "Policy denied")' });
}

interface FlowFilterArgs {
  verdict?: string[] | undefined;
  'from-pod'?: string[] | undefined;
  'to-pod'?: string[] | undefined;
  namespace?: string[] | undefined;
  port?: string[] | undefined;
  protocol?: string[] | undefined;
  'drop-reason'?: string[] | undefined;
}

/** The filter the flow filter options ask for (a bad value is a USAGE error naming it). */
export function flowFilterOf(args: FlowFilterArgs): FlowFilter {
  return compileFilter({
    verdict: args.verdict, fromPod: args['from-pod'], toPod: args['to-pod'], namespace: args.namespace,
    port: args.port, protocol: args.protocol, dropReason: args['drop-reason'],
  } satisfies FilterSpec);
}

/** How flow lines are printed: --time-format and --print-node-name. */
export function flowRenderOptions<T>(a: Argv<T>) {
  return a
    .option('time-format', { choices: TIME_FORMATS, default: 'StampMilli' as TimeFormat, describe: 'how times are printed (always UTC)' })
    .option('print-node-name', { type: 'boolean', default: false, describe: 'print the node that observed each flow' });
}

/** The flow filters, then how the flows are printed: what every command printing flows takes. */
export function flowOptions<T>(a: Argv<T>) {
  return flowRenderOptions(flowFilterOptions(a));
}

export function flowRenderOf(args: { 'time-format': TimeFormat; 'print-node-name': boolean }): RenderOptions {
  return { timeFormat: args['time-format'], nodeName: args['print-node-name'] };
}

// `twinpath reachability --cluster FILE... --policy FILE... [--ports 80,81] [--protocols
// TCP,UDP,SCTP] [--include-host] [--external IP...] [--engine vm|kernel] [--output text|json]`:
// the truth table of every pod against every pod, one matrix per port and protocol, each cell
// a probe through the datapath programs (src/datapath/reachability.ts).

import type { CommandRegistrar } from '../main.js';
import { TwinpathError } from '../../errors.js';
import { PROBE_PROTOCOLS, type ProbeProtocol } from '../../datapath/probe.js';
import { formatReachability, reachability } from '../../datapath/reachability.js';
import { engineOption, inputOptions } from '../options.js';
import { loadCompiled } from './policy.js';

export const registerReachability: CommandRegistrar = (y, ctx) =>
  y.command(
    'reachability',
    'the allowed/denied truth table between every pair of pods, per port and protocol',
    (a) =>
      engineOption(
        inputOptions(a)
          .option('ports', { type: 'string', array: true, default: ['80'], describe: 'ports to probe: 80,81 or repeated' })
          .option('protocols', { type: 'string', array: true, default: ['TCP'], describe: 'protocols to probe: TCP,UDP,SCTP' })
          .option('include-host', { type: 'boolean', default: false, describe: 'add the node (of the pod on the other side) as a row and column' })
          .option('external', { type: 'string', array: true, default: [] as string[], describe: 'addresses outside the cluster to add as rows and columns' }),
      ).option('output', { alias: 'o', choices: ['text', 'json'] as const, default: 'text' as const, describe: 'output format' }),
    async (args) => {
      const ports = listOption(args.ports, '--ports').map((p) => parsePort(p));
      const protocols = listOption(args.protocols, '--protocols').map((p) => parseProtocol(p));
      const external = listOption(args.external, '--external');
      const compiled = loadCompiled(args.cluster, args.policy);
      const r = await reachability({ compiled, engine: args.engine, ports: unique(ports), protocols: unique(protocols), includeHost: args['include-host'], external });
      ctx.io.out(args.output === 'json' ? `${JSON.stringify(r, null, 2)}\n` : formatReachability(r));
    },
  );

/** Values given repeated or comma-separated (or both), blanks dropped. */
function listOption(values: Array<string | number>, name: string): string[] {
  const out = values.flatMap((v) => String(v).split(',')).map((v) => v.trim()).filter((v) => v !== '');
  if (out.length === 0 && name !== '--external') throw new TwinpathError('USAGE', `${name}: give at least one value`);
  return out;
}

function parsePort(text: string): number {
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new TwinpathError('USAGE', `--ports: "${text}" is not a port in 1..65535`);
  return n;
}

function parseProtocol(text: string): ProbeProtocol {
  const p = text.toUpperCase();
  if (!(PROBE_PROTOCOLS as readonly string[]).includes(p)) throw new TwinpathError('USAGE', `--protocols: "${text}" is not one of ${PROBE_PROTOCOLS.join(', ')}`);
  return p as ProbeProtocol;
}

function unique<T>(xs: T[]): T[] {
  return [...new Set(xs)];
}

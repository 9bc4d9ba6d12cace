// `twinpath bench scaling [--services 10,100,1000,10000,50000] [--engine vm|kernel] [--packets N]
// [--rounds N] [--svg FILE] [--json]`: the per-packet cost of finding a service through eBPF
// maps and through an iptables-style rule list, as the number of services grows
// (src/bench/scaling.ts). Prints a row per size as it finishes; --svg writes the chart,
// --json prints the whole result as one object instead of the table.

import { existsSync, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { CommandRegistrar } from '../main.js';
import { engineOption } from '../options.js';
import { TwinpathError } from '../../errors.js';
import { DEFAULT_SIZES, benchScaling, checkScalingOptions } from '../../bench/scaling.js';
import { scalingFooter, scalingHeading, scalingRow } from '../../bench/format.js';
import { BENCH_MAGLEV_TABLE_SIZE } from '../../bench/scaling.js';
import { scalingSvg } from '../../bench/svg.js';
import { kernelUnavailable } from '../../bench/target.js';

export const registerBench: CommandRegistrar = (y, ctx) =>
  y.command('bench', 'measure the datapath', (b) =>
    b
      .command(
        'scaling',
        'per-packet cost of eBPF map lookups vs an iptables rule list as services grow',
        (a) =>
          engineOption(a.option('services', { type: 'string', array: true, default: [DEFAULT_SIZES.join(',')], describe: 'service counts: 10,100,1000 or repeated' }))
            .option('packets', { type: 'number', default: 100, describe: 'packets per round and path' })
            .option('rounds', { type: 'number', default: 5, describe: 'timed rounds (after two warm-up rounds); the median is reported' })
            .option('svg', { type: 'string', describe: 'write the chart to this SVG file' })
            .option('json', { type: 'boolean', default: false, describe: 'print the result as one JSON object' }),
        async (args) => {
          const sizes = parseSizes(args.services);
          const opts = { sizes, packets: args.packets, rounds: args.rounds };
          checkScalingOptions(opts);
          const svg = args.svg !== undefined ? resolve(args.svg) : undefined;
          if (svg !== undefined) {
            const dir = dirname(svg);
            if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new TwinpathError('USAGE', `--svg: directory ${dirname(args.svg!)} does not exist`);
          }
          if (args.engine === 'kernel') {
            const why = kernelUnavailable();
            if (why !== undefined) throw new TwinpathError('KERNEL_UNAVAILABLE', `bench scaling --engine kernel: not measured: ${why}`);
          }
          if (!args.json) ctx.io.out(scalingHeading({ engine: args.engine, packets: args.packets, rounds: args.rounds, backends: 3, maglevTableSize: BENCH_MAGLEV_TABLE_SIZE }));
          const result = await benchScaling({
            ...opts,
            engine: args.engine,
            ...(args.json ? {} : { onPoint: (p) => ctx.io.out(scalingRow(p)) }),
          });
          if (args.json) ctx.io.out(`${JSON.stringify(result, null, 2)}\n`);
          else ctx.io.out(scalingFooter(result));
          if (svg !== undefined) {
            try {
              writeFileSync(svg, scalingSvg(result));
            } catch (e) {
              throw new TwinpathError('IO_ERROR', `cannot write: ${(e as Error).message}`, { file: args.svg! }, { cause: e });
            }
            if (!args.json) ctx.io.out(`\nchart written to ${args.svg}\n`);
          }
        },
      )
      .demandCommand(1, 'name a benchmark: scaling'),
  );

/** `--services 10,100 --services 1000` -> [10, 100, 1000]; "10k" style is refused, digits only. */
export function parseSizes(values: Array<string | number>): number[] {
  const parts = values.flatMap((v) => String(v).split(',')).map((v) => v.trim().replace(/_/g, '')).filter((v) => v !== '');
  return parts.map((t) => {
    if (!/^\d+$/.test(t)) throw new TwinpathError('USAGE', `--services: "${t}" is not a count`);
    return Number(t);
  });
}

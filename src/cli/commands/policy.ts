// `twinpath policy compile --cluster FILE... --policy FILE... [--output text|json]`: the
// compiled policy (identities, endpoints, ipcache, policy-map entries, rules) as a person reads
// it, or as the JSON of src/policy/model.ts. Also home of the cluster + policy loading that
// probe and reachability share, so all three read their inputs the same way.

import type { CommandRegistrar } from '../main.js';
import { inputOptions } from '../options.js';
import { loadFiles } from '../../policy/load.js';
import { compile } from '../../policy/compile.js';
import { formatCompiled } from '../../policy/format.js';
import type { CompiledPolicy } from '../../policy/model.js';

// Where explain takes --cluster and --policy from; the definition is in ../options.ts.
export { inputOptions };

/** Loads every file (cluster first, then policies: each may hold any kind) and compiles. */
export function loadCompiled(cluster: string[], policy: string[]): CompiledPolicy {
  return compile(loadFiles([...cluster, ...policy]));
}

export const registerPolicy: CommandRegistrar = (y, ctx) =>
  y.command('policy <command>', 'work with network policies', (p) =>
    p
      .command(
        'compile',
        'compile cluster objects and policies into identities, ipcache and policy-map entries',
        (a) => inputOptions(a).option('output', { alias: 'o', choices: ['text', 'json'] as const, default: 'text' as const, describe: 'output format' }),
        (args) => {
          const compiled = loadCompiled(args.cluster, args.policy);
          ctx.io.out(args.output === 'json' ? `${JSON.stringify(compiled, null, 2)}\n` : ensureNewline(formatCompiled(compiled)));
        },
      )
      .demandCommand(1, 'name a policy command: compile'));

function ensureNewline(s: string): string {
  return s.endsWith('\n') ? s : `${s}\n`;
}

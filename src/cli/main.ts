// The twinpath command line: a function tests can call with arguments and an Io, returning
// the exit status. Each command lives in its own module under commands/.

import yargs, { type Argv } from 'yargs';
import { type Io, processIo } from './io.js';
import { TwinpathError, isTwinpathError } from '../errors.js';
import { commands } from './commands/index.js';

export interface CommandContext {
  io: Io;
  /** Set by a command that wants a non-zero exit status without an error (e.g. differences found). */
  exitCode: number;
}

export type CommandRegistrar = (y: Argv, ctx: CommandContext) => Argv;

/** Exit statuses: 0 success, 1 a check found differences or failures, 2 an error. */
export async function main(argv: string[], io: Io = processIo): Promise<number> {
  const ctx: CommandContext = { io, exitCode: 0 };
  let y = yargs(argv)
    .scriptName('twinpath')
    .usage('$0 <command> [options]')
    .strict()
    .demandCommand(1, 'name a command; --help lists them')
    .recommendCommands()
    .exitProcess(false)
    .wrap(Math.min(100, process.stdout.columns ?? 100))
    .fail((msg, err) => {
      // TwinpathErrors from a handler keep their code; anything else here is a usage mistake
      // (yargs' own messages, and .check() functions that throw).
      // Throwing stops yargs from running the command's handler after a failed check.
      if (err && isTwinpathError(err)) throw err;
      throw new TwinpathError('USAGE', msg ?? err?.message ?? 'invalid usage');
    })
    .help()
    .version(false);
  for (const register of commands) y = register(y, ctx);
  try {
    await y.parseAsync(argv, {}, (_err, _parsed, output) => {
      if (output) io.out(output.endsWith('\n') ? output : output + '\n');
    });
  } catch (e) {
    if (isTwinpathError(e)) {
      io.err(`twinpath: ${e.message} [${e.code}]\n`);
      return 2;
    }
    throw e;
  }
  return ctx.exitCode;
}

// `twinpath lab list|start|check|hint|solution|watch`: guided labs (src/labs, labs/).
//
//   lab list
//   lab start N [DIR] [--force]      the starting files, the README and lab/ (cluster, traffic) into DIR
//   lab check [DIR] [--kernel]       exit 0 when every task passes, 1 when one fails
//   lab hint [DIR]                   the next hint for the first failing task
//   lab solution [DIR] [--apply]     print the solution files, or copy them into DIR
//   lab watch [DIR] [--kernel] [--timeout S]   check again on every save
//
// DIR defaults to `.` (for start: `NN-slug`); the `.twinpath-lab` marker in it names the lab.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CommandContext, CommandRegistrar } from '../main.js';
import { TwinpathError, isTwinpathError } from '../../errors.js';
import { findLab, listLabs } from '../../labs/catalog.js';
import { checkLab } from '../../labs/check.js';
import { formatCheck, formatList } from '../../labs/format.js';
import { labDirName, type Lab } from '../../labs/lab.js';
import { firstFailure } from '../../labs/result.js';
import { applySolution, labFiles, MATERIAL_DIR, readMarker, startLab, writeMarker } from '../../labs/workdir.js';
import { watchLab } from '../../labs/watch.js';

function labOf(dir: string): Lab {
  return findLab(readMarker(dir).lab);
}

export const registerLab: CommandRegistrar = (y, ctx) =>
  y.command('lab <command>', 'guided labs, checked in seconds', (l) =>
    l
      .command('list', 'the labs, in order', (a) => a, () => {
        ctx.io.out(formatList(listLabs()));
      })
      .command(
        'start <lab> [dir]',
        'copy a lab\'s starting files into a working directory',
        (a) =>
          a
            .positional('lab', { type: 'string', demandOption: true, describe: 'the lab: its number (1) or slug (star-wars)' })
            .positional('dir', { type: 'string', describe: 'the working directory (default: NN-slug here)' })
            .option('force', { type: 'boolean', default: false, describe: 'copy even if the directory is not empty' }),
        (args) => {
          const lab = findLab(args.lab);
          const dir = args.dir ?? labDirName(lab.number, lab.slug);
          const files = startLab(lab, dir, args.force);
          const lines = [`lab ${labDirName(lab.number, lab.slug)}: ${lab.title}`, `started in ${dir}:`];
          const width = Math.max(...files.map((f) => f.length));
          for (const f of files) {
            const note = f === 'README.md' ? 'the story and the tasks: read it first' : f.startsWith(`${MATERIAL_DIR}/`) ? 'a copy of the lab\'s material, to read and replay' : 'yours to edit';
            lines.push(`  ${f.padEnd(width)}   ${note}`);
          }
          lines.push('tasks:');
          lab.tasks.forEach((t, i) => lines.push(`  ${i + 1}. ${t.title}`));
          lines.push(`then: twinpath lab check ${dir}   (or: twinpath lab watch ${dir})`);
          ctx.io.out(`${lines.join('\n')}\n`);
        },
      )
      .command(
        'check [dir]',
        'check the work in a lab\'s working directory',
        (a) =>
          a
            .positional('dir', { type: 'string', default: '.', describe: 'the working directory' })
            .option('kernel', { type: 'boolean', default: false, describe: 'run in the Linux kernel (xdp labs: in the kernel and the VM, compared)' }),
        async (args) => {
          const marker = readMarker(args.dir);
          const lab = findLab(marker.lab);
          const r = await checkLab(lab, args.dir, { kernel: args.kernel });
          ctx.io.out(relativeToDir(formatCheck(r, marker.hintsShown), args.dir));
          if (!r.passed) ctx.exitCode = 1;
        },
      )
      .command(
        'hint [dir]',
        'the next hint for the first failing task',
        (a) => a.positional('dir', { type: 'string', default: '.', describe: 'the working directory' }),
        async (args) => {
          const marker = readMarker(args.dir);
          const lab = findLab(marker.lab);
          const r = await checkLab(lab, args.dir);
          const failed = firstFailure(r);
          if (!failed) {
            ctx.io.out(`all ${lab.tasks.length} tasks pass: no hint needed\n`);
            return;
          }
          const t = failed.task;
          const shown = Math.min((marker.hintsShown[t.id] ?? 0) + 1, t.hints.length);
          marker.hintsShown[t.id] = shown;
          writeMarker(args.dir, marker);
          const n = r.tasks.indexOf(failed) + 1;
          const more = shown < t.hints.length ? 'run it again for the next hint' : 'that was the last hint: twinpath lab solution shows the answer';
          ctx.io.out(`task ${n} ${t.id}: ${t.title}\nhint ${shown} of ${t.hints.length}: ${t.hints[shown - 1]}\n(${more})\n`);
        },
      )
      .command(
        'solution [dir]',
        'print the solution files (or copy them into the working directory)',
        (a) =>
          a
            .positional('dir', { type: 'string', default: '.', describe: 'the working directory' })
            .option('apply', { type: 'boolean', default: false, describe: 'copy the solution over the working files' }),
        (args) => {
          const lab = labOf(args.dir);
          if (args.apply) {
            const files = applySolution(lab, args.dir);
            ctx.io.out(`copied the solution into ${args.dir}:\n${files.map((f) => `  ${f}\n`).join('')}`);
            return;
          }
          for (const f of labFiles(lab, 'solution')) {
            ctx.io.out(`--- ${f}\n${readFileSync(join(lab.dir, 'solution', f), 'utf8')}`);
          }
        },
      )
      .command(
        'watch [dir]',
        'check, then check again whenever a file in the working directory changes',
        (a) =>
          a
            .positional('dir', { type: 'string', default: '.', describe: 'the working directory' })
            .option('kernel', { type: 'boolean', default: false, describe: 'run in the Linux kernel' })
            .option('timeout', { type: 'number', describe: 'stop watching after this many seconds' }),
        async (args) => watch(ctx, args.dir, args.kernel, args.timeout),
      )
      .demandCommand(1, 'name a lab command: list, start, check, hint, solution, watch'));

async function watch(ctx: CommandContext, dir: string, kernel: boolean, timeout: number | undefined): Promise<void> {
  const lab = labOf(dir);
  if (timeout !== undefined && !(timeout > 0)) throw new TwinpathError('USAGE', `--timeout ${timeout} is not a positive number of seconds`);
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  const timer = timeout !== undefined ? setTimeout(() => stop.abort(), timeout * 1000) : undefined;
  let last: boolean | undefined;
  try {
    await watchLab(lab, dir, {
      check: () => checkLab(lab, dir, { kernel }),
      onResult: (r) => {
        last = r.passed;
        ctx.io.out(`${relativeToDir(formatCheck(r, readMarker(dir).hintsShown), dir)}-- watching ${dir} for changes (Ctrl-C stops)\n`);
      },
      onError: (e) => {
        if (!isTwinpathError(e)) throw e;
        last = false;
        ctx.io.out(`twinpath: ${e.message} [${e.code}]\n-- watching ${dir} for changes (Ctrl-C stops)\n`);
      },
      signal: stop.signal,
    });
  } finally {
    process.off('SIGINT', onSignal);
    if (timer) clearTimeout(timer);
  }
  if (last !== true) ctx.exitCode = 1;
}

/** Paths of the learner's files as they know them: relative to the working directory. */
function relativeToDir(text: string, dir: string): string {
  const abs = join(process.cwd(), dir);
  return text.split(`${abs}/`).join('').split(`${dir.replace(/\/$/, '')}/`).join('');
}

// A directory of JSON state files, one per named thing (a sandbox, a node attachment), that
// record what was made in the kernel so that it can be removed after a crash at any point.
//
// A file is written atomically (temporary file, then rename) so a reader never sees half of it:
// callers write it BEFORE each step that leaves something behind, and the last complete record
// always covers every step that may have happened. Reading checks the version and the name the
// file claims, because removing things on the word of a stale or foreign file would be worse than
// refusing.

import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TwinpathError, type ErrorCode } from '../errors.js';

export interface StateFilesOptions<T> {
  /** The directory (read each time: tests move it through the environment). */
  dir: () => string;
  /** Validates a name (throws on a bad one) and returns it. */
  checkName: (name: string) => string;
  /** What a listed file name must look like to count as a state file. */
  namePattern: RegExp;
  version: number;
  /** What the files belong to, in messages: `sandbox`, `node attachment`. */
  what: string;
  /** The code of the errors about a damaged or foreign file. */
  code: ErrorCode;
  /** Shape checks beyond version and name: true when the parsed object looks like a T. */
  looksValid: (s: Partial<T>) => boolean;
}

interface Versioned {
  version: number;
  name: string;
}

export class StateFiles<T extends Versioned> {
  constructor(private readonly opts: StateFilesOptions<T>) {}

  path(name: string): string {
    return join(this.opts.dir(), `${this.opts.checkName(name)}.json`);
  }

  write(state: T): void {
    const path = this.path(state.name);
    mkdirSync(this.opts.dir(), { recursive: true, mode: 0o755 });
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(state, null, 2) + '\n', { mode: 0o644 });
    renameSync(tmp, path);
  }

  /** The state of `name`, or undefined when it has none. A damaged file is an error. */
  read(name: string): T | undefined {
    const path = this.path(name);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new TwinpathError('IO_ERROR', `cannot read: ${(e as Error).message}`, { file: path });
    }
    let s: unknown;
    try {
      s = JSON.parse(text);
    } catch (e) {
      throw new TwinpathError(this.opts.code, `damaged state file: ${(e as Error).message}`, { file: path });
    }
    const st = s as Partial<T>;
    if (typeof s !== 'object' || s === null || st.version !== this.opts.version || st.name !== name || !this.opts.looksValid(st)) {
      throw new TwinpathError(this.opts.code, `not a version ${this.opts.version} state file of ${this.opts.what} "${name}"`, { file: path });
    }
    return st as T;
  }

  remove(name: string): void {
    rmSync(this.path(name), { force: true });
  }

  /** Names that have a state file, sorted. */
  list(): string[] {
    let files: string[];
    try {
      files = readdirSync(this.opts.dir());
    } catch {
      return [];
    }
    return files
      .filter((f) => f.endsWith('.json'))
      .map((f) => f.slice(0, -5))
      .filter((n) => this.opts.namePattern.test(n))
      .sort();
  }
}

/** Whether process `pid` still runs (one of another user counts): a state file whose writer is
 * gone, but which says it was still being made, is what a crash left. */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** One step: `record` changes the state (saved before `act` runs), `act` does the work. */
export type Step = (record: () => void, act: () => void) => void;

export interface StepsOptions {
  /** The state being built; its `steps` counts the steps done. */
  state: { steps: number };
  /** Writes the state file. */
  save: () => void;
  /** Environment variable: kill the process (SIGKILL) once this many steps are done, to test
   * that what a crash leaves behind is recorded. */
  crashAfter: string;
  /** Environment variable: throw once this many steps are done, to test the clean-up of a
   * failure part way through. */
  failAfter?: { variable: string; code: ErrorCode };
}

/** Runs steps with the state saved before each one acts and again after it counted. */
export function recordedSteps(opts: StepsOptions): Step {
  const crashAt = envCount(opts.crashAfter);
  const failAt = opts.failAfter !== undefined ? envCount(opts.failAfter.variable) : undefined;
  const { state, save } = opts;
  return (record, act) => {
    record();
    save();
    act();
    state.steps += 1;
    save();
    if (crashAt !== undefined && state.steps >= crashAt) process.kill(process.pid, 'SIGKILL');
    if (failAt !== undefined && state.steps >= failAt) {
      throw new TwinpathError(opts.failAfter!.code, `stopped after ${state.steps} steps (${opts.failAfter!.variable})`);
    }
  };
}

function envCount(variable: string): number | undefined {
  const v = process.env[variable];
  if (v === undefined || v === '') return undefined;
  const n = Number.parseInt(v, 10);
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

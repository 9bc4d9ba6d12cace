// `lab watch`: check once, then again whenever a file in the working directory changes (the
// learner saves), until stopped. Changes are debounced (an editor's save is often several
// writes) and never overlap a check in progress: a change during a check runs one more after it.
// The compiled object lab 10 writes into the directory is ignored, or every check would cause
// the next.

import { watch, type FSWatcher } from 'node:fs';
import type { Lab } from './lab.js';
import type { CheckResult } from './result.js';
import { MARKER } from './workdir.js';

export interface WatchOptions {
  /** Runs one check (the caller's, so the CLI and tests share it). */
  check: () => Promise<CheckResult>;
  onResult: (r: CheckResult) => void;
  onError: (e: unknown) => void;
  signal: AbortSignal;
  debounceMs?: number;
}

function ignored(lab: Lab, name: string | null): boolean {
  if (name === null) return false;
  if (name === MARKER || name.endsWith('.o') || name.startsWith('.#') || name.endsWith('~') || name.endsWith('.swp')) return true;
  return lab.kind === 'xdp' && name === lab.source!.replace(/\.c$/, '.o');
}

/** Resolves when `signal` aborts (after any check in progress finishes). */
export async function watchLab(lab: Lab, dir: string, o: WatchOptions): Promise<void> {
  let running: Promise<void> | undefined;
  let again = false;
  let timer: NodeJS.Timeout | undefined;
  const run = (): void => {
    if (o.signal.aborted) return;
    if (running) {
      again = true;
      return;
    }
    running = o.check().then(o.onResult, o.onError).finally(() => {
      running = undefined;
      if (again) {
        again = false;
        run();
      }
    });
  };
  run();
  let watcher: FSWatcher | undefined;
  await new Promise<void>((resolve) => {
    watcher = watch(dir, (_event, name) => {
      if (ignored(lab, name)) return;
      if (timer) clearTimeout(timer);
      timer = setTimeout(run, o.debounceMs ?? 150);
    });
    if (o.signal.aborted) resolve();
    o.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  watcher?.close();
  if (timer) clearTimeout(timer);
  while (running) await running;
}

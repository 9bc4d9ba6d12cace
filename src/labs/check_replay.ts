// What the replaying checkers (policy, l7, services) do alike: a result that passes when every
// task passes; the learner's files loaded and compiled, a load or compile error failing the first
// task with its position and leaving the others unchecked; the lab's capture replayed through a
// Replayer that is closed whatever happens; and the tasks judged in order, each against the
// flows every task of the lab expects dropped (so `noUnexpectedDrops` in one task accepts the
// drops another task asks for).
//
// What a checker judges, and how it says what went wrong, stays in the checker.

import { isTwinpathError } from '../errors.js';
import { Replayer, type ReplayOptions } from '../datapath/replay.js';
import { readCapture } from '../pcap/reader.js';
import type { CaptureRecord } from '../pcap/types.js';
import { capturePath, type Expectation, type FlowSelector, type Lab, type Task } from './lab.js';
import type { CheckResult, Failure, TaskResult } from './result.js';
import { selectFlows } from './select.js';
import { loadFiles } from '../policy/load.js';
import type { Inputs } from '../policy/ast.js';
import { expandTraffic, readTrafficSpec, type Traffic } from './traffic.js';
import { policyFiles } from './workdir.js';

/** A checker's judge: the first failing expectation of a task, or undefined when it passes. */
export interface TaskJudge {
  task(task: Task, expectedDrops: Set<string>): Failure | undefined;
}

/** The order a replaying checker judges a task in: its expectations, what the checker adds
 * (`more`: a services lab's backends), the flows that must stay blocked, then drops nobody
 * expected. The first failure is the one reported. */
export abstract class OrderedJudge implements TaskJudge {
  task(task: Task, expectedDrops: Set<string>): Failure | undefined {
    for (const e of task.expect) {
      const f = this.expectation(e);
      if (f) return f;
    }
    const more = this.more(task);
    if (more) return more;
    for (const sel of task.mustStayBlocked) {
      const f = this.blocked(sel);
      if (f) return f;
    }
    return task.noUnexpectedDrops ? this.unexpectedDrops(expectedDrops) : undefined;
  }

  protected abstract expectation(e: Expectation): Failure | undefined;
  protected abstract blocked(sel: FlowSelector): Failure | undefined;
  /** The first drop of a flow that no task expects dropped. */
  protected abstract unexpectedDrops(expected: Set<string>): Failure | undefined;

  protected more(_task: Task): Failure | undefined {
    return undefined;
  }
}

/** One check in progress: its result, filled as the check goes, finished by `done`. */
export class LabCheck {
  readonly result: CheckResult;
  /** The lab's traffic, packet by packet, as its spec describes the capture. */
  readonly traffic: Traffic;
  private readonly started = Date.now();

  constructor(readonly lab: Lab, engine: 'vm' | 'kernel') {
    this.traffic = expandTraffic(readTrafficSpec(lab.traffic!));
    this.result = { lab, engine, passed: false, tasks: [], packets: 0, notes: [], elapsedMs: 0 };
  }

  /** The lab's cluster with the learner's files (those of the working directory, but `skip`),
   * loaded; for use inside `load`. */
  learnerInputs(dir: string, skip: string[] = []): { files: string[]; inputs: Inputs } {
    const files = policyFiles(dir, skip);
    return { files, inputs: loadFiles([this.lab.cluster!, ...files]) };
  }

  /** Runs `load` (the learner's files); a TwinpathError fails the first task with its message
   * and code and leaves the others unchecked, and the answer is undefined. */
  load<T>(load: () => T): T | undefined {
    try {
      return load();
    } catch (e) {
      if (!isTwinpathError(e)) throw e;
      const [first, ...rest] = this.lab.tasks;
      this.result.tasks.push({ task: first!, status: 'fail', failure: { expected: 'your files load and compile', got: `${e.message} [${e.code}]`, flows: [] } });
      for (const t of rest) this.result.tasks.push({ task: t, status: 'not-checked', reason: 'your files do not load' });
      return undefined;
    }
  }

  /** Judges every task in order. `before` may settle a task without the judge (a measure that
   * fails, a replay that could not run). */
  judge(judge: TaskJudge, before?: (task: Task) => TaskResult | undefined): void {
    const drops = expectedDrops(this.lab, this.traffic);
    for (const task of this.lab.tasks) {
      const settled = before?.(task);
      if (settled) {
        this.result.tasks.push(settled);
        continue;
      }
      const failure = judge.task(task, drops);
      this.result.tasks.push(failure ? { task, status: 'fail', failure } : { task, status: 'pass' });
    }
  }

  done(): CheckResult {
    this.result.passed = this.result.tasks.every((t) => t.status === 'pass');
    this.result.elapsedMs = Date.now() - this.started;
    return this.result;
  }
}

/** `compiled 2 policy files: 3 policies, 5 rules`: the first note of a policy or l7 check. */
export function compiledNote(files: number, policies: number, rules: number): string {
  return `compiled ${files} policy file${files === 1 ? '' : 's'}: ${policies} polic${policies === 1 ? 'y' : 'ies'}, ${rules} rule${rules === 1 ? '' : 's'}`;
}

/** The flows some task of the lab expects dropped or blocked. */
export function expectedDrops(lab: Lab, traffic: Traffic): Set<string> {
  const out = new Set<string>();
  for (const t of lab.tasks) {
    for (const e of t.expect) if (e.verdict === 'DROPPED') for (const s of selectFlows(e.select, traffic)) out.add(s.flow.name);
    for (const sel of t.mustStayBlocked) for (const s of selectFlows(sel, traffic)) out.add(s.flow.name);
  }
  return out;
}

/** Replays the lab's capture: `each` gets every record with the open Replayer (and replays it),
 * `end` may read the Replayer before it is closed. */
export async function replayLabCapture(
  lab: Lab,
  open: ReplayOptions,
  each: (record: CaptureRecord, replayer: Replayer) => void,
  end?: (replayer: Replayer) => void,
): Promise<void> {
  const replayer = await Replayer.open(open);
  try {
    for await (const record of readCapture(capturePath(lab.traffic!))) each(record, replayer);
    end?.(replayer);
  } finally {
    replayer.close();
  }
}

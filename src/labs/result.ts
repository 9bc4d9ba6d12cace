// What a check found, engine-agnostic and free of formatting: per task, pass or the first
// failing expectation with the packet and the flows (Hubble's shape) that show it. format.ts
// turns it into text; tests read it directly.

import type { ReplayFlow } from '../flows/hubble.js';
import type { Lab, Task } from './lab.js';

export type TaskStatus = 'pass' | 'fail' | 'not-checked';

export interface Failure {
  /** What was expected, in words: `flow xwing-lands (default/xwing -> default/deathstar TCP/80) is DROPPED`. */
  expected: string;
  /** What happened instead. */
  got: string;
  /** The packet that shows it (from 1), if one does. */
  packet?: number;
  /** That packet's flows, Hubble-style, for the compact lines. */
  flows: ReplayFlow[];
  /** Extra lines: a compiler error, the VM's error and what it means. */
  detail?: string[];
}

export interface TaskResult {
  task: Task;
  status: TaskStatus;
  failure?: Failure;
  /** Why a task could not be checked. */
  reason?: string;
}

/** Numbers a lab measures (lab 7): identities and policy-map sizes. */
export interface Measurements {
  identities: number;
  /** The largest policy map of any endpoint in one direction. */
  maxEntries: number;
  maxEntriesAt: string;
  totalEntries: number;
  limit: number;
}

export interface CheckResult {
  lab: Lab;
  engine: 'vm' | 'kernel';
  passed: boolean;
  tasks: TaskResult[];
  /** Packets replayed (or run). */
  packets: number;
  measurements?: Measurements;
  /** Lines shown before the tasks (what was compiled, what was measured). */
  notes: string[];
  /** Wall time of the check (not part of any golden output). */
  elapsedMs: number;
}

/** The first failing task, if any. */
export function firstFailure(r: CheckResult): TaskResult | undefined {
  return r.tasks.find((t) => t.status === 'fail');
}

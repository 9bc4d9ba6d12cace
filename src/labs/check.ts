// `lab check`: which checker a lab's kind uses, in which engine, and whether this machine has
// what the lab needs. A lab's kind names its checker (policy: check_policy.ts, l7: check_l7.ts,
// xdp: check_xdp.ts, services: check_services.ts, bench: src/bench/lab_answers.ts); a new kind
// of lab adds its checker here and its name to LAB_KINDS. Needs that no checker provides are
// refused with a LAB_NEEDS error naming them, so a lab that arrives before its machinery says so
// instead of checking something else.

import { kernelAvailability } from '../kernel/addon.js';
import { TwinpathError } from '../errors.js';
import type { Lab, LabKind, LabNeed } from './lab.js';
import { labDirName } from './lab.js';
import type { CheckResult } from './result.js';
import { checkPolicyLab } from './check_policy.js';
import { checkXdpLab } from './check_xdp.js';
import { checkL7Lab } from './check_l7.js';
import { checkServicesLab } from './check_services.js';
import { checkScalingLab, QUESTIONS } from '../bench/lab_answers.js';

export interface CheckOptions {
  /** Run in the kernel instead of the VM (xdp labs: in both, compared). */
  kernel?: boolean;
}

type Checker = (lab: Lab, dir: string, engine: 'vm' | 'kernel') => Promise<CheckResult>;

const CHECKERS: Record<LabKind, Checker> = {
  policy: (lab, dir, engine) => checkPolicyLab(lab, dir, { engine }),
  xdp: (lab, dir, engine) => checkXdpLab(lab, dir, { engine }),
  l7: (lab, dir, engine) => checkL7Lab(lab, dir, { engine }),
  services: (lab, dir, engine) => checkServicesLab(lab, dir, { engine }),
  bench: (lab, dir, engine) => {
    // A bench lab's tasks are the checker's questions: a task it does not ask is a typo.
    for (const t of lab.tasks) {
      if (!QUESTIONS.some((q) => q.id === t.id)) throw new TwinpathError('LAB_BAD_FILE', `task "${t.id}" is not a question of the scaling benchmark (${QUESTIONS.map((q) => q.id).join(', ')})`, t.at);
    }
    return checkScalingLab(lab, dir, { engine });
  },
};

/** Needs this build's checkers provide (l7: the l7 checker's proxy stage, lb: the services
 * checker's load balancing); the others make `lab check` refuse with LAB_NEEDS. */
const PROVIDED: ReadonlySet<LabNeed> = new Set<LabNeed>(['kernel', 'root', 'clang', 'l7', 'lb']);

/** What stops this lab from being checked here in `engine`, if anything. */
export function missingNeeds(lab: Lab, engine: 'vm' | 'kernel'): string | undefined {
  const name = labDirName(lab.number, lab.slug);
  const unprovided = lab.needs.filter((n) => !PROVIDED.has(n));
  if (unprovided.length > 0) return `lab ${name} needs ${unprovided.join(', ')}, which this version of twinpath does not provide yet`;
  if (engine === 'kernel' && !lab.engines.includes('kernel')) return `lab ${name} is checked in the VM only (its lab.yaml lists engines: ${lab.engines.join(', ')})`;
  const wantsKernel = engine === 'kernel' || lab.needs.includes('kernel') || lab.needs.includes('root');
  if (wantsKernel) {
    const a = kernelAvailability();
    if (!a.ok) return `lab ${name} in the kernel: ${a.reason}`;
  }
  return undefined;
}

export async function checkLab(lab: Lab, dir: string, opts: CheckOptions = {}): Promise<CheckResult> {
  const engine = opts.kernel ? 'kernel' : 'vm';
  const missing = missingNeeds(lab, engine);
  if (missing) throw new TwinpathError('LAB_NEEDS', missing);
  return CHECKERS[lab.kind](lab, dir, engine);
}

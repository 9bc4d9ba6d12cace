// `lab check`: which checker a lab's kind uses, in which engine, and whether this machine has
// what the lab needs. A lab's kind names its checker (policy: check_policy.ts, xdp:
// check_xdp.ts); a new kind of lab adds its checker here and its name to LAB_KINDS. Needs that
// no checker provides yet (l7, lb) are refused with a LAB_NEEDS error naming them, so a lab that
// arrives before its machinery says so instead of checking something else.

import { kernelAvailability } from '../kernel/addon.js';
import { TwinpathError } from '../errors.js';
import type { Lab, LabKind, LabNeed } from './lab.js';
import { labDirName } from './lab.js';
import type { CheckResult } from './result.js';
import { checkPolicyLab } from './check_policy.js';
import { checkXdpLab } from './check_xdp.js';
import { checkL7Lab } from './check_l7.js';

export interface CheckOptions {
  /** Run in the kernel instead of the VM (xdp labs: in both, compared). */
  kernel?: boolean;
}

type Checker = (lab: Lab, dir: string, engine: 'vm' | 'kernel') => Promise<CheckResult>;

const CHECKERS: Record<LabKind, Checker> = {
  policy: (lab, dir, engine) => checkPolicyLab(lab, dir, { engine }),
  xdp: (lab, dir, engine) => checkXdpLab(lab, dir, { engine }),
  l7: (lab, dir, engine) => checkL7Lab(lab, dir, { engine }),
};

/** Needs this build's checkers provide; the others make `lab check` refuse with LAB_NEEDS. */
const PROVIDED: ReadonlySet<LabNeed> = new Set<LabNeed>(['kernel', 'root', 'clang']);

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

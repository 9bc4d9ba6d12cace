// Every command the CLI knows, in the order --help lists them.

import type { CommandRegistrar } from '../main.js';
import { registerBench } from './bench.js';
import { registerExec } from './exec.js';
import { registerExplain } from './explain.js';
import { registerDisasm } from './disasm.js';
import { registerInspect } from './inspect.js';
import { registerLab } from './lab.js';
import { registerNode } from './node.js';
import { registerPolicy } from './policy.js';
import { registerProbe } from './probe.js';
import { registerReachability } from './reachability.js';
import { registerReplay } from './replay.js';
import { registerRun } from './run.js';
import { registerSandbox } from './sandbox.js';

export const commands: CommandRegistrar[] = [registerBench, registerDisasm, registerExec, registerExplain, registerInspect, registerLab, registerNode, registerPolicy, registerProbe, registerReachability, registerReplay, registerRun, registerSandbox];

// Every command the CLI knows, in the order --help lists them.

import type { CommandRegistrar } from '../main.js';
import { registerExec } from './exec.js';
import { registerDisasm } from './disasm.js';
import { registerInspect } from './inspect.js';
import { registerRun } from './run.js';
import { registerSandbox } from './sandbox.js';

export const commands: CommandRegistrar[] = [registerDisasm, registerExec, registerInspect, registerRun, registerSandbox];

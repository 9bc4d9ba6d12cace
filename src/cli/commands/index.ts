// Every command the CLI knows, in the order --help lists them.

import type { CommandRegistrar } from '../main.js';
import { registerExec } from './exec.js';
import { registerDisasm } from './disasm.js';

export const commands: CommandRegistrar[] = [registerDisasm, registerExec];

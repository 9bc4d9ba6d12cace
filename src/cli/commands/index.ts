// Every command the CLI knows, in the order --help lists them.

import type { CommandRegistrar } from '../main.js';

export const commands: CommandRegistrar[] = [];

// `twinpath disasm OBJECT [--section NAME] [--source]` lists an object's code as llvm-objdump -d
// does (with --source/-S, each instruction's C source line before it, as llvm-objdump -S does);
// `twinpath disasm --hex BYTES` (or `--hex -` for standard input) lists raw instructions.

import { readFileSync } from 'node:fs';
import type { CommandRegistrar } from '../main.js';
import { TwinpathError } from '../../errors.js';
import { disassemble } from '../../asm/disassembler.js';
import { parseHexBytes } from '../../asm/insn.js';
import { disassembleObject } from '../../asm/objdump.js';
import { readInputFile } from '../../util/files.js';

export const registerDisasm: CommandRegistrar = (y, ctx) =>
  y.command(
    'disasm [object]',
    'disassemble an eBPF object or raw instructions (llvm-objdump syntax)',
    (a) =>
      a
        .positional('object', { type: 'string', describe: 'ELF object file' })
        .option('section', { type: 'string', describe: 'only this section' })
        .option('source', { alias: 'S', type: 'boolean', default: false, describe: 'interleave C source lines (from .BTF.ext line info)' })
        .option('hex', { type: 'string', describe: 'instruction bytes as hex, or - for standard input' }),
    (args) => {
      if (args.hex !== undefined) {
        if (args.object !== undefined) throw new TwinpathError('USAGE', 'give an OBJECT or --hex, not both');
        if (args.source) throw new TwinpathError('USAGE', '--source needs an OBJECT (raw instructions carry no line info)');
        const text = args.hex === '-' ? readFileSync(0, 'utf8') : args.hex;
        ctx.io.out(disassemble(parseHexBytes(text)));
        return;
      }
      if (args.object === undefined) throw new TwinpathError('USAGE', 'name an OBJECT file, or give --hex BYTES');
      const bytes = readInputFile(args.object);
      const opts: { file: string; strict: boolean; section?: string; source?: boolean } = { file: args.object, strict: false };
      if (args.source) opts.source = true;
      if (args.section !== undefined) opts.section = args.section;
      ctx.io.out(disassembleObject(bytes, opts));
    },
  );

// `twinpath exec`: run raw bytecode on a memory buffer and print r0. The program comes from
// --hex, an assembly file (the conformance suite's syntax or llvm-objdump's), a raw binary, or
// one function of an ELF object that needs no relocation. The memory is passed in r1, its
// length in r2, as the conformance suite does.

import { readFileSync } from 'node:fs';
import type { CommandRegistrar } from '../main.js';
import { TwinpathError } from '../../errors.js';
import { parseHexBytes } from '../../asm/insn.js';
import { assemble } from '../../asm/assembler.js';
import { readElf, SHF_EXECINSTR, STT_FUNC } from '../../elf/elf.js';
import { Vm, type HelperSet } from '../../vm/vm.js';

const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46];

export const registerExec: CommandRegistrar = (y, ctx) =>
  y.command(
    'exec [program]',
    'run raw eBPF bytecode on a memory buffer and print r0',
    (a) =>
      a
        .positional('program', {
          type: 'string',
          describe: 'an assembly file (.s/.asm), a raw bytecode file, or an ELF object (with --function)',
        })
        .option('hex', { type: 'string', describe: 'the program as hex bytes instead of a file' })
        .option('function', { type: 'string', describe: 'in an ELF object: the function (or section) to run' })
        .option('mem', { type: 'string', describe: 'input memory as hex bytes (passed in r1, length in r2)' })
        .option('mem-file', { type: 'string', describe: 'input memory from a file' })
        .option('budget', { type: 'number', describe: 'instructions that may execute', default: 1_000_000 })
        .option('helpers', {
          choices: ['none', 'conformance'] as const,
          default: 'conformance' as const,
          describe: 'helper set: the conformance suite has helper 5 (unwind)',
        })
        .option('json', { type: 'boolean', default: false, describe: 'print {"r0", "executed"} as JSON' })
        .option('show-memory', { type: 'boolean', default: false, describe: 'also print the memory after the run' })
        .check((argv) => {
          if ((argv.program === undefined) === (argv.hex === undefined)) throw new Error('give a program file or --hex, not both');
          if (argv.mem !== undefined && argv['mem-file'] !== undefined) throw new Error('give --mem or --mem-file, not both');
          if (!Number.isSafeInteger(argv.budget) || argv.budget <= 0) throw new Error('--budget needs a positive whole number');
          return true;
        }),
    (argv) => {
      const code =
        argv.hex !== undefined ? parseHexBytes(argv.hex) : programFromFile(argv.program!, argv.function);
      const memory =
        argv.mem !== undefined
          ? parseHexBytes(argv.mem)
          : argv['mem-file'] !== undefined
            ? new Uint8Array(readFile(argv['mem-file']))
            : new Uint8Array(0);
      const vm = new Vm();
      const where = argv.program ?? '--hex';
      let result;
      try {
        result = vm.load(code, { helpers: argv.helpers as HelperSet }).run({ memory, budget: argv.budget });
      } catch (e) {
        throw e instanceof TwinpathError ? e.within({ file: where }) : e;
      }
      const r0 = result.r0;
      if (argv.json) {
        const out: Record<string, unknown> = { r0: '0x' + r0.toString(16), executed: result.executed };
        if (argv['show-memory']) out.memory = hex(result.memory);
        ctx.io.out(JSON.stringify(out) + '\n');
      } else {
        ctx.io.out(`0x${r0.toString(16)}\n`);
        if (argv['show-memory']) ctx.io.out(`memory: ${hex(result.memory)}\n`);
      }
    },
  );

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

function readFile(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new TwinpathError('IO_ERROR', (e as Error).message, { file: path });
  }
}

function programFromFile(path: string, fn: string | undefined): Uint8Array {
  const bytes = new Uint8Array(readFile(path));
  if (ELF_MAGIC.every((m, k) => bytes[k] === m)) return functionFromObject(bytes, path, fn);
  if (fn !== undefined) throw new TwinpathError('USAGE', '--function applies to ELF objects only', { file: path });
  if (/\.(s|asm|data)$/i.test(path)) return assemble(new TextDecoder().decode(bytes), path);
  return bytes;
}

/** The bytes of one function of an object, refusing code that needs relocations (maps, globals). */
function functionFromObject(bytes: Uint8Array, path: string, name: string | undefined): Uint8Array {
  const elf = readElf(bytes, path);
  const funcs = elf.symbols.filter(
    (s) => s.type === STT_FUNC && (elf.sections[s.shndx]?.flags ?? 0n) & SHF_EXECINSTR,
  );
  const pick =
    name === undefined
      ? funcs.length === 1
        ? funcs[0]
        : undefined
      : (funcs.find((s) => s.name === name) ?? funcs.find((s) => elf.sections[s.shndx]?.name === name));
  if (!pick) {
    const names = funcs.map((s) => s.name).join(', ');
    throw new TwinpathError(
      'ELF_NO_PROGRAM',
      name === undefined ? `name one function with --function (${names})` : `no function "${name}" (have ${names})`,
      { file: path },
    );
  }
  const sec = elf.sections[pick.shndx]!;
  const start = Number(pick.value);
  const end = start + Number(pick.size || BigInt(sec.data.length - start));
  const relocs = (elf.relocations.get(sec.index) ?? []).filter((r) => r.offset >= BigInt(start) && r.offset < BigInt(end));
  if (relocs.length) {
    throw new TwinpathError(
      'ELF_BAD_RELOC',
      `function "${pick.name}" has ${relocs.length} relocation(s) (maps, globals or calls); exec runs self-contained code only, use twinpath run`,
      { file: path, section: sec.name, offset: Number(relocs[0]!.offset) },
    );
  }
  return sec.data.subarray(start, end);
}

// The bpf_conformance plugin protocol: `PLUGIN [MEM] [OPTIONS...] [--elf]`. MEM (present only
// when the test has memory) is hex bytes and comes before the plugin's own options; standard
// input holds the program as hex (raw 8-byte slots, or with --elf a minimal ELF whose `main`
// function is the program). r0 goes to standard output in hex; an error exits non-zero with
// its text on standard error.

import { parseHexBytes } from '../asm/insn.js';
import { readElf, STT_FUNC } from '../elf/elf.js';
import { TwinpathError, isTwinpathError } from '../errors.js';
import { Vm } from '../vm/vm.js';

export interface PluginOutcome {
  stdout: string;
  stderr: string;
  status: number;
}

const USAGE = 'usage: bpf-conformance-plugin [MEMORY_HEX] [--elf] [--budget N] < PROGRAM_HEX';

export function runPlugin(argv: string[], stdin: string, vm: Vm = new Vm()): PluginOutcome {
  try {
    let memHex: string | undefined;
    let elf = false;
    let budget: number | undefined;
    for (let k = 0; k < argv.length; k++) {
      const a = argv[k]!;
      if (a === '--elf') elf = true;
      else if (a === '--budget') {
        budget = Number(argv[++k]);
        if (!Number.isSafeInteger(budget) || budget <= 0) throw new TwinpathError('USAGE', `--budget needs a positive whole number`);
      } else if (a.startsWith('--')) throw new TwinpathError('USAGE', `unknown option ${a}; ${USAGE}`);
      else if (memHex === undefined && k === 0) memHex = a;
      else throw new TwinpathError('USAGE', `unexpected argument ${JSON.stringify(a)}; ${USAGE}`);
    }
    const memory = memHex === undefined ? new Uint8Array(0) : parseHexBytes(memHex);
    const input = parseHexBytes(stdin);
    const code = elf ? mainFunction(input) : input;
    const program = vm.load(code, { helpers: 'conformance' });
    const result = program.run({ memory, budget });
    program.dispose();
    return { stdout: result.r0.toString(16) + '\n', stderr: '', status: 0 };
  } catch (e) {
    if (isTwinpathError(e)) return { stdout: '', stderr: `${e.message} [${e.code}]\n`, status: 1 };
    throw e;
  }
}

/** The code of the global function `main` in a minimal ELF object, from its start to its end. */
function mainFunction(bytes: Uint8Array): Uint8Array {
  const f = readElf(bytes, '<stdin>');
  const main = f.symbols.find((s) => s.name === 'main' && s.type === STT_FUNC);
  if (!main) throw new TwinpathError('ELF_NO_PROGRAM', 'no function named main', { file: '<stdin>' });
  const sec = f.sections[main.shndx];
  if (!sec) throw new TwinpathError('ELF_BAD_SYMBOL', 'main is not in a section', { file: '<stdin>' });
  const start = Number(main.value);
  const end = main.size > 0n ? start + Number(main.size) : sec.data.length;
  if (start % 8 !== 0 || end > sec.data.length || start >= end) {
    throw new TwinpathError('ELF_BAD_SYMBOL', `main spans bytes ${start}-${end} of a ${sec.data.length}-byte section`, {
      file: '<stdin>',
      section: sec.name,
    });
  }
  return sec.data.subarray(start, end);
}

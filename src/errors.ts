// The closed set of error codes twinpath reports, and the error type that carries them.
// Tests assert codes and locations, never message wording; callers wrap causes outermost first.

export const ERROR_CODES = [
  // Usage and input files
  'USAGE',
  'IO_ERROR',
  // VM: load-time validation
  'VM_BAD_OPCODE',
  'VM_BAD_REGISTER',
  'VM_BAD_FIELD',
  'VM_JUMP_OUT_OF_RANGE',
  'VM_BAD_LDDW',
  'VM_FALLTHROUGH',
  'VM_CALL_DEPTH',
  'VM_UNKNOWN_HELPER',
  'VM_EMPTY_PROGRAM',
  'VM_TOO_LARGE',
  'VM_UNSUPPORTED',
  // VM: run time
  'VM_OOB_ACCESS',
  'VM_BUDGET_EXHAUSTED',
  'VM_BAD_CALL_TARGET',
  'VM_OUT_OF_MEMORY',
  'VM_MAP_ERROR',
  // Assembler and byte input
  'ASM_SYNTAX',
  'ASM_UNKNOWN_MNEMONIC',
  'ASM_BAD_OPERAND',
  'ASM_BAD_LABEL',
  'HEX_BAD_INPUT',
  // ELF objects
  'ELF_TRUNCATED',
  'ELF_BAD_MAGIC',
  'ELF_BAD_CLASS',
  'ELF_BAD_MACHINE',
  'ELF_BAD_SECTION',
  'ELF_BAD_SYMBOL',
  'ELF_BAD_RELOC',
  'ELF_NO_PROGRAM',
  'ELF_BAD_MAP',
  'BTF_BAD',
  'BTF_MISSING',
  // Captures
  'PCAP_BAD_MAGIC',
  'PCAP_TRUNCATED',
  'PCAP_BAD_BLOCK',
  'PCAP_BAD_RECORD',
  // Kernel engine
  'KERNEL_UNAVAILABLE',
  'KERNEL_ERROR',
  // Conformance test files
  'CONFORMANCE_BAD_FILE',
  // Engines (src/engine)
  'ENGINE_UNAVAILABLE',
  'KERNEL_PACKET_SIZE',
  // run --map-init files: the file and the JSON path of the bad part
  'MAP_INIT_BAD',
  // Policy input (src/policy): YAML, Kubernetes and Cilium objects; each carries file, line, column, path
  'POLICY_YAML_SYNTAX',
  'POLICY_BAD_OBJECT',
  'POLICY_UNKNOWN_FIELD',
  'POLICY_MISSING_FIELD',
  'POLICY_BAD_VALUE',
  'POLICY_BAD_SELECTOR',
  'POLICY_BAD_CIDR',
  'POLICY_BAD_PORT',
  'POLICY_DUPLICATE',
  'POLICY_UNSUPPORTED',
  // Probe files and endpoints named on the command line
  'PROBE_BAD_FILE',
  'PROBE_UNKNOWN_ENDPOINT',
  // Datapath orchestration, load balancing, sandbox and node attachment
  'DATAPATH_ERROR',
  'LB_ERROR',
  'SANDBOX_ERROR',
  'NODE_ERROR',
  // Labs (src/labs): lab.yaml and traffic specs (file, line, column, path), the working directory, what a lab needs
  'LAB_BAD_FILE',
  'LAB_NOT_FOUND',
  'LAB_WORKDIR',
  'LAB_NEEDS',
  // Replay scenarios (captures/): a scenario spec (file, path)
  'SCENARIO_BAD_SPEC',
  // Benchmarks (src/bench): a measured path gave a wrong verdict, so its timing would mean nothing
  'BENCH_ERROR',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** Where an error happened, outermost first, as a person would read it. */
export interface ErrorLocation {
  file?: string;
  section?: string;
  program?: string;
  /** Instruction index in 8-byte slots, as llvm-objdump and the verifier count them. */
  insn?: number;
  /** Byte offset into a file or section. */
  offset?: number;
  line?: number;
  column?: number;
  path?: string;
  /** The C source file `line` and `column` are in, when they are not in `file` (an instruction's
   * source line from .BTF.ext), and the text of that line. */
  source?: string;
  sourceText?: string;
}

export class TwinpathError extends Error {
  readonly code: ErrorCode;
  readonly location: ErrorLocation;
  readonly detail: string;

  constructor(code: ErrorCode, detail: string, location: ErrorLocation = {}, options?: { cause?: unknown }) {
    super(formatMessage(detail, location), options);
    this.name = 'TwinpathError';
    this.code = code;
    this.detail = detail;
    this.location = location;
  }

  /** The same error seen from an outer context: the outer location fills what the inner one lacks. */
  within(outer: ErrorLocation): TwinpathError {
    const merged: ErrorLocation = { ...outer, ...this.location };
    const copy = new TwinpathError(this.code, this.detail, merged, { cause: this.cause });
    copy.stack = this.stack;
    return copy;
  }
}

function formatMessage(detail: string, loc: ErrorLocation): string {
  const parts: string[] = [];
  const at = (f: string) => (loc.line !== undefined ? `${f}:${loc.line}${loc.column !== undefined ? `:${loc.column}` : ''}` : f);
  if (loc.file !== undefined) parts.push(loc.source === undefined ? at(loc.file) : loc.file);
  if (loc.program !== undefined) {
    parts.push(`program "${loc.program}"${loc.section !== undefined ? ` (section "${loc.section}")` : ''}`);
  } else if (loc.section !== undefined) {
    parts.push(`section "${loc.section}"`);
  }
  if (loc.path !== undefined) parts.push(loc.path);
  if (loc.offset !== undefined) parts.push(`offset ${loc.offset} (0x${loc.offset.toString(16)})`);
  if (loc.insn !== undefined) {
    // `insn 42 (parse.bpf.c:37: if (ip->ihl < 5))`: the instruction and the C line it came from.
    const src = loc.source !== undefined ? ` (${at(loc.source)}${loc.sourceText ? `: ${loc.sourceText}` : ''})` : '';
    parts.push(`insn ${loc.insn}${src}`);
  } else if (loc.source !== undefined) {
    parts.push(at(loc.source));
  }
  parts.push(detail);
  return parts.join(': ');
}

export function isTwinpathError(e: unknown): e is TwinpathError {
  return e instanceof TwinpathError;
}

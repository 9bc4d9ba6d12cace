// One instruction as text for error messages: the disassembler's llvm-objdump form when it
// can be decoded, its raw bytes otherwise.

export function describeInsn(code: Uint8Array, index: number): string {
  const bytes = code.subarray(index * 8, index * 8 + 8);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
}

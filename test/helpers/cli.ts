// The CLI as a function for tests: main() with a buffered io, so a test reads the exit status,
// standard output and standard error without a child process.

import { main } from '../../src/cli/main.js';
import { bufferIo } from '../../src/cli/io.js';

export async function cli(...args: string[]): Promise<{ status: number; out: string; err: string }> {
  const io = bufferIo();
  const status = await main(args, io);
  return { status, out: io.stdout(), err: io.stderr() };
}

// Where command output goes. Commands write through an Io so that tests can call the CLI
// as a function and read what it printed.

export interface Io {
  out(text: string): void;
  err(text: string): void;
}

export const processIo: Io = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

/** An Io that keeps everything, for tests. */
export function bufferIo(): Io & { stdout: () => string; stderr: () => string } {
  let o = '';
  let e = '';
  return {
    out: (t) => {
      o += t;
    },
    err: (t) => {
      e += t;
    },
    stdout: () => o,
    stderr: () => e,
  };
}

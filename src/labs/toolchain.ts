// Building a learner's eBPF C file: finding clang (clang-19 first, the version the project's own
// objects are pinned to, then any clang on PATH), the system headers the way bpf/build.sh finds
// them (the multiarch directory for <asm/types.h>), and what to install when clang is missing,
// said for the platform at hand.

import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';

export const CLANG_CANDIDATES = ['clang-19', 'clang'];

/** The first candidate found on PATH (an executable file), or undefined. */
export function findClang(path: string = process.env.PATH ?? ''): string | undefined {
  for (const name of CLANG_CANDIDATES) {
    for (const dir of path.split(delimiter)) {
      if (dir === '') continue;
      const p = join(dir, name);
      try {
        accessSync(p, constants.X_OK);
        return p;
      } catch {
        // not here
      }
    }
  }
  return undefined;
}

/** How to get clang here: the package manager's command for this platform. */
export function clangInstallAdvice(platform: NodeJS.Platform = process.platform, osRelease: string | undefined = readOsRelease()): string {
  if (platform === 'darwin') return 'brew install llvm (then put $(brew --prefix llvm)/bin on PATH); the Linux UAPI headers come from a Linux machine or container';
  if (platform === 'win32') return 'install LLVM from https://github.com/llvm/llvm-project/releases, or work in WSL with: sudo apt install clang-19 libbpf-dev linux-libc-dev';
  const id = /^ID(?:_LIKE)?=(.*)$/gm;
  const ids = [...(osRelease ?? '').matchAll(id)].flatMap((m) => m[1]!.replace(/"/g, '').split(/\s+/));
  if (ids.some((x) => x === 'fedora' || x === 'rhel' || x === 'centos')) return 'sudo dnf install clang libbpf-devel kernel-headers';
  if (ids.includes('alpine')) return 'sudo apk add clang libbpf-dev linux-headers';
  if (ids.includes('arch')) return 'sudo pacman -S clang libbpf linux-api-headers';
  return 'sudo apt install clang-19 libbpf-dev linux-libc-dev';
}

function readOsRelease(): string | undefined {
  try {
    return readFileSync('/etc/os-release', 'utf8');
  } catch {
    return undefined;
  }
}

const MULTIARCH: Partial<Record<string, string>> = { x64: 'x86_64', arm64: 'aarch64', arm: 'arm', ppc64: 'powerpc64le', s390x: 's390x', riscv64: 'riscv64' };

/** The flags the project builds eBPF objects with, plus the multiarch include directory. */
export function bpfCflags(): string[] {
  const flags = ['-O2', '-g', '-target', 'bpf', '-mcpu=v3', '-Wall', '-fdebug-compilation-dir=.', '-fno-ident'];
  const arch = MULTIARCH[process.arch];
  const multiarch = arch ? `/usr/include/${arch}-linux-gnu` : undefined;
  if (multiarch && existsSync(multiarch)) flags.push('-I', multiarch);
  return flags;
}

export interface CompileResult {
  ok: boolean;
  /** The compiler's messages (paths relative to the working directory). */
  messages: string;
  command: string[];
}

/** Compiles `source` (a name in `dir`) to `object` (also in `dir`), with `dir` as the working
 * directory so the compiler's messages name the file as the learner sees it. */
export function compileBpf(clang: string, dir: string, source: string, object: string): CompileResult {
  const args = [...bpfCflags(), '-c', source, '-o', object];
  const r = spawnSync(clang, args, { cwd: dir, encoding: 'utf8', timeout: 60_000 });
  const messages = `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error.message) : ''}`.trimEnd();
  return { ok: r.status === 0, messages, command: [clang.slice(clang.lastIndexOf('/') + 1), ...args] };
}

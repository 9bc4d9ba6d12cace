// The context offsets of src/engine/ctx_layout.ts against the compiler's offsetof() on this
// machine's <linux/bpf.h>: a small C program built at test time prints them. Skips (saying why)
// where no C compiler or no UAPI header is installed.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SK_BUFF, SK_BUFF_SIZE, TC_CTX_IN, TC_CTX_OUT, XDP_CTX_IN, XDP_MD, XDP_MD_SIZE } from '../../src/engine/ctx_layout.js';

function compiler(): string | undefined {
  for (const cc of ['cc', 'gcc', 'clang']) {
    try {
      execFileSync(cc, ['--version'], { stdio: 'ignore' });
      return cc;
    } catch {
      // try the next one
    }
  }
  return undefined;
}

/** `cb[0]` is written `cb[0]` in offsetof too; C accepts an array element there. */
function program(): string {
  const lines = ['#include <stdio.h>', '#include <stddef.h>', '#include <linux/bpf.h>', 'int main(void) {'];
  for (const f of SK_BUFF) lines.push(`  printf("skb %s %zu %zu\\n", "${f.name}", offsetof(struct __sk_buff, ${f.name}), sizeof(((struct __sk_buff *)0)->${f.name}));`);
  for (const f of XDP_MD) lines.push(`  printf("xdp %s %zu %zu\\n", "${f.name}", offsetof(struct xdp_md, ${f.name}), sizeof(((struct xdp_md *)0)->${f.name}));`);
  lines.push('  printf("size skb %zu\\n", sizeof(struct __sk_buff));', '  printf("size xdp %zu\\n", sizeof(struct xdp_md));', '  return 0;', '}');
  return lines.join('\n') + '\n';
}

const cc = compiler();
const dir = mkdtempSync(join(tmpdir(), 'twinpath-ctx-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Whether the compiler finds the UAPI header at all (linux-libc-dev on Debian). */
function headerReason(): string | undefined {
  if (!cc) return 'no C compiler';
  const probe = join(dir, 'probe.c');
  writeFileSync(probe, '#include <linux/bpf.h>\nint main(void) { return sizeof(struct xdp_md) == 0; }\n');
  try {
    execFileSync(cc, ['-o', join(dir, 'probe'), probe], { stdio: 'ignore' });
    return undefined;
  } catch {
    return 'the C compiler finds no <linux/bpf.h> (install linux-libc-dev)';
  }
}
const reason = headerReason();

describe('context field sets', () => {
  it('names only fields of the layout', () => {
    const skb = SK_BUFF.map((f) => f.name);
    for (const n of [...TC_CTX_IN, ...TC_CTX_OUT]) expect(skb).toContain(n);
    for (const n of XDP_CTX_IN) expect(XDP_MD.map((f) => f.name)).toContain(n);
  });
});

describe.skipIf(reason !== undefined)(`ctx layout against offsetof()${reason ? ` [skipped: ${reason}]` : ''}`, () => {
  it('matches every offset, size and the struct sizes', () => {
    const src = join(dir, 'off.c');
    const exe = join(dir, 'off');
    writeFileSync(src, program());
    execFileSync(cc!, ['-o', exe, src]);
    const got = execFileSync(exe, { encoding: 'utf8' }).trim().split('\n');
    const want = [
      ...SK_BUFF.map((f) => `skb ${f.name} ${f.offset} ${f.size}`),
      ...XDP_MD.map((f) => `xdp ${f.name} ${f.offset} ${f.size}`),
      `size skb ${SK_BUFF_SIZE}`,
      `size xdp ${XDP_MD_SIZE}`,
    ];
    expect(got).toEqual(want);
  });
});

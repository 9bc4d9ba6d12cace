// The instruction encodings the disassembler is checked on against llvm-objdump: every opcode
// byte with registers, offsets and immediates chosen to hit each field llvm looks at or ignores,
// plus pseudo-random ones. Deterministic, so the golden listing made from it stays put.
// Run as a script, prints an llvm-mc assembly file of `.byte` lines (one instruction per line).

const OFFS = [0, 1, -1, 8, 16, 32, 3, -3, 0x7fff, -0x8000];
const IMMS = [0, 1, -1, 16, 32, 64, 0x40, 0x41, 0x50, 0x51, 0xa0, 0xa1, 0xe1, 0xf1, 2, 15, 0x11, 0x100, 0x7fffffff, -0x80000000];

/** A small xorshift generator: the sweep must be the same on every machine. */
function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

/** Returns instructions as [opcode, dst, src, off, imm]; lddw entries are followed by their second slot. */
export function sweepEncodings() {
  const next = rng(0x5eed);
  const out = [];
  const push = (op, dst, src, off, imm) => {
    out.push([op, dst, src, off, imm]);
    if (op === 0x18) out.push([0, 0, 0, 0, 0x11223344]);
  };
  for (let op = 0; op < 256; op++) {
    push(op, 1, 2, 0, 0);
    for (const off of OFFS) push(op, 1, 2, off, 0);
    for (const imm of IMMS) push(op, 1, 2, 0, imm);
    for (const r of [0, 10, 11, 15]) {
      push(op, r, 3, 0, 16);
      push(op, 3, r, 0, 16);
    }
    for (let k = 0; k < 12; k++) {
      const v = next();
      const off = (next() & 1) === 1 ? OFFS[v % OFFS.length] : ((next() << 16) >> 16);
      const imm = (next() & 1) === 1 ? IMMS[(v >>> 8) % IMMS.length] : next() | 0;
      push(op, v & 15, (v >>> 4) & 15, off, imm);
    }
  }
  return out;
}

export function encode([op, dst, src, off, imm]) {
  const b = new Uint8Array(8);
  const dv = new DataView(b.buffer);
  dv.setUint8(0, op);
  dv.setUint8(1, (src << 4) | dst);
  dv.setInt16(2, off, true);
  dv.setInt32(4, imm, true);
  return b;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  let s = '\t.text\n\t.globl\tsweep\nsweep:\n';
  for (const insn of sweepEncodings()) s += `\t.byte\t${Array.from(encode(insn), (x) => '0x' + x.toString(16).padStart(2, '0')).join(', ')}\n`;
  process.stdout.write(s);
}

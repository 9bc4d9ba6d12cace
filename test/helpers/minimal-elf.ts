// Writes the smallest ELF object the conformance suite's runner sends with --elf: a `.text`
// section holding the program and a global function symbol `main` over all of it.

export function minimalElf(code: Uint8Array): Uint8Array {
  const shstr = '\0.text\0.symtab\0.strtab\0.shstrtab\0';
  const str = '\0main\0';
  const enc = new TextEncoder();
  const parts: { name: number; type: number; data: Uint8Array; link?: number; info?: number; entsize?: number; flags?: number }[] = [];
  const sym = new Uint8Array(48); // null symbol, then main
  const sv = new DataView(sym.buffer);
  sv.setUint32(24, 1, true); // name "main"
  sym[24 + 4] = (1 << 4) | 2; // STB_GLOBAL, STT_FUNC
  sv.setUint16(24 + 6, 1, true); // section 1 (.text)
  sv.setBigUint64(24 + 16, BigInt(code.length), true);
  parts.push({ name: 1, type: 1, data: code, flags: 6 }); // .text: PROGBITS, ALLOC|EXECINSTR
  parts.push({ name: 7, type: 2, data: sym, link: 3, info: 1, entsize: 24 }); // .symtab
  parts.push({ name: 15, type: 3, data: enc.encode(str) }); // .strtab
  parts.push({ name: 23, type: 3, data: enc.encode(shstr) }); // .shstrtab
  let off = 64;
  const offsets: number[] = [];
  for (const p of parts) {
    off = (off + 7) & ~7;
    offsets.push(off);
    off += p.data.length;
  }
  const shoff = (off + 7) & ~7;
  const out = new Uint8Array(shoff + 64 * (parts.length + 1));
  const v = new DataView(out.buffer);
  out.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1], 0);
  v.setUint16(16, 1, true); // ET_REL
  v.setUint16(18, 247, true); // EM_BPF
  v.setUint32(20, 1, true);
  v.setBigUint64(40, BigInt(shoff), true);
  v.setUint16(52, 64, true);
  v.setUint16(58, 64, true);
  v.setUint16(60, parts.length + 1, true);
  v.setUint16(62, parts.length, true); // .shstrtab is the last section
  parts.forEach((p, k) => {
    out.set(p.data, offsets[k]!);
    const h = shoff + 64 * (k + 1);
    v.setUint32(h, p.name, true);
    v.setUint32(h + 4, p.type, true);
    v.setBigUint64(h + 8, BigInt(p.flags ?? 0), true);
    v.setBigUint64(h + 24, BigInt(offsets[k]!), true);
    v.setBigUint64(h + 32, BigInt(p.data.length), true);
    v.setUint32(h + 40, p.link ?? 0, true);
    v.setUint32(h + 44, p.info ?? 0, true);
    v.setBigUint64(h + 48, 8n, true);
    v.setBigUint64(h + 56, BigInt(p.entsize ?? 0), true);
  });
  return out;
}

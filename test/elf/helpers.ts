// Shared by the src/elf tests: the committed test objects, a way to assert an error's code and
// location, and byte-level mutations that make bad objects out of good ones.
import { readFileSync, readdirSync } from 'node:fs';
import { expect } from 'vitest';
import { parseBtf } from '../../src/elf/btf.js';
import { readElf, type ElfFile } from '../../src/elf/elf.js';
import { TwinpathError, type ErrorLocation } from '../../src/errors.js';

export const OBJECT_DIR = 'bpf/test/elf';

export function objectNames(): string[] {
  return readdirSync(OBJECT_DIR).filter((f) => f.endsWith('.o')).sort();
}

export function load(name: string): Uint8Array {
  return new Uint8Array(readFileSync(`${OBJECT_DIR}/${name}`));
}

/** Runs f, which must throw a TwinpathError; returns its code and location. */
export function caught(f: () => unknown): { code: string; location: ErrorLocation } {
  try {
    f();
  } catch (e) {
    if (e instanceof TwinpathError) return { code: e.code, location: e.location };
    throw e;
  }
  return expect.unreachable('expected a TwinpathError') as never;
}

export function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** File offset of section `index`'s header. */
export function shdr(elf: ElfFile, bytes: Uint8Array, index: number): number {
  return Number(view(bytes).getBigUint64(40, true)) + index * 64;
}

export function section(elf: ElfFile, name: string) {
  const s = elf.sections.find((x) => x.name === name);
  if (!s) throw new Error(`no section ${name}`);
  return s;
}

/** Copy of `bytes` with section `name`'s sh_name moved `by` bytes on (".maps" -> "maps"). */
export function renameSection(bytes: Uint8Array, name: string, by: number): Uint8Array {
  const out = bytes.slice();
  const elf = readElf(out);
  const at = shdr(elf, out, section(elf, name).index);
  view(out).setUint32(at, view(out).getUint32(at, true) + by, true);
  return out;
}

/** File offset of the `nelems` field of the BTF array that encodes `__uint(field, N)` of a map. */
export function mapFieldOffset(bytes: Uint8Array, mapName: string, field: string): number {
  const elf = readElf(bytes);
  const btfSec = section(elf, '.BTF');
  const btf = parseBtf(btfSec.data);
  const v = btf.types.find((t) => t.kind === 'var' && t.name === mapName)!;
  const st = btf.types[v.type!]!;
  const m = st.members!.find((x) => x.name === field)!;
  const arr = btf.types[btf.types[m.type]!.type!]!;
  return btfSec.offset + arr.offset + 12 + 8;
}

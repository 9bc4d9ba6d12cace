// `twinpath inspect OBJECT [--json]`: what an object holds, as twinpath reads it — programs
// (name, section, hook, instruction slots), maps (kernel type name, sizes, entries, flags,
// pinning), global variables with their BTF types and initial values, and the license. Only the
// parse (src/elf); nothing is loaded into any engine.

import { readInputFile } from '../../util/files.js';
import { basename } from 'node:path';
import type { CommandRegistrar } from '../main.js';
import { readObject, type ObjectSpec } from '../../elf/object.js';
import { formatValue, typeName } from '../../elf/btf.js';

export interface InspectReport {
  object: string;
  license: string;
  programs: { name: string; section: string; hook: string; attach?: string; instructions: number }[];
  /** Executable sections of program types twinpath does not run. */
  unsupported: { name: string; section: string; reason: string }[];
  maps: {
    name: string; type: string; keySize: number; valueSize: number; maxEntries: number; flags: number; pinning: string;
    keyType?: string; valueType?: string;
  }[];
  globals: { section: string; name: string; offset: number; size: number; type: string; value: string }[];
}

const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

/** The initial value by its BTF type; hex when there is no type or it cannot be rendered. */
function initialValue(spec: ObjectSpec, typeId: number, bytes: Uint8Array): string {
  if (spec.btf && typeId !== 0) {
    try {
      return formatValue(spec.btf, typeId, bytes);
    } catch {
      // garbled BTF for this one variable: still show the bytes
    }
  }
  return `0x${hex(bytes)}`;
}

export function inspectObject(spec: ObjectSpec, name: string): InspectReport {
  const btf = spec.btf;
  return {
    object: name,
    license: spec.license,
    programs: spec.programs.map((p) => ({
      name: p.name, section: p.section, hook: p.hook, ...(p.attach ? { attach: p.attach } : {}),
      instructions: p.instructions.length / 8,
    })),
    unsupported: spec.unsupported.map((u) => ({ ...u })),
    maps: spec.maps.map((m) => ({
      name: m.name, type: m.typeName, keySize: m.keySize, valueSize: m.valueSize, maxEntries: m.maxEntries,
      flags: m.flags, pinning: m.pinning === 0 ? 'none' : m.pinning === 1 ? 'by_name' : String(m.pinning),
      ...(btf && m.keyTypeId ? { keyType: typeName(btf, m.keyTypeId) } : {}),
      ...(btf && m.valueTypeId && !m.data ? { valueType: typeName(btf, m.valueTypeId) } : {}),
    })),
    globals: spec.maps.flatMap((m) =>
      (m.data?.variables ?? []).map((v) => ({
        section: m.data!.section, name: v.name, offset: v.offset, size: v.size, type: v.typeName || '?',
        value: initialValue(spec, v.typeId, m.data!.contents.subarray(v.offset, v.offset + v.size)),
      })),
    ),
  };
}

/** Columns padded to their widest cell, two spaces apart, no trailing blanks. */
function table(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  return cells.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).map((l) => `  ${l}\n`).join('');
}

export function formatInspect(r: InspectReport): string {
  let out = `object: ${r.object}\nlicense: ${r.license || '(none)'}\n`;
  out += `\nprograms (${r.programs.length}):\n`;
  if (r.programs.length) {
    out += table(['NAME', 'SECTION', 'HOOK', 'INSNS'],
      r.programs.map((p) => [p.name, p.section, p.attach ? `${p.hook} (${p.attach})` : p.hook, p.instructions]));
  }
  if (r.unsupported.length) {
    out += `\nnot run by twinpath (${r.unsupported.length}):\n`;
    out += table(['NAME', 'SECTION'], r.unsupported.map((u) => [u.name, u.section]));
  }
  out += `\nmaps (${r.maps.length}):\n`;
  if (r.maps.length) {
    out += table(['NAME', 'TYPE', 'KEY', 'VALUE', 'MAX_ENTRIES', 'FLAGS', 'PINNING'],
      r.maps.map((m) => [
        m.name, m.type.replace(/^BPF_MAP_TYPE_/, ''),
        m.keyType ? `${m.keySize} (${m.keyType})` : m.keySize,
        m.valueType ? `${m.valueSize} (${m.valueType})` : m.valueSize,
        m.maxEntries, `0x${m.flags.toString(16)}`, m.pinning,
      ]));
  }
  out += `\nglobals (${r.globals.length}):\n`;
  if (r.globals.length) {
    out += table(['SECTION', 'NAME', 'OFFSET', 'SIZE', 'TYPE', 'VALUE'],
      r.globals.map((g) => [g.section, g.name, g.offset, g.size, g.type, g.value]));
  }
  return out;
}

export function readObjectFile(path: string): { bytes: Uint8Array; spec: ObjectSpec } {
  const bytes = readInputFile(path);
  return { bytes, spec: readObject(bytes, path) };
}

export const registerInspect: CommandRegistrar = (y, ctx) =>
  y.command(
    'inspect <object>',
    "list an object's programs, maps, globals and license",
    (a) =>
      a
        .positional('object', { type: 'string', demandOption: true, describe: 'ELF object file (clang -target bpf)' })
        .option('json', { type: 'boolean', default: false, describe: 'print one JSON object' }),
    (args) => {
      const { spec } = readObjectFile(args.object);
      const report = inspectObject(spec, basename(args.object));
      ctx.io.out(args.json ? JSON.stringify(report, null, 2) + '\n' : formatInspect(report));
    },
  );

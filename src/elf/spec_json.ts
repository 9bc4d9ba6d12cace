// The JSON form of an ObjectSpec: what golden files, `inspect --json` and people read. Bytes
// become hex (instructions one 8-byte slot per string, as llvm-objdump shows them), bigints
// decimal strings, and the parsed BTF is summarised rather than dumped.

import { typeName } from './btf.js';
import type { MapSpec, ObjectSpec } from './object.js';

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

function slots(b: Uint8Array): string[] {
  const out: string[] = [];
  for (let i = 0; i + 8 <= b.length; i += 8) out.push(hex(b.subarray(i, i + 8)));
  return out;
}

function mapJson(spec: ObjectSpec, m: MapSpec): Record<string, unknown> {
  const o: Record<string, unknown> = {
    name: m.name, type: m.typeName, keySize: m.keySize, valueSize: m.valueSize,
    maxEntries: m.maxEntries, flags: m.flags, pinning: m.pinning,
  };
  if (m.numaNode !== undefined) o.numaNode = m.numaNode;
  if (m.mapExtra !== undefined) o.mapExtra = m.mapExtra.toString();
  if (spec.btf && m.keyTypeId) o.keyType = typeName(spec.btf, m.keyTypeId);
  if (spec.btf && m.valueTypeId) o.valueType = typeName(spec.btf, m.valueTypeId);
  if (m.inner) o.inner = mapJson(spec, m.inner);
  if (m.initial) o.initial = m.initial;
  if (m.data) {
    o.data = {
      section: m.data.section, readOnly: m.data.readOnly, contents: hex(m.data.contents),
      variables: m.data.variables.map((v) => ({ name: v.name, offset: v.offset, size: v.size, type: v.typeName })),
    };
  }
  return o;
}

export function specToJson(spec: ObjectSpec): Record<string, unknown> {
  return {
    license: spec.license,
    programs: spec.programs.map((p) => ({
      name: p.name, section: p.section, hook: p.hook,
      ...(p.attach ? { attach: p.attach } : {}), ...(p.frags ? { frags: true } : {}),
      functions: p.functions, references: p.references,
      instructions: slots(p.instructions),
      lineInfo: p.lineInfo.map((l) => `${l.insn} ${l.file}:${l.line}:${l.column} ${l.source.trim()}`),
    })),
    unsupported: spec.unsupported,
    maps: spec.maps.map((m) => mapJson(spec, m)),
    btfTypes: spec.btf ? spec.btf.types.length - 1 : 0,
  };
}

// The .BTF.ext reader: func_info and line_info, per ELF section, keyed by instruction index.
// Names and source lines live in the .BTF string table, so this needs the parsed .BTF. CO-RE
// relocation records are skipped: twinpath runs programs against the UAPI layouts they were
// compiled for. In an object file the records' instruction offsets are in bytes; they are turned
// into 8-byte slot indexes here, the unit every other part of twinpath uses.

import { TwinpathError } from '../errors.js';
import { btfString, type Btf } from './btf.js';

export interface FuncInfo {
  /** Instruction index (8-byte slots) within the ELF section. */
  insn: number;
  typeId: number;
  name: string;
}

export interface LineInfo {
  insn: number;
  file: string;
  line: number;
  column: number;
  /** The source line's text, as clang recorded it. */
  source: string;
}

export interface BtfExtSection {
  section: string;
  funcs: FuncInfo[];
  lines: LineInfo[];
}

export interface BtfExt {
  /** In the order sections first appear in the file. */
  sections: BtfExtSection[];
}

const SECTION = '.BTF.ext';

export function parseBtfExt(data: Uint8Array, btf: Btf, file?: string): BtfExt {
  const loc = (offset: number) => ({ ...(file !== undefined ? { file } : {}), section: SECTION, offset });
  const bad = (detail: string, offset: number): never => {
    throw new TwinpathError('BTF_BAD', detail, loc(offset));
  };
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (data.length < 8) bad(`header needs 8 bytes, section has ${data.length}`, 0);
  if (view.getUint16(0, true) !== 0xeb9f) bad('bad magic', 0);
  const hdrLen = view.getUint32(4, true);
  if (hdrLen < 24 || hdrLen > data.length) bad(`header length ${hdrLen} is out of range`, 4);
  const byName = new Map<string, BtfExtSection>();
  const out: BtfExt = { sections: [] };
  const sectionFor = (name: string): BtfExtSection => {
    let s = byName.get(name);
    if (!s) {
      s = { section: name, funcs: [], lines: [] };
      byName.set(name, s);
      out.sections.push(s);
    }
    return s;
  };
  const str = (off: number, at: number): string => btfString(btf.strings, off, at, file, SECTION);

  // Each info block: a record size, then per section {name, count, records}. The record size may
  // grow in later kernels; the fields we know stay first, so stride by the declared size.
  const walk = (off: number, len: number, minRec: number, what: string,
    each: (sec: BtfExtSection, rec: number) => void): void => {
    if (len === 0) return;
    const start = hdrLen + off, end = start + len;
    if (end > data.length) bad(`${what} (${len} bytes at ${start}) is past the end`, start);
    if (len < 4) bad(`${what} is too short`, start);
    const recSize = view.getUint32(start, true);
    if (recSize < minRec || recSize % 4 !== 0) bad(`${what} record size ${recSize} is invalid`, start);
    let p = start + 4;
    while (p < end) {
      if (p + 8 > end) bad(`${what}: section header is truncated`, p);
      const sec = sectionFor(str(view.getUint32(p, true), p));
      const n = view.getUint32(p + 4, true);
      p += 8;
      if (n * recSize > end - p) bad(`${what}: ${n} records of ${recSize} bytes do not fit`, p - 4);
      for (let i = 0; i < n; i++, p += recSize) each(sec, p);
    }
  };

  const insnOf = (at: number): number => {
    const byteOff = view.getUint32(at, true);
    if (byteOff % 8 !== 0) bad(`instruction offset ${byteOff} is not a multiple of 8`, at);
    return byteOff / 8;
  };

  walk(view.getUint32(8, true), view.getUint32(12, true), 8, 'func_info', (sec, p) => {
    const typeId = view.getUint32(p + 4, true);
    const t = btf.types[typeId];
    if (t === undefined || t.kind !== 'func') bad(`func_info names type ${typeId}, which is not a function`, p + 4);
    sec.funcs.push({ insn: insnOf(p), typeId, name: t.name });
  });
  walk(view.getUint32(16, true), view.getUint32(20, true), 16, 'line_info', (sec, p) => {
    const lineCol = view.getUint32(p + 12, true);
    sec.lines.push({
      insn: insnOf(p),
      file: str(view.getUint32(p + 4, true), p + 4),
      line: lineCol >>> 10,
      column: lineCol & 0x3ff,
      source: str(view.getUint32(p + 8, true), p + 8),
    });
  });
  return out;
}

// The BTF reader on a clang object using the rarer kinds, and on hand-built blobs for the kinds
// and the damage clang never produces.
import { describe, expect, it } from 'vitest';
import { findType, formatValue, parseBtf, resolveType, typeName, typeSize } from '../../src/elf/btf.js';
import { readObject } from '../../src/elf/object.js';
import { caught, load } from './helpers.js';

/** A .BTF blob from type records (each a list of u32 words) and a string table. */
function blob(types: number[][], strings: string): Uint8Array {
  const words = types.flat();
  const str = new TextEncoder().encode(strings);
  const out = new Uint8Array(24 + words.length * 4 + str.length);
  const v = new DataView(out.buffer);
  v.setUint16(0, 0xeb9f, true); v.setUint8(2, 1); v.setUint32(4, 24, true);
  v.setUint32(8, 0, true); v.setUint32(12, words.length * 4, true);
  v.setUint32(16, words.length * 4, true); v.setUint32(20, str.length, true);
  words.forEach((w, i) => v.setUint32(24 + i * 4, w >>> 0, true));
  out.set(str, 24 + words.length * 4);
  return out;
}
const info = (kind: number, vlen = 0, kflag = false) => ((kflag ? 1 : 0) << 31) | (kind << 24) | vlen;
// Strings: 0 "", 1 "int", 5 "user", 10 "cptr", 15 "later", 21 "f", 23 "a"
const STR = '\0int\0user\0cptr\0later\0f\0a\0';

describe('BTF kinds', () => {
  it('parses modifiers, type_tag, fwd, func and func_proto', () => {
    const btf = parseBtf(blob([
      [1, info(1), 4, (1 << 24) | 32], //                 [1] int, signed
      [5, info(18), 1], //                               [2] type_tag "user" -> int
      [0, info(2), 2], //                                [3] ptr -> [2]
      [0, info(10), 3], //                               [4] const -> ptr
      [10, info(8), 4], //                               [5] typedef cptr -> [4]
      [15, info(7, 0, true), 0], //                      [6] fwd union later
      [0, info(11), 3], //                               [7] restrict -> ptr
      [0, info(13, 1), 1, 23, 1], //                     [8] func_proto int (int a)
      [21, info(12, 1), 8], //                           [9] func f, global
      [21, info(17), 9, 0xffffffff], //                  [10] decl_tag on f itself
    ], STR));
    expect(btf.types.map((t) => t.kind)).toEqual(['void', 'int', 'type_tag', 'ptr', 'const', 'typedef', 'fwd', 'restrict', 'func_proto', 'func', 'decl_tag']);
    expect(resolveType(btf, 5).kind).toBe('ptr');
    expect(typeSize(btf, 5)).toBe(8);
    expect(typeName(btf, 5)).toBe('cptr');
    expect(typeName(btf, 4)).toBe('const int *');
    expect(typeName(btf, 6)).toBe('union later');
    expect(btf.types[8]!.params).toEqual([{ name: 'a', type: 1 }]);
    expect(btf.types[9]!.linkage).toBe(1);
    expect(btf.types[10]!.componentIdx).toBe(-1);
    expect(formatValue(btf, 1, Uint8Array.of(0xfe, 0xff, 0xff, 0xff))).toBe('-2');
    expect(formatValue(btf, 5, new Uint8Array(8).fill(0x11))).toBe('0x1111111111111111');
    expect(caught(() => typeSize(btf, 9)).code).toBe('BTF_BAD');
  });

  it('rejects damage with BTF_BAD at the offset in .BTF', () => {
    expect(caught(() => parseBtf(blob([[0, info(25), 0]], STR)))).toEqual({ code: 'BTF_BAD', location: { section: '.BTF', offset: 28 } });
    expect(caught(() => parseBtf(blob([[0, info(4, 2), 4, 0, 1, 0]], STR)))).toEqual({ code: 'BTF_BAD', location: { section: '.BTF', offset: 36 } });
    expect(caught(() => parseBtf(blob([[0, info(2), 7]], STR)))).toEqual({ code: 'BTF_BAD', location: { section: '.BTF', offset: 24 } });
    expect(caught(() => parseBtf(blob([[99, info(2), 0]], STR)))).toEqual({ code: 'BTF_BAD', location: { section: '.BTF', offset: 24 } });
    expect(caught(() => parseBtf(blob([], 'abc')))).toMatchObject({ code: 'BTF_BAD' });
    const loop = parseBtf(blob([[10, info(8), 2], [0, info(10), 1]], STR));
    expect(caught(() => resolveType(loop, 1)).code).toBe('BTF_BAD');
  });
});

describe('BTF from clang: rarer kinds', () => {
  const spec = readObject(load('btf_kinds.bpf.o'));
  const btf = spec.btf!;
  const m = spec.maps.find((x) => x.name === 'kinds_map')!;

  it('reads enum64, float and decl_tag', () => {
    expect(findType(btf, 'enum64', 'wide')!.values).toEqual([{ name: 'WIDE_SMALL', value: 1n }, { name: 'WIDE_BIG', value: 0x100000000n }]);
    expect(findType(btf, 'enum', 'color')!.values!.find((v) => v.name === 'BLUE')!.value).toBe(-1n);
    expect(findType(btf, 'float', 'double')!.size).toBe(8);
    expect(btf.types.find((t) => t.kind === 'decl_tag' && t.name === 'cookie')!.componentIdx).toBe(9);
    expect(m).toMatchObject({ typeName: 'BPF_MAP_TYPE_HASH', keySize: 4, valueSize: 56, flags: 1 });
  });

  it('formats floats, enums, bitfields, bools, pointers and unions', () => {
    const b = new Uint8Array(56);
    const v = new DataView(b.buffer);
    v.setFloat32(0, 1.5, true); v.setFloat64(8, 2.25, true); v.setBigUint64(16, 0x100000000n, true); v.setInt32(24, -1, true);
    b[28] = 5 | (29 << 3); b[29] = 1;
    v.setBigUint64(32, 0xdeadbeefn, true); v.setUint32(40, 0x04030201, true); v.setBigUint64(48, 7n, true);
    expect(formatValue(btf, m.valueTypeId, b)).toBe(
      '{ .ratio = 1.5, .precise = 2.25, .w = WIDE_BIG, .c = BLUE, .low = 5, .neg = -3, .on = true, ' +
      '.user_ptr = 0xdeadbeef, .u = { .word = 67305985, .bytes = [1, 2, 3, 4] }, .cookie = 0x7 }');
  });
});

// The contract between bpf/lib/lb.h and src/lb: map names, types and key/value sizes as the
// compiled object's BTF gives them, the flag and constant values both sides spell out, and the
// exact bytes the encoders write.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readObject } from '../../src/elf/object.js';
import { FLOW_HASH_SEED } from '../../src/lb/flowhash.js';
import {
  encodeAffinityMatch, encodeBackend, encodeRevNat, encodeService, encodeServiceKey, LB_MAP_LAYOUT, LB_MAPS, LB_TABLE_SIZE_GLOBAL,
} from '../../src/lb/maps.js';
import { DEFAULT_MAGLEV_TABLE_SIZE, SVC_FLAGS } from '../../src/lb/model.js';
import { ROOT } from '../helpers/paths.js';

const FILE = 'bpf/test/lb/lb.bpf.o';
const spec = readObject(new Uint8Array(readFileSync(join(ROOT, FILE))), FILE);
const header = readFileSync(join(ROOT, 'bpf/lib/lb.h'), 'utf8');
const define = (name: string) => {
  const m = new RegExp(`^#define ${name} (\\S+)`, 'm').exec(header);
  if (!m) throw new Error(`lb.h has no #define ${name}`);
  return Number(m[1]);
};
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('lb.h and src/lb agree', () => {
  it('on every written map: name and key/value sizes', () => {
    for (const [name, layout] of Object.entries(LB_MAP_LAYOUT)) {
      const m = spec.maps.find((x) => x.name === name);
      expect(m, name).toBeDefined();
      expect([m!.keySize, m!.valueSize], name).toEqual([layout.key, layout.value]);
    }
  });

  it('on the runtime maps the writer leaves alone', () => {
    const types = Object.fromEntries(spec.maps.map((m) => [m.name, m.typeName]));
    expect(types[LB_MAPS.ct4]).toMatch(/LRU_HASH/);
    expect(types[LB_MAPS.ct6]).toMatch(/LRU_HASH/);
    expect(types[LB_MAPS.affinity4]).toMatch(/LRU_HASH/);
    expect(types[LB_MAPS.maglev]).toMatch(/ARRAY/);
    expect(spec.maps.find((m) => m.name === LB_MAPS.ct6)!.keySize).toBe(40);
  });

  it('on flags, the default table size, the hash seed and the size global', () => {
    expect(define('LB_SVC_F_AFFINITY')).toBe(SVC_FLAGS.AFFINITY);
    expect(define('LB_SVC_F_CLUSTER_IP')).toBe(SVC_FLAGS.CLUSTER_IP);
    expect(define('LB_SVC_F_NODE_PORT')).toBe(SVC_FLAGS.NODE_PORT);
    expect(define('LB_SVC_F_EXTERNAL_IP')).toBe(SVC_FLAGS.EXTERNAL_IP);
    expect(define('LB_SVC_F_LOCAL')).toBe(SVC_FLAGS.LOCAL);
    expect(define('LB_MAGLEV_DEFAULT_SIZE')).toBe(DEFAULT_MAGLEV_TABLE_SIZE);
    expect(define('LB_FLOW_HASH_SEED')).toBe(FLOW_HASH_SEED);
    const g = spec.maps.flatMap((m) => m.data?.variables ?? []).find((v) => v.name === LB_TABLE_SIZE_GLOBAL);
    expect(g?.size).toBe(4);
  });
});

describe('encoders', () => {
  it('write addresses and ports in network order, numbers little-endian', () => {
    expect(hex(encodeServiceKey('10.96.0.10', 80, 6))).toBe('0a60000a00500600');
    expect(hex(encodeServiceKey('fd00::1', 443, 17))).toBe('fd000000000000000000000000000001' + '01bb1100');
    expect(hex(encodeService({ serviceId: 3, affinityTimeout: 60, count: 5, flags: 0x11, revNat: 0x102 }))).toBe('030000003c000000050011000201' + '0000');
    expect(hex(encodeBackend({ address: '10.0.1.2', port: 8080, protocol: 'SCTP' }))).toBe('0a000102' + '1f908400');
    expect(hex(encodeRevNat('10.96.0.10', 80))).toBe('0a60000a00500000');
    expect(hex(encodeAffinityMatch(7, 2))).toBe('0700000002000000');
  });
});

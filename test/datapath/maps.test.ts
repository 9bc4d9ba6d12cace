// The endpoint datapath's map layer: the TypeScript layouts against the object's BTF, the
// encoders and their refusals, and DatapathMaps over both engines' maps.

import { describe, expect, it } from 'vitest';
import { findType, resolveType, type Btf } from '../../src/elf/btf.js';
import {
  DatapathMaps, ENDPOINT_SIM_MARKER, LAYOUTS, MAP_CONNTRACK, MAP_ENDPOINTS, MAP_FRAGMENTS, MAP_IPCACHE, MAP_LXC, MAP_METRICS,
  MAP_POLICY, PROG_FROM_ENDPOINT, PROG_FROM_NETDEV, PROG_TO_ENDPOINT, decodePolicyEntry, encodeIpcacheKey, encodePolicyKey, encodePolicyValue,
  endpointContext, parsePrefix,
} from '../../src/datapath/maps.js';
import { EVENTS_MAP, FLOW_EVENT_LAYOUT } from '../../src/datapath/flow.js';
import type { EngineKind } from '../../src/engine/engine.js';
import type { PolicyEntry } from '../../src/policy/model.js';
import { describeKernel } from '../helpers/kernel.js';
import { A, B, OBJECT_SPEC, openDatapath, rule } from './bpf-harness.js';

function structLayout(btf: Btf, name: string): { size: number; fields: Record<string, number> } {
  const t = findType(btf, 'struct', name);
  if (!t) throw new Error(`no struct ${name} in the BTF`);
  const fields: Record<string, number> = {};
  for (const m of t.members ?? []) {
    expect(m.bitOffset % 8, `${name}.${m.name} is byte aligned`).toBe(0);
    fields[m.name] = m.bitOffset / 8;
  }
  return { size: t.size!, fields };
}

function expectCode(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (e) {
    expect((e as { code?: string }).code).toBe(code);
    return;
  }
  throw new Error(`expected a ${code} error`);
}

describe('layouts against the object', () => {
  const btf = OBJECT_SPEC.btf!;

  it('every struct the TypeScript side encodes or decodes has the layout the C header gives it', () => {
    for (const [name, layout] of Object.entries(LAYOUTS)) {
      expect(structLayout(btf, name), name).toEqual(layout);
    }
    expect(structLayout(btf, 'flow_event')).toEqual(FLOW_EVENT_LAYOUT);
  });

  it('the maps use those structs as keys and values', () => {
    const kv = (map: string) => {
      const m = OBJECT_SPEC.maps.find((x) => x.name === map)!;
      const name = (id: number) => resolveType(btf, id).name || resolveType(btf, id).kind;
      return [name(m.keyTypeId), name(m.valueTypeId), m.keySize, m.valueSize];
    };
    expect(kv(MAP_ENDPOINTS)).toEqual(['unsigned int', 'endpoint_info', 4, 32]);
    expect(kv(MAP_LXC)).toEqual(['endpoint_key', 'endpoint_ref', 20, 4]);
    expect(kv(MAP_IPCACHE)).toEqual(['ipcache_key', 'ipcache_value', 24, 4]);
    expect(kv(MAP_POLICY)).toEqual(['policy_key', 'policy_entry', 16, 8]);
    expect(kv(MAP_CONNTRACK)).toEqual(['tuple', 'ct_entry', 40, 56]);
    expect(kv(MAP_FRAGMENTS)).toEqual(['frag_key', 'frag_l4', 40, 8]);
    expect(kv(MAP_METRICS)).toEqual(['unsigned int', 'metrics_value', 4, 16]);
    const types = Object.fromEntries(OBJECT_SPEC.maps.map((m) => [m.name, m.typeName]));
    expect(types).toMatchObject({
      [MAP_ENDPOINTS]: 'BPF_MAP_TYPE_HASH', [MAP_IPCACHE]: 'BPF_MAP_TYPE_LPM_TRIE', [MAP_POLICY]: 'BPF_MAP_TYPE_LPM_TRIE',
      [MAP_CONNTRACK]: 'BPF_MAP_TYPE_LRU_HASH', [MAP_FRAGMENTS]: 'BPF_MAP_TYPE_LRU_HASH', [MAP_METRICS]: 'BPF_MAP_TYPE_PERCPU_ARRAY',
      [EVENTS_MAP]: 'BPF_MAP_TYPE_RINGBUF',
    });
  });

  it('the three programs are tc programs with Cilium names', () => {
    expect(OBJECT_SPEC.programs.map((p) => [p.name, p.section, p.hook])).toEqual([
      [PROG_FROM_ENDPOINT, 'tc', 'tc'],
      [PROG_TO_ENDPOINT, 'tc', 'tc'],
      [PROG_FROM_NETDEV, 'tc', 'tc'],
    ]);
  });
});

describe('encoders', () => {
  it('parses prefixes and bare addresses', () => {
    expect(parsePrefix('10.0.0.0/8')).toMatchObject({ family: 4, len: 8 });
    expect(parsePrefix('10.1.2.3')).toMatchObject({ family: 4, len: 32 });
    expect(parsePrefix('fd00::/64')).toMatchObject({ family: 6, len: 64 });
    expect(Array.from(parsePrefix('::ffff:10.0.0.1').addr.subarray(10, 16))).toEqual([0xff, 0xff, 10, 0, 0, 1]);
    expect(Array.from(parsePrefix('fd00::1:2').addr)).toEqual([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2]);
  });

  it('refuses malformed prefixes', () => {
    for (const bad of ['10.0.0.1/8', '10.0.0.0/33', '10.0.0/8', '300.0.0.0/8', 'fd00::1::2/128', 'fd00::/129', 'fd00::1/64', 'x', '10.0.0.0/-1', '1:2:3:4:5:6:7:8:9']) {
      expectCode(() => parsePrefix(bad), 'DATAPATH_ERROR');
    }
  });

  it('ipcache keys: family, then the address, prefix 32 + bits', () => {
    expect(Buffer.from(encodeIpcacheKey('10.0.0.0/8')).toString('hex')).toBe('28000000' + '04000000' + '0a000000' + '00'.repeat(12));
    expect(Buffer.from(encodeIpcacheKey('fd00::/16')).toString('hex')).toBe('30000000' + '06000000' + 'fd00' + '00'.repeat(14));
  });

  it('policy keys: static prefix 72, +8 for a protocol, + port bits; port in network order', () => {
    const k = encodePolicyKey(rule({ endpointId: 0x0102, direction: 'egress', identity: 0x0a0b0c0d, protocol: 6, port: 8080, portPrefixLen: 13 }));
    expect(Buffer.from(k).toString('hex')).toBe('5d000000' + '0201' + '01' + '00' + '0d0c0b0a' + '00' + '06' + '1f90');
    expect(new DataView(encodePolicyKey(rule({ endpointId: 1, direction: 'ingress', identity: 0, protocol: 0, portPrefixLen: 0 })).buffer).getUint32(0, true)).toBe(72);
    expect(new DataView(encodePolicyKey(rule({ endpointId: 1, direction: 'ingress', identity: 0, protocol: 17, portPrefixLen: 0 })).buffer).getUint32(0, true)).toBe(80);
  });

  it('policy entries round-trip through key and value', () => {
    const entries: PolicyEntry[] = [
      rule({ endpointId: 5, direction: 'ingress', identity: 256, port: 443, ruleId: 9, proxyPort: 15001 }),
      rule({ endpointId: 65535, direction: 'egress', identity: 0, protocol: 0, portPrefixLen: 0, deny: true, ruleId: 0 }),
      rule({ endpointId: 7, direction: 'egress', identity: 16777217, protocol: 132, port: 0x8000, portPrefixLen: 1 }),
      rule({ endpointId: 7, direction: 'egress', identity: 2, protocol: 58, port: 0, portPrefixLen: 0 }),
    ];
    for (const e of entries) expect(decodePolicyEntry(encodePolicyKey(e), encodePolicyValue(e))).toEqual(e);
  });

  it('refuses policy entries the map cannot hold', () => {
    const base = rule({ endpointId: 1, direction: 'ingress', identity: 1, port: 80 });
    const bad: Partial<PolicyEntry>[] = [
      { protocol: 0, port: 80, portPrefixLen: 16 }, // a port without a protocol
      { port: 81, portPrefixLen: 15 }, // bits past the prefix
      { portPrefixLen: 17 },
      { endpointId: 70000 },
      { identity: -1 },
      { protocol: 256 },
      { port: 65536 },
      { direction: 'sideways' as 'ingress' },
    ];
    for (const b of bad) expectCode(() => encodePolicyKey({ ...base, ...b }), 'DATAPATH_ERROR');
    expectCode(() => encodePolicyValue({ ...base, proxyPort: 70000 }), 'DATAPATH_ERROR');
    expectCode(() => encodePolicyValue({ ...base, ruleId: 1.5 }), 'DATAPATH_ERROR');
  });

  it('endpointContext names the interface in cb[0] with the marker in cb[1]', () => {
    expect(endpointContext(12)).toEqual({ cb: [12, ENDPOINT_SIM_MARKER] });
    expectCode(() => endpointContext(0), 'DATAPATH_ERROR');
    expectCode(() => endpointContext(1.5), 'DATAPATH_ERROR');
  });
});

function mapTests(kind: EngineKind): void {
  it('endpoints, ipcache and policy: set, read back, delete (absent keys are no error)', async () => {
    const { obj, maps } = await openDatapath(kind);
    try {
      maps.setEndpoint(A.ifindex, A.ep);
      maps.setEndpoint(B.ifindex, { ...B.ep, ingressEnforced: false });
      expect(maps.endpoints()).toEqual([
        { ifindex: A.ifindex, id: A.ep.id, identity: A.identity, ingressEnforced: true, egressEnforced: true },
        { ifindex: B.ifindex, id: B.ep.id, identity: B.identity, ingressEnforced: false, egressEnforced: true },
      ]);
      maps.deleteEndpoint(A.ifindex);
      maps.deleteEndpoint(A.ifindex);
      expect(maps.endpoints().map((e) => e.ifindex)).toEqual([B.ifindex]);

      maps.setIpcache('10.0.0.0/8', 300);
      maps.setIpcache('10.1.0.0/16', 301);
      maps.setIpcache('fd00::/64', 302);
      maps.setIpcache('10.1.0.0/16', 303); // replaces
      expect(maps.ipcacheEntries()).toEqual([
        { prefix: '10.0.0.0/8', identity: 300 },
        { prefix: '10.1.0.0/16', identity: 303 },
        { prefix: 'fd00::/64', identity: 302 },
      ]);
      // Deleting a prefix nobody set leaves the covering one alone.
      maps.deleteIpcache('10.1.2.0/24');
      maps.deleteIpcache('10.1.0.0/16');
      expect(maps.ipcacheEntries().map((e) => e.prefix)).toEqual(['10.0.0.0/8', 'fd00::/64']);

      const web = rule({ endpointId: 3, direction: 'ingress', identity: 256, port: 80, ruleId: 4 });
      const any = rule({ endpointId: 3, direction: 'ingress', identity: 0, protocol: 0, portPrefixLen: 0, deny: true, ruleId: 5 });
      maps.setPolicy(web);
      maps.setPolicy(any);
      expect(maps.policyEntries()).toEqual([any, web]);
      maps.deletePolicy({ ...web, port: 81 });
      maps.deletePolicy(web);
      expect(maps.policyEntries()).toEqual([any]);
      expect(maps.counters()).toEqual([]);
      expect(maps.conntrack()).toEqual([]);
      maps.clearConntrack();
    } finally {
      obj.close();
    }
  });

  it('endpoint addresses follow the endpoint: written, changed, deleted with it', async () => {
    const { obj, maps } = await openDatapath(kind);
    try {
      maps.setEndpoint(A.ifindex, A.ep);
      maps.setEndpoint(B.ifindex, B.ep);
      expect(maps.endpointAddresses()).toEqual([
        { ip: A.v4, ifindex: A.ifindex },
        { ip: B.v4, ifindex: B.ifindex },
        { ip: A.v6, ifindex: A.ifindex },
        { ip: B.v6, ifindex: B.ifindex },
      ]);
      // A changes its IPv4 address and loses its IPv6 one.
      maps.setEndpoint(A.ifindex, { ...A.ep, ips: ['10.0.1.9'] });
      expect(maps.endpointAddresses().filter((e) => e.ifindex === A.ifindex)).toEqual([{ ip: '10.0.1.9', ifindex: A.ifindex }]);
      maps.deleteEndpoint(B.ifindex);
      expect(maps.endpointAddresses()).toEqual([{ ip: '10.0.1.9', ifindex: A.ifindex }]);
      expect(maps.serviceConntrack()).toEqual([]);
      expect(maps.conntrackEntry({ src: A.v4, dst: B.v4, srcPort: 1, dstPort: 2, protocol: 6, direction: 'egress' })).toBeUndefined();
      expectCode(() => maps.conntrackEntry({ src: A.v4, dst: B.v6, srcPort: 1, dstPort: 2, protocol: 6, direction: 'egress' }), 'DATAPATH_ERROR');
      expectCode(() => maps.conntrackEntry({ src: A.v4, dst: B.v4, srcPort: 70000, dstPort: 2, protocol: 6, direction: 'egress' }), 'DATAPATH_ERROR');
    } finally {
      obj.close();
    }
  });

  it('a map write that fails changes nothing', async () => {
    const { obj, maps } = await openDatapath(kind);
    try {
      expectCode(() => maps.setPolicy(rule({ endpointId: 1, direction: 'ingress', identity: 1, protocol: 0, port: 80 })), 'DATAPATH_ERROR');
      expectCode(() => maps.setIpcache('10.0.0.1/8', 5), 'DATAPATH_ERROR');
      expectCode(() => maps.setEndpoint(5, { ...A.ep, id: 0 }), 'DATAPATH_ERROR');
      expectCode(() => maps.setEndpoint(5, { ...A.ep, ips: ['10.0.0.0/8'] }), 'DATAPATH_ERROR');
      expectCode(() => maps.setEndpoint(0, A.ep), 'DATAPATH_ERROR');
      expectCode(() => maps.setEndpoint(5, { ...A.ep, ips: ['10.0.0.1', 'fd00::1/64'] }), 'DATAPATH_ERROR');
      expect(maps.policyEntries()).toEqual([]);
      expect(maps.ipcacheEntries()).toEqual([]);
      expect(maps.endpoints()).toEqual([]);
      expect(maps.endpointAddresses()).toEqual([]);
    } finally {
      obj.close();
    }
  });
}

describe('DatapathMaps (VM)', () => mapTests('vm'));
describeKernel('DatapathMaps (kernel)', () => mapTests('kernel'));

describe('DatapathMaps on another object', () => {
  it('says the object is not the endpoint datapath', async () => {
    const { obj } = await openDatapath('vm');
    const fake = { ...obj, maps: () => obj.maps().filter((m) => m.name !== MAP_POLICY) } as typeof obj;
    try {
      expectCode(() => new DatapathMaps(fake), 'DATAPATH_ERROR');
    } finally {
      obj.close();
    }
  });
});

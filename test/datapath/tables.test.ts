// nodeTables / nodeMapSizes / fillNode: the one definition of what a node's maps hold. What
// Datapath writes into a node, the ipcache rules for node addresses, refusals before anything is
// written, and (with the kernel) that node attach writes into a real node's pinned maps exactly
// what Datapath writes into the VM's, map by map: two writers of one definition that must agree.

import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Datapath } from '../../src/datapath/datapath.js';
import { DATAPATH_OBJECT, MAP_ENDPOINTS, MAP_IPCACHE, MAP_LXC, MAP_POLICY } from '../../src/datapath/maps.js';
import { fillNode, hex, IFINDEX_BASE, nodeMapSizes, nodeTables, type Table } from '../../src/datapath/tables.js';
import { readObject } from '../../src/elf/object.js';
import { getEngine } from '../../src/engine/index.js';
import type { EngineObject } from '../../src/engine/engine.js';
import { compileServices } from '../../src/lb/compile.js';
import { LB_MAPS, lbGlobals } from '../../src/lb/maps.js';
import { attachNode, detachNode, pinDirOf } from '../../src/node/index.js';
import { readTable } from '../../src/node/tables.js';
import { mapPinPath } from '../../src/node/attach.js';
import { KernelMap } from '../../src/kernel/bpf.js';
import { RESERVED } from '../../src/policy/model.js';
import { dpCluster } from '../lb/dp-cluster.js';
import { smallCluster } from './probe-cluster.js';
import { describeKernel, sh, shQuiet, uniqueName } from '../helpers/kernel.js';

const bytes = new Uint8Array(readFileSync(DATAPATH_OBJECT));
const spec = readObject(bytes, DATAPATH_OBJECT);

function dump(m: { entries(): Array<[Uint8Array, Uint8Array]> }): Table {
  return new Map(m.entries().map(([k, v]) => [hex(k), v]));
}

function identityOf(t: Table, key: string): number | undefined {
  const v = t.get(key);
  return v ? new DataView(v.buffer, v.byteOffset).getUint32(0, true) : undefined;
}

describe('nodeTables', () => {
  it('maps node addresses: host here, remote-node elsewhere, the compiler first, this node over another', () => {
    const compiled = smallCluster();
    const key = (a: string) => hex(new Uint8Array([...new Uint8Array(new Uint32Array([32 + (a.includes(':') ? 128 : 32)]).buffer), a.includes(':') ? 6 : 4, 0, 0, 0, ...addrBytes(a)]));
    const addrs = new Map<string, string[]>([['node-1', ['192.168.0.1']], ['node-2', ['192.168.0.2', '192.168.0.9']], ['node-3', ['192.168.0.9']]]);
    compiled.ipcache.push({ prefix: '192.168.0.2/32', identity: 300 });
    const t = nodeTables(compiled, 'node-3', { nodeAddresses: addrs });
    expect(identityOf(t.ipcache, key('192.168.0.1'))).toBe(RESERVED['remote-node']);
    expect(identityOf(t.ipcache, key('192.168.0.2'))).toBe(300);
    expect(identityOf(t.ipcache, key('192.168.0.9'))).toBe(RESERVED.host);
    expect(identityOf(nodeTables(compiled, 'node-2', { nodeAddresses: addrs }).ipcache, key('192.168.0.9'))).toBe(RESERVED.host);
    expect(identityOf(nodeTables(compiled, 'node-1', { nodeAddresses: addrs }).ipcache, key('192.168.0.9'))).toBe(RESERVED['remote-node']);
  });

  it('refuses two endpoints on one interface and an interface index out of range', () => {
    const compiled = smallCluster();
    const [a, b] = compiled.endpoints;
    expect(() => nodeTables(compiled, 'node-1', { endpoints: [{ ifindex: 7, endpoint: a! }, { ifindex: 7, endpoint: b! }] })).toThrow(expect.objectContaining({ code: 'DATAPATH_ERROR' }));
    expect(() => nodeTables(compiled, 'node-1', { endpoints: [{ ifindex: 0, endpoint: a! }] })).toThrow(expect.objectContaining({ code: 'DATAPATH_ERROR' }));
  });

  it('is what Datapath writes into a node, services included', async () => {
    const { cluster, compiled } = dpCluster();
    const dp = await Datapath.open(compiled, { engine: 'vm', cluster, maglevTableSize: 251 });
    try {
      const want = dp.tables('node-a');
      expect([...want.endpoints.keys()].map((k) => Buffer.from(k, 'hex').readUInt32LE(0)).sort()).toEqual(
        compiled.endpoints.filter((e) => e.node === 'node-a').map((e) => IFINDEX_BASE + e.id).sort(),
      );
      const obj = dp.maps('node-a').obj;
      expect(dump(obj.map(MAP_ENDPOINTS))).toEqual(want.endpoints);
      expect(dump(obj.map(MAP_LXC))).toEqual(want.lxc);
      expect(dump(obj.map(MAP_IPCACHE))).toEqual(want.ipcache);
      expect(dump(obj.map(MAP_POLICY))).toEqual(want.policy);
      for (const [name, table] of Object.entries(want.services!.maps)) expect(dump(obj.map(name)), name).toEqual(table);
      const mg = want.services!.maglev;
      expect(mg.slots.length).toBe(mg.rows * 251);
      const arr = obj.map(LB_MAPS.maglev);
      for (let i = 0; i < mg.slots.length; i += 97) {
        const k = new Uint8Array(new Uint32Array([i]).buffer);
        expect(new DataView(arr.lookup(k)!.buffer).getUint32(0, true)).toBe(mg.slots[i]);
      }
    } finally {
      dp.close();
    }
  });
});

describeKernel('node attach and Datapath', () => {
  // node-a's pods on veth interfaces whose ifindexes are the ones Datapath simulates, so every
  // key and value that holds an ifindex is the same on both sides.
  const { cluster, compiled } = dpCluster();
  const local = compiled.endpoints.filter((e) => e.node === 'node-a');
  const netns = uniqueName('tbl');
  const name = uniqueName('tbl');
  let dp: Datapath;

  beforeAll(async () => {
    sh('ip', 'netns', 'add', netns);
    local.forEach((e, i) => {
      // The peers' indexes are given too, so that none takes an index a later pod needs.
      sh('ip', '-n', netns, 'link', 'add', `lxc${i}`, 'index', String(IFINDEX_BASE + e.id), 'type', 'veth', 'peer', 'name', `peer${i}`, 'index', String(10_000 + i));
      sh('ip', '-n', netns, 'link', 'set', `lxc${i}`, 'up');
    });
    dp = await Datapath.open(compiled, { engine: 'vm', cluster, maglevTableSize: 251 });
  });
  afterAll(() => {
    dp?.close();
    try {
      detachNode(name);
    } finally {
      shQuiet('ip', 'netns', 'del', netns);
    }
  });

  it('writes into the kernel\'s maps what Datapath writes into the VM\'s, map by map', () => {
    const r = attachNode({
      name, compiled, node: 'node-a', netns, pinDir: pinDirOf(name), cluster, maglevTableSize: 251,
      endpoints: local.map((e, i) => ({ pod: `${e.namespace}/${e.pod}`, ifname: `lxc${i}` })),
      clusterFiles: [], policyFiles: [],
    });
    expect(r.state.endpoints.map((e) => e.ifindex)).toEqual(local.map((e) => IFINDEX_BASE + e.id));
    const want = dp.tables('node-a');
    const vm = dp.maps('node-a').obj;
    const kernelTable = (map: string): Table => {
      const km = KernelMap.fromPin(mapPinPath(r.state.pinDir, map));
      try {
        return readTable(km);
      } finally {
        km.close();
      }
    };
    const hashMaps = [MAP_ENDPOINTS, MAP_LXC, MAP_IPCACHE, MAP_POLICY, ...Object.keys(want.services!.maps)];
    for (const map of hashMaps) {
      const k = kernelTable(map);
      expect(k.size, `${map} is filled`).toBeGreaterThan(0);
      expect(k, map).toEqual(dump(vm.map(map)));
    }
    // The Maglev array: every slot of the rows in use (both sides may have room to grow).
    const used = want.services!.maglev.rows * 251;
    const km = KernelMap.fromPin(mapPinPath(r.state.pinDir, LB_MAPS.maglev));
    try {
      const vmMaglev = vm.map(LB_MAPS.maglev);
      const slot = (m: { lookup(k: Uint8Array): unknown }, i: number) => hex(m.lookup(new Uint8Array(new Uint32Array([i]).buffer)) as Uint8Array);
      const k = Array.from({ length: used }, (_, i) => slot(km, i));
      expect(new Set(k).size, 'the kernel\'s slots name several backends').toBeGreaterThan(1);
      expect(k).toEqual(Array.from({ length: used }, (_, i) => slot(vmMaglev, i)));
    } finally {
      km.close();
    }
  });
});

describe('nodeMapSizes and fillNode', () => {
  it('say how much room each map needs, and refuse a map too small before writing anything', async () => {
    const { cluster, compiled } = dpCluster();
    const model = compileServices(cluster, { maglevTableSize: 251, node: 'node-a' });
    const t = nodeTables(compiled, 'node-a', { services: model });
    const sizes = nodeMapSizes(t);
    expect(sizes[LB_MAPS.maglev]).toBe(t.services!.maglev.rows * 251);
    expect(sizes[MAP_POLICY]).toBe(t.policy.size);
    const vm = await getEngine('vm');
    let obj: EngineObject = vm.open({ bytes, file: DATAPATH_OBJECT, spec }, { globals: lbGlobals(model), maxEntries: { [MAP_POLICY]: Math.max(1, t.policy.size - 1) } });
    try {
      expect(() => fillNode(obj, t)).toThrow(expect.objectContaining({ code: 'DATAPATH_ERROR' }));
      expect(obj.map(MAP_ENDPOINTS).entries()).toEqual([]);
    } finally {
      obj.close();
    }
    obj = vm.open({ bytes, file: DATAPATH_OBJECT, spec }, { globals: lbGlobals(model), maxEntries: { [LB_MAPS.maglev]: 251 } });
    try {
      expect(() => fillNode(obj, t)).toThrow(expect.objectContaining({ code: 'LB_ERROR' }));
      expect(obj.map(MAP_ENDPOINTS).entries()).toEqual([]);
    } finally {
      obj.close();
    }
  });
});

function addrBytes(a: string): number[] {
  if (!a.includes(':')) return [...a.split('.').map(Number), ...new Array<number>(12).fill(0)];
  throw new Error('IPv4 only here');
}

// nodeTables / nodeMapSizes / fillNode: the one definition of what a node's maps hold. The same
// bytes as node attach's desiredTables for the three tables both know, what Datapath writes into
// a node, the ipcache rules for node addresses, and refusals before anything is written.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Datapath } from '../../src/datapath/datapath.js';
import { DATAPATH_OBJECT, MAP_ENDPOINTS, MAP_IPCACHE, MAP_LXC, MAP_POLICY } from '../../src/datapath/maps.js';
import { fillNode, hex, IFINDEX_BASE, nodeMapSizes, nodeTables, type Table } from '../../src/datapath/tables.js';
import { readObject } from '../../src/elf/object.js';
import { getEngine } from '../../src/engine/index.js';
import type { EngineObject } from '../../src/engine/engine.js';
import { compileServices } from '../../src/lb/compile.js';
import { LB_MAPS, lbGlobals } from '../../src/lb/maps.js';
import { desiredTables } from '../../src/node/tables.js';
import { RESERVED } from '../../src/policy/model.js';
import { dpCluster } from '../lb/dp-cluster.js';
import { smallCluster } from './probe-cluster.js';

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
  it('holds what node attach computes for endpoints, ipcache and policy', () => {
    const compiled = smallCluster();
    const addrs = new Map(compiled.nodes.map((n) => [n.name, n.addresses]));
    for (const node of ['node-1', 'node-2']) {
      const local = compiled.endpoints.filter((e) => e.node === node).map((endpoint, i) => ({ ifindex: 40 + i, endpoint }));
      const mine = nodeTables(compiled, node, { endpoints: local, nodeAddresses: addrs });
      const theirs = desiredTables(compiled, node, local, addrs);
      for (const t of ['endpoints', 'ipcache', 'policy'] as const) expect(mine[t], `${node} ${t}`).toEqual(theirs[t]);
      expect(mine.lxc.size).toBe(local.reduce((n, l) => n + l.endpoint.ips.length, 0));
    }
  });

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

// The datapath at real sizes, in both engines: a node of 560 pods (its maps filled in one pass,
// the endpoint writes afterwards linear in the endpoint's own addresses), and a node with 5,000
// services (the Maglev array and the service maps sized at open to the model). Verdicts and
// translations are checked on packets, so a fill that only looked fast cannot pass.
//
// The time limits are loose (a shared machine); they catch a return to per-entry round trips or
// a quadratic fill, which cost seconds at these sizes, not tens of milliseconds.

import { describe, expect, it } from 'vitest';
import { Datapath } from '../../src/datapath/datapath.js';
import { MAP_LXC, PROG_FROM_ENDPOINT, PROG_TO_ENDPOINT } from '../../src/datapath/maps.js';
import { connectionPackets } from '../../src/datapath/packets.js';
import { maglevTable } from '../../src/lb/maglev.js';
import { LB_MAPS } from '../../src/lb/maps.js';
import type { EngineKind } from '../../src/engine/engine.js';
import { describeKernel } from '../helpers/kernel.js';
import { APPS, podIp, scaleCluster, serviceIp } from './scale-cluster.js';

const PODS = 560;
const SERVICES = 5000;
const TABLE = 1021;

const pods = scaleCluster({ pods: PODS });
const services = scaleCluster({ pods: 20, services: SERVICES, backends: 3 });

function suite(engine: EngineKind): void {
  it(`fills a node of ${PODS} pods and rewrites its endpoints`, async () => {
    const dp = await Datapath.open(pods.compiled, { engine });
    try {
      const maps = dp.maps('node-a');
      expect(maps.endpoints()).toHaveLength(PODS);
      expect(maps.endpointAddresses()).toHaveLength(PODS);
      // Pod 1 (app a1) may reach pod 0 (app a0) on 8080; pod 2 (app a2) may not.
      const ep = (i: number) => pods.compiled.endpoints.find((e) => e.pod === `p${i}`)!;
      const to0 = (from: number) => connectionPackets({ protocol: 'TCP', client: podIp(from), server: podIp(0), clientPort: 40000 + from, serverPort: 8080 }).request;
      expect(dp.run('node-a', PROG_TO_ENDPOINT, dp.ifindexOf(ep(0)), to0(1)).verdict).toBe('FORWARDED');
      expect(dp.run('node-a', PROG_TO_ENDPOINT, dp.ifindexOf(ep(0)), to0(2)).verdict).toBe('DROPPED');
      expect(dp.run('node-a', PROG_FROM_ENDPOINT, dp.ifindexOf(ep(APPS + 1)), to0(APPS + 1)).verdict).toBe('FORWARDED');

      // Every endpoint written again, one at a time: each write touches its own addresses.
      for (const e of pods.compiled.endpoints) if (e.node === 'node-a') maps.setEndpoint(dp.ifindexOf(e), e);
      expect(maps.endpointAddresses()).toHaveLength(PODS);
      // Moving an address to another interface takes it from the first.
      maps.setEndpoint(dp.ifindexOf(ep(1)), { ...ep(1), ips: [podIp(1), podIp(0)] });
      maps.setEndpoint(dp.ifindexOf(ep(0)), { ...ep(0), ips: [] });
      const lxc = new Map(maps.endpointAddresses().map((a) => [a.ip, a.ifindex]));
      expect(lxc.get(podIp(0))).toBe(dp.ifindexOf(ep(1)));
      maps.deleteEndpoint(dp.ifindexOf(ep(1)));
      expect(maps.endpointAddresses()).toHaveLength(PODS - 2);
      expect(maps.obj.map(MAP_LXC).entries()).toHaveLength(PODS - 2);
    } finally {
      dp.close();
    }
  });

  it(`load balances ${SERVICES.toLocaleString('en-US')} services, the maps sized at open`, async () => {
    const dp = await Datapath.open(services.compiled, { engine, cluster: services.cluster, maglevTableSize: TABLE });
    try {
      const maps = dp.maps('node-a');
      const model = dp.services('node-a')!;
      expect(model.services).toHaveLength(SERVICES);
      const maglev = maps.obj.map(LB_MAPS.maglev);
      expect(maglev.maxEntries).toBeGreaterThanOrEqual(SERVICES * TABLE);
      expect(maps.obj.map(LB_MAPS.services4).maxEntries).toBeGreaterThanOrEqual(SERVICES);
      // The last service's row is the one Maglev computes for its backends.
      const last = dp.frontend('node-a', serviceIp(SERVICES - 1), 80, 'TCP')!;
      const table = maglevTable(last.backends.map((b) => b.key), TABLE);
      for (const slot of [0, 1, TABLE - 1]) {
        const k = new Uint8Array(4);
        new DataView(k.buffer).setUint32(0, last.service.id * TABLE + slot, true);
        const v = maglev.lookup(k)!;
        expect(new DataView(v.buffer, v.byteOffset).getUint32(0, true)).toBe(last.backends[table[slot]!]!.id);
      }
      // A connection to it is translated to one of its backends.
      const client = services.compiled.endpoints.find((e) => e.pod === 'p0')!;
      const c = connectionPackets({ protocol: 'TCP', client: podIp(0), server: serviceIp(SERVICES - 1), clientPort: 41000, serverPort: 80 });
      const r = dp.run('node-a', PROG_FROM_ENDPOINT, dp.ifindexOf(client), c.request);
      const dst = [...r.packet.subarray(30, 34)].join('.');
      expect(last.backends.map((b) => b.address)).toContain(dst);
    } finally {
      dp.close();
    }
  });
}

describe('the datapath at real sizes (VM)', () => suite('vm'));
describeKernel('the datapath at real sizes (kernel)', () => suite('kernel'));

// Datapath: one endpoint object per node, filled with that node's endpoints, the whole
// ipcache plus node addresses (host on their own node, remote-node elsewhere), and only its
// endpoints' policy; runs, conntrack resets and closing.

import { describe, expect, it } from 'vitest';
import { Datapath, IFINDEX_BASE, IMPLICIT_NODE } from '../../src/datapath/datapath.js';
import { PROG_FROM_ENDPOINT, PROG_TO_ENDPOINT } from '../../src/datapath/maps.js';
import { connectionPackets } from '../../src/datapath/packets.js';
import { TwinpathError } from '../../src/errors.js';
import { describeKernel } from '../helpers/kernel.js';
import { smallCluster } from './probe-cluster.js';

function fills(engine: 'vm' | 'kernel'): void {
  it('fills each node with its endpoints, the ipcache with node addresses, and its own policy', async () => {
    const compiled = smallCluster();
    const dp = await Datapath.open(compiled, { engine });
    try {
      const n1 = dp.maps('node-1');
      expect(n1.endpoints().map((e) => [e.ifindex, e.id, e.identity])).toEqual([[IFINDEX_BASE + 1, 1, 256], [IFINDEX_BASE + 2, 2, 257]]);
      const cache = (node: string) => Object.fromEntries(dp.maps(node).ipcacheEntries().map((e) => [e.prefix, e.identity]));
      expect(cache('node-1')).toMatchObject({ '192.168.0.1/32': 1, 'fd00:ff::1/128': 1, '192.168.0.2/32': 6, '10.0.1.10/32': 256, 'fd00:2::12/128': 259 });
      expect(cache('node-2')).toMatchObject({ '192.168.0.1/32': 6, 'fd00:ff::1/128': 6, '192.168.0.2/32': 1 });
      expect(Object.keys(cache('node-2'))).toHaveLength(compiled.ipcache.length + 3);
      const sortKey = (e: { endpointId: number; direction: string; identity: number; protocol: number; port: number }) => `${e.endpointId} ${e.direction} ${e.identity} ${e.protocol} ${e.port}`;
      const expected = compiled.entries.filter((e) => e.endpointId === 3 || e.endpointId === 4).map(sortKey).sort();
      expect(dp.maps('node-2').policyEntries().map(sortKey).sort()).toEqual(expected);
      expect(dp.loadedNodes()).toEqual(['node-1', 'node-2']);
    } finally {
      dp.close();
    }
  });

  it('runs a program on a simulated interface and reports its verdict, flows and packet', async () => {
    const dp = await Datapath.open(smallCluster(), { engine });
    try {
      const c = connectionPackets({ protocol: 'TCP', client: '10.0.1.11', server: '10.0.1.10', clientPort: 40000, serverPort: 80 });
      const out = dp.run('node-1', PROG_FROM_ENDPOINT, IFINDEX_BASE + 2, c.request);
      expect(out).toMatchObject({ verdict: 'FORWARDED', retval: 0, packet: c.request });
      expect(out.flows).toHaveLength(1);
      const into = dp.run('node-1', PROG_TO_ENDPOINT, IFINDEX_BASE + 1, c.request);
      expect(into).toMatchObject({ verdict: 'DROPPED', retval: 2 });
      expect(into.flows[0]).toMatchObject({ verdict: 'DROPPED', dropReason: 133, endpointId: 1 });
      expect(dp.maps('node-1').conntrack().length).toBeGreaterThan(0);
      dp.resetConntrack();
      expect(dp.maps('node-1').conntrack()).toEqual([]);
    } finally {
      dp.close();
    }
  });
}

describe('Datapath (VM)', () => {
  fills('vm');

  it('knows every node, including one a pod names without a Node object, and the implicit one', async () => {
    const compiled = smallCluster();
    compiled.endpoints[4]!.node = 'node-9';
    const dp = await Datapath.open(compiled, { engine: 'vm' });
    expect(dp.nodes()).toEqual(['node-1', 'node-2', 'node-9']);
    expect(dp.nodeAddresses('node-9')).toEqual([]);
    expect(dp.nodeByAddress('192.168.0.2')).toBe('node-2');
    dp.close();
    const dp2 = await Datapath.open(smallCluster(), { engine: 'vm' });
    expect(dp2.nodes()).toContain(IMPLICIT_NODE);
    dp2.close();
  });

  it('refuses an unknown node, use after close, and a missing object', async () => {
    const dp = await Datapath.open(smallCluster(), { engine: 'vm' });
    expect(() => dp.maps('node-7')).toThrow(TwinpathError);
    dp.close();
    const e = (() => {
      try {
        dp.maps('node-1');
      } catch (x) {
        return x as TwinpathError;
      }
    })();
    expect(e?.code).toBe('DATAPATH_ERROR');
    const missing = await Datapath.open(smallCluster(), { engine: 'vm', object: '/nonexistent/endpoint.bpf.o' }).catch((x: unknown) => x);
    expect((missing as TwinpathError).code).toBe('IO_ERROR');
  });
});

describeKernel('Datapath (kernel)', () => {
  fills('kernel');
});

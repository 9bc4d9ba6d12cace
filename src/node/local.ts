// The pods this node serves and their interfaces. A pod is local when the cluster places it on
// this node, or when the interface map names it; its interface comes from the map, else from
// the route to its address in the node's namespace.

import { TwinpathError } from '../errors.js';
import type { CompiledPolicy } from '../policy/model.js';
import { routeDevice } from './interfaces.js';

export interface PodInterface {
  pod: string;
  ifname: string;
}

export function localEndpoints(compiled: CompiledPolicy, node: string, opts: { interfaces?: Map<string, string>; netns?: string } = {}): PodInterface[] {
  const byPod = new Map(compiled.endpoints.map((e) => [`${e.namespace}/${e.pod}`, e]));
  const map = opts.interfaces ?? new Map<string, string>();
  for (const pod of map.keys()) {
    if (!byPod.has(pod)) throw new TwinpathError('NODE_ERROR', `the interface map names pod ${pod}, which is not an endpoint of the cluster (no such pod, or it uses the host network)`);
  }
  const out: PodInterface[] = [];
  for (const [pod, ep] of byPod) {
    const given = map.get(pod);
    if (given !== undefined) {
      out.push({ pod, ifname: given });
      continue;
    }
    if (ep.node !== node) continue;
    if (ep.ips.length === 0) throw new TwinpathError('NODE_ERROR', `pod ${pod} has no address to find its interface by: name it in --interfaces`);
    const why: string[] = [];
    let dev: string | undefined;
    for (const ip of ep.ips) {
      const r = routeDevice(ip, opts.netns);
      if (r.dev !== undefined) {
        dev = r.dev;
        break;
      }
      why.push(r.why!);
    }
    if (dev === undefined) throw new TwinpathError('NODE_ERROR', `pod ${pod}: cannot find its interface (${why.join('; ')}): name it in --interfaces`);
    out.push({ pod, ifname: dev });
  }
  return out.sort((a, b) => (a.pod < b.pod ? -1 : a.pod > b.pod ? 1 : 0));
}

// The synthetic clusters of the scaling benchmark: N ClusterIP services, each with its own few
// backend pods, as the policy loader would have read them from `kubectl get -o yaml`. Everything
// is a pure function of the count, so two runs (and the VM and the kernel) see the same cluster.
//
// Addresses: service i gets the i-th address of the 10.96.0.0/12 service range (skipping .0 and
// .255 host parts, as a careful allocator would); its backends are consecutive pod addresses in
// 10.128.0.0/9. Ports cycle through a small mix (HTTP, HTTPS, an app port, DNS over UDP) so that
// the iptables model has to compare port and protocol, not only the address.

import type { Cluster, EndpointSlice, Service, Source } from '../policy/ast.js';

/** The largest cluster the benchmark builds: the service range holds about a million addresses,
 * but the rev-NAT index of the datapath is 16 bits. */
export const MAX_BENCH_SERVICES = 60_000;

export interface ServiceShape {
  port: number;
  protocol: 'TCP' | 'UDP';
  targetPort: number;
}

const SHAPES: ServiceShape[] = [
  { port: 80, protocol: 'TCP', targetPort: 8080 },
  { port: 443, protocol: 'TCP', targetPort: 8443 },
  { port: 9000, protocol: 'TCP', targetPort: 9000 },
  { port: 53, protocol: 'UDP', targetPort: 5353 },
];

/** The port, protocol and target port of service i. */
export function serviceShape(i: number): ServiceShape {
  return SHAPES[i % SHAPES.length]!;
}

/** The i-th usable address of 10.96.0.0/12 (host parts 1..254 of each /24). */
export function serviceAddress(i: number): string {
  const block = Math.floor(i / 254);
  const host = (i % 254) + 1;
  return `10.${96 + (block >> 8)}.${block & 0xff}.${host}`;
}

/** The j-th pod address of 10.128.0.0/9 (host parts 1..254). */
export function podAddress(j: number): string {
  const block = Math.floor(j / 254);
  const host = (j % 254) + 1;
  return `10.${128 + (block >> 8)}.${block & 0xff}.${host}`;
}

export function serviceName(i: number): string {
  return `svc-${String(i).padStart(5, '0')}`;
}

const src = (path: string): Source => ({ file: '(generated)', line: 1, column: 1, path });

/**
 * A cluster of `services` ClusterIP services in namespace `bench`, each with `backends` ready
 * endpoints of its own (one EndpointSlice per service). Services are listed in index order,
 * which is also the order of the iptables model's rules.
 */
export function scalingCluster(services: number, backends = 3): Cluster {
  const svcs: Service[] = [];
  const slices: EndpointSlice[] = [];
  for (let i = 0; i < services; i++) {
    const name = serviceName(i);
    const shape = serviceShape(i);
    svcs.push({
      namespace: 'bench',
      name,
      type: 'ClusterIP',
      clusterIPs: [serviceAddress(i)],
      externalIPs: [],
      ports: [{ protocol: shape.protocol, port: shape.port, targetPort: shape.targetPort }],
      selector: { app: name },
      sessionAffinity: 'None',
      affinityTimeoutSeconds: 10800,
      internalTrafficPolicy: 'Cluster',
      externalTrafficPolicy: 'Cluster',
      src: src(`service/${name}`),
    });
    slices.push({
      namespace: 'bench',
      name: `${name}-abcde`,
      serviceName: name,
      addressType: 'IPv4',
      endpoints: Array.from({ length: backends }, (_, b) => ({
        addresses: [podAddress(i * backends + b)],
        ready: true,
        serving: true,
        terminating: false,
      })),
      ports: [{ protocol: shape.protocol, port: shape.targetPort }],
      src: src(`endpointslice/${name}-abcde`),
    });
  }
  return { namespaces: [], pods: [], nodes: [], services: svcs, endpointSlices: slices };
}

// Helpers for the sandbox tests: describeRoot() (skip with a reason where a sandbox cannot be
// built, fail instead under TWINPATH_REQUIRE_KERNEL=1), a small two-node cluster written in
// TypeScript, and sandbox names unique to this process, so parallel runs never collide.

import { spawnSync } from 'node:child_process';
import { describe } from 'vitest';
import type { Cluster, Pod, Source } from '../../src/policy/ast.js';

const src: Source = { file: 'test', line: 1, column: 1, path: '' };

function whyNoSandbox(): string | undefined {
  if (process.platform !== 'linux') return `needs Linux, this is ${process.platform}`;
  if (process.geteuid?.() !== 0) return 'needs root';
  for (const tool of ['ip', 'nsenter']) {
    if (spawnSync(tool, ['-V'], { stdio: 'ignore' }).error) return `${tool} is not installed`;
  }
  return undefined;
}

/** describe() for tests that build sandboxes (root, iproute2, nsenter). */
export function describeRoot(name: string, fn: () => void): void {
  const why = whyNoSandbox();
  if (why === undefined) {
    describe(name, fn);
    return;
  }
  if (process.env.TWINPATH_REQUIRE_KERNEL === '1') {
    throw new Error(`${name}: TWINPATH_REQUIRE_KERNEL=1 but sandboxes cannot be built here: ${why}`);
  }
  describe.skip(`${name} [skipped: ${why}]`, fn);
}

let counter = 0;

/** A sandbox name carrying this process's id (the suite's leak check reads it back). */
export function uniqueSandboxName(): string {
  counter += 1;
  return `t${process.pid}x${counter}`;
}

function pod(namespace: string, name: string, nodeName: string, ips: string[], hostNetwork = false): Pod {
  return { namespace, name, labels: { app: name }, ips, nodeName, ports: [], hostNetwork, src };
}

/** Two nodes, four pods: three IPv4 ones and a dual-stack one, spread over both nodes. */
export function twoNodeCluster(): Cluster {
  return {
    namespaces: [
      { name: 'x', labels: { ns: 'x' }, src },
      { name: 'y', labels: { ns: 'y' }, src },
    ],
    nodes: [
      { name: 'node-a', labels: {}, addresses: ['172.18.0.2'], podCIDRs: ['10.244.0.0/24'], src },
      { name: 'node-b', labels: {}, addresses: ['172.18.0.3', 'fc00:f853::3'], podCIDRs: ['10.244.1.0/24'], src },
    ],
    pods: [
      pod('x', 'a', 'node-a', ['10.244.0.10']),
      pod('x', 'b', 'node-a', ['10.244.0.11']),
      pod('y', 'c', 'node-b', ['10.244.1.10']),
      pod('y', 'd', 'node-b', ['10.244.1.11', 'fd00:10:244:1::11']),
    ],
    services: [],
    endpointSlices: [],
  };
}

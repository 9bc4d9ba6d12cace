// Node attachments for a sandbox (src/sandbox): one per sandbox node, each in that node's
// network namespace, with the pods' host-side veths from the sandbox state and the sandbox's
// node addresses (synthetic ones included) in the ipcache, and the cluster's services as each
// node sees them. A node's uplink to the underlay is its external interface: the netdev program
// and the XDP prefilter go there when asked. Pins go in the sandbox's bpffs directory, so
// `sandbox down` removes them with everything else.

import { TwinpathError } from '../errors.js';
import type { XdpMode } from '../kernel/attach.js';
import type { Cluster } from '../policy/ast.js';
import type { CompiledPolicy } from '../policy/model.js';
import type { SandboxState } from '../sandbox/state.js';
import { attachNode, detachNode, type AttachResult, type DetachResult } from './attach.js';
import { pinDirOf, sandboxNodeName } from './names.js';
import { listNodeStates, readNodeState } from './state.js';

export interface SandboxAttachOptions {
  compiled: CompiledPolicy;
  clusterFiles: string[];
  policyFiles: string[];
  /** Only these nodes (by cluster node name); default every node of the sandbox. */
  nodes?: string[];
  object?: string;
  /** The cluster: its services are load balanced on every node (unless `services` is false). */
  cluster?: Cluster;
  services?: boolean;
  maglevTableSize?: number;
  /** cil_from_netdev at tc ingress of every node's uplink. */
  netdev?: boolean;
  /** The XDP prefilter on every node's uplink, with this deny list. */
  prefilter?: string[];
  xdpMode?: XdpMode;
}

/** Attaches the datapath to every node of the sandbox (or those named); returns one result per node. */
export function attachSandbox(sb: SandboxState, opts: SandboxAttachOptions): AttachResult[] {
  const known = sb.nodes.map((n) => n.name);
  for (const n of opts.nodes ?? []) {
    if (!known.includes(n)) throw new TwinpathError('NODE_ERROR', `no node "${n}" in sandbox "${sb.name}" (nodes: ${known.join(', ')})`);
  }
  const extra: Record<string, string[]> = {};
  for (const n of sb.nodes) extra[n.name] = n.addresses;
  const endpointPods = new Set(opts.compiled.endpoints.map((e) => `${e.namespace}/${e.pod}`));
  const results: AttachResult[] = [];
  try {
    for (const n of sb.nodes) {
      if (opts.nodes !== undefined && !opts.nodes.includes(n.name)) continue;
      const endpoints = Object.entries(sb.pods)
        .filter(([key, p]) => p.node === n.name && p.hostIfname !== undefined && endpointPods.has(key))
        .map(([pod, p]) => ({ pod, ifname: p.hostIfname! }));
      const name = sandboxNodeName(sb.name, n.name);
      results.push(
        attachNode({
          name,
          compiled: opts.compiled,
          node: n.name,
          endpoints,
          netns: n.netns,
          sandbox: sb.name,
          pinDir: pinDirOf(name, sb.name),
          ...(opts.object !== undefined ? { object: opts.object } : {}),
          ...(opts.cluster !== undefined ? { cluster: opts.cluster } : {}),
          ...(opts.services !== undefined ? { services: opts.services } : {}),
          ...(opts.maglevTableSize !== undefined ? { maglevTableSize: opts.maglevTableSize } : {}),
          ...(opts.netdev === true ? { netdev: [n.ifname] } : {}),
          ...(opts.prefilter !== undefined ? { xdp: [n.ifname], prefilter: opts.prefilter, ...(opts.xdpMode !== undefined ? { xdpMode: opts.xdpMode } : {}) } : {}),
          clusterFiles: opts.clusterFiles,
          policyFiles: opts.policyFiles,
          extraNodeAddresses: extra,
        }),
      );
    }
  } catch (e) {
    // All or nothing: the nodes attached before the failure are detached again.
    for (const r of results) {
      try {
        detachNode(r.state.name);
      } catch {
        // reported by the original error; `node detach --sandbox` can be run again
      }
    }
    throw e;
  }
  return results;
}

/** Names of the attachments made for sandbox `sb`. */
export function sandboxAttachments(sb: string): string[] {
  return listNodeStates().filter((n) => {
    try {
      return readNodeState(n)?.sandbox === sb;
    } catch {
      return false;
    }
  });
}

export function detachSandbox(sb: string): DetachResult[] {
  return sandboxAttachments(sb).map((n) => detachNode(n));
}

// How a sandbox names what it creates, and where it keeps its state. Everything a sandbox makes
// lives inside network namespaces named `tp-<name>-<role>`, so one prefix finds all of it and
// two sandboxes of the same cluster never share a name, although their pod addresses are equal.
//
// Roles: u (the underlay: a bridge joining the nodes), w (the outside world), n<i> (node i's
// host namespace), p<i> (pod i). Interface names are fixed inside those namespaces (eth0,
// lxc<i>, br0), which is what lets `node attach` find a pod's host-side veth from the state.

import { TwinpathError } from '../errors.js';

/** Letters and digits only: a `-` would let one sandbox's prefix match another's names. */
export const SANDBOX_NAME_RE = /^[a-z0-9]{1,24}$/;

export const DEFAULT_SANDBOX_NAME = 'default';

export function checkSandboxName(name: string): string {
  if (!SANDBOX_NAME_RE.test(name)) {
    throw new TwinpathError('SANDBOX_ERROR', `"${name}" is not a sandbox name: use 1 to 24 lowercase letters and digits`);
  }
  return name;
}

/** Every namespace of sandbox `name` starts with this. */
export function netnsPrefix(name: string): string {
  return `tp-${name}-`;
}

export const netnsOf = {
  underlay: (name: string): string => `tp-${name}-u`,
  outside: (name: string): string => `tp-${name}-w`,
  node: (name: string, i: number): string => `tp-${name}-n${i}`,
  pod: (name: string, i: number): string => `tp-${name}-p${i}`,
};

/** Which sandbox a namespace belongs to, if it is a sandbox namespace at all. */
export function sandboxOfNetns(netns: string): string | undefined {
  const m = /^tp-([a-z0-9]{1,24})-(u|w|n\d+|p\d+)$/.exec(netns);
  return m ? m[1] : undefined;
}

/** Host-side veth of pod i in its node's namespace; the pod side is always eth0. */
export const hostIfnameOf = (i: number): string => `lxc${i}`;
/** Node i's port on the underlay bridge; the node side is eth0. */
export const underlayPortOf = (i: number): string => `n${i}`;
export const OUTSIDE_PORT = 'w';
export const BRIDGE = 'br0';
export const UPLINK = 'eth0';

/** Where state files live; TWINPATH_SANDBOX_DIR moves them (tests of the CLI without /run). */
export function stateDir(): string {
  const d = process.env.TWINPATH_SANDBOX_DIR;
  return d !== undefined && d !== '' ? d : '/run/twinpath/sandbox';
}

/** bpffs directory reserved for the sandbox: programs attached to it pin here, `down` removes it. */
export function bpffsDirOf(name: string): string {
  return `/sys/fs/bpf/twinpath/sandbox/${name}`;
}

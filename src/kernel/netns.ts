// Running code inside a network namespace from this process: withNetns(name, fn) enters the
// namespace on the calling thread (setns), runs fn, and always returns to the namespace it
// came from. Node runs JavaScript on one thread, so every synchronous addon call inside fn
// (tc and XDP attachment over netlink, interface lookups) happens in that namespace.
//
// Not for asynchronous work: sockets opened by libuv's thread pool, timers and awaited
// promises run after fn has returned and the thread is back home. fn must be synchronous.
//
// interfaceIndex() asks the kernel (if_nametoindex) rather than sysfs, because /sys/class/net
// shows the namespace sysfs was mounted for, not the thread's current one.

import { TwinpathError } from '../errors.js';
import { rawAddon, type RawAddon } from './addon.js';
import { kcall } from './error.js';

/** The addon functions of native/tp_netns.c. */
interface NetnsAddon {
  netnsOpen(path: string): number;
  netnsEnter(fd: number): void;
  ifNameToIndex(name: string): number;
}

function addon(): RawAddon & NetnsAddon {
  return rawAddon() as RawAddon & NetnsAddon;
}

/** Where `ip netns add NAME` keeps a namespace. */
export function netnsPath(name: string): string {
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name) || name === '.' || name === '..') {
    throw new TwinpathError('USAGE', `"${name}" is not a network namespace name`);
  }
  return `/run/netns/${name}`;
}

let depth = 0;

/**
 * Runs fn with the calling thread inside network namespace `name` (a name under /run/netns, or
 * an absolute path such as /proc/PID/ns/net) and returns its result. The namespace the thread
 * was in is entered again afterwards, whether fn returned or threw. Nested calls work: each
 * returns to the namespace its caller was in.
 */
export function withNetns<T>(name: string, fn: () => T): T {
  const path = name.startsWith('/') ? name : netnsPath(name);
  const a = addon();
  const where = { path: `netns ${name}` };
  const home = kcall(where, () => a.netnsOpen('/proc/thread-self/ns/net'));
  let target: number | undefined;
  try {
    target = kcall(where, () => a.netnsOpen(path));
    kcall(where, () => a.netnsEnter(target!));
    depth += 1;
    try {
      const result = fn();
      if (result instanceof Promise) {
        throw new TwinpathError('USAGE', 'withNetns runs synchronous functions only; asynchronous work would run outside the namespace');
      }
      return result;
    } finally {
      depth -= 1;
      // Failing to return home would leave the whole process in the wrong namespace; there is
      // no safe way to continue, so that failure is thrown over anything fn threw.
      kcall({ path: `netns ${name}: returning to the previous namespace` }, () => a.netnsEnter(home));
    }
  } finally {
    if (target !== undefined) a.closeFd(target);
    a.closeFd(home);
  }
}

/** How many withNetns calls are active on this thread (0 outside any). */
export function netnsDepth(): number {
  return depth;
}

/** The ifindex of an interface in the calling thread's current network namespace. */
export function interfaceIndex(ifname: string): number {
  if (!/^[^/\s]{1,15}$/.test(ifname)) throw new TwinpathError('USAGE', `"${ifname}" is not an interface name`);
  return kcall({ path: `interface ${ifname}` }, () => addon().ifNameToIndex(ifname));
}

// Attaching loaded programs to interfaces (XDP, tc clsact ingress/egress) and naming objects
// in bpffs (pin, unpin). Attachments and pins belong to the kernel, not to this process: they
// stay until removed or until the interface goes, so every attach here has a matching detach.

import { readFileSync } from 'node:fs';
import { TwinpathError } from '../errors.js';
import { rawAddon, type RawXdpQuery } from './addon.js';
import type { KernelProgram } from './bpf.js';
import { kcall } from './error.js';

// XDP_FLAGS_* from the UAPI (linux/if_link.h).
const XDP_FLAGS_UPDATE_IF_NOEXIST = 1 << 0;
const XDP_FLAGS_SKB_MODE = 1 << 1;
const XDP_FLAGS_DRV_MODE = 1 << 2;

/** Where an XDP program runs: generic (skb, any device), native (driver), or whichever the
 * kernel picks (native when the driver has it). */
export type XdpMode = 'skb' | 'drv' | 'auto';

// enum bpf_tc_attach_point in libbpf.
const TC_POINT = { ingress: 1, egress: 2 } as const;
export type TcDirection = keyof typeof TC_POINT;

function xdpFlags(mode: XdpMode): number {
  return mode === 'skb' ? XDP_FLAGS_SKB_MODE : mode === 'drv' ? XDP_FLAGS_DRV_MODE : 0;
}

/** The ifindex of an interface in this process's network namespace. */
export function ifindexOf(name: string): number {
  if (!/^[^/\s]{1,15}$/.test(name)) throw new TwinpathError('USAGE', `"${name}" is not an interface name`);
  try {
    return Number.parseInt(readFileSync(`/sys/class/net/${name}/ifindex`, 'utf8'), 10);
  } catch {
    throw new TwinpathError('KERNEL_ERROR', `no interface "${name}" in this network namespace`);
  }
}

/** Attaches an XDP program; `replace: false` refuses when one is already there (EBUSY). */
export function attachXdp(ifindex: number, prog: KernelProgram, opts: { mode?: XdpMode; replace?: boolean } = {}): void {
  const flags = xdpFlags(opts.mode ?? 'auto') | (opts.replace === false ? XDP_FLAGS_UPDATE_IF_NOEXIST : 0);
  const fd = prog.fd;
  kcall({ program: prog.name, path: `ifindex ${ifindex} xdp` }, () => rawAddon().xdpAttach(ifindex, fd, flags));
}

/** Detaches whatever XDP program runs in `mode` (the mode it was attached with). */
export function detachXdp(ifindex: number, mode: XdpMode = 'auto'): void {
  kcall({ path: `ifindex ${ifindex} xdp` }, () => rawAddon().xdpDetach(ifindex, xdpFlags(mode)));
}

/** Program ids attached per mode, 0 where none. */
export function queryXdp(ifindex: number): RawXdpQuery {
  return kcall({ path: `ifindex ${ifindex} xdp` }, () => rawAddon().xdpQuery(ifindex));
}

/** One cls_bpf filter on a clsact hook, as tc names it (handle and priority). */
export interface TcAttachment {
  ifindex: number;
  direction: TcDirection;
  handle: number;
  priority: number;
  progId: number;
}

/** Adds the clsact qdisc when missing, then the filter (direct-action). handle/priority 0 let
 * the kernel choose; `replace` swaps the program of an existing handle/priority. */
export function attachTc(
  ifindex: number,
  direction: TcDirection,
  prog: KernelProgram,
  opts: { handle?: number; priority?: number; replace?: boolean } = {},
): TcAttachment {
  const point = TC_POINT[direction];
  const where = { program: prog.name, path: `ifindex ${ifindex} tc ${direction}` };
  const fd = prog.fd;
  kcall(where, () => {
    try {
      rawAddon().tcHookCreate(ifindex, point);
    } catch (e) {
      if ((e as { errnoName?: string }).errnoName !== 'EEXIST') throw e; // clsact already there
    }
  });
  const r = kcall(where, () =>
    rawAddon().tcAttach(ifindex, point, fd, {
      handle: opts.handle ?? 0,
      priority: opts.priority ?? 0,
      replace: opts.replace ? 1 : 0,
    }),
  );
  return { ifindex, direction, ...r };
}

export function detachTc(a: Pick<TcAttachment, 'ifindex' | 'direction' | 'handle' | 'priority'>): void {
  kcall({ path: `ifindex ${a.ifindex} tc ${a.direction}` }, () =>
    rawAddon().tcDetach(a.ifindex, TC_POINT[a.direction], a.handle, a.priority),
  );
}

/** The program id of a filter, undefined when there is no such filter. */
export function queryTc(a: Pick<TcAttachment, 'ifindex' | 'direction' | 'handle' | 'priority'>): number | undefined {
  const id = kcall({ path: `ifindex ${a.ifindex} tc ${a.direction}` }, () =>
    rawAddon().tcQuery(a.ifindex, TC_POINT[a.direction], a.handle, a.priority),
  );
  return id ?? undefined;
}

/** Removes the clsact qdisc with every filter on both directions; absent is fine. */
export function destroyClsact(ifindex: number): void {
  kcall({ path: `ifindex ${ifindex} tc` }, () => {
    try {
      rawAddon().tcHookDestroy(ifindex, TC_POINT.ingress | TC_POINT.egress);
    } catch (e) {
      const name = (e as { errnoName?: string }).errnoName;
      if (name !== 'ENOENT' && name !== 'EINVAL') throw e;
    }
  });
}

/** Removes a pin (a program's or map's name in bpffs). */
export function unpin(path: string): void {
  kcall({ file: path }, () => rawAddon().unpin(path));
}

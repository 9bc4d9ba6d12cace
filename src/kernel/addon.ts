// Finding and loading the native addon (native/build/Release/twinpath_bpf.node), and deciding
// whether this process can use the kernel engine at all. The addon is loaded lazily, on the
// first kernel call, so that importing twinpath never needs libbpf, root or Linux.
//
// Owns: the raw addon's type (RawAddon), kernelAvailability(), and rawAddon(), which throws
// TwinpathError('KERNEL_UNAVAILABLE') with what is missing and how to fix it.

import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { TwinpathError } from '../errors.js';

// ---- the raw addon, as native/*.c exports it --------------------------------------------

/** An opaque handle; only the addon can make or read one. */
export interface RawHandle {
  readonly __brand?: never;
}

export interface RawProgramInfo {
  name: string;
  section: string;
  type: number;
  typeName: string;
  autoload: boolean;
  insnCount: number;
  /** Negative until the object is loaded. */
  fd: number;
}

export interface RawMapSpecInfo {
  name: string;
  type: number;
  typeName: string;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  internal: boolean;
  pinPath: string | null;
  fd: number;
}

export interface RawGlobalInfo {
  name: string;
  section: string;
  map: string;
  offset: number;
  size: number;
}

export interface RawObjectInfo {
  name: string;
  loaded: boolean;
  programs: RawProgramInfo[];
  maps: RawMapSpecInfo[];
  globals: RawGlobalInfo[];
}

export interface RawMapInfo {
  id: number;
  name: string;
  type: number;
  typeName: string;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  percpu: boolean;
}

export interface RawProgInfo {
  id: number;
  name: string;
  type: number;
  typeName: string;
  tag: string;
}

export interface RawTestRunOptions {
  repeat?: number;
  flags?: number;
  cpu?: number;
  dataOutSize?: number;
}

export interface RawTestRunResult {
  retval: number;
  dataOut: Buffer;
  ctxOut: Buffer | null;
  durationNs: number;
}

export interface RawXdpQuery {
  progId: number;
  skbProgId: number;
  drvProgId: number;
  hwProgId: number;
  attachMode: number;
}

export interface RawTcFilter {
  handle: number;
  priority: number;
  progId: number;
}

export type RawValue = Buffer | Buffer[];

export interface RawAddon {
  libbpfVersion: string;
  probe(): { ok: true } | { ok: false; errno: number; errnoName: string };
  openObject(bytes: Uint8Array, name: string): RawHandle;
  objectInfo(h: RawHandle): RawObjectInfo;
  setGlobal(h: RawHandle, name: string, value: Uint8Array): void;
  getGlobal(h: RawHandle, name: string): Buffer;
  setProgramType(h: RawHandle, prog: string, type: number): void;
  setProgramAutoload(h: RawHandle, prog: string, autoload: boolean): void;
  setMapMaxEntries(h: RawHandle, map: string, n: number): void;
  setMapPinPath(h: RawHandle, map: string, path: string | null): void;
  loadObject(h: RawHandle): void;
  closeObject(h: RawHandle): void;
  mapInfo(fd: number): RawMapInfo;
  mapLookup(fd: number, key: Uint8Array | null, flags?: number): RawValue | null;
  mapUpdate(fd: number, key: Uint8Array | null, value: Uint8Array | Uint8Array[], flags?: number): void;
  /** `count` keys and values back to back (per-CPU values in the padded per-CPU layout); the
   * count written. A refusal throws with `done`, the elements written before it. */
  mapUpdateBatch(fd: number, keys: Uint8Array, values: Uint8Array, count: number, flags?: number): number;
  mapDelete(fd: number, key: Uint8Array | null): void;
  mapGetNextKey(fd: number, key: Uint8Array | null): Buffer | null;
  mapLookupAndDelete(fd: number, key: Uint8Array | null): RawValue | null;
  numPossibleCpus(): number;
  progInfo(fd: number): RawProgInfo;
  testRun(fd: number, data: Uint8Array, ctx: Uint8Array | null, opts?: RawTestRunOptions): RawTestRunResult;
  ringbufOpen(mapFd: number): RawHandle;
  ringbufPoll(h: RawHandle, timeoutMs: number, maxRecords?: number): Buffer[];
  ringbufClose(h: RawHandle): void;
  xdpAttach(ifindex: number, progFd: number, flags: number): void;
  xdpDetach(ifindex: number, flags: number): void;
  xdpQuery(ifindex: number): RawXdpQuery;
  tcHookCreate(ifindex: number, attachPoint: number): void;
  tcHookDestroy(ifindex: number, attachPoint: number): void;
  tcAttach(ifindex: number, attachPoint: number, progFd: number, opts?: { handle?: number; priority?: number; replace?: 0 | 1 }): RawTcFilter;
  tcDetach(ifindex: number, attachPoint: number, handle: number, priority: number): void;
  tcQuery(ifindex: number, attachPoint: number, handle: number, priority: number): number | null;
  objPin(fd: number, path: string): void;
  objGet(path: string): number;
  unpin(path: string): void;
  closeFd(fd: number): void;
}

// ---- loading and availability ----------------------------------------------------------

export type KernelAvailability = { ok: true } | { ok: false; reason: string };

/** Where the built addon is; TWINPATH_NATIVE_ADDON overrides it (tests use a missing path to
 * see the laptop behaviour on a machine that has the addon). src/kernel and dist/kernel are
 * both two levels below the package root. */
export function addonPath(): string {
  const override = process.env.TWINPATH_NATIVE_ADDON;
  if (override !== undefined && override !== '') return override;
  return fileURLToPath(new URL('../../native/build/Release/twinpath_bpf.node', import.meta.url));
}

interface LoadState {
  path: string;
  addon?: RawAddon;
  reason?: string;
}

let state: LoadState | undefined;

/** Decides once per addon path; the answer does not change while the process runs. */
function load(): LoadState {
  const path = addonPath();
  if (state?.path === path) return state;
  state = { path, ...inspect(path) };
  return state;
}

function inspect(path: string): { addon?: RawAddon; reason?: string } {
  if (process.platform !== 'linux') {
    return { reason: `the kernel engine needs Linux with eBPF; this is ${process.platform} (use --engine vm)` };
  }
  if (!existsSync(path)) {
    return {
      reason:
        `the native addon is not built (${path} is missing): install libbpf-dev (and a C compiler), ` +
        'then run npm rebuild, or node scripts/build-native.mjs',
    };
  }
  let addon: RawAddon;
  try {
    addon = createRequire(import.meta.url)(path) as RawAddon;
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    const hint = /libbpf/.test(msg)
      ? 'install the libbpf runtime library (Debian: libbpf1) and run npm rebuild'
      : 'run npm rebuild to build it for this Node version';
    return { reason: `the native addon does not load (${msg.split('\n')[0]}): ${hint}` };
  }
  const euid = process.geteuid?.();
  if (euid !== undefined && euid !== 0) {
    return { reason: `loading eBPF programs needs root (CAP_BPF and CAP_NET_ADMIN); this process runs as uid ${euid}: run as root (sudo)` };
  }
  const probe = addon.probe();
  if (!probe.ok) {
    const why =
      probe.errnoName === 'ENOSYS'
        ? 'this kernel has no bpf() system call (CONFIG_BPF_SYSCALL): use a kernel with eBPF'
        : probe.errnoName === 'EPERM'
          ? 'the kernel refused to create a BPF map (EPERM): run as root with CAP_BPF/CAP_SYS_ADMIN, or lower kernel.unprivileged_bpf_disabled'
          : `the kernel refused to create a BPF map (${probe.errnoName})`;
    return { reason: why };
  }
  return { addon };
}

/** Whether the kernel engine can run here, and if not, why and what to do about it. */
export function kernelAvailability(): KernelAvailability {
  const s = load();
  return s.addon ? { ok: true } : { ok: false, reason: s.reason ?? 'unknown' };
}

/** The raw addon; throws KERNEL_UNAVAILABLE saying what is missing. */
export function rawAddon(): RawAddon {
  const s = load();
  if (!s.addon) throw new TwinpathError('KERNEL_UNAVAILABLE', s.reason ?? 'unknown');
  return s.addon;
}

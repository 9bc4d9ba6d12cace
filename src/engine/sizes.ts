// Map sizes chosen at open (OpenOptions.maxEntries): the one place that decides which overrides
// an object accepts, so that both engines refuse the same ones with the same error before
// anything is created. libbpf applies an accepted size with bpf_map__set_max_entries before
// load; the VM creates its map with it.
//
// What cannot be resized, and why:
// - global data sections (.rodata, .data, .bss): one entry holding every variable, by definition;
// - ring buffers: max_entries is the buffer's byte size, which the kernel wants a power of two
//   and a multiple of the page size;
// - local storage maps (cgroup, socket, inode, task) and struct_ops: their max_entries is fixed
//   (0 or 1) and means nothing else;
// - anything outside 1 .. 2^32 - 1.
// How much memory a size costs is each engine's business: the kernel refuses what it cannot
// allocate (ENOMEM, E2BIG), the VM refuses arenas past its cap (ENOMEM), both naming the map.

import { TwinpathError, type ErrorLocation } from '../errors.js';
import type { ObjectSpec } from '../elf/object.js';

const BPF_MAP_TYPE_CGROUP_STORAGE = 19;
const BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE = 21;
const BPF_MAP_TYPE_SK_STORAGE = 24;
const BPF_MAP_TYPE_STRUCT_OPS = 26;
const BPF_MAP_TYPE_RINGBUF = 27;
const BPF_MAP_TYPE_INODE_STORAGE = 28;
const BPF_MAP_TYPE_TASK_STORAGE = 29;
const BPF_MAP_TYPE_USER_RINGBUF = 31;
const BPF_MAP_TYPE_CGRP_STORAGE = 32;

const FIXED_SIZE = new Set([
  BPF_MAP_TYPE_CGROUP_STORAGE, BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE, BPF_MAP_TYPE_SK_STORAGE, BPF_MAP_TYPE_STRUCT_OPS,
  BPF_MAP_TYPE_INODE_STORAGE, BPF_MAP_TYPE_TASK_STORAGE, BPF_MAP_TYPE_CGRP_STORAGE,
]);

/** The page size ring buffers are measured in (4 KiB on the architectures twinpath runs on). */
export const RINGBUF_PAGE = 4096;

/** The accepted overrides of `opts.maxEntries`, by map name; throws USAGE naming the map for
 * any that the object cannot take. */
export function checkedMaxEntries(spec: ObjectSpec, maxEntries: Record<string, number> | undefined, where: ErrorLocation): Map<string, number> {
  const out = new Map<string, number>();
  for (const [name, n] of Object.entries(maxEntries ?? {})) {
    const at: ErrorLocation = { ...where, path: `map ${name}` };
    const m = spec.maps.find((x) => x.name === name);
    if (!m) {
      throw new TwinpathError('USAGE', `maxEntries: no map "${name}" (maps: ${spec.maps.map((x) => x.name).join(', ') || 'none'})`, where);
    }
    if (!Number.isInteger(n) || n < 1 || n > 0xffffffff) {
      throw new TwinpathError('USAGE', `maxEntries: ${String(n)} is not an integer in 1..4294967295`, at);
    }
    if (m.data) {
      throw new TwinpathError('USAGE', `maxEntries: "${name}" is a global data section; its one entry holds its variables`, at);
    }
    if (FIXED_SIZE.has(m.type)) {
      throw new TwinpathError('USAGE', `maxEntries: a ${m.typeName} map's max_entries is fixed by its type`, at);
    }
    if ((m.type === BPF_MAP_TYPE_RINGBUF || m.type === BPF_MAP_TYPE_USER_RINGBUF) && (n % RINGBUF_PAGE !== 0 || (n & (n - 1)) !== 0)) {
      throw new TwinpathError('USAGE', `maxEntries: a ring buffer's size (${n}) must be a power of two and a multiple of ${RINGBUF_PAGE}`, at);
    }
    out.set(name, n);
  }
  return out;
}

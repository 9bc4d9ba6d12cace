// Map type numbers of the kernel's UAPI enum bpf_map_type, with the kernel's own names and the
// release that introduced each, so an object naming a type twinpath lacks can say which kernel
// has it. Written from the kernel documentation, not copied from a header.

export interface MapTypeInfo {
  id: number;
  /** As the kernel spells it, e.g. BPF_MAP_TYPE_LRU_HASH. */
  name: string;
  /** First kernel release with this map type. */
  since: string;
}

const TABLE: readonly [string, string][] = [
  ['UNSPEC', '3.19'],
  ['HASH', '3.19'],
  ['ARRAY', '3.19'],
  ['PROG_ARRAY', '4.2'],
  ['PERF_EVENT_ARRAY', '4.3'],
  ['PERCPU_HASH', '4.6'],
  ['PERCPU_ARRAY', '4.6'],
  ['STACK_TRACE', '4.6'],
  ['CGROUP_ARRAY', '4.8'],
  ['LRU_HASH', '4.10'],
  ['LRU_PERCPU_HASH', '4.10'],
  ['LPM_TRIE', '4.11'],
  ['ARRAY_OF_MAPS', '4.12'],
  ['HASH_OF_MAPS', '4.12'],
  ['DEVMAP', '4.14'],
  ['SOCKMAP', '4.14'],
  ['CPUMAP', '4.15'],
  ['XSKMAP', '4.18'],
  ['SOCKHASH', '4.18'],
  ['CGROUP_STORAGE', '4.19'],
  ['REUSEPORT_SOCKARRAY', '4.19'],
  ['PERCPU_CGROUP_STORAGE', '4.20'],
  ['QUEUE', '4.20'],
  ['STACK', '4.20'],
  ['SK_STORAGE', '5.2'],
  ['DEVMAP_HASH', '5.4'],
  ['STRUCT_OPS', '5.6'],
  ['RINGBUF', '5.8'],
  ['INODE_STORAGE', '5.10'],
  ['TASK_STORAGE', '5.11'],
  ['BLOOM_FILTER', '5.16'],
  ['USER_RINGBUF', '6.1'],
  ['CGRP_STORAGE', '6.2'],
  ['ARENA', '6.9'],
];

export const MAP_TYPES: readonly MapTypeInfo[] = TABLE.map(([n, since], id) => ({ id, name: `BPF_MAP_TYPE_${n}`, since }));

export const BPF_MAP_TYPE_HASH = 1;
export const BPF_MAP_TYPE_ARRAY = 2;
export const BPF_MAP_TYPE_PROG_ARRAY = 3;
export const BPF_MAP_TYPE_LRU_HASH = 9;
export const BPF_MAP_TYPE_ARRAY_OF_MAPS = 12;
export const BPF_MAP_TYPE_HASH_OF_MAPS = 13;

/** Map flags the spec sets itself (the others come from the object as written). */
export const BPF_F_RDONLY_PROG = 0x80;

/** libbpf's pinning values for the `pinning` member of a BTF-defined map. */
export const LIBBPF_PIN_NONE = 0;
export const LIBBPF_PIN_BY_NAME = 1;

export function mapTypeInfo(id: number): MapTypeInfo | undefined {
  return id > 0 ? MAP_TYPES[id] : undefined;
}

export function mapTypeName(id: number): string {
  return MAP_TYPES[id]?.name ?? `BPF_MAP_TYPE_${id}`;
}

export function isMapInMap(id: number): boolean {
  return id === BPF_MAP_TYPE_ARRAY_OF_MAPS || id === BPF_MAP_TYPE_HASH_OF_MAPS;
}

// The shape of test/progs/expected/<name>.json: how to load and prepare one engine-agreement
// test program (globals, map entries, prog array slots, inner maps, the test-run context), which
// values are masked because they depend on time, chance or the CPU, and the results every engine
// must give for the program's capture (captures/test/<name>.pcap). Engine-neutral on purpose:
// the kernel test fills `results` once; the VM comparison reads the same file.

import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const progsDir = join(root, 'bpf', 'test', 'progs');
export const capturesDir = join(root, 'captures', 'test');
export const expectedDir = join(root, 'test', 'progs', 'expected');

export interface MapEntrySetup {
  map: string;
  key: string;   // hex
  value: string; // hex
  note?: string;
}

export interface Expected {
  /** Object file in bpf/test/progs. */
  object: string;
  /** The program each packet runs (the entry point). */
  program: string;
  hook: 'tc' | 'xdp';
  capture: string;
  /** Checked in the kernel only, with the reason (e.g. a map type the VM does not have). */
  kernelOnly?: string;
  load?: {
    /** Globals set before load: numbers (little-endian in the variable's size) or hex. */
    globals?: Record<string, number | string>;
  };
  setup?: {
    maps?: MapEntrySetup[];
    /** PROG_ARRAY slots: the fd of `program` at `index`. */
    progs?: { map: string; index: number; program: string; note?: string }[];
    /** Map-in-map slots filled by the test: the inner map `inner` at `key` (hex). */
    innerMaps?: { map: string; key: string; inner: string; note?: string }[];
  };
  /** struct __sk_buff fields passed into every tc test run (the rest zero). */
  ctx?: { mark?: number; priority?: number; cb?: number[] };
  /** Values left out of the comparison, each with the reason. */
  masked?: {
    globals?: Record<string, string>;
    /** Map name -> byte ranges [from, to) of every value zeroed before comparing, and why. */
    values?: Record<string, { ranges: [number, number][]; why: string }>;
    /** Map contents left out entirely, and why. */
    maps?: Record<string, string>;
  };
  /** Written from a kernel run (see README), then reviewed; what every engine must give. */
  results?: Results;
}

export interface PacketResult {
  retval: number;
  /** "unchanged" or the output packet in hex (XDP: metadata included, as a test run returns it). */
  out: string;
  /** tc: __sk_buff fields after the run that differ from the context passed in. */
  ctx?: { mark?: number; priority?: number; cb?: number[] };
}

export interface Results {
  packets: PacketResult[];
  /** Map name -> [key hex, value hex] sorted by key; per-CPU values summed as __u64 words;
   * QUEUE/STACK: the values in pop order, key "". */
  maps: Record<string, [string, string][]>;
  /** .data/.bss variables after the capture, hex. */
  globals: Record<string, string>;
  /** Ring buffer map -> records in order, hex. */
  ringbuf: Record<string, string[]>;
}

export function expectedPath(name: string): string {
  return join(expectedDir, `${name}.json`);
}

export function readExpected(name: string): Expected {
  return JSON.parse(readFileSync(expectedPath(name), 'utf8')) as Expected;
}

export function writeExpected(name: string, e: Expected): void {
  writeFileSync(expectedPath(name), JSON.stringify(e, null, 2) + '\n');
}

/** Names of the programs with an expected file, in a stable order. */
export const PROGRAMS = [
  'parse', 'flows', 'ipcache', 'tail', 'events', 'clock', 'nat', 'encap', 'vlan', 'xdp_edit', 'xdp_redirect',
] as const;

export const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
export const unhex = (s: string): Buffer => Buffer.from(s, 'hex');

// `twinpath run OBJECT [--program NAME] (--pcap FILE | --packet HEX) [--engine vm|kernel|both]
// [--json] [--ctx k=v ...] [--global name=value ...] [--map-init FILE] [--ignore SPEC ...]`: one
// program on each packet, in one engine or in both side by side. --map-init fills maps before
// the first packet, the same in every engine (src/engine/map_init.ts); --ignore (or --mask) leaves
// values that legitimately differ between engines out of the comparison (src/engine/ignore.ts). The output shapes are a contract (../shared/design.md, "Command-line
// contracts"): with --json one object per packet and engine per line whose `index`, `engine`,
// `retval`, `action` and `data` keep their names; fields may only be added.
//
// Each engine opens the object once and keeps its maps across packets, as a datapath would, so
// with --engine both the map comparison after each packet covers everything the packets so far
// did. A capture is streamed (constant memory); packets of link types with no Ethernet form are
// counted and summarised on stderr.

import { basename } from 'node:path';
import type { CommandRegistrar } from '../main.js';
import { TwinpathError } from '../../errors.js';
import { parseHexBytes } from '../../asm/insn.js';
import { findProgram, type ObjectSpec, type ProgramSpec } from '../../elf/object.js';
import { readCapture, SkippedPackets, toEthernet } from '../../pcap/index.js';
import { getEngine } from '../../engine/index.js';
import { actionName, hookRetval } from '../../engine/actions.js';
import { compareRuns, describeDifference, hex, summarizeDifferences, type Difference } from '../../engine/compare.js';
import { applyMapInit, readMapInit } from '../../engine/map_init.js';
import { maskMaps, maskRun, parseIgnore, type IgnoreRule } from '../../engine/ignore.js';
import type { EngineKind, EngineObject, RunContext, RunOutput } from '../../engine/engine.js';
import { readObjectFile } from './inspect.js';

type EngineChoice = EngineKind | 'both';

interface Packet {
  index: number;
  frame: Uint8Array;
  timeNs?: bigint;
}

export const registerRun: CommandRegistrar = (y, ctx) =>
  y.command(
    'run <object>',
    'run one program of an object on each packet, in the VM, the kernel, or both',
    (a) =>
      a
        .positional('object', { type: 'string', demandOption: true, describe: 'ELF object file (clang -target bpf)' })
        .option('program', { type: 'string', describe: 'the program (function or section name); needed when there are several' })
        .option('pcap', { type: 'string', describe: 'a pcap or pcapng capture: every packet is run' })
        .option('packet', { type: 'string', describe: 'one packet as hex bytes, from the Ethernet header' })
        .option('engine', { choices: ['vm', 'kernel', 'both'] as const, default: 'vm' as const, describe: 'where to run it; both compares them' })
        .option('json', { type: 'boolean', default: false, describe: 'one JSON object per packet and engine per line' })
        .option('ctx', { type: 'string', array: true, describe: 'context fields before the run: mark=1 priority=2 cb[0]=3 ifindex=1 ...' })
        .option('global', { type: 'string', array: true, describe: 'set a global before load: name=123 or name=<hex bytes of its size>' })
        .option('map-init', { type: 'string', describe: 'JSON file of map entries written before the first packet, in every engine' })
        .option('ignore', {
          type: 'string', array: true,
          describe: 'with --engine both, leave out of the comparison: retval, data, ctx:FIELD, map:NAME[:OFF:LEN], global:NAME, events[:MAP][:OFF:LEN]',
        })
        .option('mask', { type: 'string', array: true, describe: 'the same as --ignore (for byte ranges: --mask events:0:8)' })
        .check((argv) => {
          if ((argv.pcap === undefined) === (argv.packet === undefined)) throw new Error('give --pcap FILE or --packet HEX (one of them)');
          return true;
        }),
    async (args) => {
      const { bytes, spec } = readObjectFile(args.object);
      const prog = findProgram(spec, args.program);
      const runCtx = parseCtx(args.ctx ?? []);
      const globals = parseGlobals(spec, args.global ?? [], args.object);
      const mapInit = args.mapInit !== undefined ? readMapInit(args.mapInit, spec) : undefined;
      const ignore = [...(args.ignore ?? []), ...(args.mask ?? [])]
        .map((t) => parseIgnore(t, spec))
        .filter((r): r is IgnoreRule => r !== undefined);
      const choice = args.engine as EngineChoice;
      const kinds: EngineKind[] = choice === 'both' ? ['vm', 'kernel'] : [choice];
      const engines = await Promise.all(kinds.map((k) => getEngine(k)));
      const objects: EngineObject[] = [];
      const skipped = new SkippedPackets();
      try {
        for (const e of engines) {
          const o = e.open({ bytes, file: args.object, spec }, { globals });
          objects.push(o);
          if (mapInit) applyMapInit(o, mapInit);
        }
        const packets = args.packet !== undefined ? [{ index: 0, frame: parseHexBytes(args.packet) }] : capturePackets(args.pcap!, skipped);
        for await (const p of packets) {
          const outputs = objects.map((o) => runOne(o, prog, p, runCtx, args.object));
          const diffs = objects.length === 2
            ? compareRuns(maskRun(outputs[0]!, ignore), maskRun(outputs[1]!, ignore), maskMaps(objects[0]!.maps(), ignore), maskMaps(objects[1]!.maps(), ignore))
            : undefined;
          if (diffs?.length) ctx.exitCode = 1;
          ctx.io.out(args.json ? jsonLines(prog, p, kinds, outputs, diffs) : textLines(prog, p, kinds, outputs, diffs));
        }
      } finally {
        for (const o of objects) o.close();
        for (const line of skipped.summary()) ctx.io.err(`${line}\n`);
      }
    },
  );

async function* capturePackets(path: string, skipped: SkippedPackets): AsyncGenerator<Packet> {
  for await (const rec of readCapture(path)) {
    const eth = toEthernet(rec);
    if ('skipped' in eth) {
      skipped.add(rec.linkType, eth.skipped);
      continue;
    }
    yield { index: rec.index, frame: eth.frame, timeNs: rec.timestampNs };
  }
}

function runOne(o: EngineObject, prog: ProgramSpec, p: Packet, c: RunContext, file: string): RunOutput {
  try {
    return o.run(prog.name, { packet: p.frame, ctx: c, ...(p.timeNs !== undefined ? { timeNs: p.timeNs } : {}) });
  } catch (e) {
    if (e instanceof TwinpathError) {
      // Say which packet and engine; the engine's own location (program, insn) stays.
      throw new TwinpathError(e.code, `packet ${p.index} (${o.engine}): ${e.detail}`,
        { file, program: prog.name, section: prog.section, ...e.location }, { cause: e });
    }
    throw e;
  }
}

/** JSON with bigints as decimal strings and bytes as lowercase hex. */
function json(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? hex(v) : v);
}

function jsonLines(prog: ProgramSpec, p: Packet, kinds: EngineKind[], outputs: RunOutput[], diffs?: Difference[]): string {
  return outputs.map((o, i) => {
    const line: Record<string, unknown> = {
      index: p.index,
      engine: kinds[i],
      retval: hookRetval(prog.hook, o.retval),
      action: actionName(prog.hook, o.retval),
      data: hex(o.packet),
      ctx: { ...o.ctx, ...(o.ctx64 ?? {}) },
      events: o.events,
      ...(o.redirect ? { redirect: o.redirect } : {}),
    };
    // With both engines, the kernel's line (the oracle, printed last) carries the comparison.
    if (diffs && i === outputs.length - 1) {
      line.differences = diffs.map((d) => ({ ...d, text: describeDifference(d, [kinds[0]!, kinds[1]!], (n) => retvalText(prog, n)) }));
    }
    return json(line) + '\n';
  }).join('');
}

/** ` -> tx_ports[1] (ifindex 1)`: where a redirect verdict sends the packet, when known. */
function redirectText(o: RunOutput): string {
  const r = o.redirect;
  if (!r) return '';
  const target = r.map !== undefined ? `${r.map}[${r.key}]${r.ifindex !== undefined ? ` (ifindex ${r.ifindex})` : ''}` : `ifindex ${r.ifindex}`;
  return ` -> ${target}${r.flags ? ` flags 0x${r.flags.toString(16)}` : ''}`;
}

function retvalText(prog: ProgramSpec, n: number): string {
  return `${hookRetval(prog.hook, n)} (${actionName(prog.hook, n)})`;
}

function textLines(prog: ProgramSpec, p: Packet, kinds: EngineKind[], outputs: RunOutput[], diffs?: Difference[]): string {
  const parts = outputs.map((o, i) => `${kinds[i]} ${actionName(prog.hook, o.retval)} ${o.packet.length} bytes${redirectText(o)}`);
  let line = `packet ${p.index}: ${parts.join(' | ')}`;
  if (diffs) line += diffs.length === 0 ? ' | same' : ` | ${diffs.length} difference${diffs.length === 1 ? '' : 's'}: ${summarizeDifferences(diffs)}`;
  line += '\n';
  for (const d of diffs ?? []) line += `  ${describeDifference(d, [kinds[0]!, kinds[1]!], (n) => retvalText(prog, n))}\n`;
  return line;
}

// ---- --ctx and --global ----------------------------------------------------------------

function parseInteger(text: string, what: string): bigint {
  const t = text.trim();
  if (!/^-?(0x[0-9a-f]+|\d+)$/i.test(t)) throw new TwinpathError('USAGE', `${what}: "${text}" is not a number`);
  return t.startsWith('-') ? -BigInt(t.slice(1)) : BigInt(t);
}

function u32(text: string, what: string): number {
  const v = parseInteger(text, what);
  if (v < 0n || v > 0xffffffffn) throw new TwinpathError('USAGE', `${what}: ${text} does not fit 32 bits`);
  return Number(v);
}

function u64(text: string, what: string): bigint {
  const v = parseInteger(text, what);
  if (v < 0n || v > 0xffffffffffffffffn) throw new TwinpathError('USAGE', `${what}: ${text} does not fit 64 bits`);
  return v;
}

const CTX_FIELDS: Record<string, (c: RunContext, v: string, what: string) => void> = {
  mark: (c, v, w) => { c.mark = u32(v, w); },
  priority: (c, v, w) => { c.priority = u32(v, w); },
  ifindex: (c, v, w) => { c.ifindex = u32(v, w); },
  ingress_ifindex: (c, v, w) => { c.ingressIfindex = u32(v, w); },
  tc_index: (c, v, w) => { c.tcIndex = u32(v, w); },
  rx_queue_index: (c, v, w) => { c.rxQueueIndex = u32(v, w); },
  wire_len: (c, v, w) => { c.wireLen = u32(v, w); },
  gso_segs: (c, v, w) => { c.gsoSegs = u32(v, w); },
  gso_size: (c, v, w) => { c.gsoSize = u32(v, w); },
  tstamp: (c, v, w) => { c.tstamp = u64(v, w); },
  hwtstamp: (c, v, w) => { c.hwtstamp = u64(v, w); },
};

/** `--ctx` pairs by UAPI field name; `cb[2]=7` (or `cb2=7`) sets one word of cb. */
export function parseCtx(pairs: string[]): RunContext {
  const c: RunContext = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new TwinpathError('USAGE', `--ctx ${pair}: expected field=value`);
    const key = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1);
    const what = `--ctx ${key}`;
    const cb = /^cb\[?([0-4])\]?$/.exec(key);
    if (cb) {
      const words = c.cb ?? [0, 0, 0, 0, 0];
      words[Number(cb[1])] = u32(value, what);
      c.cb = words;
      continue;
    }
    const set = CTX_FIELDS[key];
    if (!set) throw new TwinpathError('USAGE', `--ctx: unknown field "${key}" (${[...Object.keys(CTX_FIELDS), 'cb[0]..cb[4]'].join(', ')})`);
    set(c, value, what);
  }
  return c;
}

/** `--global` pairs: a number for a 1/2/4/8-byte variable (little-endian, as the BPF target
 * stores it), otherwise hex bytes of exactly the variable's size. */
export function parseGlobals(spec: ObjectSpec, pairs: string[], file: string): Record<string, Uint8Array> {
  const out: Record<string, Uint8Array> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new TwinpathError('USAGE', `--global ${pair}: expected name=value`);
    const name = pair.slice(0, eq).trim();
    const text = pair.slice(eq + 1).trim();
    const v = spec.maps.flatMap((m) => m.data?.variables ?? []).find((x) => x.name === name);
    if (!v) {
      const known = spec.maps.flatMap((m) => m.data?.variables.map((x) => x.name) ?? []);
      throw new TwinpathError('USAGE', `--global: no global variable "${name}" (${known.join(', ') || 'the object has none'})`, { file: basename(file) });
    }
    let bytes: Uint8Array;
    if ([1, 2, 4, 8].includes(v.size) && /^-?(0x[0-9a-f]+|\d+)$/i.test(text)) {
      const n = parseInteger(text, `--global ${name}`);
      const limit = 1n << BigInt(v.size * 8);
      if (n >= limit || n < -(limit >> 1n)) throw new TwinpathError('USAGE', `--global ${name}: ${text} does not fit ${v.size} bytes`);
      const u = BigInt.asUintN(v.size * 8, n);
      bytes = new Uint8Array(v.size);
      for (let i = 0; i < v.size; i++) bytes[i] = Number((u >> BigInt(8 * i)) & 0xffn);
    } else {
      bytes = parseHexBytes(text);
      if (bytes.length !== v.size) {
        throw new TwinpathError('USAGE', `--global ${name}: the variable is ${v.size} bytes, the value gives ${bytes.length}`);
      }
    }
    out[name] = bytes;
  }
  return out;
}

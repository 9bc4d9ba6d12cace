// `twinpath replay CAPTURE --cluster FILE... --policy FILE... [-o compact|json|table|summary]`: every
// packet of a capture through the datapath programs where it would meet them on its nodes
// (src/datapath/replay.ts), printed as `hubble observe` prints flows, with Hubble's filters, a
// summary at the end, and pcapng files of the dropped and forwarded packets whose comments say
// why (Wireshark shows them as packet comments). Streams: one packet in memory at a time, output
// written as it goes, so a capture of any size replays in constant memory.
//
// When some policy-map entry redirects to a proxy (a rule with HTTP parts), the proxy's part is
// played too (src/l7/replay.ts): each forwarded packet goes on to the L7 stage, whose HTTP
// request and response flows follow the packet's L3/L4 flows in every output format, pass the
// same filters and are counted in the summary. Without such an entry there is no L7 stage, so
// TCP payloads are never parsed for nothing.

import { statSync } from 'node:fs';
import type { CommandRegistrar } from '../main.js';
import { processIo, type Io } from '../io.js';
import { TwinpathError } from '../../errors.js';
import { Replayer, type PacketResult } from '../../datapath/replay.js';
import { readCapture } from '../../pcap/reader.js';
import { PcapngWriter } from '../../pcap/writer.js';
import { compileFilter, type FlowFilter } from '../../flows/filter.js';
import { flowJsonLine } from '../../flows/hubble.js';
import { l7CompactLine, l7JsonLine } from '../../l7/flow.js';
import { L7Replay } from '../../l7/replay.js';
import type { L7Output } from '../../l7/stage.js';
import { toEthernet } from '../../pcap/linktype.js';
import { compactLine, TableWriter, type RenderOptions } from '../../flows/render.js';
import { ReplaySummary } from '../../flows/summary.js';
import { dropReasonText } from '../../flows/build.js';
import { engineOption, flowFilterOf, flowOptions, flowRenderOf, inputOptions } from '../options.js';
import { loadFiles } from '../../policy/load.js';
import { compile } from '../../policy/compile.js';
import type { Cluster, Policy } from '../../policy/ast.js';
import type { CompiledPolicy } from '../../policy/model.js';

/** Captures larger than this get a progress bar (when standard error is a terminal). */
export const PROGRESS_MIN_BYTES = 8 * 1024 * 1024;
const OUTPUT_CHUNK = 64 * 1024;

export const registerReplay: CommandRegistrar = (y, ctx) =>
  y.command(
    'replay <capture>',
    'replay a capture through the datapath programs and print the flows, as hubble observe does',
    (a) =>
      flowOptions(
        engineOption(inputOptions(a).positional('capture', { type: 'string', demandOption: true, describe: 'pcap or pcapng file' }))
          .option('output', { alias: 'o', choices: ['compact', 'json', 'table', 'summary'] as const, default: 'compact' as const, describe: 'output format (summary: the summary alone)' }),
      )
        .option('write-dropped', { type: 'string', describe: 'write the dropped packets to this pcapng file, verdict and reason in each comment' })
        .option('write-forwarded', { type: 'string', describe: 'write the forwarded packets (as they left the datapath) to this pcapng file' })
        .option('type', { alias: 't', type: 'string', array: true, describe: 'show flows of this type (trace, trace:to-endpoint, trace:from-endpoint, trace:from-network, drop, policy-verdict, l7)' })
        .option('summary', { type: 'boolean', default: true, describe: 'print a summary at the end (to standard error with -o json)' }),
    async (args) => {
      const filter = bothFilters(flowFilterOf(args), compileFilter({ type: args.type }));
      const inputs = loadFiles([...args.cluster, ...args.policy]);
      const compiled = compile(inputs);
      await replay(ctx.io, {
        capture: args.capture as string,
        engine: args.engine,
        output: args.output,
        filter,
        render: flowRenderOf(args),
        summary: args.summary,
        ...(args['write-dropped'] === undefined ? {} : { writeDropped: args['write-dropped'] }),
        ...(args['write-forwarded'] === undefined ? {} : { writeForwarded: args['write-forwarded'] }),
        compiled,
        cluster: inputs.cluster,
        inputs,
      });
    },
  );

export interface ReplayCommandOptions {
  capture: string;
  compiled: Parameters<typeof Replayer.open>[0]['compiled'];
  /** The cluster the policy was compiled from: its Services are load balanced. */
  cluster?: Cluster;
  /** The parsed inputs the policy was compiled from: the L7 stage reads their HTTP rules.
   * Without them no L7 flows are made. */
  inputs?: { policies: Policy[]; cluster: Cluster };
  engine: 'vm' | 'kernel';
  output: 'compact' | 'json' | 'table' | 'summary';
  filter: FlowFilter;
  render: RenderOptions;
  summary: boolean;
  writeDropped?: string;
  writeForwarded?: string;
}

/** The command's work, callable without yargs. */
export async function replay(io: Io, o: ReplayCommandOptions): Promise<void> {
  const out = new Output(io);
  const summary = new ReplaySummary();
  const table = o.output === 'table' ? new TableWriter((t) => out.write(t), o.render) : undefined;
  const progress = Progress.forFile(io, o.capture);
  // Before anything runs: an HTTP rule the proxy would refuse is an error at its source.
  const l7 = l7Stage(o.compiled, o.inputs);
  if (l7) summary.expectL7();
  const showL7 = (l7out: L7Output) => {
    for (const n of l7out.notices) summary.addL7Notice(n);
    for (const f of l7out.flows) {
      if (!o.filter(f)) continue;
      summary.addL7Flow(f);
      if (table) table.writeL7(f);
      else if (o.output === 'json') out.write(`${l7JsonLine(f)}\n`);
      else if (o.output === 'compact') out.write(l7CompactLine(f, o.render));
    }
  };
  let lastTimeNs = 0n;
  const replayer = await Replayer.open({ compiled: o.compiled, engine: o.engine, ...(o.cluster === undefined ? {} : { cluster: o.cluster }) });
  const dropped = o.writeDropped === undefined ? undefined : openWriter(o.writeDropped);
  const forwarded = o.writeForwarded === undefined ? undefined : openWriter(o.writeForwarded);
  try {
    for await (const record of readCapture(o.capture)) {
      const r = replayer.packet(record);
      summary.addPacket(r);
      for (const f of r.flows) {
        if (!o.filter(f)) continue;
        summary.addFlow(f);
        if (table) table.write(f);
        else if (o.output === 'json') out.write(`${flowJsonLine(f)}\n`);
        else if (o.output === 'compact') out.write(compactLine(f, o.render));
      }
      if (l7) {
        // Answers reach the stage as the server sent them (before reverse NAT): the captured frame.
        const eth = r.outcome === 'forwarded' ? toEthernet(record) : undefined;
        showL7(l7.packet(r, eth && 'frame' in eth ? eth.frame : undefined));
        lastTimeNs = r.timeNs;
      }
      const writer = r.outcome === 'forwarded' ? forwarded : r.outcome === 'dropped' || r.outcome === 'consequence' ? dropped : undefined;
      if (writer && r.frame) await writer.write({ timestampNs: r.timeNs, data: r.frame, linkType: r.linkType ?? 1, comment: packetComment(r) });
      await out.drain();
      progress?.advance(record.capturedLength);
    }
    if (l7) showL7(l7.finish(lastTimeNs));
    table?.end();
    await out.drain(true);
    progress?.done();
    if (o.summary || o.output === 'summary') {
      const text = `\n${summary.format()}`;
      if (o.output === 'json') io.err(text.slice(1));
      else out.write(o.output === 'summary' ? text.slice(1) : text);
    }
  } finally {
    // On an error too: the flows of the packets before a damaged record are printed.
    table?.end();
    await out.drain(true);
    progress?.done();
    replayer.close();
    await closeAll([dropped, forwarded]);
  }
}

/** The L7 stage, when some entry of the compiled policy redirects to a proxy. */
function l7Stage(compiled: CompiledPolicy, inputs: ReplayCommandOptions['inputs']): L7Replay | undefined {
  if (!inputs || !compiled.entries.some((e) => e.proxyPort !== 0)) return undefined;
  return new L7Replay({ compiled, inputs });
}

function bothFilters(a: FlowFilter, b: FlowFilter): FlowFilter {
  return (f) => a(f) && b(f);
}

function openWriter(path: string): PcapngWriter {
  try {
    return new PcapngWriter({ path });
  } catch (e) {
    throw new TwinpathError('IO_ERROR', `cannot write: ${(e as Error).message}`, { file: path }, { cause: e });
  }
}

async function closeAll(writers: Array<PcapngWriter | undefined>): Promise<void> {
  let first: unknown;
  for (const w of writers) {
    try {
      await w?.close();
    } catch (e) {
      first ??= e;
    }
  }
  if (first !== undefined) throw first;
}

/** The pcapng comment of a written packet: what happened to it, where, and why. */
export function packetComment(r: PacketResult): string {
  const head = `twinpath: packet #${r.packet}`;
  if (r.outcome === 'forwarded') {
    const rules = new Set<string>();
    for (const f of r.flows) {
      for (const p of [...(f.flow.egress_allowed_by ?? []), ...(f.flow.ingress_allowed_by ?? [])]) rules.add(`${p.kind} ${p.namespace ? `${p.namespace}/` : ''}${p.name}`);
    }
    return `${head} FORWARDED${rules.size ? `, allowed by ${[...rules].join(', ')}` : ''}`;
  }
  const reason = r.dropReason === undefined ? '' : ` ${dropReasonText(r.dropReason)} (${r.dropReason})`;
  const at = r.droppedAt ? ` at ${r.droppedAt.direction} of ${r.droppedAt.pod ?? 'an endpoint'} (${r.droppedAt.program} on ${r.droppedAt.node})` : '';
  if (r.outcome === 'consequence') return `${head} DROPPED:${reason}: consequence of packet #${r.relatedPacket}, dropped${at}`;
  const rule = r.flows.map((f) => f.twinpath.rule).find((t) => t !== undefined);
  return `${head} DROPPED:${reason}${at}${rule ? `; rule: ${rule}` : ''}`;
}

/** Output gathered into chunks, waiting for standard output to drain when it asks to. */
class Output {
  private buf: string[] = [];
  private size = 0;

  constructor(private readonly io: Io) {}

  write(text: string): void {
    this.buf.push(text);
    this.size += text.length;
  }

  async drain(force = false): Promise<void> {
    if (!force && this.size < OUTPUT_CHUNK) return;
    if (this.size === 0) return;
    this.io.out(this.buf.join(''));
    this.buf = [];
    this.size = 0;
    if (this.io === processIo && process.stdout.writableNeedDrain) {
      await new Promise<void>((resolve) => process.stdout.once('drain', () => resolve()));
    }
  }
}

/** A one-line progress bar on standard error, for large captures on a terminal. */
class Progress {
  private seen = 0;
  private packets = 0;
  private last = 0;
  private shown = false;

  private constructor(private readonly total: number) {}

  static forFile(io: Io, file: string): Progress | undefined {
    if (io !== processIo || !process.stderr.isTTY) return undefined;
    let size: number;
    try {
      size = statSync(file).size;
    } catch {
      return undefined; // reading the capture reports the problem
    }
    return size > PROGRESS_MIN_BYTES ? new Progress(size) : undefined;
  }

  advance(bytes: number): void {
    // Each record also has a header in the file (16 bytes in pcap, 32 or more in pcapng).
    this.seen += bytes + 16;
    this.packets++;
    const now = Date.now();
    if (now - this.last < 200) return;
    this.last = now;
    const frac = Math.min(1, this.seen / this.total);
    const width = 30;
    const filled = Math.round(frac * width);
    process.stderr.write(`\r[${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${(frac * 100).toFixed(0).padStart(3)}%  ${this.packets} packets`);
    this.shown = true;
  }

  done(): void {
    if (this.shown) process.stderr.write('\r\x1b[K');
    this.shown = false;
  }
}

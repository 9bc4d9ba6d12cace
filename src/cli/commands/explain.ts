// `twinpath explain --cluster FILE... --policy FILE... (--from EP --to EP --port N --protocol P
// [--http-method M --http-path P [--http-header "N: V"]...] | --pcap FILE (--packet N | --frame N))
// [--engine vm|kernel] [--output text|json] [--trace [--trace-limit N]]`:
// one flow, why it got its verdict, and the smallest verified change that would flip it
// (src/explain); with --trace, the instructions each program run executed (VM engine only).
//
// Endpoints are as in probe: `namespace/pod`, `host`, `ip:ADDRESS`; a destination may also be a
// service, `svc:NAMESPACE/NAME[:PORT]` (its ClusterIP; --port and --protocol then default to the
// service port's). A capture packet is named by --packet, counting from 0 as `run --json` does,
// or by --frame, its number as `twinpath replay` and Wireshark print it (#1 is --packet 0). The
// capture is replayed up to it exactly as `twinpath replay` does (duplicates and the answers to
// dropped openings are not run), and the packet is explained with the replay's state.

import { readFileSync } from 'node:fs';
import type { CommandRegistrar } from '../main.js';
import { TwinpathError } from '../../errors.js';
import { loadFiles } from '../../policy/load.js';
import { readCaptureSync, toEthernet } from '../../pcap/index.js';
import { PROBE_PROTOCOLS, type ProbeProtocol } from '../../datapath/probe.js';
import { explain, formatExplanation, type FlowSpec } from '../../explain/index.js';
import { KERNEL_CANNOT_TRACE } from '../../explain/trace.js';
import { httpProblem, type ProbeHttp } from '../../l7/probe.js';
import { inputOptions } from './policy.js';

export const registerExplain: CommandRegistrar = (y, ctx) =>
  y.command(
    'explain',
    'explain one flow: the decision and where it was made, identities, conntrack, policy-map lookups, the rule, and what would change it',
    (a) =>
      inputOptions(a)
        .option('from', { type: 'string', describe: 'client: namespace/pod, host or ip:ADDRESS' })
        .option('to', { type: 'string', describe: 'server: namespace/pod, host, ip:ADDRESS (a pod, a node, a ClusterIP, ...) or svc:NAMESPACE/NAME[:PORT]' })
        .option('port', { type: 'number', describe: 'destination port (with --to svc:..., default: the service port)' })
        .option('protocol', { type: 'string', describe: `${PROBE_PROTOCOLS.join(', ')} (with --to svc:..., default: the service port's)` })
        .option('pcap', { type: 'string', describe: 'a capture (pcap or pcapng); with --packet or --frame' })
        .option('packet', { type: 'number', describe: 'the packet of --pcap to explain, counting from 0 (as run --json)' })
        .option('frame', { type: 'number', describe: 'the packet of --pcap to explain by its number in `twinpath replay` (#N, from 1)' })
        .option('engine', { choices: ['vm', 'kernel'] as const, default: 'vm' as const, describe: 'where the programs run' })
        .option('output', { alias: 'o', choices: ['text', 'json'] as const, default: 'text' as const, describe: 'output format' })
        .option('trace', { type: 'boolean', default: false, describe: 'add the executed eBPF instructions with their C source lines and register values (VM engine)' })
        .option('http-method', { type: 'string', describe: 'with --from/--to: an HTTP request on the connection: its method (for L7 rules)' })
        .option('http-path', { type: 'string', describe: 'with --http-method: the request path (and query)' })
        .option('http-header', { type: 'string', array: true, describe: 'with --http-method: a request header, "Name: value" (repeatable)' })
        .option('trace-limit', { type: 'number', describe: 'instructions kept per program run with --trace (its last ones; default 65536)' })
        .check((args) => {
          const flow = ['from', 'to', 'port', 'protocol'].filter((k) => args[k] !== undefined);
          const cap = ['pcap', 'packet', 'frame'].filter((k) => args[k] !== undefined);
          if (flow.length > 0 && cap.length > 0) throw new Error('name the flow either with --from/--to/--port/--protocol or with --pcap/--packet, not both');
          if (args.packet !== undefined && args.frame !== undefined) throw new Error('name the packet with --packet (from 0) or --frame (from 1), not both');
          if (cap.length > 0 && (args.pcap === undefined || cap.length < 2)) throw new Error('--pcap and --packet (or --frame) go together');
          const service = typeof args.to === 'string' && args.to.startsWith('svc:');
          if (cap.length === 0 && (args.from === undefined || args.to === undefined || (!service && flow.length < 4))) {
            throw new Error('name the flow with --from, --to, --port and --protocol, or with --pcap and --packet');
          }
          if (args['trace-limit'] !== undefined && !args.trace) throw new Error('--trace-limit goes with --trace');
          const http = ['http-method', 'http-path', 'http-header'].filter((k) => args[k] !== undefined);
          if (http.length > 0 && cap.length > 0) throw new Error('--http-method/--http-path/--http-header name a request on a connection (--from/--to), not a capture packet');
          if (http.length > 0 && (args['http-method'] === undefined || args['http-path'] === undefined)) throw new Error('an HTTP request needs both --http-method and --http-path');
          if (args.trace && args.engine !== 'vm') throw new Error(KERNEL_CANNOT_TRACE);
          return true;
        }),
    async (args) => {
      const spec = flowSpec(args);
      const inputs = loadFiles([...args.cluster, ...args.policy]);
      const trace = args.trace ? (args['trace-limit'] !== undefined ? { limit: args['trace-limit'] } : {}) : undefined;
      const x = await explain({ inputs, spec, engine: args.engine, ...(trace ? { trace } : {}) });
      ctx.io.out(args.output === 'json' ? `${JSON.stringify(x, null, 2)}\n` : formatExplanation(x));
    },
  );

function flowSpec(args: {
  from?: string; to?: string; port?: number; protocol?: string; pcap?: string; packet?: number; frame?: number;
  'http-method'?: string; 'http-path'?: string; 'http-header'?: string[];
}): FlowSpec {
  if (args.pcap !== undefined) {
    if (args.frame !== undefined && (!Number.isInteger(args.frame) || args.frame < 1)) {
      throw new TwinpathError('USAGE', `--frame ${args.frame} is not a packet number (1, 2, ...)`, { path: '--frame' });
    }
    const packet = args.frame !== undefined ? args.frame - 1 : args.packet!;
    if (!Number.isInteger(packet) || packet < 0) throw new TwinpathError('USAGE', `--packet ${packet} is not a packet index (0, 1, ...)`);
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(args.pcap);
    } catch (e) {
      throw new TwinpathError('IO_ERROR', `cannot read: ${(e as Error).message}`, { file: args.pcap }, { cause: e });
    }
    const records = readCaptureSync(bytes, { file: args.pcap });
    const frames = records.map((r) => {
      const eth = toEthernet(r);
      return 'frame' in eth ? eth.frame : null;
    });
    if (args.frame !== undefined && packet >= frames.length) {
      throw new TwinpathError('USAGE', `frame ${args.frame} is out of range: the capture has ${frames.length} packet${frames.length === 1 ? '' : 's'} (1..${frames.length})`, { file: args.pcap, path: '--frame' });
    }
    return { kind: 'capture', file: args.pcap, frames, index: packet, timestampsNs: records.map((r) => r.timestampNs) };
  }
  const port = args.port;
  if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65535)) throw new TwinpathError('USAGE', `--port ${port} is not an integer in 1..65535`);
  const protocol = args.protocol?.toUpperCase();
  if (protocol !== undefined && !(PROBE_PROTOCOLS as readonly string[]).includes(protocol)) {
    throw new TwinpathError('USAGE', `--protocol ${args.protocol} is not one of ${PROBE_PROTOCOLS.join(', ')}`);
  }
  const spec: FlowSpec = {
    kind: 'connection', from: args.from!, to: args.to!,
    ...(port === undefined ? {} : { port }), ...(protocol === undefined ? {} : { protocol: protocol as ProbeProtocol }),
  };
  if (args['http-method'] !== undefined) spec.http = httpOf(args['http-method'], args['http-path']!, args['http-header'] ?? []);
  return spec;
}

/** The request of --http-method/--http-path/--http-header, checked as a probe's `http` is. */
function httpOf(method: string, path: string, headers: string[]): ProbeHttp {
  const http: ProbeHttp = { method, path };
  if (headers.length > 0) {
    http.headers = {};
    for (const h of headers) {
      const colon = h.indexOf(':');
      if (colon <= 0) throw new TwinpathError('USAGE', `--http-header "${h}" is not "Name: value"`, { path: '--http-header' });
      http.headers[h.slice(0, colon).trim()] = h.slice(colon + 1).trim();
    }
  }
  const problem = httpProblem(http);
  if (problem) throw new TwinpathError('USAGE', problem[1].replace(/"http\.(\w+)"/, '--http-$1'), { path: `--http-${problem[0].split('.')[0] === 'headers' ? 'header' : problem[0]}` });
  return http;
}

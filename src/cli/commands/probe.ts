// `twinpath probe --cluster FILE... --policy FILE... --probes FILE [--engine vm|kernel|live]
// [--output json|table] [--flows]`: whether each probed connection gets through, decided by
// running its packets through the datapath programs (src/datapath/probe.ts), or, with
// `--engine live [--sandbox NAME] [--timeout MS]`, by opening the real connections in a sandbox
// with the programs attached to its nodes (src/node/live.ts). The JSON shape is
// a contract (design.md, "Command-line contracts"): the probes array, same order, each with
// `allowed` and the verdict details; fields may only be added.
//
// The probe file is a JSON array of {"from", "to", "port", "protocol"}, a TCP probe optionally
// with "http": {"method", "path", "host"?, "headers"?: {NAME: VALUE}} (its verdict is then the
// request's, when the policy redirects the connection to the L7 proxy). It is read with the
// YAML parser (JSON is YAML) for its node positions, so an error names file:line:column and the
// probe's index and field.

import { readInputText } from '../../util/files.js';
import { LineCounter, parseDocument, isMap, isScalar, isSeq, type Node as YamlNode } from 'yaml';
import type { CommandRegistrar } from '../main.js';
import { TwinpathError, type ErrorLocation } from '../../errors.js';
import { httpProblem, type ProbeHttp } from '../../l7/probe.js';
import { PROBE_PROTOCOLS, runProbes, type ProbeLocator, type ProbeResult, type ProbeSpec } from '../../datapath/probe.js';
import { inputOptions } from '../options.js';
import { loadFiles } from '../../policy/load.js';
import { compile } from '../../policy/compile.js';
import { liveProbes } from '../../node/live.js';

export const registerProbe: CommandRegistrar = (y, ctx) =>
  y.command(
    'probe',
    'probe connections between pods, nodes and outside addresses through the datapath programs',
    (a) =>
      inputOptions(a)
        .option('probes', { type: 'string', demandOption: true, describe: 'JSON array of {"from", "to", "port", "protocol"}' })
        .option('engine', { choices: ['vm', 'kernel', 'live'] as const, default: 'vm' as const, describe: 'where the programs run (live: real connections in a sandbox)' })
        .option('sandbox', { type: 'string', describe: 'with --engine live: probe in this sandbox (default: a throwaway one built from --cluster)' })
        .option('timeout', { type: 'number', describe: 'with --engine live: milliseconds a probe waits for its answer (default 1000)' })
        .option('output', { alias: 'o', choices: ['table', 'json'] as const, default: 'table' as const, describe: 'output format' })
        .option('flows', { type: 'boolean', default: false, describe: 'with --output json: include every flow event of each probe' }),
    async (args) => {
      const file = readProbeFile(args.probes);
      if (args.engine !== 'live' && (args.sandbox !== undefined || args.timeout !== undefined)) {
        throw new TwinpathError('USAGE', '--sandbox and --timeout go with --engine live');
      }
      const inputs = loadFiles([...args.cluster, ...args.policy]);
      const compiled = compile(inputs);
      const withHttp = file.probes.findIndex((p) => p.http !== undefined);
      if (args.engine === 'live' && withHttp >= 0) {
        throw new TwinpathError('USAGE', `probe ${withHttp} has an HTTP request: --engine live opens real connections without an L7 proxy; use --engine vm or kernel`, file.locate(withHttp, 'http'));
      }
      const results =
        args.engine === 'live'
          ? await liveProbes({
              compiled, cluster: inputs.cluster, clusterFiles: args.cluster, policyFiles: args.policy, probes: file.probes, locate: file.locate,
              ...(args.sandbox !== undefined ? { sandbox: args.sandbox } : {}),
              ...(args.timeout !== undefined ? { timeoutMs: args.timeout } : {}),
            })
          : await runProbes({ compiled, probes: file.probes, engine: args.engine, locate: file.locate, inputs });
      ctx.io.out(args.output === 'json' ? probesJson(results, args.flows) : probesTable(results));
    },
  );

export interface ProbeFile {
  probes: ProbeSpec[];
  locate: ProbeLocator;
}

export function readProbeFile(path: string): ProbeFile {
  return parseProbeFile(readInputText(path), path);
}

const FIELDS: Array<keyof ProbeSpec> = ['from', 'to', 'port', 'protocol', 'http'];

/** Parses and checks a probe file; every error is PROBE_BAD_FILE at the offending node. */
export function parseProbeFile(text: string, file: string): ProbeFile {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const at = (node: YamlNode | null | undefined, path: string): ErrorLocation => {
    const loc: ErrorLocation = { file, path };
    const offset = node?.range?.[0];
    if (offset !== undefined) {
      const p = lines.linePos(offset);
      loc.line = p.line;
      loc.column = p.col;
    }
    return loc;
  };
  const bad = (detail: string, loc: ErrorLocation): never => {
    throw new TwinpathError('PROBE_BAD_FILE', detail, loc);
  };
  const syntax = doc.errors[0];
  if (syntax) {
    const p = lines.linePos(syntax.pos[0]);
    bad(`not valid JSON: ${syntax.message.split('\n')[0]}`, { file, line: p.line, column: p.col });
  }
  const root = doc.contents;
  if (!isSeq(root)) return bad('a probe file is a JSON array of {"from", "to", "port", "protocol"}', at(root, '$'));
  const probes: ProbeSpec[] = [];
  const nodes: Array<Partial<Record<keyof ProbeSpec, YamlNode>> & { self: YamlNode }> = [];
  root.items.forEach((item, i) => {
    const node = item as YamlNode;
    if (!isMap(node)) bad(`probe ${i}: expected an object`, at(node, `[${i}]`));
    const m = node as unknown as { items: Array<{ key: YamlNode; value: YamlNode | null }> };
    const values: Partial<Record<keyof ProbeSpec, YamlNode>> & { self: YamlNode } = { self: node };
    for (const pair of m.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : '';
      if (!(FIELDS as string[]).includes(key)) bad(`probe ${i}: unknown field "${key}" (from, to, port, protocol, http)`, at(pair.key, `[${i}].${key}`));
      values[key as keyof ProbeSpec] = pair.value ?? pair.key;
    }
    const field = (name: keyof ProbeSpec): unknown => {
      const v = values[name];
      if (v === undefined) bad(`probe ${i}: missing "${name}"`, at(node, `[${i}]`));
      return isScalar(v) ? v.value : undefined;
    };
    const from = field('from');
    const to = field('to');
    const port = field('port');
    const protocol = field('protocol');
    for (const [name, v] of [['from', from], ['to', to]] as const) {
      if (typeof v !== 'string' || v === '') bad(`probe ${i}: "${name}" must be a string: namespace/pod, host or ip:ADDRESS`, at(values[name], `[${i}].${name}`));
    }
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
      bad(`probe ${i}: "port" must be an integer in 1..65535`, at(values.port, `[${i}].port`));
    }
    const proto = typeof protocol === 'string' ? protocol.toUpperCase() : '';
    if (!(PROBE_PROTOCOLS as readonly string[]).includes(proto)) {
      bad(`probe ${i}: "protocol" must be one of ${PROBE_PROTOCOLS.join(', ')}${proto === 'ANY' ? ' (a probe is one connection: ANY is a policy protocol)' : ''}`, at(values.protocol, `[${i}].protocol`));
    }
    const probe: ProbeSpec = { from: from as string, to: to as string, port: port as number, protocol: proto as ProbeSpec['protocol'] };
    if (values.http !== undefined) probe.http = httpField(values.http, i, proto, at, bad);
    probes.push(probe);
    nodes.push(values);
  });
  return {
    probes,
    locate: (index, field) => at(nodes[index]?.[field] ?? nodes[index]?.self, `[${index}].${field}`),
  };
}

/** A probe's "http" object, checked; an error points at the offending field inside it. */
function httpField(
  node: YamlNode,
  i: number,
  protocol: string,
  at: (node: YamlNode | null | undefined, path: string) => ErrorLocation,
  bad: (detail: string, loc: ErrorLocation) => never,
): ProbeHttp {
  const value: unknown = (node as { toJSON(): unknown }).toJSON();
  const problem = httpProblem(value);
  if (problem) {
    const [field] = problem;
    // The node of the field the problem names (headers.NAME: that header's value), else the object.
    let target: YamlNode | null | undefined = node;
    const [head, name] = field.split(/\.(.*)/s) as [string, string | undefined];
    if (head !== '' && isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === head);
      target = (pair?.value as YamlNode | null) ?? (pair?.key as YamlNode | undefined) ?? node;
      if (name !== undefined && isMap(target)) {
        const h = target.items.find((p) => isScalar(p.key) && String(p.key.value) === name);
        target = (h?.value as YamlNode | null) ?? (h?.key as YamlNode | undefined) ?? target;
      }
    }
    bad(`probe ${i}: ${problem[1]}`, at(target, `[${i}].http${field === '' ? '' : `.${field}`}`));
  }
  if (protocol !== 'TCP') bad(`probe ${i}: an HTTP request needs protocol TCP, not ${protocol}`, at(node, `[${i}].http`));
  return value as ProbeHttp;
}

/** The contract's JSON: the probes in order, each with its verdict; flows only on request. */
export function probesJson(results: ProbeResult[], flows: boolean): string {
  const out = results.map((r) => {
    const { flows: f, ...rest } = r;
    return flows ? { ...rest, flows: f } : rest;
  });
  return `${JSON.stringify(out, null, 2)}\n`;
}

/** One line per probe, aligned, for a person. */
export function probesTable(results: ProbeResult[]): string {
  // The L7 column only when some probe reached the proxy or sent a request.
  const l7 = results.some((r) => r.l7 !== undefined);
  const rows = [['FROM', 'TO', 'PORT', 'VERDICT', 'WHERE', 'REASON', 'RULE', ...(l7 ? ['L7'] : [])]];
  for (const r of results) {
    const where = r.allowed ? '' : `${r.deniedAt ?? ''}${r.reply === false ? ' (reply)' : ''}`;
    const reason = r.allowed ? '' : `${r.dropReason ?? ''}${r.dropReasonCode !== undefined ? ` (${r.dropReasonCode})` : ''}`;
    const rule = r.ruleId === undefined ? '' : `#${r.ruleId}${r.policy ? ` ${r.policy}:` : ''}${r.rule ? ` ${r.rule}` : ''}`;
    const l7Cell = r.l7 === undefined ? '' : typeof r.l7 === 'string' ? r.l7 : `${r.l7.verdict} ${r.l7.code}${r.l7.rule ? ` ${r.l7.rule}` : ''}`;
    rows.push([r.from, r.to, `${r.protocol}/${r.port}${r.http ? ` ${r.http.method} ${r.http.path}` : ''}`, r.allowed ? 'allowed' : 'denied', where, reason, rule, ...(l7 ? [l7Cell] : [])]);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
  const lines = rows.map((row) => row.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd());
  const allowed = results.filter((r) => r.allowed).length;
  lines.push('', `${allowed} of ${results.length} allowed`);
  return `${lines.join('\n')}\n`;
}

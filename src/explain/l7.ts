// The L7 part of an explanation: for a flow whose allowing policy entry carries a proxy port,
// which HTTP rules the proxy applies to it (src/l7/resolve.ts, L7Policy.rulesFor), and with a
// request (`--http-method/--http-path/--http-header`), each rule's requirements held against it
// (checkHttpRule), the request's verdict, and the smallest change that would let it through: one
// added CiliumNetworkPolicy whose HTTP rule allows exactly this method and path, for exactly this
// peer and port.
//
// The verdict and the verification come from packets, as everywhere in explain: the request's
// conversation runs as an HTTP probe (src/datapath/probe.ts) through the same engine, before and
// after the change; only a change after which the proxy forwards the request is printed.

import type { Inputs } from '../policy/ast.js';
import { parseDocuments } from '../policy/load.js';
import { compile } from '../policy/compile.js';
import type { CompiledPolicy } from '../policy/model.js';
import type { Datapath } from '../datapath/datapath.js';
import { PROG_FROM_ENDPOINT } from '../datapath/maps.js';
import { runProbes, type ProbeSpec } from '../datapath/probe.js';
import { checkHttpRule, describeHttpRule } from '../l7/policy.js';
import { L7Policy } from '../l7/resolve.js';
import { probeRequest, type ProbeHttp } from '../l7/probe.js';
import type { HttpRequest } from '../l7/http.js';
import { podName, policyLabel } from './analyze.js';
import type { L7View, Suggestion } from './model.js';
import type { StepRun } from './scenario.js';
import { distinguishingLabels, peerFor } from './suggest.js';
import { policyName, scalar, type SuggestedPeer } from './yaml.js';

const SUGGESTED_FILE = 'suggested.yaml';

interface L7Context {
  inputs: Inputs;
  compiled: CompiledPolicy;
  dp: Datapath;
  runs: StepRun[];
  /** The connection explained, with its request when one was given. */
  probe?: ProbeSpec;
}

/** The run whose entry redirected the flow to the proxy (the last on the path), if any. */
export function redirectingRun(runs: StepRun[]): StepRun | undefined {
  return [...runs].reverse().find((r) => r.verdict === 'FORWARDED' && r.event.proxyPort !== 0);
}

/** The request as the proxy's parser would hand it to the rules. */
function parsedRequest(h: ProbeHttp, server: string, port: number): HttpRequest {
  const spec = probeRequest(h, server, port);
  return {
    method: spec.method,
    target: spec.path,
    path: spec.path,
    host: spec.host,
    version: 'HTTP/1.1',
    headers: [{ name: 'Host', value: spec.host }, ...(spec.headers ?? []).map(([name, value]) => ({ name, value }))],
    body: 0,
    keepAlive: true,
    offset: 0,
  };
}

export async function explainL7(ctx: L7Context): Promise<L7View | undefined> {
  const run = redirectingRun(ctx.runs);
  if (!run) return undefined;
  const e = run.event;
  const ingress = run.program !== PROG_FROM_ENDPOINT;
  const direction = ingress ? 'ingress' : 'egress';
  const policy = new L7Policy(ctx.compiled, ctx.inputs);
  const set = policy.rulesFor({ endpointId: run.endpoint.id, direction, identity: ingress ? e.srcIdentity : e.dstIdentity, port: e.dstPort });
  const view: L7View = { proxyPort: e.proxyPort, endpoint: podName(run.endpoint), direction, rules: [] };
  const http = ctx.probe?.http;
  const request = http ? parsedRequest(http, e.dst, e.dstPort) : undefined;
  if (set) {
    if (set.allowAllBy !== undefined) {
      const r = policy.rule(set.allowAllBy);
      view.allowAllBy = { ruleId: set.allowAllBy, text: r?.text ?? '', policy: r ? policyLabel(r.policy) : '' };
    }
    for (const m of set.rules) {
      const owner = policy.rule(m.ruleId);
      const rule: L7View['rules'][number] = {
        ruleId: m.ruleId,
        policy: owner ? policyLabel(owner.policy) : '',
        index: m.index,
        http: describeHttpRule(m.rule),
        file: m.rule.src.file,
        line: m.rule.src.line,
        column: m.rule.src.column,
      };
      if (request) {
        rule.checks = checkHttpRule(m, request);
        rule.allows = rule.checks.every((c) => c.ok);
      }
      view.rules.push(rule);
    }
  }
  if (!http || !ctx.probe) return view;
  view.request = { method: http.method, path: http.path, host: request!.host, headers: Object.entries(http.headers ?? {}).map(([k, v]) => `${k}: ${v}`) };
  const before = await l7Verdict(ctx, ctx.inputs, ctx.probe);
  if (before) {
    view.verdict = before.verdict;
    view.code = before.code;
  }
  if (view.verdict === 'DROPPED') {
    const s = await allowRequest(ctx, run, http);
    if (s) view.suggestion = s;
    else view.noSuggestion = 'no single added HTTP rule verified';
  }
  return view;
}

/** The proxy's verdict on the probe's request under `inputs`, from its packets. */
async function l7Verdict(ctx: L7Context, inputs: Inputs, probe: ProbeSpec): Promise<{ verdict: 'FORWARDED' | 'DROPPED'; code: number } | undefined> {
  const compiled = inputs === ctx.inputs ? ctx.compiled : compile(inputs);
  const [r] = await runProbes({ compiled, probes: [probe], engine: ctx.dp.engine, inputs });
  return r && typeof r.l7 === 'object' ? { verdict: r.l7.verdict, code: r.l7.code } : undefined;
}

/** A regular expression that matches exactly `s` (RE2 syntax, matched whole by the proxy). */
export function literalRegex(s: string): string {
  return s.replace(/[\\.+*?()|[\]{}^$]/g, (c) => `\\${c}`);
}

async function allowRequest(ctx: L7Context, run: StepRun, http: ProbeHttp): Promise<Suggestion | undefined> {
  const e = run.event;
  const ingress = run.program !== PROG_FROM_ENDPOINT;
  const peer = peerFor(ctx.inputs, ctx.compiled, ingress ? e.src : e.dst, ingress ? e.srcIdentity : e.dstIdentity);
  if (!peer) return undefined;
  const subject = distinguishingLabels(ctx.inputs, ctx.compiled, run.endpoint);
  const taken = new Set(ctx.inputs.policies.map((p) => p.name));
  const name = policyName(`allow-http-${http.method}-${http.path.split('?')[0]}`, taken);
  const yaml = l7Yaml({ name, namespace: run.endpoint.namespace, subject, ingress, peer, port: e.dstPort, method: http.method, path: http.path });
  const added = parseDocuments([{ file: SUGGESTED_FILE, text: yaml }]);
  const next: Inputs = { ...ctx.inputs, policies: [...ctx.inputs.policies, ...added.policies] };
  const after = await l7Verdict(ctx, next, ctx.probe!);
  if (after?.verdict !== 'FORWARDED') return undefined;
  return {
    action: 'add',
    summary: `add CiliumNetworkPolicy ${run.endpoint.namespace}/${name}: allow ${http.method} ${http.path} ${ingress ? 'from' : 'to'} ${peerText(peer)} on TCP/${e.dstPort}`,
    yaml,
    verified: 'FORWARDED',
  };
}

function peerText(p: SuggestedPeer): string {
  if (p.kind === 'pods') return `pods ${Object.entries(p.labels).map(([k, v]) => `${k}=${v}`).join(',') || 'all'} in namespace ${p.namespace}`;
  if (p.kind === 'cidr') return p.cidr;
  return `entity ${p.entity}`;
}

const q = scalar;

function l7Yaml(r: { name: string; namespace: string; subject: Record<string, string>; ingress: boolean; peer: SuggestedPeer; port: number; method: string; path: string }): string {
  const from = r.ingress ? 'from' : 'to';
  const out = ['apiVersion: cilium.io/v2', 'kind: CiliumNetworkPolicy', 'metadata:', `  name: ${r.name}`, `  namespace: ${q(r.namespace)}`, 'spec:', '  endpointSelector:'];
  const keys = Object.keys(r.subject).sort();
  if (keys.length === 0) out.push('    matchLabels: {}');
  else out.push('    matchLabels:', ...keys.map((k) => `      ${q(k)}: ${q(r.subject[k]!)}`));
  out.push(`  ${r.ingress ? 'ingress' : 'egress'}:`);
  const p = r.peer;
  if (p.kind === 'entity') out.push(`    - ${from}Entities: [${p.entity}]`);
  else if (p.kind === 'cidr') out.push(`    - ${from}CIDR: [${q(p.cidr)}]`);
  else {
    out.push(`    - ${from}Endpoints:`, '        - matchLabels:', `            k8s:io.kubernetes.pod.namespace: ${q(p.namespace)}`);
    // Cilium reads pod labels with their source prefix, as the L3/L4 suggestions write them.
    for (const k of Object.keys(p.labels).sort()) out.push(`            k8s:${k}: ${q(p.labels[k]!)}`);
  }
  out.push(
    '      toPorts:',
    '        - ports:',
    `            - port: "${r.port}"`,
    '              protocol: TCP',
    '          rules:',
    '            http:',
    `              - method: ${q(literalRegex(r.method))}`,
    `                path: ${q(literalRegex(r.path))}`,
  );
  return `${out.join('\n')}\n`;
}

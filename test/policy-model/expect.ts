// The compact expectation language of the conformance-model suite, and its expansion into full
// truth tables. A case's expect.yaml states a default verdict for the whole pod matrix and then
// rules applied in order, each overriding what came before, the way the upstream netpol e2e
// `Reachability` helper is driven (NewReachability(default), ExpectPeer, ExpectAllIngress, ...):
//
//   default: allow
//   matrix:
//     - deny * -> x/a                  # everything into x/a
//     - allow y/* -> x/a on TCP/80     # ...except namespace y on TCP port 80
//   probes:                            # endpoints outside the pod matrix, each line its own verdict
//     - allow host -> x/a
//     - deny ip:198.51.100.10 -> x/a on TCP/80,UDP/80
//
// Rule:      (allow|deny) FROM -> TO [on SPEC[,SPEC...]]
// FROM, TO:  comma-separated patterns: `*` (every pod), `x/*` (namespace x), `*/a` (pod a in every
//            namespace), `x/a`; TO may be `self` (each FROM pod to itself). In `probes` also
//            `host` and `ip:ADDRESS`.
// SPEC:      PROTOCOL/PORT with either side `*`: TCP/80, UDP/*, */81. Without `on`: every port
//            and protocol of the model.
//
// Nothing here knows about engines: the expansion yields plain probes and booleans, so the same
// data drives the VM, the kernel, and live sockets.

import { isIP } from 'node:net';
import { LineCounter, parseDocument, isMap, isSeq, isScalar } from 'yaml';
import type { Node as YamlNode } from 'yaml';

export type Protocol = 'TCP' | 'UDP' | 'SCTP';
export const PROTOCOLS: readonly Protocol[] = ['TCP', 'UDP', 'SCTP'];
export const PORTS: readonly number[] = [80, 81];

export interface Probe {
  from: string;
  to: string;
  port: number;
  protocol: Protocol;
}

export interface ExpectedProbe extends Probe {
  allowed: boolean;
}

/** Where a rule was written, for messages that point back at the data. */
export interface RuleSource {
  file: string;
  line: number;
}

export interface Rule {
  allowed: boolean;
  from: string[];
  /** Patterns, or the single pattern `self`. */
  to: string[];
  /** Protocol/port pairs, `*` meaning every one of the model. */
  specs: Array<{ protocol: Protocol | '*'; port: number | '*' }>;
  text: string;
  src: RuleSource;
}

export interface CaseExpectation {
  description: string;
  /** Where the expectation comes from: an upstream test name, a documentation page. */
  reference: string[];
  defaultAllowed: boolean;
  matrix: Rule[];
  probes: Rule[];
  file: string;
}

/** The pods of the model and the port/protocol grid every case is probed on. */
export interface Model {
  pods: string[];
  ports: readonly number[];
  protocols: readonly Protocol[];
}

export class ExpectationError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    detail: string,
  ) {
    super(`${file}:${line}: ${detail}`);
    this.name = 'ExpectationError';
  }
}

const RULE_RE = /^(allow|deny)\s+(\S+)\s*->\s*(\S+)(?:\s+on\s+(\S+))?$/;
const POD_RE = /^(\*|[a-z0-9]([-a-z0-9]*[a-z0-9])?)\/(\*|[a-z0-9]([-a-z0-9]*[a-z0-9])?)$/;

/** Parses one rule line. `external` allows `host` and `ip:ADDRESS` endpoints (the probes list). */
export function parseRule(text: string, src: RuleSource, external: boolean): Rule {
  const m = RULE_RE.exec(text.trim());
  if (!m) {
    throw new ExpectationError(src.file, src.line, `not a rule: "${text}" (want "allow|deny FROM -> TO [on PROTO/PORT,...]")`);
  }
  const [, verdict, fromText, toText, onText] = m;
  const from = fromText.split(',');
  const to = toText.split(',');
  for (const p of from) checkPattern(p, src, external, false);
  if (to.includes('self')) {
    if (to.length !== 1) throw new ExpectationError(src.file, src.line, '`self` must be the only destination');
    for (const p of from) {
      if (!POD_RE.test(p) && p !== '*') throw new ExpectationError(src.file, src.line, `\`self\` needs pod sources, got "${p}"`);
    }
  } else {
    for (const p of to) checkPattern(p, src, external, true);
  }
  const specs: Rule['specs'] = [];
  if (onText === undefined) {
    specs.push({ protocol: '*', port: '*' });
  } else {
    for (const s of onText.split(',')) specs.push(parseSpec(s, src));
  }
  return { allowed: verdict === 'allow', from, to, specs, text: text.trim(), src };
}

function checkPattern(p: string, src: RuleSource, external: boolean, isTo: boolean): void {
  if (p === '*' || POD_RE.test(p)) return;
  if (p === 'self' && isTo) return;
  if (external && p === 'host') return;
  if (external && p.startsWith('ip:') && isIP(p.slice(3)) !== 0) return;
  const hint = external ? '`*`, `ns/pod` with `*` wildcards, `host` or `ip:ADDRESS`' : '`*` or `ns/pod` with `*` wildcards';
  throw new ExpectationError(src.file, src.line, `bad endpoint pattern "${p}" (want ${hint})`);
}

function parseSpec(s: string, src: RuleSource): Rule['specs'][number] {
  const m = /^(TCP|UDP|SCTP|\*)\/(\*|\d+)$/.exec(s);
  if (!m) throw new ExpectationError(src.file, src.line, `bad port spec "${s}" (want PROTO/PORT, e.g. TCP/80, UDP/*, */81)`);
  const port = m[2] === '*' ? '*' : Number(m[2]);
  if (port !== '*' && (port < 1 || port > 65535)) throw new ExpectationError(src.file, src.line, `port out of range in "${s}"`);
  return { protocol: m[1] as Protocol | '*', port };
}

function patternMatches(pattern: string, endpoint: string): boolean {
  if (pattern === '*') return endpoint.includes('/');
  if (!pattern.includes('/') || !endpoint.includes('/')) return pattern === endpoint;
  const [pn, pp] = pattern.split('/');
  const [en, ep] = endpoint.split('/');
  return (pn === '*' || pn === en) && (pp === '*' || pp === ep);
}

function ruleMatches(rule: Rule, probe: Probe): boolean {
  if (!rule.from.some((p) => patternMatches(p, probe.from))) return false;
  if (rule.to[0] === 'self') {
    if (probe.from !== probe.to) return false;
  } else if (!rule.to.some((p) => patternMatches(p, probe.to))) {
    return false;
  }
  return rule.specs.some(
    (s) => (s.protocol === '*' || s.protocol === probe.protocol) && (s.port === '*' || s.port === probe.port),
  );
}

/** Every pod pair of the model on every port and protocol, in a fixed order: protocol, port,
 * then rows (from) and columns (to) in the model's pod order. */
export function matrixProbes(model: Model): Probe[] {
  const out: Probe[] = [];
  for (const protocol of model.protocols) {
    for (const port of model.ports) {
      for (const from of model.pods) {
        for (const to of model.pods) out.push({ from, to, port, protocol });
      }
    }
  }
  return out;
}

/** The full matrix truth table: the default, then each rule in order over the cells it names. */
export function expandMatrix(exp: CaseExpectation, model: Model): ExpectedProbe[] {
  const probes = matrixProbes(model).map((p) => ({ ...p, allowed: exp.defaultAllowed }));
  for (const rule of exp.matrix) {
    let hit = false;
    for (const p of probes) {
      if (ruleMatches(rule, p)) {
        p.allowed = rule.allowed;
        hit = true;
      }
    }
    // A rule that names nothing is a typo in the data, not a statement about the policy.
    if (!hit) throw new ExpectationError(rule.src.file, rule.src.line, `rule matches no probe of the model: "${rule.text}"`);
  }
  return probes;
}

/** The explicit probes: each rule expands to the endpoints and ports it names (patterns over the
 * model's pods; `host` and `ip:` literally); a later line overrides an earlier one for the same probe. */
export function expandProbes(exp: CaseExpectation, model: Model): ExpectedProbe[] {
  const byKey = new Map<string, ExpectedProbe>();
  const endpoints = (patterns: string[]): string[] => {
    const out: string[] = [];
    for (const p of patterns) {
      if (p === 'host' || p.startsWith('ip:')) out.push(p);
      else for (const pod of model.pods) if (patternMatches(p, pod)) out.push(pod);
    }
    return out;
  };
  for (const rule of exp.probes) {
    const froms = endpoints(rule.from);
    const tos = rule.to[0] === 'self' ? null : endpoints(rule.to);
    let hit = false;
    for (const protocol of model.protocols) {
      for (const port of model.ports) {
        for (const from of froms) {
          for (const to of tos ?? [from]) {
            const probe: Probe = { from, to, port, protocol };
            if (!ruleMatches(rule, probe)) continue;
            if (!from.includes('/') && !to.includes('/')) {
              throw new ExpectationError(rule.src.file, rule.src.line, `a probe needs a pod at one end: "${rule.text}"`);
            }
            byKey.set(probeKey(probe), { ...probe, allowed: rule.allowed });
            hit = true;
          }
        }
      }
    }
    if (!hit) throw new ExpectationError(rule.src.file, rule.src.line, `rule matches no probe of the model: "${rule.text}"`);
  }
  return [...byKey.values()];
}

export function probeKey(p: Probe): string {
  return `${p.protocol}/${p.port} ${p.from} -> ${p.to}`;
}

/** Reads an expect.yaml text. Unknown keys are errors, so a misspelt `matrx:` cannot pass silently. */
export function parseExpectation(text: string, file: string): CaseExpectation {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false });
  const lineOf = (node: YamlNode | null | undefined): number => (node?.range ? lc.linePos(node.range[0]).line : 1);
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    throw new ExpectationError(file, lc.linePos(e.pos[0]).line, `YAML: ${e.message.split('\n')[0]}`);
  }
  const root = doc.contents;
  if (!isMap(root)) throw new ExpectationError(file, lineOf(root), 'expected a mapping at the top');
  const allowedKeys = new Set(['description', 'reference', 'default', 'matrix', 'probes']);
  const get = (key: string) => root.items.find((p) => isScalar(p.key) && p.key.value === key);
  for (const pair of root.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : '?';
    if (!allowedKeys.has(key)) throw new ExpectationError(file, lineOf(pair.key as YamlNode), `unknown key "${key}"`);
  }
  const scalarString = (key: string, required: boolean): string | undefined => {
    const pair = get(key);
    if (!pair) {
      if (required) throw new ExpectationError(file, 1, `missing "${key}"`);
      return undefined;
    }
    const v = pair.value;
    if (!isScalar(v) || typeof v.value !== 'string' || v.value.trim() === '') {
      throw new ExpectationError(file, lineOf((v ?? pair.key) as YamlNode), `"${key}" must be a non-empty string`);
    }
    return v.value;
  };
  const description = scalarString('description', true)!;
  const defaultText = scalarString('default', true)!;
  if (defaultText !== 'allow' && defaultText !== 'deny') {
    throw new ExpectationError(file, lineOf(get('default')!.value as YamlNode), '"default" must be allow or deny');
  }
  const refPair = get('reference');
  const reference: string[] = [];
  if (refPair) {
    const v = refPair.value;
    if (isScalar(v) && typeof v.value === 'string') reference.push(v.value);
    else if (isSeq(v) && v.items.every((i) => isScalar(i) && typeof i.value === 'string')) {
      for (const i of v.items) reference.push(String((i as { value: string }).value));
    } else throw new ExpectationError(file, lineOf(v as YamlNode), '"reference" must be a string or a list of strings');
  }
  if (reference.length === 0) throw new ExpectationError(file, 1, 'missing "reference": say where the expectation comes from');
  const rules = (key: string, external: boolean): Rule[] => {
    const pair = get(key);
    if (!pair || pair.value === null) return [];
    const v = pair.value;
    if (!isSeq(v)) throw new ExpectationError(file, lineOf(v as YamlNode), `"${key}" must be a list of rule strings`);
    return v.items.map((item) => {
      const line = lineOf(item as YamlNode);
      if (!isScalar(item) || typeof item.value !== 'string') throw new ExpectationError(file, line, `"${key}" items must be rule strings`);
      return parseRule(item.value, { file, line }, external);
    });
  };
  return {
    description,
    reference,
    defaultAllowed: defaultText === 'allow',
    matrix: rules('matrix', false),
    probes: rules('probes', true),
    file,
  };
}

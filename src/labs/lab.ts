// A lab's definition: `labs/NN-slug/lab.yaml` read into a plain Lab, validated as the policy
// loader validates its input (unknown fields refused, every refusal a LAB_BAD_FILE with file,
// line, column and path). What a check does with a Lab lives in check*.ts; this module only
// knows the shape.
//
// A lab.yaml:
//   number, slug, title        the lab's place and name (must match its directory, NN-slug)
//   kind                       policy (policies replayed through the endpoint datapath), l7 (the
//                              same, with the L7 proxy judging redirected HTTP requests), xdp
//                              (the learner's own XDP program), services (the learner edits
//                              cluster objects, the replay load balances the cluster's Services)
//                              or bench (the learner answers questions about a measurement)
//   needs                      what it needs beyond Node: kernel, root, clang, l7, lb
//   engines                    where CI checks it: [vm] or [vm, kernel]
//   cluster, traffic           the cluster YAML and the traffic spec (its capture sits beside it,
//                              same name, .pcap); paths relative to the lab directory
//   identityLabels             (policy) the working file that restricts identity-relevant labels
//   source, program            (xdp) the learner's C file and the program in it
//   answers                    (bench) the learner's answers file, in start/ and solution/
//   tasks                      each: id, title, hints (2-3, gentle to explicit), expect,
//                              mustStayBlocked, noUnexpectedDrops, measure, backends (services);
//                              a bench lab's tasks are its checker's questions, by id

import { existsSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { ErrorLocation } from '../errors.js';
import { DROP_REASON_DESC } from '../flows/hubble.js';
import { LabNode, readLabFile } from './yamlfile.js';

export const LAB_KINDS = ['policy', 'xdp', 'l7', 'services', 'bench'] as const;
export type LabKind = (typeof LAB_KINDS)[number];

/** What a lab may need beyond Node. l7 and lb are for labs whose checks need those parts. */
export const LAB_NEEDS = ['kernel', 'root', 'clang', 'l7', 'lb'] as const;
export type LabNeed = (typeof LAB_NEEDS)[number];

export const LAB_ENGINES = ['vm', 'kernel'] as const;
export type LabEngine = (typeof LAB_ENGINES)[number];

export const VERDICTS = ['FORWARDED', 'DROPPED'] as const;
export const XDP_ACTIONS = ['XDP_ABORTED', 'XDP_DROP', 'XDP_PASS', 'XDP_TX', 'XDP_REDIRECT'] as const;
export type XdpAction = (typeof XDP_ACTIONS)[number];

/** Which traffic an expectation is about: a named flow of the traffic spec, or the flows that
 * match every given field, or one packet (counted from 1, as Wireshark and replay count). */
export interface FlowSelector {
  flow?: string;
  from?: string;
  to?: string;
  port?: number;
  protocol?: string;
  packet?: number;
  at: ErrorLocation;
}

export interface Expectation {
  select: FlowSelector;
  verdict?: (typeof VERDICTS)[number];
  /** Cilium's number (133, 181). */
  dropReason?: number;
  /** The policy that decided: its name (or namespace/name), or `default-deny`. */
  rule?: string;
  /** xdp labs: the program's action on every packet of the flow. */
  action?: XdpAction;
  /** services labs: the pod the flow's requests were translated to (DNAT). */
  backend?: string;
  /** services labs: whether the flow's backend differs from the one the capture recorded. */
  moved?: boolean;
  /** services labs: every request left translated from the frontend to the backend (true), or none did. */
  dnat?: boolean;
  /** services labs: every reply reached the client from the frontend again (true), or none did. */
  revNat?: boolean;
  at: ErrorLocation;
}

/** services labs: where the connections to a service went, over every flow with a recorded backend. */
export interface BackendsCheck {
  /** Pods no connection may reach. */
  notTo: string[];
  /** How many flows must have moved from their recorded backend, and how many kept it. */
  moved?: number;
  kept?: number;
  at: ErrorLocation;
}

export interface Measure {
  /** The largest number of policy-map entries of any endpoint in one direction. */
  maxEntriesPerEndpoint?: number;
  /** How many identities the cluster's pods may make, at most. */
  maxIdentities?: number;
  at: ErrorLocation;
}

export interface Task {
  id: string;
  title: string;
  hints: string[];
  expect: Expectation[];
  /** Traffic the task says must stay blocked: a policy that lets it through is over-broad. */
  mustStayBlocked: FlowSelector[];
  /** Every dropped packet must be one some expectation of the lab expects dropped. */
  noUnexpectedDrops: boolean;
  measure?: Measure;
  backends?: BackendsCheck;
  at: ErrorLocation;
}

export interface Lab {
  number: number;
  slug: string;
  title: string;
  kind: LabKind;
  needs: LabNeed[];
  engines: LabEngine[];
  /** The lab's directory and its lab.yaml. */
  dir: string;
  file: string;
  cluster?: string;
  /** The traffic spec (JSON); the capture is the same path with .pcap. Every kind but bench. */
  traffic?: string;
  identityLabels?: string;
  source?: string;
  program?: string;
  /** bench: the answers file's name in the working directory. */
  answers?: string;
  tasks: Task[];
}

/** The directory name of a lab: `01-star-wars`. */
export function labDirName(number: number, slug: string): string {
  return `${String(number).padStart(2, '0')}-${slug}`;
}

const DROP_REASON_BY_NAME = new Map(Object.entries(DROP_REASON_DESC).map(([n, name]) => [name, Number(n)]));

const LAB_FIELDS = ['number', 'slug', 'title', 'kind', 'needs', 'engines', 'cluster', 'traffic', 'identityLabels', 'source', 'program', 'answers', 'tasks'] as const;
const TASK_FIELDS = ['id', 'title', 'hints', 'expect', 'mustStayBlocked', 'noUnexpectedDrops', 'measure', 'backends'] as const;
const SELECTOR_FIELDS = ['flow', 'from', 'to', 'port', 'protocol', 'packet'] as const;
const SERVICE_FIELDS = ['backend', 'moved', 'dnat', 'revNat'] as const;
const EXPECT_FIELDS = [...SELECTOR_FIELDS, 'verdict', 'dropReason', 'rule', 'action', ...SERVICE_FIELDS] as const;
const MEASURE_FIELDS = ['maxEntriesPerEndpoint', 'maxIdentities'] as const;
const BACKENDS_FIELDS = ['notTo', 'moved', 'kept'] as const;
/** Which fields belong to which kinds (the others refuse them, naming where they belong). */
const ONLY_FOR: Record<string, { kinds: LabKind[]; say: string }> = {
  cluster: { kinds: ['policy', 'l7', 'services'], say: 'policy, l7 and services labs' },
  identityLabels: { kinds: ['policy'], say: 'policy labs' },
  source: { kinds: ['xdp'], say: 'xdp labs' },
  program: { kinds: ['xdp'], say: 'xdp labs' },
  answers: { kinds: ['bench'], say: 'bench labs' },
  traffic: { kinds: ['policy', 'l7', 'services', 'xdp'], say: 'labs that replay traffic (bench labs measure instead)' },
};
const PROTOCOLS = ['TCP', 'UDP', 'SCTP', 'ICMP', 'ICMPv6'] as const;

/** Reads and checks `dir/lab.yaml`. Files it names must exist in the lab directory. */
export function loadLab(dir: string): Lab {
  const file = join(dir, 'lab.yaml');
  const root = readLabFile(file);
  const f = root.fields(LAB_FIELDS);
  const get = (k: (typeof LAB_FIELDS)[number]) => LabNode.field(f, root, k);
  const number = get('number').int(1, 99);
  const slugNode = get('slug');
  const slug = slugNode.string();
  if (!/^[a-z0-9]+(-[a-z0-9]+)*$/.test(slug)) slugNode.fail('a slug is lowercase words joined by "-"');
  if (basename(dir) !== labDirName(number, slug)) slugNode.fail(`the lab's directory must be named ${labDirName(number, slug)} (it is ${basename(dir)})`);
  const kind = get('kind').oneOf(LAB_KINDS);
  const lab: Lab = {
    number,
    slug,
    title: get('title').string(),
    kind,
    needs: get('needs').missing ? [] : unique(get('needs').seq().map((n) => n.oneOf(LAB_NEEDS)), get('needs')),
    engines: get('engines').missing ? ['vm'] : unique(get('engines').seq().map((n) => n.oneOf(LAB_ENGINES)), get('engines')),
    dir,
    file,
    tasks: [],
  };
  for (const [k, only] of Object.entries(ONLY_FOR)) {
    const n = get(k as (typeof LAB_FIELDS)[number]);
    if (!n.missing && !only.kinds.includes(kind)) n.fail(`"${k}" belongs to ${only.say}`);
  }
  // Policy, l7 and services labs replay traffic against a cluster; xdp labs run the learner's
  // program on traffic; bench labs have neither.
  if (kind !== 'bench') lab.traffic = labPath(dir, get('traffic').required());
  if (kind === 'policy' || kind === 'l7' || kind === 'services') {
    lab.cluster = labPath(dir, get('cluster').required());
    if (!get('identityLabels').missing) lab.identityLabels = get('identityLabels').string();
  } else if (kind === 'xdp') {
    lab.source = get('source').string();
    lab.program = get('program').string();
  } else {
    lab.answers = workingFileName(get('answers').required());
  }
  if (lab.traffic !== undefined && !existsSync(capturePath(lab.traffic))) get('traffic').fail(`the capture ${basename(lab.traffic, '.json')}.pcap is missing: run scripts/gen-lab-captures.mjs`);
  for (const sub of ['start', 'solution']) {
    const p = join(dir, sub);
    if (!existsSync(p) || !statSync(p).isDirectory()) root.fail(`a lab needs a ${sub}/ directory beside lab.yaml`);
    if (lab.answers !== undefined && !existsSync(join(p, lab.answers))) get('answers').fail(`${sub}/${lab.answers} does not exist`);
  }
  const tasks = get('tasks').required().seq();
  if (tasks.length === 0) get('tasks').fail('a lab has at least one task');
  const ids = new Set<string>();
  for (const t of tasks) {
    const task = readTask(t, kind);
    if (ids.has(task.id)) t.fail(`task id "${task.id}" is used twice`);
    ids.add(task.id);
    lab.tasks.push(task);
  }
  return lab;
}

/** The capture beside a traffic spec: the same path with .pcap. */
export function capturePath(traffic: string): string {
  return `${traffic.slice(0, -'.json'.length)}.pcap`;
}

/** A file name in the learner's working directory (no directories: the check reads it there). */
function workingFileName(n: LabNode): string {
  const name = n.string();
  if (name.includes('/') || name.startsWith('.')) n.fail('a file name in the working directory (no "/", not hidden)');
  return name;
}

function unique<T>(list: T[], at: LabNode): T[] {
  if (new Set(list).size !== list.length) at.fail('an entry is listed twice');
  return list;
}

function labPath(dir: string, n: LabNode): string {
  const rel = n.string();
  if (rel.startsWith('/') || rel.split('/').includes('..')) n.fail('a path inside the lab directory');
  const p = join(dir, rel);
  if (!existsSync(p)) n.fail(`${rel} does not exist in the lab directory`);
  if (n.path === 'traffic' && !rel.endsWith('.json')) n.fail('the traffic spec is a .json file (its capture is the .pcap beside it)');
  return p;
}

function readTask(n: LabNode, kind: LabKind): Task {
  const f = n.fields(TASK_FIELDS);
  const get = (k: (typeof TASK_FIELDS)[number]) => LabNode.field(f, n, k);
  const idNode = get('id');
  const id = idNode.string();
  if (!/^[a-z0-9]+(-[a-z0-9]+)*$/.test(id)) idNode.fail('a task id is lowercase words joined by "-"');
  const hints = get('hints').required().seq().map((h) => h.string());
  if (hints.length < 2 || hints.length > 3) get('hints').fail('a task has two or three hints, from gentle to explicit');
  const task: Task = {
    id,
    title: get('title').string(),
    hints,
    expect: get('expect').missing ? [] : get('expect').seq().map((e) => readExpectation(e, kind)),
    mustStayBlocked: get('mustStayBlocked').missing ? [] : get('mustStayBlocked').seq().map((s) => readSelector(s, s.fields(SELECTOR_FIELDS))),
    noUnexpectedDrops: get('noUnexpectedDrops').missing ? false : get('noUnexpectedDrops').bool(),
    at: n.location(),
  };
  if (kind === 'xdp' && (task.mustStayBlocked.length > 0 || task.noUnexpectedDrops)) n.fail('mustStayBlocked and noUnexpectedDrops are for policy labs');
  if (kind === 'bench') {
    // A bench lab's task is the question of the same id: it checks an answer, nothing else.
    for (const k of ['expect', 'mustStayBlocked', 'noUnexpectedDrops', 'measure', 'backends'] as const) {
      if (!get(k).missing) get(k).fail(`"${k}" is not for bench labs: a bench task is judged by the answer of the same id`);
    }
    return task;
  }
  if (!get('backends').missing) {
    if (kind !== 'services') get('backends').fail('backends is for services labs');
    task.backends = readBackends(get('backends'));
  }
  if (!get('measure').missing) {
    if (kind !== 'policy') get('measure').fail('measure is for policy labs');
    const m = get('measure');
    const mf = m.fields(MEASURE_FIELDS);
    const measure: Measure = { at: m.location() };
    if (mf.has('maxEntriesPerEndpoint')) measure.maxEntriesPerEndpoint = mf.get('maxEntriesPerEndpoint')!.int(1, 1 << 24);
    if (mf.has('maxIdentities')) measure.maxIdentities = mf.get('maxIdentities')!.int(1, 1 << 24);
    if (mf.size === 0) m.fail(`name a measure: ${MEASURE_FIELDS.join(', ')}`);
    task.measure = measure;
  }
  if (task.expect.length === 0 && task.mustStayBlocked.length === 0 && !task.noUnexpectedDrops && !task.measure && !task.backends) {
    n.fail(`a task checks something: expect, mustStayBlocked, noUnexpectedDrops${kind === 'services' ? ', backends' : ''} or measure`);
  }
  return task;
}

function readBackends(n: LabNode): BackendsCheck {
  const f = n.fields(BACKENDS_FIELDS);
  const b: BackendsCheck = { notTo: [], at: n.location() };
  if (f.has('notTo')) b.notTo = unique(f.get('notTo')!.seq().map((p) => pod(p)), f.get('notTo')!);
  if (f.has('moved')) b.moved = f.get('moved')!.int(0, 1 << 20);
  if (f.has('kept')) b.kept = f.get('kept')!.int(0, 1 << 20);
  if (f.size === 0) n.fail(`name a check: ${BACKENDS_FIELDS.join(', ')}`);
  return b;
}

function pod(n: LabNode): string {
  const v = n.string();
  if (!/^[a-z0-9.-]+\/[a-z0-9.-]+$/.test(v)) n.fail('a pod is named namespace/pod');
  return v;
}

function readSelector(n: LabNode, f: Map<string, LabNode>): FlowSelector {
  const s: FlowSelector = { at: n.location() };
  if (f.has('flow')) s.flow = f.get('flow')!.string();
  if (f.has('from')) s.from = f.get('from')!.string();
  if (f.has('to')) s.to = f.get('to')!.string();
  if (f.has('port')) s.port = f.get('port')!.int(0, 65535);
  if (f.has('protocol')) s.protocol = f.get('protocol')!.oneOf(PROTOCOLS);
  if (f.has('packet')) s.packet = f.get('packet')!.int(1, 1 << 30);
  if (s.flow === undefined && s.packet === undefined && s.from === undefined && s.to === undefined) {
    n.fail('select traffic by flow, packet, or from/to (with port and protocol)');
  }
  return s;
}

function readExpectation(n: LabNode, kind: LabKind): Expectation {
  const f = n.fields(EXPECT_FIELDS);
  const e: Expectation = { select: readSelector(n, f), at: n.location() };
  if (kind !== 'services') for (const k of SERVICE_FIELDS) if (f.has(k)) f.get(k)!.fail(`"${k}" is for services labs`);
  if (kind !== 'xdp') {
    if (f.has('action')) f.get('action')!.fail('"action" is for xdp labs; policy labs expect a verdict');
    // A services lab may expect only where a flow went; every other kind expects a verdict.
    if (kind !== 'services' || f.has('verdict')) e.verdict = LabNode.field(f, n, 'verdict').oneOf(VERDICTS);
    if (f.has('dropReason')) {
      const d = f.get('dropReason')!;
      const text = d.text();
      const reason = /^\d+$/.test(text) ? Number(text) : DROP_REASON_BY_NAME.get(text);
      if (reason === undefined || DROP_REASON_DESC[reason] === undefined) d.fail(`"${text}" is not a drop reason (a number such as 133, or a name such as POLICY_DENIED)`);
      if (e.verdict !== 'DROPPED') d.fail('a drop reason goes with verdict DROPPED');
      e.dropReason = reason;
    }
    if (f.has('rule')) e.rule = f.get('rule')!.string();
    if (f.has('backend')) e.backend = pod(f.get('backend')!);
    if (f.has('moved')) e.moved = f.get('moved')!.bool();
    if (f.has('dnat')) e.dnat = f.get('dnat')!.bool();
    if (f.has('revNat')) e.revNat = f.get('revNat')!.bool();
    if (kind === 'services' && [e.verdict, e.backend, e.moved, e.dnat, e.revNat].every((x) => x === undefined)) {
      n.fail(`expect something of the flow: verdict, ${SERVICE_FIELDS.join(', ')}`);
    }
    if ((e.backend !== undefined || e.dnat === true || e.revNat === true) && e.verdict === 'DROPPED') n.fail('a dropped flow reaches no backend');
  } else {
    for (const k of ['verdict', 'dropReason', 'rule']) if (f.has(k)) f.get(k)!.fail(`"${k}" is for policy labs; xdp labs expect an action`);
    e.action = LabNode.field(f, n, 'action').oneOf(XDP_ACTIONS);
  }
  return e;
}

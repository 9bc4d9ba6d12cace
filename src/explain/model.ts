// The explanation of one flow as plain data: what `explain --output json` prints and what the
// text renderer reads. Field names are a contract for scripts: add fields, do not rename.

import type { EngineKind } from '../engine/engine.js';
import type { Direction } from '../policy/model.js';

export interface Explanation {
  engine: EngineKind;
  flow: FlowView;
  decision: Decision;
  source: SideView;
  destination: SideView;
  /** Every endpoint program the packet went through, in order, up to the one that decided. */
  programs: ProgramView[];
  loadBalancing: LoadBalancingView;
  /** The rule behind the decision, when a rule decided (not for default deny or rule 0). */
  rule?: RuleView;
  /** Why nothing allowed it: the policies that isolate the dropping endpoint in that direction. */
  defaultDeny?: DefaultDenyView;
  suggestions: Suggestion[];
  /** Why there is no suggestion, when there is none. */
  noSuggestion?: string;
  /** With --trace: the instructions each program run of `programs` executed, in the same order. */
  trace?: ProgramTraceView[];
  /** A packet of a capture: what the replay made of it and of the packets before it. */
  replay?: ReplayView;
  /** When the allowing entry redirects the flow to the L7 proxy: the HTTP rules that apply and,
   * with a request, how each holds against it, its verdict and the change that would allow it. */
  l7?: L7View;
}

export interface L7View {
  proxyPort: number;
  /** The endpoint whose policy redirects, and its direction. */
  endpoint: string;
  direction: Direction;
  /** The HTTP rules that may allow a request (any one suffices), in rule order. */
  rules: HttpRuleView[];
  /** An allowing rule without HTTP parts for the same traffic: every request passes. */
  allowAllBy?: { ruleId: number; policy: string; text: string };
  /** The request given (`--http-method`, `--http-path`, `--http-header`). */
  request?: { method: string; path: string; host: string; headers: string[] };
  /** The proxy's verdict on the request, from its packets, and the status the client got. */
  verdict?: 'FORWARDED' | 'DROPPED';
  code?: number;
  /** For a refused request: one added rule that allows it, verified. */
  suggestion?: Suggestion;
  noSuggestion?: string;
}

export interface HttpRuleView {
  ruleId: number;
  policy: string;
  /** Its position among the rule's HTTP rules (`http[0]`). */
  index: number;
  /** `method=POST path=/v1/request-landing`. */
  http: string;
  file: string;
  line: number;
  column: number;
  /** With a request: each requirement against it, and whether all hold. */
  checks?: Array<{ field: 'method' | 'path' | 'host' | 'header'; expected: string; actual: string | undefined; ok: boolean }>;
  allows?: boolean;
}

export interface FlowView {
  /** How the flow was named: `y/a -> x/a TCP/80`, or `capture.pcap packet 3`. */
  given: string;
  family: 4 | 6;
  src: string;
  dst: string;
  protocol: string;
  srcPort: number;
  dstPort: number;
  tcpFlags?: string;
  icmpType?: number;
  icmpCode?: number;
  /** Packets of the capture before this one that the replay ran through the programs
   * (duplicates, consequences of drops and packets no program sees are not run: see `replay`). */
  replayedBefore?: number;
}

export interface Decision {
  /** UNHANDLED: a capture packet no endpoint program sees (the replay runs none for it). */
  verdict: 'FORWARDED' | 'DROPPED' | 'UNHANDLED';
  program: string;
  node: string;
  /** `egress of x/a` (from_container) or `ingress of y/b` (to_container). */
  where: string;
  endpoint: string;
  /** Absent only for UNHANDLED. */
  direction?: Direction;
  dropReason?: number;
  dropReasonName?: string;
}

export interface SideView {
  address: string;
  identity: number;
  labels: string[];
  /** When the address is a pod's. */
  pod?: { namespace: string; name: string; endpointId: number; node: string };
  /** When it is not: the longest ipcache prefix that holds it on the deciding node, or null
   * (no entry: world). */
  ipcache?: { prefix: string; identity: number } | null;
  /** When it is a service frontend the packet was dropped at before translation (so no identity
   * was looked up for it). */
  frontend?: { service: string; type: string };
}

export interface ConntrackView {
  /** The tuple of the connection's first packet: `10.0.2.10:32768 -> 10.0.1.10:80 TCP`. */
  tuple: string;
  /** The program that created it: egress (from_container) or ingress (to_container). */
  direction: Direction;
  state: string;
  /** Seconds left before this packet refreshed it, rounded; the lifetime its state gives. */
  lifetimeLeftS: number;
  lifetimeS: number;
  ruleId: number;
  packetsFwd: number;
  packetsRev: number;
}

export interface PolicyKeyView {
  endpointId: number;
  direction: Direction;
  identity: number;
  protocol: number;
  port: number;
}

export interface PolicyEntryView {
  identity: number;
  protocol: number;
  port: number;
  portPrefixLen: number;
  /** `TCP/80`, `TCP/any`, `any`, `TCP/8080-8095`. */
  ports: string;
  deny: boolean;
  ruleId: number;
  proxyPort: number;
}

export interface PolicyLookupView {
  kind: 'exact' | 'wildcard';
  key: PolicyKeyView;
  /** The entry the policy map returned for the key (its longest matching prefix), or null. */
  match: PolicyEntryView | null;
}

export interface ProgramView {
  program: string;
  node: string;
  endpoint: string;
  endpointId: number;
  direction: Direction;
  verdict: 'FORWARDED' | 'DROPPED';
  dropReason?: number;
  dropReasonName?: string;
  conntrack: {
    state: 'new' | 'established' | 'reply' | 'related' | 'none';
    /** The entry the packet belonged to (established, reply). */
    entry?: ConntrackView;
    /** The entry this packet created (an allowed new flow). */
    created?: ConntrackView;
    policySkipped: boolean;
  };
  /** The policy lookups, when the program made them (new flows). */
  policy?: {
    remoteIdentity: number;
    lookups: PolicyLookupView[];
    /** How the datapath decided: exact, wildcard, unenforced, default-deny. */
    match: string;
    ruleId: number;
  };
}

export interface LoadBalancingView {
  translated: boolean;
  /** `no service`, or what the datapath translated. */
  note: string;
  /** The service frontend the packet was sent to (a request) or restored to (a reply). */
  frontend?: ServiceFrontendView;
  /** The backend the datapath chose (a request) or that answered (a reply). */
  backend?: { id: number; address: string; port: number; pod?: string; node?: string };
  /** Why that backend: Maglev (the slot and the backend the engine's table holds there), the
   * flow's conntrack service entry, or ClientIP affinity. */
  selection?: {
    how: 'maglev' | 'conntrack' | 'affinity';
    detail: string;
    hash?: number;
    slot?: number;
    tableSize?: number;
    /** The backend id the node's lb_maglev array holds at the slot. */
    tableBackendId?: number;
  };
  /** A reply: its source rewritten back to the frontend, and where. */
  reverse?: { from: string; to: string; revNatIndex: number; program: string; node: string };
  /** A translated request: policy and conntrack saw the backend, not the frontend. */
  policyTarget?: string;
  /** A frontend without usable backends (drop reason 158): why, endpoint by endpoint. */
  noBackend?: { reason: string; endpoints: EndpointConditionView[] };
  /** For a packet the replay did not run: the packet whose translation this is. */
  ofPacket?: number;
}

export interface ServiceFrontendView {
  /** `namespace/name`. */
  service: string;
  /** The service port's name ('' when unnamed). */
  portName: string;
  address: string;
  port: number;
  protocol: string;
  type: 'ClusterIP' | 'NodePort' | 'ExternalIP';
  revNatIndex: number;
  /** The backend group's id (its row in the Maglev array). */
  serviceGroup: number;
  /** `cluster`, or `node NAME` for a Local traffic policy. */
  scope: string;
  /** Backends in the group. */
  backends: number;
  /** Where the translation happened. */
  node: string;
  program: string;
  affinityTimeoutSeconds?: number;
}

/** One endpoint of an EndpointSlice, and why it does or does not serve. */
export interface EndpointConditionView {
  slice: string;
  file: string;
  line: number;
  path: string;
  address: string;
  pod?: string;
  node?: string;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
  why: string;
}

/** A packet of a capture as `twinpath replay` handled it. */
export interface ReplayView {
  /** Its number as the replay prints it (#N, from 1; `--packet` counts from 0). */
  packet: number;
  outcome: 'forwarded' | 'dropped' | 'consequence' | 'duplicate' | 'unhandled' | 'skipped';
  /** A consequence: the dropped opening it answers; a duplicate: the packet it repeats. */
  relatedPacket?: number;
  /** When the packet was not run: the earlier packet whose program runs decided it, which the
   * programs, rule and suggestions of this explanation are about. */
  decidedBy?: number;
  /** Unhandled or skipped: why. */
  reason?: string;
  /** What the replay did with the packets before it. */
  before: { forwarded: number; dropped: number; consequence: number; duplicate: number; unhandled: number; skipped: number };
}

export interface SourceLine {
  line: number;
  text: string;
  marked: boolean;
}

export interface RuleView {
  id: number;
  policy: string;
  direction: Direction;
  deny: boolean;
  text: string;
  file: string;
  line: number;
  column: number;
  path: string;
  lines: SourceLine[];
}

export interface PolicyRefView {
  policy: string;
  file: string;
  line: number;
  column: number;
}

export interface DefaultDenyView {
  endpoint: string;
  direction: Direction;
  isolatedBy: PolicyRefView[];
}

export interface Suggestion {
  /** `add`: a new policy; `remove`: rules to delete from their files; `replace`: both. */
  action: 'add' | 'remove' | 'replace';
  summary: string;
  /** For `add` and `replace`: the YAML to apply. */
  yaml?: string;
  /** For `remove` and `replace`: the rules, each shown from its file. */
  remove?: RuleView[];
  /** The verdict of the flow, replayed with the change through the same engine. */
  verified: 'FORWARDED' | 'DROPPED';
}

/** The instructions one program run executed (VM engine only). */
export interface ProgramTraceView {
  program: string;
  node: string;
  endpoint: string;
  /** Instructions executed in all. */
  total: number;
  /** Only the last `limit` were kept. */
  truncated: boolean;
  limit: number;
  records: TraceRecordView[];
}

/** One executed instruction. Values and addresses are hex strings (all 64 bits, unsigned). */
export interface TraceRecordView {
  /** The program it is in: the one run, or after a tail call the target. */
  program: string;
  /** Its index in that program (8-byte slots from the program's start, subprograms appended). */
  insn: number;
  /** Frames below it: 0 in the program's function, 1 in a subprogram it called, ... */
  depth: number;
  kind: 'alu' | 'load' | 'store' | 'atomic' | 'jump' | 'helper' | 'call' | 'exit' | 'tail_call';
  /** The instruction as `twinpath disasm` prints it. */
  text: string;
  /** The C line it came from, when the object has line info. */
  source?: { file: string; line: number; column: number; text: string };
  /** The register it wrote (r0 for helper and exit) and the value after it; for a store (and an
   * atomic that writes no register), the value in memory after it. */
  reg?: number;
  value?: string;
  /** load, store, atomic: the address accessed (in the VM's memory) and the size in bytes. */
  addr?: string;
  size?: number;
  /** jump: whether it was taken (goto always is). */
  taken?: boolean;
  /** helper: its name (`bpf_map_lookup_elem`) and id. */
  helper?: string;
  helperId?: number;
  /** call: the callee's first instruction and its function name. */
  target?: number;
  function?: string;
  /** tail_call: the program it went to. */
  tailCall?: string;
  /** ld_imm64 naming a map (`map NAME`) or a global (`.bss+0x8`). */
  map?: string;
  /** exit of the program's own function: r0 as its hook reads it (`TC_ACT_SHOT`). */
  action?: string;
  /** The first instruction of a callback run by a helper (bpf_loop, bpf_for_each_map_elem): the
   * callback's name. Its records come before the helper's, which is recorded when it returns. */
  callback?: string;
}


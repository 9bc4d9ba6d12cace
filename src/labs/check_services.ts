// The check of a services lab: the learner edits cluster objects (an EndpointSlice), the lab's
// cluster and those files are compiled with the cluster's Services load balanced, and the lab's
// capture is replayed through the endpoint programs (src/datapath/replay.ts), which DNAT a
// request to a frontend to one of its backends (Maglev) and reverse-NAT the replies.
//
// What is judged is what left the datapath: a request's frame addressed to a backend pod (DNAT),
// a reply's frame from the frontend again (reverse NAT), both with valid checksums; the backend
// a flow reached, and whether that is the backend the capture recorded (`replyFrom` in the
// traffic spec) or the flow moved. The capture holds each packet as its sender sent it, so the
// recorded replies come from the recorded backend. When the learner's change moves a flow to
// another pod, the replies the check replays are the ones that pod would send (the same packets
// from its address): a reply from the old pod would belong to no connection.
//
// Expectations: verdict and dropReason (a frontend without backends drops with 158), backend,
// moved, dnat, revNat per flow; `backends` per task (pods no flow may reach, how many flows move
// and keep their backend); mustStayBlocked and noUnexpectedDrops as in a policy lab.

import { TwinpathError } from '../errors.js';
import type { PacketResult, Replayer } from '../datapath/replay.js';
import { packetFacts, type PacketFacts } from '../datapath/replay_packet.js';
import { dropReasonText } from '../flows/build.js';
import { internetChecksumValid, pseudoHeader } from '../pcap/checksum.js';
import type { CaptureRecord } from '../pcap/types.js';
import { compile } from '../policy/compile.js';
import type { Inputs } from '../policy/ast.js';
import type { CompiledPolicy } from '../policy/model.js';
import type { BackendsCheck, Expectation, FlowSelector, Lab, Task } from './lab.js';
import { LabCheck, OrderedJudge, replayLabCapture } from './check_replay.js';
import type { CheckResult, Failure } from './result.js';
import { describeFlow, selectFlows } from './select.js';
import { expandTraffic, type Traffic, type TrafficFlow } from './traffic.js';

/** One packet of a flow: what went in, what came out, and what the datapath did to it. */
interface Step {
  n: number;
  direction: 'request' | 'reply';
  result: PacketResult;
  in: PacketFacts;
  out?: PacketFacts;
  /** The frame left with a wrong IP or transport checksum. */
  badChecksum?: string;
}

/** Where a flow went. */
interface FlowFate {
  flow: TrafficFlow;
  steps: Step[];
  /** The pod (namespace/name) and address the requests were translated to, if they were. */
  backend?: { pod: string; ip: string; port: number };
  /** The pod the capture recorded answering, if the spec names one. */
  recorded?: string;
  /** The first dropped packet. */
  dropped?: Step;
}

export async function checkServicesLab(lab: Lab, dir: string, opts: { engine: 'vm' | 'kernel' }): Promise<CheckResult> {
  const check = new LabCheck(lab, opts.engine);
  const { result, traffic } = check;
  const loaded = check.load(() => {
    const { files, inputs } = check.learnerInputs(dir);
    const compiled = compile(inputs);
    const policies = inputs.policies.length > 0 ? `, ${plural(inputs.policies.length, 'policy', 'policies')}` : '';
    result.notes.push(`loaded ${plural(files.length, 'file')}: ${plural(inputs.cluster.services.length, 'Service')}, ${plural(inputs.cluster.endpointSlices.length, 'EndpointSlice')}${policies}`);
    return { inputs, compiled };
  });
  if (loaded === undefined) return check.done();

  const { fates, packets, frontends } = await replay(lab, traffic, loaded.compiled, loaded.inputs, opts.engine);
  result.packets = packets.length;
  result.notes.push(...frontends);
  check.judge(new Judge(traffic, fates, packets));
  return check.done();
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

async function replay(lab: Lab, traffic: Traffic, compiled: CompiledPolicy, inputs: Inputs, engine: 'vm' | 'kernel') {
  const fates = new Map<string, FlowFate>(traffic.flows.map((f) => [f.name, { flow: f, steps: [], ...(f.replyFrom ? { recorded: f.replyFrom } : {}) }]));
  const packets: PacketResult[] = [];
  let frontends: string[] = [];
  // Flows whose backend is not the recorded one: their replies come from the backend chosen.
  const moved = new Map<string, { ip: string; port: number }>();
  let substitute: Traffic | undefined;
  const each = (record: CaptureRecord, replayer: Replayer): void => {
    const planned = traffic.packets[record.index];
    const fate = planned ? fates.get(planned.flow) : undefined;
    let data = record.data;
    if (planned?.direction === 'reply' && fate && moved.has(planned.flow)) {
      substitute ??= expandTraffic(traffic.spec, { replyFrom: moved });
      data = substitute.packets[record.index]!.frame;
    }
    const r = replayer.packet({ ...record, data });
    packets.push(r);
    const inFacts = packetFacts(data);
    if (!planned || !fate || !inFacts) return;
    const step: Step = { n: r.packet, direction: planned.direction, result: r, in: inFacts };
    const outFacts = r.outcome === 'forwarded' && r.frame ? packetFacts(r.frame) : null;
    if (outFacts) {
      step.out = outFacts;
      const bad = badChecksum(r.frame!, outFacts);
      if (bad) step.badChecksum = bad;
    }
    if ((r.outcome === 'dropped' || r.outcome === 'consequence') && !fate.dropped) fate.dropped = step;
    fate.steps.push(step);
    // The first request that left translated names the flow's backend.
    if (planned.direction === 'request' && !fate.backend && outFacts && outFacts.dst !== inFacts.dst) {
      const ep = replayer.builder.podByIp(outFacts.dst);
      fate.backend = { pod: ep ? `${ep.namespace}/${ep.pod}` : `ip:${outFacts.dst}`, ip: outFacts.dst, port: outFacts.dstPort };
      const f = fate.flow;
      if (f.replyFrom !== undefined && (outFacts.dst !== f.replyIp || outFacts.dstPort !== f.replyPortNumber)) {
        moved.set(f.name, { ip: outFacts.dst, port: outFacts.dstPort });
        substitute = undefined;
      }
    }
  };
  await replayLabCapture(lab, { compiled, engine, cluster: inputs.cluster }, each, (replayer) => {
    frontends = frontendNotes(replayer, traffic);
  });
  return { fates, packets, frontends };
}

/** `service shop/cart 10.96.0.40:80/TCP: 2 backends (shop/cart-0, shop/cart-2)` for each
 * frontend the traffic is sent to, as the client's node has it. */
function frontendNotes(replayer: Replayer, traffic: Traffic): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const f of traffic.flows) {
    if (f.protocol !== 'TCP' && f.protocol !== 'UDP') continue;
    const key = `${f.toIp}:${f.port}/${f.protocol}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const client = replayer.builder.podByIp(f.fromIp);
    const node = client ? replayer.datapath.nodeOf(client) : replayer.datapath.nodes()[0];
    const model = node === undefined ? undefined : replayer.datapath.services(node);
    const fe = model?.frontends.find((x) => x.address === f.toIp && x.port === f.port && x.protocol === f.protocol);
    if (!model || !fe) continue;
    const svc = model.services.find((s) => s.id === fe.serviceId)!;
    const pods = svc.backendIds.map((id) => model.backends.find((b) => b.id === id)).map((b) => b?.pod ?? `${b?.address}:${b?.port}`);
    out.push(`service ${svc.namespace}/${svc.name} ${key}: ${plural(pods.length, 'backend')}${pods.length > 0 ? ` (${pods.join(', ')})` : ''}`);
  }
  return out;
}

/** Why a frame's IPv4 header or TCP/UDP checksum is wrong, if it is. */
function badChecksum(frame: Uint8Array, f: PacketFacts): string | undefined {
  const l3 = f.l3;
  let l4: number;
  let end: number;
  if (f.family === 4) {
    l4 = l3 + (frame[l3]! & 0x0f) * 4;
    end = l3 + ((frame[l3 + 2]! << 8) | frame[l3 + 3]!);
    if (!internetChecksumValid(frame.subarray(l3, l4))) return 'a bad IPv4 header checksum';
  } else {
    l4 = l3 + 40;
    end = l4 + ((frame[l3 + 4]! << 8) | frame[l3 + 5]!);
  }
  if (f.laterFragment || end > frame.length || (f.protocol !== 6 && f.protocol !== 17)) return undefined;
  if (f.protocol === 17 && f.family === 4 && frame[l4 + 6] === 0 && frame[l4 + 7] === 0) return undefined;
  const alen = f.family === 4 ? 4 : 16;
  const src = frame.subarray(l3 + (f.family === 4 ? 12 : 8), l3 + (f.family === 4 ? 12 : 8) + alen);
  const dst = frame.subarray(l3 + (f.family === 4 ? 16 : 24), l3 + (f.family === 4 ? 16 : 24) + alen);
  const segment = frame.subarray(l4, end);
  return internetChecksumValid(pseudoHeader(src, dst, f.protocol, segment.length), segment) ? undefined : `a bad ${f.protocol === 6 ? 'TCP' : 'UDP'} checksum`;
}

class Judge extends OrderedJudge {
  constructor(private readonly traffic: Traffic, private readonly fates: Map<string, FlowFate>, private readonly results: PacketResult[]) {
    super();
  }

  protected override more(task: Task): Failure | undefined {
    return task.backends ? this.backends(task.backends) : undefined;
  }

  protected unexpectedDrops(expected: Set<string>): Failure | undefined {
    for (const fate of this.fates.values()) {
      const d = fate.dropped;
      if (d && !expected.has(fate.flow.name)) return this.fail(d, 'no other traffic is dropped', `packet #${d.n} of flow ${describeFlow(fate.flow)} was DROPPED (${dropText(d.result)})`);
    }
    return undefined;
  }

  protected expectation(e: Expectation): Failure | undefined {
    for (const s of selectFlows(e.select, this.traffic)) {
      const fate = this.fates.get(s.flow.name)!;
      const what = `flow ${describeFlow(s.flow)}`;
      const judged = fate.steps.filter((st) => s.packets.includes(st.n));
      if (e.verdict !== undefined) {
        for (const st of judged) {
          const verdict = st.result.outcome === 'forwarded' ? 'FORWARDED' : st.result.outcome === 'dropped' || st.result.outcome === 'consequence' ? 'DROPPED' : st.result.outcome;
          if (verdict !== e.verdict) return this.fail(st, `${what} is ${e.verdict}`, `packet #${st.n} was ${verdict}${verdict === 'DROPPED' ? ` (${dropText(st.result)})` : ''}`);
          if (e.dropReason !== undefined && st.result.dropReason !== e.dropReason) {
            return this.fail(st, `${what} is dropped with ${dropReasonText(e.dropReason)} (${e.dropReason})`, `packet #${st.n} was dropped with ${dropText(st.result)}`);
          }
        }
      }
      if (e.backend !== undefined && fate.backend?.pod !== e.backend) {
        return this.fail(this.opening(fate), `${what} reaches ${e.backend}`, this.reached(fate));
      }
      if (e.moved !== undefined) {
        if (fate.recorded === undefined) throw new TwinpathError('LAB_BAD_FILE', `flow ${s.flow.name} has no recorded backend (replyFrom in ${this.traffic.spec.file}), so it cannot move`, e.at);
        const moved = fate.backend !== undefined && fate.backend.pod !== fate.recorded;
        if (moved !== e.moved) {
          return this.fail(this.opening(fate), e.moved ? `${what} moves from ${fate.recorded}, its recorded backend` : `${what} keeps its recorded backend, ${fate.recorded}`, this.reached(fate));
        }
      }
      if (e.dnat !== undefined) {
        const f = this.dnat(fate, what, e.dnat);
        if (f) return f;
      }
      if (e.revNat !== undefined) {
        const f = this.revNat(fate, what, e.revNat);
        if (f) return f;
      }
    }
    return undefined;
  }

  /** Every request of the flow left addressed to its backend instead of the frontend (or, with
   * `want` false, none was translated). */
  private dnat(fate: FlowFate, what: string, want: boolean): Failure | undefined {
    const f = fate.flow;
    const expected = want ? `${what} is sent to ${f.toIp}:${f.port} and leaves translated to a backend (DNAT)` : `${what} leaves untranslated, to ${f.toIp}:${f.port}`;
    for (const st of fate.steps.filter((x) => x.direction === 'request')) {
      if (!st.out) return this.fail(st, expected, `packet #${st.n} was ${st.result.outcome === 'forwarded' ? 'forwarded' : `DROPPED (${dropText(st.result)})`}`);
      const translated = st.out.dst !== st.in.dst || st.out.dstPort !== st.in.dstPort;
      if (translated !== want) return this.fail(st, expected, `packet #${st.n} left addressed to ${st.out.dst}:${st.out.dstPort}${translated ? `, translated from ${st.in.dst}:${st.in.dstPort}` : ', untranslated'}`);
      if (want && st.badChecksum) return this.fail(st, expected, `packet #${st.n} left translated with ${st.badChecksum}`);
    }
    return undefined;
  }

  /** Every reply of the flow reached the client from the frontend again (or, with `want` false,
   * from the address it was sent from). */
  private revNat(fate: FlowFate, what: string, want: boolean): Failure | undefined {
    const f = fate.flow;
    const expected = want ? `${what}: every reply reaches ${f.from} from ${f.toIp}:${f.port} (reverse NAT)` : `${what}: replies reach ${f.from} untranslated`;
    const replies = fate.steps.filter((x) => x.direction === 'reply');
    if (want && replies.length === 0) return this.fail(this.opening(fate), expected, 'the flow has no replies in the capture');
    for (const st of replies) {
      if (!st.out) return this.fail(st, expected, `packet #${st.n}, a reply from ${st.in.src}:${st.in.srcPort}, was DROPPED (${dropText(st.result)})`);
      const fromFrontend = st.out.src === f.toIp && st.out.srcPort === f.port;
      const translated = st.out.src !== st.in.src || st.out.srcPort !== st.in.srcPort;
      if (want && !fromFrontend) return this.fail(st, expected, `packet #${st.n}, sent by ${st.in.src}:${st.in.srcPort}, reached it from ${st.out.src}:${st.out.srcPort}`);
      if (!want && translated) return this.fail(st, expected, `packet #${st.n} was rewritten from ${st.in.src}:${st.in.srcPort} to ${st.out.src}:${st.out.srcPort}`);
      if (want && st.badChecksum) return this.fail(st, expected, `packet #${st.n} was rewritten with ${st.badChecksum}`);
    }
    return undefined;
  }

  private backends(b: BackendsCheck): Failure | undefined {
    const service = [...this.fates.values()].filter((x) => x.recorded !== undefined);
    for (const pod of b.notTo) {
      const hit = service.find((x) => x.backend?.pod === pod) ?? [...this.fates.values()].find((x) => x.backend?.pod === pod);
      if (hit) return this.fail(this.opening(hit), `no connection reaches ${pod}`, `flow ${describeFlow(hit.flow)} reached ${pod} (packet #${this.opening(hit).n})`);
    }
    if (b.moved === undefined && b.kept === undefined) return undefined;
    const movedFlows = service.filter((x) => x.backend !== undefined && x.backend.pod !== x.recorded);
    const keptFlows = service.filter((x) => x.backend !== undefined && x.backend.pod === x.recorded);
    if ((b.moved === undefined || movedFlows.length === b.moved) && (b.kept === undefined || keptFlows.length === b.kept)) return undefined;
    const expected = [b.moved !== undefined ? `${b.moved} of the ${service.length} connections move from their recorded backend` : '', b.kept !== undefined ? `${b.kept} keep it` : ''].filter((x) => x !== '').join(' and ');
    const got = `${movedFlows.length} moved, ${keptFlows.length} kept${service.length - movedFlows.length - keptFlows.length > 0 ? `, ${service.length - movedFlows.length - keptFlows.length} reached no backend` : ''}`;
    // Name the flow that shows it best: one that moved although its pod is not drained, or one
    // that kept a pod it should have left, or one that reached none.
    const drained = new Set(b.notTo);
    const needless = movedFlows.find((x) => !drained.has(x.recorded!));
    if (needless) return this.fail(this.opening(needless), expected, `${got}: flow ${describeFlow(needless.flow)} moved from ${needless.recorded} to ${needless.backend!.pod}, though ${needless.recorded} was not drained`);
    const lost = service.find((x) => x.backend === undefined);
    if (lost) return this.fail(this.opening(lost), expected, `${got}: flow ${describeFlow(lost.flow)} ${this.reached(lost).replace(/^packet #\d+ /, '')}`);
    const first = (b.moved !== undefined && movedFlows.length < b.moved ? keptFlows : movedFlows)[0];
    return first ? this.fail(this.opening(first), expected, `${got}: flow ${describeFlow(first.flow)} ${this.reached(first).replace(/^packet #\d+ /, '')}`) : { expected, got, flows: [] };
  }

  protected blocked(sel: FlowSelector): Failure | undefined {
    for (const s of selectFlows(sel, this.traffic)) {
      const fate = this.fates.get(s.flow.name)!;
      for (const st of fate.steps.filter((x) => s.packets.includes(x.n))) {
        if (st.result.outcome === 'dropped') continue;
        return this.fail(st, `flow ${describeFlow(s.flow)} stays blocked`, `packet #${st.n} was ${st.result.outcome === 'forwarded' ? 'FORWARDED' : st.result.outcome}: the change lets it through`);
      }
    }
    return undefined;
  }

  /** The flow's first request (what chose its backend). */
  private opening(fate: FlowFate): Step {
    return fate.steps.find((x) => x.direction === 'request') ?? fate.steps[0]!;
  }

  /** `packet #1 was translated to shop/cart-2 (10.0.1.33:8080)`, or why it reached none. */
  private reached(fate: FlowFate): string {
    const st = this.opening(fate);
    if (fate.backend) return `packet #${st.n} was translated to ${fate.backend.pod} (${fate.backend.ip}:${fate.backend.port})${fate.recorded !== undefined ? (fate.backend.pod === fate.recorded ? ', its recorded backend' : `; the capture recorded ${fate.recorded}`) : ''}`;
    if (st.result.outcome === 'dropped') return `packet #${st.n} was DROPPED (${dropText(st.result)}): it reached no backend`;
    return `packet #${st.n} left untranslated, to ${st.out?.dst ?? st.in.dst}:${st.out?.dstPort ?? st.in.dstPort}`;
  }

  private fail(st: Step, expected: string, got: string): Failure {
    return { expected, got, packet: st.n, flows: this.results[st.n - 1]?.flows ?? [] };
  }
}

function dropText(r: PacketResult): string {
  const at = r.droppedAt ? ` at ${r.droppedAt.pod ?? r.droppedAt.node} ${r.droppedAt.direction}` : '';
  return `${dropReasonText(r.dropReason ?? 0)}${at}`;
}

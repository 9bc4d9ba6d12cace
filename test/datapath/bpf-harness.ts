// Test harness for the endpoint datapath: a small cluster (endpoints, ipcache), packet builders
// for what src/pcap/build.ts does not make (fragments, IPv6 extension headers, ICMP errors, raw
// EtherTypes), and scenarios (map setup + a sequence of packets with expectations) run through
// one engine, returning everything the two engines must agree on.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { describeKernel } from '../helpers/kernel.js';
import { readObject } from '../../src/elf/object.js';
import { getEngine } from '../../src/engine/index.js';
import type { EngineKind, EngineObject } from '../../src/engine/engine.js';
import {
  DATAPATH_OBJECT, DatapathMaps, MAP_FRAGMENTS, PROG_FROM_ENDPOINT, PROG_TO_ENDPOINT, endpointContext,
  type ConntrackEntry, type Counter,
} from '../../src/datapath/maps.js';
import { flowEvents, type FlowEvent } from '../../src/datapath/flow.js';
import type { EndpointInfo, PolicyEntry } from '../../src/policy/model.js';
import { ethernet, ipv4, ipv6, parseIp, udpDatagram, tcpSegment, type TcpOptions } from '../../src/pcap/build.js';
import { internetChecksum } from '../../src/pcap/checksum.js';

export const OBJECT_BYTES = new Uint8Array(readFileSync(DATAPATH_OBJECT));
export const OBJECT_SPEC = readObject(OBJECT_BYTES, DATAPATH_OBJECT);

export const TC_ACT_OK = 0;
export const TC_ACT_SHOT = 2;

function endpoint(id: number, pod: string, ips: string[], identity: number, enforced: boolean): EndpointInfo {
  return { id, namespace: 'default', pod, node: 'node-1', ips, identity, ingressEnforced: enforced, egressEnforced: enforced };
}

/** Pods: a and b isolated both ways, c not isolated. Interface indexes 11, 12, 13. */
export const A = { ifindex: 11, v4: '10.0.1.1', v6: 'fd00::1:1', identity: 1001, ep: endpoint(101, 'a', ['10.0.1.1', 'fd00::1:1'], 1001, true) };
export const B = { ifindex: 12, v4: '10.0.1.2', v6: 'fd00::1:2', identity: 1002, ep: endpoint(102, 'b', ['10.0.1.2', 'fd00::1:2'], 1002, true) };
export const C = { ifindex: 13, v4: '10.0.1.3', v6: 'fd00::1:3', identity: 1003, ep: endpoint(103, 'c', ['10.0.1.3', 'fd00::1:3'], 1003, false) };
/** A CIDR a policy names: 10.0.2.0/24 and fd00:2::/64. */
export const CIDR_IDENTITY = 16777217;

export function clusterSetup(maps: DatapathMaps): void {
  for (const p of [A, B, C]) {
    maps.setEndpoint(p.ifindex, p.ep);
    maps.setIpcache(`${p.v4}/32`, p.identity);
    maps.setIpcache(`${p.v6}/128`, p.identity);
  }
  maps.setIpcache('10.0.2.0/24', CIDR_IDENTITY);
  maps.setIpcache('fd00:2::/64', CIDR_IDENTITY);
}

/** A policy entry with defaults: TCP, one port, allow, rule 1. */
export function rule(e: Partial<PolicyEntry> & Pick<PolicyEntry, 'endpointId' | 'direction' | 'identity'>): PolicyEntry {
  return { protocol: 6, port: 0, portPrefixLen: 16, deny: false, ruleId: 1, proxyPort: 0, ...e };
}

// ---- packets src/pcap/build.ts does not make ----------------------------------------------

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** An IPv4 fragment: `payload` is the fragment's data (an L4 header only in the first). */
export function ipv4Fragment(opts: { src: string; dst: string; protocol: number; id: number; offset8: number; more: boolean; payload: Uint8Array }): Uint8Array {
  const ip = ipv4({ src: opts.src, dst: opts.dst, protocol: opts.protocol, id: opts.id, payload: opts.payload });
  const dv = new DataView(ip.buffer);
  dv.setUint16(6, (opts.more ? 0x2000 : 0) | opts.offset8);
  dv.setUint16(10, 0);
  dv.setUint16(10, internetChecksum(ip.subarray(0, 20)));
  return ethernet({ ethertype: 0x0800, payload: ip });
}

/** One IPv6 extension header: next header, and `len8` 8-byte units after the first 8 bytes. */
export function ext6(next: number, len8 = 0): Uint8Array {
  const h = new Uint8Array(8 * (len8 + 1));
  h[0] = next;
  h[1] = len8;
  if (len8 === 0) {
    // PadN filling the six option bytes, as a real hop-by-hop or destination header would carry.
    h[2] = 1;
    h[3] = 4;
  }
  return h;
}

/** An IPv6 fragment header. */
export function frag6(next: number, offset8: number, more: boolean, id: number): Uint8Array {
  const h = new Uint8Array(8);
  const dv = new DataView(h.buffer);
  h[0] = next;
  dv.setUint16(2, (offset8 << 3) | (more ? 1 : 0));
  dv.setUint32(4, id >>> 0);
  return h;
}

/** Ethernet + IPv6 with a ready-made chain: `first` is the IPv6 next header, `rest` the bytes. */
export function ipv6Chain(src: string, dst: string, first: number, ...rest: Uint8Array[]): Uint8Array {
  return ethernet({ ethertype: 0x86dd, payload: ipv6({ src, dst, nextHeader: first, payload: concat(...rest) }) });
}

export function tcp6Segment(src: string, dst: string, o: TcpOptions): Uint8Array {
  return tcpSegment(parseIp(src), parseIp(dst), o);
}

export function udpPayload(src: string, dst: string, sport: number, dport: number, data = 'datagram'): Uint8Array {
  return udpDatagram(parseIp(src), parseIp(dst), { sport, dport, payload: data });
}

/** An ICMP (IPv4) or ICMPv6 error from `src` to `dst` quoting the first bytes of `quoted` (an IP
 * packet without Ethernet header). */
export function icmpError(src: string, dst: string, type: number, code: number, quoted: Uint8Array): Uint8Array {
  const v6 = src.includes(':');
  const cut = quoted.subarray(0, v6 ? 40 + 8 : 20 + 8);
  const msg = concat(Uint8Array.of(type, code, 0, 0, 0, 0, 0, 0), cut);
  // The checksum is left zero: neither the datapath nor a tc test run verifies it.
  const ip = v6 ? ipv6({ src, dst, nextHeader: 58, payload: msg }) : ipv4({ src, dst, protocol: 1, payload: msg });
  return ethernet({ ethertype: v6 ? 0x86dd : 0x0800, payload: ip });
}

/** An IP packet without Ethernet header (what an ICMP error quotes). */
export function rawUdp(src: string, dst: string, sport: number, dport: number): Uint8Array {
  const l4 = udpPayload(src, dst, sport, dport);
  return src.includes(':') ? ipv6({ src, dst, nextHeader: 17, payload: l4 }) : ipv4({ src, dst, protocol: 17, payload: l4 });
}

export function rawTcp(src: string, dst: string, o: TcpOptions): Uint8Array {
  const l4 = tcpSegment(parseIp(src), parseIp(dst), o);
  return src.includes(':') ? ipv6({ src, dst, nextHeader: 6, payload: l4 }) : ipv4({ src, dst, protocol: 6, payload: l4 });
}

/** An ARP request (who has `target`, tell `sender`). */
export function arpRequest(sender: string, target: string): Uint8Array {
  const a = new Uint8Array(28);
  const dv = new DataView(a.buffer);
  dv.setUint16(0, 1);
  dv.setUint16(2, 0x0800);
  a[4] = 6;
  a[5] = 4;
  dv.setUint16(6, 1);
  a.set([2, 0, 0, 0, 0, 1], 8);
  a.set(parseIp(sender), 14);
  a.set(parseIp(target), 24);
  return ethernet({ ethertype: 0x0806, dstMac: 'ff:ff:ff:ff:ff:ff', payload: a });
}

// ---- scenarios --------------------------------------------------------------------------------

export interface Step {
  /** 'from': cil_from_container (egress of the pod), 'to': cil_to_container (ingress). */
  prog: 'from' | 'to';
  ifindex: number;
  packet: Uint8Array;
  /** The program's clock (VM); 1 s when not given. */
  timeNs?: bigint;
  /** Map changes before this packet. */
  before?: (maps: DatapathMaps) => void;
  /** 0 = forwarded; the drop reason otherwise. */
  reason: number;
  event?: Partial<FlowEvent>;
  /** Checks on the maps after this packet (both engines; compare nothing clock-dependent in
   * scenarios that also run in the kernel). */
  after?: (maps: DatapathMaps) => void;
}

export interface Scenario {
  name: string;
  /** Policy and anything else beyond the cluster. */
  setup?: (maps: DatapathMaps) => void;
  steps: Step[];
  /** Depends on the program's clock, which only the VM lets a test set. */
  vmOnly?: boolean;
  counters?: Counter[];
}

export interface ScenarioResult {
  runs: Array<{ retval: number; packet: string; events: string[] }>;
  events: FlowEvent[];
  policy: PolicyEntry[];
  ipcache: ReturnType<DatapathMaps['ipcacheEntries']>;
  /** Conntrack with expiry masked (the kernel's clock is its own). */
  conntrack: Array<Omit<ConntrackEntry, 'expiresNs'>>;
  counters: Counter[];
  fragments: string[];
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

export async function openDatapath(kind: EngineKind): Promise<{ obj: EngineObject; maps: DatapathMaps }> {
  const engine = await getEngine(kind);
  const obj = engine.open({ bytes: OBJECT_BYTES, file: DATAPATH_OBJECT, spec: OBJECT_SPEC });
  const maps = new DatapathMaps(obj);
  return { obj, maps };
}

export const DEFAULT_TIME = 1_000_000_000n;

/** Runs a scenario in one engine, asserting every step's expectations; returns what the engines
 * must agree on. */
export async function runScenario(kind: EngineKind, sc: Scenario): Promise<ScenarioResult> {
  const { obj, maps } = await openDatapath(kind);
  try {
    clusterSetup(maps);
    sc.setup?.(maps);
    const runs: ScenarioResult['runs'] = [];
    const events: FlowEvent[] = [];
    sc.steps.forEach((step, i) => {
      step.before?.(maps);
      const out = obj.run(step.prog === 'from' ? PROG_FROM_ENDPOINT : PROG_TO_ENDPOINT, {
        packet: step.packet,
        ctx: endpointContext(step.ifindex),
        timeNs: step.timeNs ?? DEFAULT_TIME,
      });
      const evs = flowEvents(out);
      const where = `${kind}: ${sc.name}: step ${i}`;
      expect(evs, `${where}: one event per packet`).toHaveLength(1);
      const ev = evs[0]!;
      expect(ev.dropReason, `${where}: drop reason (${ev.dropReasonName ?? 'forwarded'})`).toBe(step.reason);
      expect(out.retval, `${where}: verdict`).toBe(step.reason === 0 ? TC_ACT_OK : TC_ACT_SHOT);
      expect(ev.verdict).toBe(step.reason === 0 ? 'FORWARDED' : 'DROPPED');
      expect(ev.direction).toBe(step.prog === 'from' ? 'egress' : 'ingress');
      expect(ev.observationPoint).toBe(step.prog === 'from' ? 'from-endpoint' : 'to-endpoint');
      expect(ev.ifindex).toBe(step.ifindex);
      expect(ev.length).toBe(step.packet.length);
      if (step.event) expect(ev, where).toMatchObject(step.event);
      // tc programs here never change the packet.
      expect(hex(out.packet), `${where}: packet unchanged`).toBe(hex(step.packet));
      step.after?.(maps);
      runs.push({ retval: out.retval, packet: hex(out.packet), events: out.events.map((e) => hex(e.data)) });
      events.push(ev);
    });
    const counters = maps.counters();
    if (sc.counters) expect(counters, `${kind}: ${sc.name}: counters`).toEqual(sc.counters);
    return {
      runs,
      events,
      policy: maps.policyEntries(),
      ipcache: maps.ipcacheEntries(),
      conntrack: maps.conntrack().map(({ expiresNs: _ignored, ...rest }) => rest),
      counters,
      fragments: obj.map(MAP_FRAGMENTS).entries().map(([k, v]) => `${hex(k)}=${hex(v)}`).sort(),
    };
  } finally {
    obj.close();
  }
}

/** Registers each scenario as a VM test, and (where the kernel engine is available) as a kernel
 * test that also holds the kernel's results to the VM's: return values, packets, event records,
 * policy, ipcache, conntrack (expiry aside), counters and fragment records. */
export function defineScenarios(title: string, scenarios: Scenario[]): void {
  describe(`${title} (VM)`, () => {
    for (const sc of scenarios) it(sc.name, async () => void (await runScenario('vm', sc)));
  });
  describeKernel(`${title} (kernel, compared with the VM)`, () => {
    for (const sc of scenarios.filter((s) => !s.vmOnly)) {
      it(sc.name, async () => {
        const kernel = await runScenario('kernel', sc);
        const vm = await runScenario('vm', sc);
        expect(kernel).toEqual(vm);
      });
    }
  });
}

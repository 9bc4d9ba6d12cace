// `twinpath replay` on the bundled Star Wars scenario: golden files for the compact, JSON and
// table outputs and the summary; filters; pcapng files of dropped and forwarded packets read
// back with their comments; errors (damaged captures name the offset, exit status 2).
//   TWINPATH_UPDATE_GOLDEN=1 npx vitest run test/cli/replay.test.ts   rewrites the golden files

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readCaptureSync } from '../../src/pcap/reader.js';
import { packetFacts } from '../../src/datapath/replay_packet.js';
import { CAPTURE, CLUSTER, POLICY } from '../datapath/replay-fixture.js';
import { cli, golden } from './probe-golden.js';

const tmp = mkdtempSync(join(tmpdir(), 'twinpath-replay-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const replay = (...extra: string[]) => cli('replay', CAPTURE, '--cluster', CLUSTER, '--policy', POLICY, ...extra);

describe('twinpath replay: outputs', () => {
  it('compact lines, then the summary', async () => {
    const r = await replay();
    expect(r.err).toBe('');
    expect(r.status).toBe(0);
    golden('replay/starwars.txt', r.out);
  });

  it('-o json: one Hubble flow object per line; the summary on standard error', async () => {
    const r = await replay('-o', 'json');
    expect(r.status).toBe(0);
    const lines = r.out.trimEnd().split('\n');
    for (const l of lines) expect(Object.keys(JSON.parse(l))).toEqual(['flow', 'node_name', 'time', 'twinpath']);
    golden('replay/starwars.jsonl', r.out);
    golden('replay/starwars-summary.txt', r.err);
  });

  it('-o table', async () => {
    const r = await replay('-o', 'table', '--time-format', 'RFC3339Milli');
    expect(r.status).toBe(0);
    golden('replay/starwars-table.txt', r.out);
  });

  it('-o summary prints the summary alone, counting every flow', async () => {
    const r = await replay('-o', 'summary');
    expect(r.status).toBe(0);
    const full = await replay();
    expect(r.out).toBe(full.out.slice(full.out.indexOf('\n\npackets:') + 2));
    expect(r.out.startsWith('packets: 45 ')).toBe(true);
  });

  it('--no-summary prints flows alone', async () => {
    const r = await replay('--no-summary');
    expect(r.out).not.toContain('packets:');
    expect(r.out.trimEnd().split('\n').every((l) => l.startsWith('Nov 21 '))).toBe(true);
  });
});

describe('twinpath replay: filters', () => {
  it('--verdict DROPPED --to-pod deathstar --port 80: only those flows, counted in the summary', async () => {
    const r = await replay('--verdict', 'DROPPED', '--to-pod', 'deathstar', '--port', '80');
    const [flows, summary] = r.out.split('\n\n');
    const lines = flows!.split('\n');
    expect(lines.length).toBeGreaterThan(0);
    for (const l of lines) {
      expect(l).toMatch(/ (DROPPED|DENIED) /);
      expect(l).toMatch(/default\/deathstar:80 /);
    }
    expect(summary).toContain(`flows: ${lines.length} (0 FORWARDED, ${lines.length} DROPPED)`);
    // packets are counted whatever is shown
    expect(summary).toContain('packets: 45 ');
  });

  it('--protocol icmp and --drop-reason take Hubble’s words', async () => {
    const r = await replay('--protocol', 'icmp', '--drop-reason', 'POLICY_DENIED', '--no-summary');
    const lines = r.out.trimEnd().split('\n');
    expect(lines).toHaveLength(6); // two requests (verdict + drop each) and two consequences
    for (const l of lines) expect(l).toContain('ICMPv4 Echo');
  });

  it('--from-pod with a namespace, and --namespace', async () => {
    const a = await replay('--from-pod', 'kube-system/', '--no-summary');
    const b = await replay('--namespace', 'kube-system', '--no-summary');
    expect(a.out.trimEnd().split('\n').every((l) => l.includes('<- kube-system/coredns:53'))).toBe(true);
    expect(b.out.split('\n').length).toBeGreaterThan(a.out.split('\n').length);
  });
});

describe('twinpath replay: pcapng of dropped and forwarded packets', () => {
  it('writes each packet with its verdict and reason in the comment', async () => {
    const dropped = join(tmp, 'dropped.pcapng');
    const forwarded = join(tmp, 'forwarded.pcapng');
    const r = await replay('--write-dropped', dropped, '--write-forwarded', forwarded, '--no-summary');
    expect(r.status).toBe(0);
    const d = readCaptureSync(readFileSync(dropped));
    const f = readCaptureSync(readFileSync(forwarded));
    expect(d).toHaveLength(22); // 12 dropped + 10 consequences
    expect(f).toHaveLength(21);
    const original = readCaptureSync(readFileSync(CAPTURE));
    expect(d[0]!.comment).toBe('twinpath: packet #14 DROPPED: Policy denied (133) at ingress of default/deathstar (cil_to_container on kind-worker)');
    expect(d[1]!.comment).toBe('twinpath: packet #15 DROPPED: Policy denied (133): consequence of packet #14, dropped at ingress of default/deathstar (cil_to_container on kind-worker)');
    expect(d[0]!.timestampNs).toBe(original[13]!.timestampNs);
    expect(d[0]!.data).toEqual(original[13]!.data);
    expect(f[2]!.comment).toBe('twinpath: packet #4 FORWARDED, allowed by CiliumNetworkPolicy default/rule1');
    expect(f.every((p) => p.comment?.includes('FORWARDED'))).toBe(true);
    // the node-to-node packet and the duplicate are in neither file
    const all = [...d, ...f].map((p) => packetFacts(p.data)!.dstPort);
    expect(all).not.toContain(10250);
    // a NodePort packet is written as the program that dropped it saw it: to the node's address
    expect(d.find((p) => p.comment?.startsWith('twinpath: packet #38 '))!.comment).toBe(
      'twinpath: packet #38 DROPPED: Policy denied (133) at ingress of default/deathstar (cil_from_netdev on kind-worker)',
    );
    expect(packetFacts(d.find((p) => p.comment?.startsWith('twinpath: packet #38 '))!.data)!.dst).toBe('172.18.0.2');
  });
});

describe('twinpath replay: errors', () => {
  it('a damaged capture: flows before the damage, then PCAP_TRUNCATED with its offset, exit 2', async () => {
    const bytes = readFileSync(CAPTURE);
    const cut = join(tmp, 'cut.pcapng');
    writeFileSync(cut, bytes.subarray(0, 1500));
    const r = await cli('replay', cut, '--cluster', CLUSTER, '--policy', POLICY);
    expect(r.status).toBe(2);
    expect(r.out).toContain('from-endpoint FORWARDED');
    expect(r.err).toMatch(/cut\.pcapng: offset \d+ \(0x[0-9a-f]+\): .*\[PCAP_TRUNCATED\]/);
  });

  it('not a capture: PCAP_BAD_MAGIC at offset 0', async () => {
    const r = await cli('replay', CLUSTER, '--cluster', CLUSTER, '--policy', POLICY);
    expect(r.status).toBe(2);
    expect(r.err).toMatch(/offset 0 \(0x0\).*\[PCAP_BAD_MAGIC\]/);
  });

  it('a missing capture: IO_ERROR; a bad filter: USAGE before anything runs', async () => {
    const missing = await cli('replay', join(tmp, 'nope.pcap'), '--cluster', CLUSTER);
    expect(missing.status).toBe(2);
    expect(missing.err).toContain('[IO_ERROR]');
    const bad = await replay('--verdict', 'MAYBE');
    expect(bad.status).toBe(2);
    expect(bad.out).toBe('');
    expect(bad.err).toContain('[USAGE]');
  });
});

// `twinpath explain`: text and JSON golden files for an allowed flow, a default-deny drop, a
// deny-rule drop, a conntrack reply and an established packet of a capture; the kernel engine
// giving the same explanation as the VM; usage and input errors with their codes.
//   TWINPATH_UPDATE_GOLDEN=1 npx vitest run test/cli/explain.test.ts   rewrites the golden files

import { describe, expect, it } from 'vitest';
import { describeKernel } from '../helpers/kernel.js';
import { cli, CLUSTER, golden, POLICIES } from './probe-golden.js';
import { join } from 'node:path';
import { handshakeCapture } from '../explain/fixtures.js';
import { ROOT } from '../helpers/paths.js';

const base = ['explain', '--cluster', CLUSTER, '--policy', POLICIES];
const flow = (from: string, to: string, port: number, protocol = 'TCP') => [...base, '--from', from, '--to', to, '--port', String(port), '--protocol', protocol];

/** Golden files must not depend on the temporary directory a capture was written to. */
function untmp(text: string, dir: string): string {
  return text.split(dir).join('<tmp>');
}

const SERVICES = join(ROOT, 'test/explain/services.yaml');
const svc = (from: string, to: string, ...extra: string[]) => ['explain', '--cluster', CLUSTER, '--cluster', SERVICES, '--policy', POLICIES, '--from', from, '--to', to, ...extra];
const STARWARS = join(ROOT, 'captures/starwars');
const starwars = (...extra: string[]) => ['explain', '--cluster', join(STARWARS, 'cluster.yaml'), '--policy', join(STARWARS, 'policy.yaml'), '--pcap', join(STARWARS, 'starwars.pcapng'), ...extra];

const CASES: Array<[string, string[]]> = [
  ['allowed', flow('y/a', 'x/a', 80)],
  ['default-deny', flow('x/b', 'x/a', 80)],
  ['deny-rule', flow('y/a', 'x/a', 81)],
  ['world', flow('ip:8.8.8.8', 'x/a', 80)],
  ['unenforced-udp', flow('x/a', 'y/a', 53, 'udp')],
  ['service-clusterip', svc('y/a', 'svc:x/web')],
  ['service-default-deny', svc('x/b', 'svc:x/pair')],
  ['service-no-backend', svc('y/a', 'svc:x/empty')],
  // The Star Wars capture as `twinpath replay` numbers it: a NodePort SYN from outside (#38),
  // the ClusterIP reply rev-NATed (#34), the answer to a dropped SYN (#15), a duplicate (#2), and
  // node-to-node traffic no endpoint program sees (#32).
  ['capture-nodeport', starwars('--frame', '38')],
  ['capture-rev-nat', starwars('--frame', '34')],
  ['capture-consequence', starwars('--frame', '15')],
  ['capture-duplicate', starwars('--frame', '2')],
  ['capture-unhandled', starwars('--frame', '32')],
];

describe('twinpath explain', () => {
  for (const [name, args] of CASES) {
    it(`${name}: text and JSON (golden)`, async () => {
      const t = await cli(...args);
      expect(t.err).toBe('');
      expect(t.status).toBe(0);
      golden(`explain/${name}.txt`, t.out);
      const j = await cli(...args, '--output', 'json');
      expect(j.status).toBe(0);
      JSON.parse(j.out);
      golden(`explain/${name}.json`, j.out);
    });
  }

  for (const [name, index] of [['capture-reply', 2], ['capture-established', 3]] as const) {
    it(`${name}: --pcap --packet ${index}, text and JSON (golden)`, async () => {
      const { dir, file } = await handshakeCapture();
      const t = await cli(...base, '--pcap', file, '--packet', String(index));
      expect(t.err).toBe('');
      expect(t.status).toBe(0);
      golden(`explain/${name}.txt`, untmp(t.out, dir));
      const j = await cli(...base, '--pcap', file, '--packet', String(index), '-o', 'json');
      golden(`explain/${name}.json`, untmp(j.out, dir));
    });
  }

  it('--frame N is --packet N-1', async () => {
    const a = await cli(...starwars('--frame', '14', '-o', 'json'));
    const b = await cli(...starwars('--packet', '13', '-o', 'json'));
    expect(a.status).toBe(0);
    expect(a.out).toBe(b.out);
    expect(JSON.parse(a.out).replay).toMatchObject({ packet: 14, outcome: 'dropped' });
  });

  it('every suggestion printed says it was verified', async () => {
    for (const [, args] of CASES.filter(([name]) => !name.startsWith('capture-') && name !== 'service-no-backend')) {
      const r = await cli(...args);
      const section = r.out.slice(r.out.indexOf('\nTo make it '));
      const suggestions = section.split('\n').filter((l) => /^ {2}\d+\. /.test(l)).length;
      expect(suggestions).toBeGreaterThan(0);
      expect(r.out.match(/verified: the flow becomes (FORWARDED|DROPPED)/g)).toHaveLength(suggestions);
    }
  });

  const errors: Array<[string, string[], string, RegExp]> = [
    ['an unknown pod', flow('x/a', 'x/zz', 80), 'PROBE_UNKNOWN_ENDPOINT', /--to: no pod "x\/zz"/],
    ['a bad endpoint', flow('nobody', 'x/a', 80), 'PROBE_UNKNOWN_ENDPOINT', /--from: /],
    ['a bad protocol', flow('x/a', 'y/a', 80, 'ICMP'), 'USAGE', /--protocol ICMP/],
    ['a bad port', flow('x/a', 'y/a', 0), 'USAGE', /--port 0/],
    ['a flow half named', [...base, '--from', 'x/a', '--to', 'y/a'], 'USAGE', /--port and --protocol/],
    ['both ways of naming a flow', [...flow('x/a', 'y/a', 80), '--pcap', 'x.pcap', '--packet', '0'], 'USAGE', /not both/],
    ['a missing capture', [...base, '--pcap', '/nonexistent/x.pcap', '--packet', '0'], 'IO_ERROR', /x\.pcap/],
    ['--packet and --frame together', starwars('--packet', '1', '--frame', '2'), 'USAGE', /not both/],
    ['a frame past the end', starwars('--frame', '46'), 'USAGE', /--frame: frame 46 is out of range: the capture has 45 packets \(1\.\.45\)/],
    ['frame 0', starwars('--frame', '0'), 'USAGE', /--frame 0 is not a packet number/],
    ['an unknown service', svc('y/a', 'svc:x/nope'), 'PROBE_UNKNOWN_ENDPOINT', /--to: no service "x\/nope"/],
    ['a service without --from', ['explain', '--cluster', CLUSTER, '--cluster', SERVICES, '--policy', POLICIES, '--to', 'svc:x/web'], 'USAGE', /--from/],
  ];
  for (const [what, args, code, where] of errors) {
    it(`refuses ${what}: exit 2, ${code}`, async () => {
      const r = await cli(...args);
      expect(r.status).toBe(2);
      expect(r.out).toBe('');
      expect(r.err).toMatch(where);
      expect(r.err).toContain(`[${code}]`);
    });
  }

  it('refuses a packet index past the end of the capture: USAGE naming the capture', async () => {
    const { file } = await handshakeCapture();
    const r = await cli(...base, '--pcap', file, '--packet', '4');
    expect(r.status).toBe(2);
    expect(r.err).toContain('handshake.pcap');
    expect(r.err).toMatch(/--packet: packet 4 is out of range: the capture has 4 packets \(0\.\.3\) \[USAGE\]/);
  });
});

describeKernel('twinpath explain --engine kernel', () => {
  /** The lifetime left depends on each engine's clock; everything else must agree. */
  const normalize = (json: string): unknown => JSON.parse(json.replace(/"lifetimeLeftS": \d+/g, '"lifetimeLeftS": 0').replace(/"engine": "\w+"/, '"engine": "-"'));

  for (const [name, args] of CASES) {
    it(`${name}: the same explanation as the VM`, async () => {
      const vm = await cli(...args, '-o', 'json');
      const k = await cli(...args, '-o', 'json', '--engine', 'kernel');
      expect(k.err).toBe('');
      expect(normalize(k.out)).toEqual(normalize(vm.out));
    });
  }

  it('a captured reply: the same explanation as the VM', async () => {
    const { file } = await handshakeCapture();
    const args = [...base, '--pcap', file, '--packet', '2', '-o', 'json'];
    const vm = await cli(...args);
    const k = await cli(...args, '--engine', 'kernel');
    expect(k.err).toBe('');
    expect(normalize(k.out)).toEqual(normalize(vm.out));
  });
});

// A throwaway two-pod network for a real `tcpdump -i any` capture: a "node" network namespace
// holding a bridge, and two "pod" namespaces, each joined to it by a veth pair, as a CNI plugin
// wires pods on a node. tcpdump runs in the node namespace, so every packet is recorded once per
// pod interface it crosses there (the client's veth and the server's). The traffic is
// real: a Node.js server in one pod, a client in the other, over TCP and UDP.
// Every name comes from uniqueName() (the suite's leak check reads the owner's pid from it), and
// remove() always deletes the namespaces, which takes the veths and the bridge with them.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { sh, shQuiet, uniqueName } from '../helpers/kernel.js';

/** The addresses the committed example and its cluster.yaml describe (private to the namespaces). */
export const CLIENT_IP = '10.201.1.2';
export const SERVER_IP = '10.201.1.3';
export const TCP_PORT = 8080;
export const UDP_PORT = 9999;

export interface PodNetwork {
  node: string;
  client: string;
  server: string;
  remove(): void;
}

export function createPodNetwork(): PodNetwork {
  const node = uniqueName('nd');
  const client = uniqueName('pa');
  const server = uniqueName('pb');
  const net: PodNetwork = {
    node,
    client,
    server,
    remove() {
      for (const ns of [client, server, node]) shQuiet('ip', 'netns', 'del', ns);
    },
  };
  try {
    for (const ns of [node, client, server]) sh('ip', 'netns', 'add', ns);
    const inNode = (...args: string[]) => sh('ip', '-n', node, ...args);
    inNode('link', 'add', 'br0', 'type', 'bridge');
    inNode('link', 'set', 'br0', 'up');
    inNode('link', 'set', 'lo', 'up');
    for (const [ns, ip] of [[client, CLIENT_IP], [server, SERVER_IP]] as const) {
      const host = uniqueName('v');
      // Made in the node namespace, so no veth ever exists in the root namespace.
      inNode('link', 'add', host, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
      inNode('link', 'set', host, 'master', 'br0');
      inNode('link', 'set', host, 'up');
      sh('ip', '-n', ns, 'addr', 'add', `${ip}/24`, 'dev', 'eth0');
      sh('ip', '-n', ns, 'link', 'set', 'eth0', 'up');
      sh('ip', '-n', ns, 'link', 'set', 'lo', 'up');
    }
  } catch (e) {
    net.remove();
    throw e;
  }
  return net;
}

// The server answers one TCP request and echoes UDP datagrams; it prints "ready" when listening.
const SERVER = `
const net = require('node:net'), dgram = require('node:dgram');
const t = net.createServer((c) => c.once('data', () => c.end('HTTP/1.0 200 OK\\r\\n\\r\\nhello\\n')));
const u = dgram.createSocket('udp4');
u.on('message', (m, r) => u.send(m, r.port, r.address));
let up = 0;
const ready = () => { if (++up === 2) console.log('ready'); };
t.listen(${TCP_PORT}, '${SERVER_IP}', ready);
u.bind(${UDP_PORT}, '${SERVER_IP}', ready);
`;

// The client: one TCP request with its answer and an orderly close, then one UDP datagram and its echo.
const CLIENT = `
const net = require('node:net'), dgram = require('node:dgram');
const c = net.connect(${TCP_PORT}, '${SERVER_IP}', () => c.write('GET / HTTP/1.0\\r\\n\\r\\n'));
c.on('data', () => {});
c.on('end', () => {
  c.end();
  const u = dgram.createSocket('udp4');
  u.on('message', () => { u.close(); });
  u.send('twinpath', ${UDP_PORT}, '${SERVER_IP}');
});
setTimeout(() => process.exit(2), 5000).unref();
`;

function waitFor(child: ChildProcess, stream: 'stdout' | 'stderr', pattern: RegExp, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`${what}: no "${pattern.source}" within 10 s; got: ${seen}`)), 10_000);
    child[stream]!.on('data', (d: Buffer) => {
      seen += d.toString();
      if (pattern.test(seen)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited (${code}) before "${pattern.source}": ${seen}`));
    });
  });
}

function stop(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}

/** Runs the traffic with `tcpdump -i any -w file` in the node namespace; returns what tcpdump
 * said about the link type ("LINUX_SLL2 (Linux cooked v2)"). */
export async function captureTraffic(net: PodNetwork, file: string): Promise<string> {
  const server = spawn('ip', ['netns', 'exec', net.server, process.execPath, '-e', SERVER], { stdio: ['ignore', 'pipe', 'pipe'] });
  let tcpdump: ChildProcess | undefined;
  try {
    await waitFor(server, 'stdout', /ready/, 'the server');
    tcpdump = spawn('ip', ['netns', 'exec', net.node, 'tcpdump', '-Z', 'root', '-i', 'any', '-n', '-U', '--immediate-mode', '-w', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let said = '';
    tcpdump.stderr!.on('data', (d: Buffer) => (said += d.toString()));
    await waitFor(tcpdump, 'stderr', /listening on any/, 'tcpdump');
    execFileSync('ip', ['netns', 'exec', net.client, process.execPath, '-e', CLIENT], { stdio: 'ignore', timeout: 10_000 });
    // Let the last packets reach the capture before stopping it.
    await new Promise((r) => setTimeout(r, 300));
    await stop(tcpdump, 'SIGINT');
    return /link-type (\S+ \([^)]*\))/.exec(said)?.[1] ?? said.trim();
  } finally {
    if (tcpdump) await stop(tcpdump, 'SIGKILL');
    await stop(server, 'SIGKILL');
  }
}

// Policy compilation at scale: a generated cluster (bench/gen-cluster.js; by default 2,000
// namespaces, 50,000 pods on 500 nodes, 10,004 policies) written as YAML, read by the real
// loader and compiled. Prints the time of each stage, what came out (identities, ipcache and
// policy-map entries, the largest endpoint and node), the heap in use after, and the warnings.
//
// Run alone (`node --expose-gc bench/policy-compile.js [--namespaces N]`) or from bench/run.js,
// which starts it in a process of its own so its heap does not disturb the timings of the rest.

import { clusterFiles, DEFAULTS, generateCluster } from './gen-cluster.js';

const dist = (p) => import(new URL(`../dist/${p}`, import.meta.url).href);
const { parseDocuments } = await dist('policy/load.js');
const { compile } = await dist('policy/compile.js');

/** A stage's start; `took` gives its wall time and the process's CPU time (every thread: GC
 * included), the latter being what a busy shared machine disturbs less. */
const start = () => ({ wall: performance.now(), cpu: process.cpuUsage() });
const took = (t) => {
  const c = process.cpuUsage(t.cpu);
  return `${((performance.now() - t.wall) / 1000).toFixed(2)} s (CPU ${((c.user + c.system) / 1e6).toFixed(2)} s)`;
};
const mib = (b) => `${(b / 2 ** 20).toFixed(0)} MiB`;
const n = (x) => x.toLocaleString('en-US');

function gc() {
  if (typeof globalThis.gc === 'function') globalThis.gc();
}

/** Entries per endpoint and direction, per node, and the largest of each. */
function mapSizes(compiled) {
  const perEpDir = new Map();
  for (const e of compiled.entries) {
    const k = `${e.endpointId}/${e.direction}`;
    perEpDir.set(k, (perEpDir.get(k) ?? 0) + 1);
  }
  const byId = new Map(compiled.endpoints.map((ep) => [ep.id, ep]));
  let max = { count: 0, key: '' };
  for (const [key, count] of perEpDir) if (count > max.count) max = { count, key };
  const [maxId, maxDir] = max.key.split('/');
  const maxEp = byId.get(Number(maxId));
  const perNode = new Map();
  for (const [key, count] of perEpDir) {
    const node = byId.get(Number(key.split('/')[0])).node;
    perNode.set(node, (perNode.get(node) ?? 0) + count);
  }
  let maxNode = { node: '', count: 0 };
  for (const [node, count] of perNode) if (count > maxNode.count) maxNode = { node, count };
  return {
    maxPerEndpoint: { count: max.count, endpoint: maxEp ? `${maxEp.namespace}/${maxEp.pod}` : '-', direction: maxDir },
    meanPerEndpoint: compiled.entries.length / Math.max(1, perEpDir.size),
    maxNode,
  };
}

export function compileBench({ namespaces = DEFAULTS.namespaces, log = console.log } = {}) {
  const scale = namespaces / DEFAULTS.namespaces;
  const nodes = Math.max(2, Math.round(DEFAULTS.nodes * scale));

  // Warm-up: the loader and the compiler on a small cluster, so the big one runs optimized code.
  {
    const small = generateCluster({ namespaces: 40, nodes: 10, seed: 7 });
    compile(parseDocuments(clusterFiles(small)));
  }
  gc();
  const heapBefore = process.memoryUsage().heapUsed;

  let t = start();
  const generated = generateCluster({ namespaces, nodes });
  const files = clusterFiles(generated);
  const bytes = files.reduce((s, f) => s + Buffer.byteLength(f.text), 0);
  const genTime = took(t);

  t = start();
  const inputs = parseDocuments(files);
  const loadTime = took(t);

  t = start();
  const compiled = compile(inputs);
  const compileTime = took(t);

  const heapAfter = process.memoryUsage().heapUsed;
  gc();
  const heapRetained = process.memoryUsage().heapUsed;

  const kinds = { reserved: 0, endpoints: 0, cidr: 0 };
  for (const i of compiled.identities) kinds[i.kind]++;
  const policyCount = (kind) => inputs.policies.filter((p) => p.kind === kind).length;
  const sizes = mapSizes(compiled);
  const warnings = new Map();
  for (const w of compiled.warnings) warnings.set(w.code, (warnings.get(w.code) ?? 0) + 1);

  log(`Policy compilation at scale (node ${process.version})`);
  log('');
  log(`cluster      ${n(inputs.cluster.namespaces.length)} namespaces, ${n(inputs.cluster.pods.length)} pods, ${n(inputs.cluster.nodes.length)} nodes`);
  log(`policies     ${n(inputs.policies.length)}: ${n(policyCount('NetworkPolicy'))} NetworkPolicy, ${n(policyCount('CiliumNetworkPolicy'))} CiliumNetworkPolicy, ${n(policyCount('CiliumClusterwideNetworkPolicy'))} CiliumClusterwideNetworkPolicy -> ${n(compiled.rules.length)} rules`);
  log(`generate     ${genTime}, ${mib(bytes)} of YAML in ${files.length} files`);
  log(`load         ${loadTime}, YAML -> typed inputs (src/policy/load.ts)`);
  log(`compile      ${compileTime}`);
  log(`identities   ${n(compiled.identities.length)} (${n(kinds.endpoints)} endpoint classes, ${n(kinds.cidr)} CIDR, ${n(kinds.reserved)} reserved)`);
  log(`ipcache      ${n(compiled.ipcache.length)} entries`);
  log(`policy map   ${n(compiled.entries.length)} entries for ${n(compiled.endpoints.length)} endpoints ` +
    `(mean ${sizes.meanPerEndpoint.toFixed(1)} per endpoint and direction; ` +
    `largest ${n(sizes.maxPerEndpoint.count)}: ${sizes.maxPerEndpoint.endpoint} ${sizes.maxPerEndpoint.direction}; ` +
    `largest node ${sizes.maxNode.node}: ${n(sizes.maxNode.count)})`);
  log(`isolated     ${n(compiled.endpoints.filter((e) => e.ingressEnforced).length)} endpoints for ingress, ${n(compiled.endpoints.filter((e) => e.egressEnforced).length)} for egress`);
  log(`heap         ${mib(heapAfter - heapBefore)} more in use after compiling, ${mib(heapRetained - heapBefore)} after a GC with the YAML, inputs and result alive`);
  log(`warnings     ${compiled.warnings.length === 0 ? 'none' : [...warnings].map(([c, k]) => `${c} x${k}`).join(', ')}`);
  // Keep them alive up to here, so the retained heap is what it says.
  return { files, inputs, compiled };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const i = process.argv.indexOf('--namespaces');
  compileBench(i > 0 ? { namespaces: Number(process.argv[i + 1]) } : {});
}

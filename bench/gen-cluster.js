// A deterministic generator of a large, realistic cluster for the policy benchmark: namespaces
// with team and env labels, deployments whose pods share app/tier/pod-template-hash labels and
// carry named container ports, nodes with pod CIDRs, and a mix of NetworkPolicies,
// CiliumNetworkPolicies and clusterwide deny policies like the ones platform teams write. It
// produces Kubernetes objects as `kubectl get -o yaml` would show them, and YAML text, so the
// benchmark measures the real loader as well as the compiler. Same options, same bytes.

/** A small seeded PRNG (mulberry32): the same seed gives the same cluster on every machine. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// The alphabet Kubernetes uses for pod-template-hash and pod name suffixes (no vowels).
const HASH_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

const ENVS = ['prod', 'staging', 'dev'];

/** The deployments of an application namespace: labels and named container ports. */
const APP_DEPLOYMENTS = [
  { app: 'frontend', tier: 'web', ports: [['http', 8080], ['metrics', 9102]] },
  { app: 'api', tier: 'backend', ports: [['api', 9090], ['metrics', 9102]] },
  { app: 'worker', tier: 'backend', ports: [['metrics', 9102]] },
  { app: 'db', tier: 'data', ports: [['postgres', 5432], ['metrics', 9187]] },
  { app: 'cache', tier: 'data', ports: [['redis', 6379], ['metrics', 9121]] },
];

/** The monitoring namespace: the scrapers the other namespaces let in. */
const MONITORING_DEPLOYMENTS = [
  { app: 'prometheus', tier: 'monitoring', ports: [['web', 9090]] },
  { app: 'grafana', tier: 'monitoring', ports: [['http', 3000]] },
  { app: 'alertmanager', tier: 'monitoring', ports: [['web', 9093]] },
  { app: 'loki', tier: 'monitoring', ports: [['http', 3100]] },
  { app: 'kube-state-metrics', tier: 'monitoring', ports: [['http', 8080], ['metrics', 8081]] },
];

const ipv4 = (n) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');

export const DEFAULTS = Object.freeze({
  namespaces: 2000,
  podsPerNamespace: 25,
  nodes: 500,
  policiesPerNamespace: 5,
  seed: 20240601,
});

/**
 * The cluster and its policies as Kubernetes objects (plain data, in `kubectl` field order).
 * Options: namespaces, podsPerNamespace (spread over 5 deployments), nodes, seed.
 * Every namespace gets exactly 5 policies; 4 clusterwide deny policies come on top.
 */
export function generateCluster(options = {}) {
  const o = { ...DEFAULTS, ...options };
  if (o.policiesPerNamespace !== 5) throw new Error('the policy mix is written for 5 policies per namespace');
  const rand = prng(o.seed);
  const hash = (n) => Array.from({ length: n }, () => HASH_ALPHABET[Math.floor(rand() * HASH_ALPHABET.length)]).join('');

  const nodes = [];
  for (let i = 0; i < o.nodes; i++) {
    // Node addresses in 172.20.0.0/16; pod CIDRs: a /24 per node from 10.0.0.0/15.
    nodes.push({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: `node-${String(i).padStart(4, '0')}`, labels: { 'kubernetes.io/os': 'linux', 'topology.kubernetes.io/zone': `zone-${'abc'[i % 3]}` } },
      spec: { podCIDR: `10.${i >> 8}.${i & 255}.0/24`, podCIDRs: [`10.${i >> 8}.${i & 255}.0/24`] },
      status: { addresses: [{ type: 'InternalIP', address: ipv4(0xac140000 + i + 1) }, { type: 'Hostname', address: `node-${i}` }] },
    });
  }
  const nodeSlots = new Array(o.nodes).fill(0);

  const namespaces = [];
  const pods = [];
  const policies = [];
  let podIndex = 0;
  for (let n = 0; n < o.namespaces; n++) {
    const monitoring = n === 0;
    const name = monitoring ? 'monitoring' : `ns-${String(n).padStart(4, '0')}`;
    const team = monitoring ? 'platform' : `team-${String(Math.floor(rand() * 80)).padStart(2, '0')}`;
    const env = monitoring ? 'prod' : ENVS[n % 3];
    const labels = { team, env };
    if (monitoring) labels.purpose = 'monitoring';
    namespaces.push({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });

    const deployments = monitoring ? MONITORING_DEPLOYMENTS : APP_DEPLOYMENTS;
    for (let d = 0; d < deployments.length; d++) {
      const dep = deployments[d];
      const templateHash = hash(10);
      const replicas = Math.floor(o.podsPerNamespace / deployments.length) + (d < o.podsPerNamespace % deployments.length ? 1 : 0);
      for (let r = 0; r < replicas; r++) {
        // Round-robin over nodes, so every node holds pods of many namespaces.
        const node = podIndex++ % o.nodes;
        const slot = nodeSlots[node]++;
        if (slot >= 250) throw new Error(`node ${node} is full: give more nodes`);
        pods.push({
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: {
            name: `${dep.app}-${templateHash}-${hash(5)}`,
            namespace: name,
            labels: { app: dep.app, tier: dep.tier, 'pod-template-hash': templateHash },
          },
          spec: {
            nodeName: nodes[node].metadata.name,
            containers: [{ name: dep.app, ports: dep.ports.map(([pn, port]) => ({ name: pn, containerPort: port, protocol: 'TCP' })) }],
          },
          status: { phase: 'Running', podIP: `10.${node >> 8}.${node & 255}.${slot + 2}`, podIPs: [{ ip: `10.${node >> 8}.${node & 255}.${slot + 2}` }] },
        });
      }
    }
    policies.push(...namespacePolicies(n, name, env, team, o.namespaces));
  }
  policies.push(...clusterwidePolicies());
  return { namespaces, nodes, pods, policies };
}

const np = (namespace, name, spec) => ({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace }, spec });
const cnp = (namespace, name, spec) => ({ apiVersion: 'cilium.io/v2', kind: 'CiliumNetworkPolicy', metadata: { name, namespace }, spec });
const ccnp = (name, spec) => ({ apiVersion: 'cilium.io/v2', kind: 'CiliumClusterwideNetworkPolicy', metadata: { name }, spec });

/** The five policies of namespace n: a default deny, two same-namespace allows, and a rotation. */
function namespacePolicies(n, ns, env, team, total) {
  const out = [];
  // 1. Default deny: ingress everywhere, egress too in production namespaces.
  out.push(np(ns, 'default-deny', { podSelector: {}, policyTypes: env === 'prod' ? ['Ingress', 'Egress'] : ['Ingress'] }));
  if (n === 0) {
    // The monitoring namespace scrapes everything and is reached by people through grafana.
    out.push(np(ns, 'prometheus-egress', {
      podSelector: { matchLabels: { app: 'prometheus' } },
      policyTypes: ['Egress'],
      egress: [{ to: [{ namespaceSelector: {} }], ports: [{ port: 'metrics', protocol: 'TCP' }, { port: 9102, protocol: 'TCP' }] }],
    }));
    out.push(np(ns, 'grafana-from-corp', {
      podSelector: { matchLabels: { app: 'grafana' } },
      ingress: [{ from: [{ ipBlock: { cidr: '172.16.0.0/12', except: ['172.20.0.0/16'] } }], ports: [{ port: 'http' }] }],
    }));
    out.push(np(ns, 'monitoring-internal', { podSelector: {}, ingress: [{ from: [{ podSelector: {} }] }] }));
    out.push(np(ns, 'egress-dns', {
      podSelector: {},
      policyTypes: ['Egress'],
      egress: [{ to: [{ ipBlock: { cidr: '169.254.20.10/32' } }], ports: [{ port: 53, protocol: 'UDP' }, { port: 53, protocol: 'TCP' }] }],
    }));
    return out;
  }
  // 2. Same namespace: frontend to api on a port (named in half of the namespaces).
  out.push(np(ns, 'frontend-to-api', {
    podSelector: { matchLabels: { app: 'api' } },
    policyTypes: ['Ingress'],
    ingress: [{ from: [{ podSelector: { matchLabels: { app: 'frontend' } } }], ports: [{ port: n % 2 ? 'api' : 9090, protocol: 'TCP' }] }],
  }));
  // 3. The monitoring namespace scrapes the metrics port of every pod.
  out.push(np(ns, 'allow-monitoring', {
    podSelector: {},
    ingress: [{
      from: [{ namespaceSelector: { matchLabels: { purpose: 'monitoring' } }, podSelector: { matchLabels: { app: 'prometheus' } } }],
      ports: [{ port: 'metrics', protocol: 'TCP' }],
    }],
  }));
  // 4 and 5 rotate over the namespaces.
  const prev = `ns-${String(n === 1 ? total - 1 : n - 1).padStart(4, '0')}`;
  switch (n % 4) {
    case 0:
      out.push(np(ns, 'worker-egress', {
        podSelector: { matchLabels: { app: 'worker' } },
        policyTypes: ['Egress'],
        egress: [
          { to: [{ ipBlock: { cidr: '0.0.0.0/0', except: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'] } }], ports: [{ port: 443, protocol: 'TCP' }] },
          { to: [{ ipBlock: { cidr: '169.254.20.10/32' } }], ports: [{ port: 53, protocol: 'UDP' }, { port: 53, protocol: 'TCP' }] },
          { to: [{ podSelector: { matchLabels: { app: 'db' } } }, { podSelector: { matchLabels: { app: 'cache' } } }] },
        ],
      }));
      break;
    case 1:
      out.push(cnp(ns, 'api-from-neighbour', {
        endpointSelector: { matchLabels: { app: 'api' } },
        ingress: [{
          fromEndpoints: [{ matchLabels: { 'k8s:io.kubernetes.pod.namespace': prev, 'k8s:app': 'frontend' } }],
          toPorts: [{ ports: [{ port: '8000', endPort: 8099, protocol: 'TCP' }] }],
        }],
      }));
      break;
    case 2:
      out.push(cnp(ns, 'frontend-world', {
        endpointSelector: { matchLabels: { app: 'frontend' } },
        ingress: [{ fromEntities: ['world'], toPorts: [{ ports: [{ port: '8080', protocol: 'TCP' }] }] }],
        egress: [
          { toEntities: ['world'], toPorts: [{ ports: [{ port: '443', protocol: 'TCP' }] }] },
          { toEndpoints: [{ matchLabels: { app: 'api' } }], toPorts: [{ ports: [{ port: '9090', protocol: 'TCP' }] }] },
          { toCIDR: ['169.254.20.10/32'], toPorts: [{ ports: [{ port: '53', protocol: 'ANY' }] }] },
        ],
      }));
      break;
    default:
      out.push(np(ns, 'db-from-backend', {
        podSelector: { matchLabels: { app: 'db' } },
        ingress: [{ from: [{ podSelector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['api', 'worker'] }] } }], ports: [{ port: 5432 }] }],
      }));
  }
  switch (n % 5) {
    case 0:
      out.push(cnp(ns, 'db-backup-egress', {
        endpointSelector: { matchLabels: { app: 'db' } },
        egress: [{ toCIDRSet: [{ cidr: '10.250.0.0/16', except: ['10.250.99.0/24'] }], toPorts: [{ ports: [{ port: '9000', endPort: 9010, protocol: 'TCP' }] }] }],
      }));
      break;
    case 1:
      out.push(np(ns, 'team-api', {
        podSelector: { matchLabels: { app: 'api' } },
        ingress: [{ from: [{ namespaceSelector: { matchLabels: { team } }, podSelector: { matchLabels: { tier: 'backend' } } }], ports: [{ port: 9090, endPort: 9095 }] }],
      }));
      break;
    case 2:
      out.push(np(ns, 'cache-from-backend', {
        podSelector: { matchLabels: { app: 'cache' } },
        ingress: [{ from: [{ podSelector: { matchLabels: { tier: 'backend' } } }], ports: [{ port: 'redis' }] }],
      }));
      break;
    case 3:
      out.push(np(ns, 'frontend-from-corp', {
        podSelector: { matchLabels: { app: 'frontend' } },
        ingress: [{ from: [{ ipBlock: { cidr: '172.16.0.0/12', except: ['172.20.0.0/16'] } }], ports: [{ port: 8080 }, { port: 8443 }] }],
      }));
      break;
    default:
      out.push(cnp(ns, 'frontend-from-ingress-ns', {
        endpointSelector: { matchLabels: { app: 'frontend' } },
        ingress: [{
          fromEndpoints: [{ matchLabels: { 'k8s:io.kubernetes.pod.namespace': 'monitoring', 'k8s:app': 'grafana' } }],
          toPorts: [{ ports: [{ port: '8080', protocol: 'TCP' }] }],
        }],
      }));
  }
  return out;
}

/** Guardrails a platform team applies to every namespace; deny rules that do not isolate. */
function clusterwidePolicies() {
  const noDefaultDeny = { ingress: false, egress: false };
  return [
    ccnp('deny-cloud-metadata', {
      endpointSelector: {},
      enableDefaultDeny: noDefaultDeny,
      egressDeny: [{ toCIDR: ['169.254.169.254/32'] }],
    }),
    ccnp('deny-ssh-from-world', {
      endpointSelector: { matchLabels: { 'k8s:io.cilium.k8s.namespace.labels.env': 'prod' } },
      enableDefaultDeny: noDefaultDeny,
      ingressDeny: [{ fromEntities: ['world'], toPorts: [{ ports: [{ port: '22', protocol: 'TCP' }] }] }],
    }),
    ccnp('deny-blocklisted-networks', {
      endpointSelector: {},
      enableDefaultDeny: noDefaultDeny,
      ingressDeny: [{ fromCIDRSet: [{ cidr: '198.51.100.0/24' }, { cidr: '203.0.113.0/24', except: ['203.0.113.128/25'] }] }],
    }),
    ccnp('deny-smtp-egress', {
      endpointSelector: {},
      enableDefaultDeny: noDefaultDeny,
      egressDeny: [{ toEntities: ['world'], toPorts: [{ ports: [{ port: '25', protocol: 'TCP' }, { port: '465', protocol: 'TCP' }, { port: '587', protocol: 'TCP' }] }] }],
    }),
  ];
}

// ---- YAML, block style, as kubectl writes it ----

const PLAIN = /^[A-Za-z0-9_][A-Za-z0-9_.\/-]*$/;
const RESERVED_WORDS = new Set(['true', 'false', 'null', 'yes', 'no', 'on', 'off', 'y', 'n', '~']);

function scalar(v) {
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  // Plain when YAML reads it back as this string: no number look-alikes (`9102`, `1e3`).
  if (PLAIN.test(v) && Number.isNaN(Number(v)) && !RESERVED_WORDS.has(v.toLowerCase())) return v;
  return JSON.stringify(v);
}

function emit(v, indent, out) {
  const pad = ' '.repeat(indent);
  if (Array.isArray(v)) {
    for (const item of v) {
      if (item !== null && typeof item === 'object' && !isEmpty(item)) {
        const inner = [];
        emit(item, indent + 2, inner);
        out.push(`${pad}- ${inner[0].slice(indent + 2)}`, ...inner.slice(1));
      } else {
        out.push(`${pad}- ${inline(item)}`);
      }
    }
    return;
  }
  for (const [k, x] of Object.entries(v)) {
    if (x !== null && typeof x === 'object' && !isEmpty(x)) {
      out.push(`${pad}${scalar(k)}:`);
      // kubectl indents sequences under a key at the key's level.
      emit(x, Array.isArray(x) ? indent : indent + 2, out);
    } else {
      out.push(`${pad}${scalar(k)}: ${inline(x)}`);
    }
  }
}

const isEmpty = (x) => (Array.isArray(x) ? x.length === 0 : Object.keys(x).length === 0);
const inline = (x) => (x !== null && typeof x === 'object' ? (Array.isArray(x) ? '[]' : '{}') : scalar(x));

/** One object as a YAML document. */
export function toYaml(object) {
  const lines = [];
  emit(object, 0, lines);
  return lines.join('\n') + '\n';
}

/** The whole generated input as files, the way a user would keep it: cluster state and policies. */
export function clusterFiles(generated) {
  const doc = (objs) => objs.map((x) => `---\n${toYaml(x)}`).join('');
  return [
    { file: 'cluster.yaml', text: doc([...generated.nodes, ...generated.namespaces, ...generated.pods]) },
    { file: 'policies.yaml', text: doc(generated.policies) },
  ];
}

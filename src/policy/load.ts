// The policy compiler's input loader: files and directories of Kubernetes YAML or JSON (multi-
// document files, `v1 List` as kubectl writes it, typed lists such as PodList, nested lists) ->
// the typed Inputs of ast.ts. Kinds are dispatched on apiVersion and kind; kinds this project does
// not read are skipped and reported. The first problem anywhere throws a TwinpathError with file,
// line, column and YAML path, and nothing is returned: callers never see half of an input set.
//
// Each file is first read by the fast scanner of load_scan.ts, document by document into the
// collector; when the file leaves the scanner's subset, what it added is taken back and the file
// is read again with the full parser (yaml.ts), which owns every syntax error.

import { readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { TwinpathError } from '../errors.js';
import type { Cluster, Inputs, Policy, SkippedObject, Source } from './ast.js';
import { readCiliumPolicy } from './load_cilium.js';
import { readEndpointSlice, readNamespace, readNode, readPod, readService } from './load_cluster.js';
import { expectSeq, fail, Obj } from './load_fields.js';
import { readNetworkPolicy } from './load_netpol.js';
import { scanYaml } from './load_scan.js';
import { parseYaml, type YValue } from './yaml.js';

const INPUT_EXTENSIONS = ['.yaml', '.yml', '.json'];

type Reader = (root: Obj, into: Collector) => { namespace: string; name: string };

function id(o: { namespace?: string; name: string }): { namespace: string; name: string } {
  return { namespace: o.namespace ?? '', name: o.name };
}

/** The kinds read, by apiVersion then kind. */
const READERS: Record<string, Record<string, Reader>> = {
  v1: {
    Namespace: (o, c) => id(push(c.cluster.namespaces, readNamespace(o))),
    Pod: (o, c) => id(push(c.cluster.pods, readPod(o))),
    Node: (o, c) => id(push(c.cluster.nodes, readNode(o))),
    Service: (o, c) => id(push(c.cluster.services, readService(o))),
  },
  'discovery.k8s.io/v1': {
    EndpointSlice: (o, c) => id(push(c.cluster.endpointSlices, readEndpointSlice(o))),
  },
  'networking.k8s.io/v1': {
    NetworkPolicy: (o, c) => id(push(c.policies, readNetworkPolicy(o))),
  },
  'cilium.io/v2': {
    CiliumNetworkPolicy: (o, c) => id(push(c.policies, readCiliumPolicy(o, 'CiliumNetworkPolicy'))),
    CiliumClusterwideNetworkPolicy: (o, c) => id(push(c.policies, readCiliumPolicy(o, 'CiliumClusterwideNetworkPolicy'))),
  },
};

function push<T, U extends T>(list: T[], item: U): U {
  list.push(item);
  return item;
}

function groupOf(apiVersion: string): string {
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? '' : apiVersion.slice(0, slash);
}

/** Our kinds under another version of their group: refused, since their fields differ. */
function otherVersionOfReadKind(apiVersion: string, kind: string): boolean {
  const group = groupOf(apiVersion);
  if (kind === 'NetworkPolicy') return group === 'networking.k8s.io' || group === 'extensions';
  if (kind === 'EndpointSlice') return group === 'discovery.k8s.io';
  if (kind === 'CiliumNetworkPolicy' || kind === 'CiliumClusterwideNetworkPolicy') return group === 'cilium.io';
  return false;
}

class Collector {
  readonly cluster: Cluster = { namespaces: [], pods: [], nodes: [], services: [], endpointSlices: [] };
  readonly policies: Policy[] = [];
  readonly skipped: SkippedObject[] = [];
  private readonly seen = new Map<string, Source>();
  /** Objects added since `mark`, by their key in `seen`, so that `rollback` can take them back. */
  private added: string[] = [];
  add(v: YValue, inherited?: { apiVersion: string; kind: string }): void {
    if (v.kind !== 'map') fail('POLICY_BAD_OBJECT', 'a document must be a Kubernetes object (a mapping with apiVersion and kind)', v.src);
    const root = new Obj(v);
    const apiVersion = this.header(root, 'apiVersion', inherited?.apiVersion);
    const kind = this.header(root, 'kind', inherited?.kind);

    const items = root.entry('items');
    if (kind === 'List' || (kind.endsWith('List') && items !== undefined && !root.has('spec'))) {
      // `v1 List` items carry their own kind; a typed list (PodList) leaves it to the list.
      const element = kind === 'List' ? undefined : { apiVersion, kind: kind.slice(0, -'List'.length) };
      for (const item of root.get('items') === undefined ? [] : expectSeq(root.get('items')!)) this.add(item, element);
      return;
    }

    const reader = READERS[apiVersion]?.[kind];
    if (reader === undefined) {
      if (otherVersionOfReadKind(apiVersion, kind)) {
        fail('POLICY_UNSUPPORTED', `${kind} in ${apiVersion} is not supported (read: ${this.versionsOf(kind)})`, root.entry('apiVersion')?.value.src ?? v.src);
      }
      const meta = root.get('metadata');
      const nameNode = meta?.kind === 'map' ? new Obj(meta).get('name') : undefined;
      const name = nameNode?.kind === 'scalar' && typeof nameNode.value === 'string' ? nameNode.value : '';
      this.skipped.push({ kind, name, src: v.src });
      return;
    }
    const obj = reader(root, this);
    const key = `${kind}/${obj.namespace}/${obj.name}`;
    const first = this.seen.get(key);
    const nameSrc = this.nameSrc(root);
    if (first !== undefined) {
      const what = obj.namespace === '' ? `${kind} ${obj.name}` : `${kind} ${obj.namespace}/${obj.name}`;
      fail('POLICY_DUPLICATE', `${what} is defined twice (first at ${first.file}:${first.line}:${first.column})`, nameSrc);
    }
    this.seen.set(key, nameSrc);
    this.added.push(key);
  }

  /** Where the collector stands now (the lengths of its lists). */
  mark(): number[] {
    this.added = [];
    const { namespaces, pods, nodes, services, endpointSlices } = this.cluster;
    return [namespaces, pods, nodes, services, endpointSlices, this.policies, this.skipped].map((l) => l.length);
  }

  /** Back to a `mark`: everything added since is dropped. */
  rollback(mark: number[]): void {
    const { namespaces, pods, nodes, services, endpointSlices } = this.cluster;
    [namespaces, pods, nodes, services, endpointSlices, this.policies, this.skipped].forEach((l, i) => (l.length = mark[i]));
    for (const key of this.added) this.seen.delete(key);
    this.added = [];
  }

  private header(root: Obj, field: 'apiVersion' | 'kind', inherited: string | undefined): string {
    const n = root.get(field);
    if (n === undefined) {
      if (inherited !== undefined) return inherited;
      fail('POLICY_BAD_OBJECT', `a Kubernetes object needs "${field}"`, root.missingSrc(field));
    }
    if (n.kind !== 'scalar' || typeof n.value !== 'string' || n.value === '') {
      fail('POLICY_BAD_OBJECT', `"${field}" must be a non-empty string`, n.src);
    }
    return n.value;
  }

  private nameSrc(root: Obj): Source {
    const meta = root.get('metadata');
    const name = meta?.kind === 'map' ? new Obj(meta).get('name') : undefined;
    return name?.src ?? root.src;
  }

  private versionsOf(kind: string): string {
    return Object.keys(READERS).filter((v) => READERS[v][kind] !== undefined).join(', ');
  }

  result(): Inputs {
    return { cluster: this.cluster, policies: this.policies, skipped: this.skipped };
  }
}

export interface ParseOptions {
  /** false: every file through the full parser only (the reference the scanner is tested against). */
  scanner?: boolean;
}

/** Already-read documents; `file` is used in every Source and error. */
export function parseDocuments(docs: Array<{ file: string; text: string }>, options: ParseOptions = {}): Inputs {
  const c = new Collector();
  for (const d of docs) {
    if (options.scanner !== false && scanFile(c, d.file, d.text)) continue;
    for (const doc of parseYaml(d.file, d.text)) {
      if (doc.root !== undefined) c.add(doc.root);
    }
  }
  return c.result();
}

/**
 * One file through the scanner, each document into the collector as soon as it is read (so its
 * tree is garbage right away). False, with nothing added, when the file leaves the scanner's
 * subset. A refused object is reported only once the whole file has been scanned: the full parser
 * reports a syntax error anywhere in a file before any object of it.
 */
function scanFile(c: Collector, file: string, text: string): boolean {
  const mark = c.mark();
  let refused: { error: unknown } | undefined;
  const guarded = (add: () => void): void => {
    if (refused !== undefined) return;
    try {
      add();
    } catch (error) {
      refused = { error };
    }
  };
  const complete = scanYaml(file, text, {
    root: (root) => guarded(() => c.add(root)),
    // As Collector.add reads a list: a `v1 List`'s items carry their kind, a typed list's get it.
    list: (head) => {
      const element = head.kind === 'List' ? undefined : { apiVersion: head.apiVersion, kind: head.kind.slice(0, -'List'.length) };
      return (item) => guarded(() => c.add(item, element));
    },
  });
  if (!complete) {
    c.rollback(mark);
    return false;
  }
  if (refused !== undefined) throw refused.error;
  return true;
}

function ioError(file: string, err: unknown): never {
  const e = err as NodeJS.ErrnoException;
  throw new TwinpathError('IO_ERROR', e.code !== undefined ? `${e.code}: ${e.message}` : String(err), { file }, { cause: err });
}

/** Every input file below `dir`, sorted by path; a symlinked directory is walked once. */
function walk(dir: string, out: string[], visited: Set<string>): void {
  let real: string;
  let entries: string[];
  try {
    real = realpathSync(dir);
    entries = readdirSync(dir);
  } catch (err) {
    ioError(dir, err);
  }
  if (visited.has(real)) return;
  visited.add(real);
  for (const name of entries) {
    const p = join(dir, name);
    let st;
    try {
      st = statSync(p);
    } catch (err) {
      ioError(p, err);
    }
    if (st.isDirectory()) walk(p, out, visited);
    else if (st.isFile() && INPUT_EXTENSIONS.some((ext) => name.toLowerCase().endsWith(ext))) out.push(p);
  }
}

/** Files or directories (directories: every *.yaml, *.yml, *.json inside, recursively, sorted by path). */
export function loadFiles(paths: string[]): Inputs {
  const docs: Array<{ file: string; text: string }> = [];
  for (const p of paths) {
    let isDir: boolean;
    try {
      isDir = statSync(p).isDirectory();
    } catch (err) {
      ioError(p, err);
    }
    const files: string[] = [];
    if (isDir) {
      walk(p, files, new Set());
      files.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    } else {
      files.push(p);
    }
    for (const f of files) {
      try {
        docs.push({ file: f, text: readFileSync(f, 'utf8') });
      } catch (err) {
        ioError(f, err);
      }
    }
  }
  return parseDocuments(docs);
}

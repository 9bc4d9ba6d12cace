// ObjectMeta: name, namespace and labels of any object the loader reads. Policies are checked
// strictly (only ObjectMeta's own fields); cluster objects as kubectl writes them, fields we do
// not need ignored.

import { expectMap, fail, type Obj } from './load_fields.js';
import { readLabels, readName } from './load_validate.js';
import type { Source } from './ast.js';

const META_FIELDS = [
  'name', 'generateName', 'namespace', 'selfLink', 'uid', 'resourceVersion', 'generation',
  'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'labels', 'annotations',
  'ownerReferences', 'finalizers', 'managedFields',
] as const;

export interface Meta {
  name: string;
  /** '' for cluster-scoped kinds; `default` when a namespaced object names none. */
  namespace: string;
  labels: Record<string, string>;
  /** metadata.name, for duplicate reports. */
  nameSrc: Source;
}

export interface MetaOptions {
  namespaced: boolean;
  strict: boolean;
  /** Name syntax: most kinds take DNS subdomains; Namespaces DNS labels. */
  nameRule: 'subdomain' | 'label';
}

export function readMeta(root: Obj, opts: MetaOptions): Meta {
  const metaNode = root.get('metadata') ?? root.missing('metadata');
  const meta = expectMap(metaNode, 'object metadata');
  if (opts.strict) meta.strict(META_FIELDS);
  const nameNode = meta.get('name') ?? meta.missing('name', 'metadata.name is required');
  const name = readName(nameNode, opts.nameRule, 'name');
  let namespace = '';
  if (opts.namespaced) {
    const nsNode = meta.get('namespace');
    namespace = nsNode === undefined ? 'default' : readName(nsNode, 'label', 'namespace');
  }
  const labelsNode = meta.get('labels');
  const labels = labelsNode === undefined ? {} : readLabels(labelsNode, 'POLICY_BAD_VALUE');
  if (opts.strict) {
    const ann = meta.get('annotations');
    if (ann !== undefined) {
      for (const e of expectMap(ann, 'annotations').map.entries) {
        if (e.value.kind !== 'scalar' || typeof e.value.value !== 'string') fail('POLICY_BAD_VALUE', 'annotation values must be strings', e.value.src);
      }
    }
  }
  return { name, namespace, labels, nameSrc: nameNode.src };
}

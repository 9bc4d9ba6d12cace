// The suite's data on disk: the cluster (cluster.yaml), and the cases (cases/NN-slug/, each with
// its policy files and expect.yaml). Reads only what the expectations need from the cluster (the
// pod names); the policy files are for the compiler under test, so they are not interpreted here.

import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { expandMatrix, expandProbes, parseExpectation, PORTS, PROTOCOLS } from './expect.js';
import type { CaseExpectation, ExpectedProbe, Model } from './expect.js';

export const SUITE_DIR = dirname(fileURLToPath(import.meta.url));
export const CLUSTER_FILE = join(SUITE_DIR, 'cluster.yaml');
export const CASES_DIR = join(SUITE_DIR, 'cases');

export interface Case {
  /** The directory name, `NN-slug`. */
  name: string;
  dir: string;
  /** Every YAML file of the case but expect.yaml, sorted: what the policy loader gets (after the cluster). */
  policyFiles: string[];
  expectation: CaseExpectation;
  /** The matrix probes (every pod pair, port and protocol) and then the explicit probes. */
  expected: ExpectedProbe[];
  /** How many of `expected` are matrix probes. */
  matrixSize: number;
}

/** The model's pods (`namespace/name`, sorted) from cluster.yaml, with the suite's ports and protocols. */
export function loadModel(file = CLUSTER_FILE): Model {
  const pods: string[] = [];
  const visit = (obj: unknown): void => {
    if (!obj || typeof obj !== 'object') return;
    const o = obj as { kind?: string; items?: unknown[]; metadata?: { name?: string; namespace?: string } };
    if (o.kind === 'List' && Array.isArray(o.items)) o.items.forEach(visit);
    if (o.kind === 'Pod' && o.metadata?.name) pods.push(`${o.metadata.namespace ?? 'default'}/${o.metadata.name}`);
  };
  for (const doc of parseAllDocuments(readFileSync(file, 'utf8')) as Array<{ toJS(): unknown }>) visit(doc.toJS());
  pods.sort();
  return { pods, ports: PORTS, protocols: PROTOCOLS };
}

export function caseNames(dir = CASES_DIR): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
}

export function loadCase(name: string, model: Model, dir = CASES_DIR): Case {
  const caseDir = join(dir, name);
  const files = readdirSync(caseDir).sort();
  const policyFiles = files.filter((f) => /\.ya?ml$/.test(f) && f !== 'expect.yaml').map((f) => join(caseDir, f));
  const expectFile = join(caseDir, 'expect.yaml');
  const expectation = parseExpectation(readFileSync(expectFile, 'utf8'), expectFile);
  const matrix = expandMatrix(expectation, model);
  const extra = expandProbes(expectation, model);
  return { name, dir: caseDir, policyFiles, expectation, expected: [...matrix, ...extra], matrixSize: matrix.length };
}

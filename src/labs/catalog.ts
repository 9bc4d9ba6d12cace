// Where the labs are and how a person names one: the `labs/` directory of the installation,
// every `NN-slug/` in it, found by number (`1`, `01`), slug (`star-wars`) or directory name.
// A lab directory without a lab.yaml is skipped: labs may arrive one at a time.

import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TwinpathError } from '../errors.js';
import { loadLab, type Lab } from './lab.js';

/** The installation's labs/ (two levels above this module, in src/ and in dist/ alike). */
export const LABS_DIR: string = fileURLToPath(new URL('../../labs', import.meta.url));

const LAB_DIR = /^(\d\d)-([a-z0-9-]+)$/;

/** Lab directories (with a lab.yaml), in number order. */
export function labDirs(root: string = LABS_DIR): string[] {
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .filter((n) => LAB_DIR.test(n) && existsSync(join(root, n, 'lab.yaml')))
    .sort()
    .map((n) => join(root, n));
}

export function listLabs(root: string = LABS_DIR): Lab[] {
  return labDirs(root).map((d) => loadLab(d));
}

/** Finds a lab by number, slug or directory name. */
export function findLab(name: string, root: string = LABS_DIR): Lab {
  const dirs = labDirs(root);
  const n = /^\d+$/.test(name) ? Number(name) : undefined;
  const dir = dirs.find((d) => {
    const m = LAB_DIR.exec(d.slice(d.lastIndexOf('/') + 1))!;
    return (n !== undefined && Number(m[1]) === n) || m[2] === name || `${m[1]}-${m[2]}` === name;
  });
  if (!dir) {
    const known = dirs.map((d) => d.slice(d.lastIndexOf('/') + 1)).join(', ');
    throw new TwinpathError('LAB_NOT_FOUND', `no lab "${name}" (labs: ${known || 'none'})`);
  }
  return loadLab(dir);
}

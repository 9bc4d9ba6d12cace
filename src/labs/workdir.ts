// The learner's working directory: what `lab start` puts there (the lab's starting files and a
// `.twinpath-lab` marker naming the lab), what a check reads from it (the policy files, or the
// C source), how many hints of each task were shown, and `lab solution --apply`. Labs in the
// repository are only ever read: starting and solution files are copied out, never edited.

import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, join, relative, resolve } from 'node:path';
import { TwinpathError } from '../errors.js';
import { capturePath, type Lab } from './lab.js';

export const MARKER = '.twinpath-lab';

export interface Marker {
  /** The lab's directory name, `01-star-wars`. */
  lab: string;
  /** Hints shown so far, per task id. */
  hintsShown: Record<string, number>;
}

const POLICY_EXTENSIONS = ['.yaml', '.yml', '.json'];

export function readMarker(dir: string): Marker {
  const file = join(dir, MARKER);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new TwinpathError('LAB_WORKDIR', `no lab here: ${MARKER} is missing (start one with: twinpath lab start N DIR)`, { file: dir });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new TwinpathError('LAB_WORKDIR', `the marker is not JSON: ${(e as Error).message}`, { file }, { cause: e });
  }
  const m = parsed as Partial<Marker>;
  if (typeof m !== 'object' || m === null || typeof m.lab !== 'string') throw new TwinpathError('LAB_WORKDIR', 'the marker names no lab', { file, path: 'lab' });
  const hints: Record<string, number> = {};
  if (m.hintsShown !== undefined && (typeof m.hintsShown !== 'object' || m.hintsShown === null)) throw new TwinpathError('LAB_WORKDIR', 'hintsShown must be an object', { file, path: 'hintsShown' });
  for (const [k, v] of Object.entries(m.hintsShown ?? {})) if (typeof v === 'number' && Number.isInteger(v) && v >= 0) hints[k] = v;
  return { lab: m.lab, hintsShown: hints };
}

export function writeMarker(dir: string, m: Marker): void {
  writeFileSync(join(dir, MARKER), `${JSON.stringify(m, null, 2)}\n`);
}

/** Files of a lab's `start/` or `solution/` directory, relative to it, sorted. */
export function labFiles(lab: Lab, which: 'start' | 'solution'): string[] {
  const base = join(lab.dir, which);
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(relative(base, p));
    }
  };
  walk(base);
  return out;
}

/** Copies the starting files into `dir` (created if needed) and writes the marker. A directory
 * with anything in it is refused unless `force`; the repository's own lab directory always is. */
export function startLab(lab: Lab, dir: string, force: boolean): string[] {
  const target = resolve(dir);
  const labsRoot = resolve(lab.dir, '..', '..');
  const inside = relative(labsRoot, target);
  if (inside === '' || (!inside.startsWith('..') && !inside.startsWith('/') && (inside.split('/')[0] === 'labs' || inside.split('/')[0] === 'src'))) {
    throw new TwinpathError('LAB_WORKDIR', 'refusing to start a lab inside the repository\'s labs/ or src/: choose a directory of your own', { file: dir });
  }
  if (existsSync(target)) {
    if (!statSync(target).isDirectory()) throw new TwinpathError('LAB_WORKDIR', 'not a directory', { file: dir });
    if (readdirSync(target).length > 0 && !force) {
      throw new TwinpathError('LAB_WORKDIR', 'the directory is not empty (use --force to copy the starting files over what is there)', { file: dir });
    }
  }
  mkdirSync(target, { recursive: true });
  const files = labFiles(lab, 'start');
  for (const f of files) {
    mkdirSync(join(target, f, '..'), { recursive: true });
    copyFileSync(join(lab.dir, 'start', f), join(target, f));
  }
  // The story beside the files, and the lab's material under lab/ for the commands the README
  // suggests. A check never reads these copies (it reads the lab's own), and reads policy files
  // only at the top of the directory, so lab/cluster.yaml is not mistaken for one.
  const extra: string[] = [];
  if (existsSync(join(lab.dir, 'README.md'))) {
    copyFileSync(join(lab.dir, 'README.md'), join(target, 'README.md'));
    extra.push('README.md');
  }
  const material = labMaterial(lab);
  if (material.length > 0) mkdirSync(join(target, MATERIAL_DIR), { recursive: true });
  for (const src of material) {
    const name = basename(src);
    copyFileSync(src, join(target, MATERIAL_DIR, name));
    extra.push(`${MATERIAL_DIR}/${name}`);
  }
  writeMarker(target, { lab: `${String(lab.number).padStart(2, '0')}-${lab.slug}`, hintsShown: {} });
  return [...extra, ...files];
}

/** Where `lab start` puts copies of the lab's cluster and traffic. */
export const MATERIAL_DIR = 'lab';

/** The lab's cluster, traffic spec and capture (none for a bench lab). */
export function labMaterial(lab: Lab): string[] {
  return [...(lab.cluster ? [lab.cluster] : []), ...(lab.traffic ? [lab.traffic, capturePath(lab.traffic)] : [])];
}

/** Copies the solution's files over the working directory's. */
export function applySolution(lab: Lab, dir: string): string[] {
  const files = labFiles(lab, 'solution');
  for (const f of files) {
    mkdirSync(join(dir, f, '..'), { recursive: true });
    copyFileSync(join(lab.dir, 'solution', f), join(dir, f));
  }
  return files;
}

/** The policy files a check reads: YAML and JSON files directly in `dir`, sorted, except the
 * marker, hidden files and `exclude` (the identity-label file). */
export function policyFiles(dir: string, exclude: string[] = []): string[] {
  return readdirSync(dir)
    .filter((n) => !n.startsWith('.') && POLICY_EXTENSIONS.some((e) => n.toLowerCase().endsWith(e)) && !exclude.includes(n))
    .sort()
    .map((n) => join(dir, n))
    .filter((p) => statSync(p).isFile());
}

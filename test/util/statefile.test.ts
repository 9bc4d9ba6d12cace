// The shared state-file directory: atomic writes, refusing damaged or foreign files with the
// owner's code and the file, listing only names that could be state files.

import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TwinpathError } from '../../src/errors.js';
import { StateFiles } from '../../src/util/statefile.js';

interface Thing {
  version: 3;
  name: string;
  items: string[];
}

let dir: string;
let files: StateFiles<Thing>;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tp-statefile-'));
  files = new StateFiles<Thing>({
    dir: () => join(dir, 'sub'),
    checkName: (n) => {
      if (!/^[a-z]+$/.test(n)) throw new TwinpathError('NODE_ERROR', `bad name ${n}`);
      return n;
    },
    namePattern: /^[a-z]+$/,
    version: 3,
    what: 'thing',
    code: 'SANDBOX_ERROR',
    looksValid: (s) => Array.isArray(s.items),
  });
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function codeOf(f: () => unknown): { code?: string; file?: string } {
  try {
    f();
  } catch (e) {
    const t = e as TwinpathError;
    return { code: t.code, file: t.location.file };
  }
  return {};
}

describe('StateFiles', () => {
  it('writes, reads back, lists and removes; no temporary file is left', () => {
    expect(files.read('abc')).toBeUndefined();
    expect(files.list()).toEqual([]);
    files.write({ version: 3, name: 'beta', items: ['x'] });
    files.write({ version: 3, name: 'alpha', items: [] });
    files.write({ version: 3, name: 'beta', items: ['y', 'z'] });
    expect(files.read('beta')).toEqual({ version: 3, name: 'beta', items: ['y', 'z'] });
    expect(readdirSync(join(dir, 'sub')).sort()).toEqual(['alpha.json', 'beta.json']);
    expect(files.list()).toEqual(['alpha', 'beta']);
    files.remove('alpha');
    files.remove('alpha');
    expect(files.list()).toEqual(['beta']);
  });

  it('lists only names the pattern allows', () => {
    files.write({ version: 3, name: 'ok', items: [] });
    writeFileSync(join(dir, 'sub', 'Not-Ok.json'), '{}');
    writeFileSync(join(dir, 'sub', 'other.txt'), '{}');
    expect(files.list()).toEqual(['ok']);
  });

  it('refuses a bad name before touching the disk', () => {
    expect(codeOf(() => files.path('A.b')).code).toBe('NODE_ERROR');
  });

  it('a damaged, foreign or other-version file is an error of the owner code naming the file', () => {
    files.write({ version: 3, name: 'a', items: [] });
    const path = files.path('a');
    for (const text of ['{"version":3,', '{"version":2,"name":"a","items":[]}', '{"version":3,"name":"b","items":[]}', '{"version":3,"name":"a"}', 'null']) {
      writeFileSync(path, text);
      expect(codeOf(() => files.read('a'))).toEqual({ code: 'SANDBOX_ERROR', file: path });
    }
  });

  it('an unreadable path (a directory where the file should be) is IO_ERROR', () => {
    const path = files.path('a');
    mkdirSync(path, { recursive: true });
    expect(codeOf(() => files.read('a'))).toEqual({ code: 'IO_ERROR', file: path });
  });
});

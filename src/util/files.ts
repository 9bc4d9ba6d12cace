// Reading a file a user named: its bytes or its UTF-8 text, a failure (missing, unreadable, a
// directory) an IO_ERROR that names the file and keeps the system's reason as the cause.

import { readFileSync } from 'node:fs';
import { TwinpathError } from '../errors.js';

export function readInputFile(path: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(path));
  } catch (e) {
    throw new TwinpathError('IO_ERROR', `cannot read: ${(e as Error).message}`, { file: path }, { cause: e });
  }
}

export function readInputText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new TwinpathError('IO_ERROR', `cannot read: ${(e as Error).message}`, { file: path }, { cause: e });
  }
}

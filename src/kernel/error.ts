// Errors from the native addon, as TwinpathErrors. The addon throws plain Errors carrying
// code 'KERNEL_ERROR', the errno name and libbpf's log; this module keeps those fields and
// gives them the project's error type, so callers test `code` and `errnoName`, never wording.

import { TwinpathError, type ErrorLocation } from '../errors.js';

export interface KernelErrorFields {
  /** Positive errno (or libbpf error number, 4000 and up). */
  errno: number;
  /** Symbolic name: ENOENT, EEXIST, E2BIG, EACCES, LIBBPF_ERRNO__FORMAT, ... */
  errnoName: string;
  /** The addon function that failed (mapUpdate, loadObject, testRun, ...). */
  op: string;
  /** What libbpf printed during the call, verifier log included, when there was any. */
  log?: string;
}

export class KernelError extends TwinpathError implements KernelErrorFields {
  readonly errno: number;
  readonly errnoName: string;
  readonly op: string;
  readonly log?: string;
  /** A batch operation: the elements written before the refusal. */
  done?: number;

  constructor(detail: string, fields: KernelErrorFields, location: ErrorLocation = {}, options?: { cause?: unknown }) {
    super('KERNEL_ERROR', detail, location, options);
    this.name = 'KernelError';
    this.errno = fields.errno;
    this.errnoName = fields.errnoName;
    this.op = fields.op;
    if (fields.log !== undefined) this.log = fields.log;
  }
}

interface RawKernelError {
  code: 'KERNEL_ERROR';
  message: string;
  errno: number;
  errnoName: string;
  op: string;
  log?: string;
}

function isRaw(e: unknown): e is RawKernelError {
  return e instanceof Error && (e as { code?: unknown }).code === 'KERNEL_ERROR' && !(e instanceof TwinpathError);
}

/** Runs an addon call, turning its errors into KernelErrors located at `where`. */
export function kcall<T>(where: ErrorLocation, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw asKernelError(e, where);
  }
}

export function asKernelError(e: unknown, where: ErrorLocation = {}): unknown {
  if (isRaw(e)) {
    const fields: KernelErrorFields = { errno: e.errno, errnoName: e.errnoName, op: e.op };
    if (typeof e.log === 'string') fields.log = e.log;
    const k = new KernelError(e.message, fields, where, { cause: e });
    const done = (e as { done?: unknown }).done;
    if (typeof done === 'number') k.done = done;
    return k;
  }
  // Already ours (KERNEL_UNAVAILABLE, or a KernelError from an inner call): keep it whole.
  return e;
}

export function isKernelError(e: unknown, errnoName?: string): e is KernelError {
  return e instanceof KernelError && (errnoName === undefined || e.errnoName === errnoName);
}

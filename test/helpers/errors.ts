// The error a call throws, for tests that assert codes and locations: a TwinpathError is
// returned, anything else is rethrown, and a call that does not throw fails the test.

import { isTwinpathError, TwinpathError } from '../../src/errors.js';

export function thrown(fn: () => unknown): TwinpathError {
  try {
    fn();
  } catch (e) {
    if (e instanceof TwinpathError) return e;
    throw e;
  }
  throw new Error('expected a TwinpathError, but nothing was thrown');
}

/** The code of the TwinpathError a call throws, another error's text, or 'no error'. */
export function errorCode(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return isTwinpathError(e) ? e.code : String(e);
  }
  return 'no error';
}

/**
 * The one expect-error helper of the tests: runs what must fail, asserts that it threw a CakeError
 * (not a plain Error, which the CLI would report as a bug in cake), and returns it for the
 * assertions on its code, message and hint. Fails the test when nothing was thrown.
 */
import { expect } from 'vitest';
import { CakeError } from '../../src/model/errors.js';

/** The CakeError that `fn` throws. */
export function cakeError(fn: () => unknown): CakeError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CakeError);
    return err as CakeError;
  }
  throw new Error('expected a CakeError, but nothing was thrown');
}

/** The CakeError that promise `p` (or the function `p`, sync or async) rejects with. */
export async function cakeRejection(p: Promise<unknown> | (() => unknown)): Promise<CakeError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    expect(err).toBeInstanceOf(CakeError);
    return err as CakeError;
  }
  throw new Error('expected a CakeError, but nothing was thrown');
}

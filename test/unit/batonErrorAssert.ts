import assert from 'node:assert/strict';
import { isBatonError, type BatonError, type ErrorCode } from '../../shared/domain/errors.js';

/**
 * Asserts that `fn` throws a BatonError with `code` and returns it, so a test can check the
 * field and message too. Fails (rather than passing vacuously) when nothing is thrown.
 */
export function expectBatonError(fn: () => unknown, code: ErrorCode = 'validation'): BatonError {
  let caught: unknown;
  let threw = false;
  try {
    fn();
  } catch (error) {
    threw = true;
    caught = error;
  }
  assert.ok(threw, 'expected a BatonError to be thrown, but nothing was');
  assert.ok(isBatonError(caught), `expected a BatonError, got ${String(caught)}`);
  assert.equal(caught.code, code);
  return caught;
}

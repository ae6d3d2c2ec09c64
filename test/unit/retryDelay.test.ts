import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { retryDelayMs } from '../../shared/runtime/durable/replay.js';
import type { LibraryRetryOptions } from '../../shared/runtime/durable/taskTracking.js';

// `failures` is how many attempts have failed so far; the delay is the wait before the next one.
describe('retryDelayMs: examples', () => {
  it('doubles with coefficient 2 and is 0 once the attempts are used up', () => {
    const retry: LibraryRetryOptions = {
      firstRetryIntervalInMilliseconds: 1000,
      maxNumberOfAttempts: 5,
      backoffCoefficient: 2,
    };
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6].map((f) => retryDelayMs(retry, f)),
      [1000, 2000, 4000, 8000, 0, 0],
    );
  });

  it('defaults the coefficient to 1 (fixed interval)', () => {
    const retry: LibraryRetryOptions = {
      firstRetryIntervalInMilliseconds: 250,
      maxNumberOfAttempts: 4,
    };
    assert.deepEqual(
      [1, 2, 3, 4].map((f) => retryDelayMs(retry, f)),
      [250, 250, 250, 0],
    );
  });

  it('caps at maxRetryIntervalInMilliseconds', () => {
    const retry: LibraryRetryOptions = {
      firstRetryIntervalInMilliseconds: 1000,
      maxNumberOfAttempts: 10,
      backoffCoefficient: 3,
      maxRetryIntervalInMilliseconds: 5000,
    };
    assert.deepEqual(
      [1, 2, 3, 4].map((f) => retryDelayMs(retry, f)),
      [1000, 3000, 5000, 5000],
    );
  });

  it('supports fractional coefficients', () => {
    const retry: LibraryRetryOptions = {
      firstRetryIntervalInMilliseconds: 1000,
      maxNumberOfAttempts: 4,
      backoffCoefficient: 1.5,
    };
    assert.deepEqual(
      [1, 2, 3].map((f) => retryDelayMs(retry, f)),
      [1000, 1500, 2250],
    );
  });

  it('a single attempt never waits', () => {
    assert.equal(
      retryDelayMs({ firstRetryIntervalInMilliseconds: 1000, maxNumberOfAttempts: 1 }, 1),
      0,
    );
  });
});

describe('retryDelayMs: properties', () => {
  const options = fc.record(
    {
      firstRetryIntervalInMilliseconds: fc.integer({ min: 1, max: 60_000 }),
      maxNumberOfAttempts: fc.integer({ min: 1, max: 12 }),
      backoffCoefficient: fc.double({ min: 1, max: 4, noNaN: true }),
      maxRetryIntervalInMilliseconds: fc.integer({ min: 1, max: 3_600_000 }),
    },
    { requiredKeys: ['firstRetryIntervalInMilliseconds', 'maxNumberOfAttempts'] },
  );

  it('the first retry waits the first interval (or the cap)', () => {
    fc.assert(
      fc.property(options, (retry) => {
        fc.pre(retry.maxNumberOfAttempts > 1);
        const cap = retry.maxRetryIntervalInMilliseconds ?? Infinity;
        assert.equal(retryDelayMs(retry, 1), Math.min(retry.firstRetryIntervalInMilliseconds, cap));
      }),
      { numRuns: 200 },
    );
  });

  it('is positive, capped, non-decreasing and grows by the coefficient until capped; 0 after the last attempt', () => {
    fc.assert(
      fc.property(options, (retry) => {
        const cap = retry.maxRetryIntervalInMilliseconds ?? Infinity;
        const coefficient = retry.backoffCoefficient ?? 1;
        let previous = 0;
        for (let f = 1; f < retry.maxNumberOfAttempts; f++) {
          const d = retryDelayMs(retry, f);
          assert.ok(d > 0 && d <= cap, `failures=${f}: ${d}`);
          assert.ok(d >= previous, `failures=${f}: ${d} < ${previous}`);
          if (f > 1 && d < cap) {
            const ratio = d / previous;
            assert.ok(
              Math.abs(ratio - coefficient) < 1e-9 * coefficient,
              `ratio ${ratio} vs ${coefficient}`,
            );
          }
          previous = d;
        }
        for (let f = retry.maxNumberOfAttempts; f < retry.maxNumberOfAttempts + 3; f++) {
          assert.equal(retryDelayMs(retry, f), 0, `failures=${f}`);
        }
      }),
      { numRuns: 200 },
    );
  });
});

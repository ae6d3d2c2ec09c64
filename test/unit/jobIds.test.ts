import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { jobIdFor, jobIdPattern } from '../../shared/domain/jobIds.js';

describe('jobIdFor', () => {
  it('is readable when the parts are already safe', () => {
    assert.equal(jobIdFor('run-1', 'step-a', 2), 'run-1-step-a-a2');
  });

  it('is the same for the same run, step and attempt (idempotency key)', () => {
    fc.assert(
      fc.property(
        fc.string(),
        fc.string(),
        fc.integer({ min: 1, max: 1000 }),
        (run, step, attempt) => {
          assert.equal(jobIdFor(run, step, attempt), jobIdFor(run, step, attempt));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('always satisfies the container-group naming rule', () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 120 }),
        fc.string({ maxLength: 120 }),
        fc.integer({ min: 1, max: 10_000 }),
        (run, step, attempt) => {
          const id = jobIdFor(run, step, attempt);
          assert.match(id, jobIdPattern);
          assert.ok(id.length <= 63);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('keeps apart parts that only differ in characters it must replace', () => {
    assert.notEqual(jobIdFor('Run_1', 'x', 1), jobIdFor('run-1', 'x', 1));
    assert.notEqual(jobIdFor('ABC', 'x', 1), jobIdFor('abc', 'x', 1));
    assert.notEqual(jobIdFor('a.b', 'x', 1), jobIdFor('a-b', 'x', 1));
    assert.notEqual(jobIdFor('r', 'x', 1), jobIdFor('r', 'x', 2));
    const long = 'r'.repeat(80);
    assert.notEqual(jobIdFor(long, 'step-one', 1), jobIdFor(long, 'step-two', 1));
  });
});

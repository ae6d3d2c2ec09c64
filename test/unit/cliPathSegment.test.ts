import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pathSegment } from '../../shared/cli/apiClient.js';
import { isBatonError } from '../../shared/domain/errors.js';

describe('the CLI puts a user value in a URL path as one segment', () => {
  it('encodes separators and keeps the value whole', () => {
    assert.equal(pathSegment('user.alice.x', 'dataset'), 'user.alice.x');
    assert.equal(pathSegment('../x', 'runId'), '..%2Fx');
    assert.equal(pathSegment('%2e%2e', 'runId'), '%252e%252e');
  });

  it('refuses what has no such form, naming the field (a URIError was exit 3 before)', () => {
    for (const [value, why] of [
      ['..', /must not be "\." or "\.\."/],
      ['.', /must not be/],
      ['a\ud800', /lone surrogate/],
    ] as const) {
      assert.throws(
        () => pathSegment(value, 'runA'),
        (error) =>
          isBatonError(error, 'validation') && error.field === 'runA' && why.test(error.message),
      );
    }
  });
});

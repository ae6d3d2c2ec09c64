import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { landingIdentity } from '../../shared/app/identity.js';
import { assertMayChangeRun, type RunRecord } from '../../shared/app/runs.js';
import { isBatonError } from '../../shared/domain/errors.js';

const record = (createdBy: string): RunRecord => ({
  runId: 'hello-20261128-120000-abcd',
  pipeline: 'hello',
  params: {},
  createdAt: '2026-11-28T12:00:00.000Z',
  createdBy,
});

describe('who may change a run', () => {
  it('is whoever started it; anyone signed in for a run the system started', () => {
    assert.doesNotThrow(() => assertMayChangeRun(record('alice'), 'alice'));
    assert.throws(
      () => assertMayChangeRun(record('alice'), 'bob'),
      (e) => isBatonError(e, 'forbidden') && e.field === 'runId' && /alice/.test(e.message),
    );
    assert.doesNotThrow(() => assertMayChangeRun(record(landingIdentity), 'bob'));
  });
});

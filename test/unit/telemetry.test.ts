import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { describe, it } from 'node:test';
import { LogFields, definedFields } from '../../shared/telemetry/runLog.js';
import { spanIdOfInstance, traceIdOfRun } from '../../shared/telemetry/traceIds.js';

describe('telemetry ids and log fields', () => {
  it('derives W3C-shaped ids from run and instance ids, the same in every process', () => {
    assert.match(traceIdOfRun('r-1'), /^[0-9a-f]{32}$/);
    assert.match(spanIdOfInstance('r-1'), /^[0-9a-f]{16}$/);
    assert.equal(traceIdOfRun('r-1'), traceIdOfRun('r-1'));
    assert.notEqual(traceIdOfRun('r-1'), traceIdOfRun('r-2'));
    assert.notEqual(spanIdOfInstance('r-1'), spanIdOfInstance('r-1-trial-1'));
  });

  it('keeps only defined string and number fields, printed as JSON where only text goes', () => {
    const fields = definedFields({ runId: 'r', step: undefined, attempt: 2, other: null });
    assert.deepEqual(fields, { runId: 'r', attempt: 2 });
    assert.equal(inspect(new LogFields(fields)), '{"runId":"r","attempt":2}');
  });
});

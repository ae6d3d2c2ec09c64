import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { curveOf, finalValue, parseMetricsFile } from '../../shared/domain/sweep/metricsFile.js';

describe('the trial metrics file (JSON lines)', () => {
  it('reads every numeric key as a metric at its step, skipping what is not a metric', () => {
    const report = parseMetricsFile(
      [
        '{"step": 0, "val_loss": 0.7, "train_loss": 0.8, "note": "warm-up"}',
        '',
        '{"step": 1, "val_loss": 0.5, "lr": 0.01, "extra": null}',
      ].join('\n'),
    );
    assert.deepEqual(report.problems, []);
    assert.deepEqual(report.points, [
      { key: 'val_loss', value: 0.7, step: 0 },
      { key: 'train_loss', value: 0.8, step: 0 },
      { key: 'val_loss', value: 0.5, step: 1 },
      { key: 'lr', value: 0.01, step: 1 },
    ]);
  });

  it('numbers reports without a step by their position; skips torn and bad lines with a note', () => {
    const report = parseMetricsFile(
      '{"loss": 3}\n[1,2]\n{"step": -1, "loss": 9}\n{"loss": 2, "bad key!": 1}\n{"loss": 1',
    );
    assert.deepEqual(curveOf(report, 'loss'), [
      { step: 0, value: 3 },
      { step: 1, value: 2 },
    ]);
    assert.equal(report.problems.length, 4, report.problems.join('; '));
    assert.match(report.problems.join('; '), /line 2: not a JSON object/);
    assert.match(report.problems.join('; '), /line 5: not JSON/);
  });

  it('takes the final value at the highest step, a later line winning a tie', () => {
    assert.equal(finalValue([]), undefined);
    assert.equal(
      finalValue([
        { step: 2, value: 0.3 },
        { step: 5, value: 0.2 },
        { step: 5, value: 0.25 },
        { step: 4, value: 0.1 },
      ]),
      0.25,
    );
  });
});

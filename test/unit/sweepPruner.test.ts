import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { bestTrial, compareObjectiveValues } from '../../shared/domain/sweep/best.js';
import { bestSoFar, median, shouldPrune, type Curve } from '../../shared/domain/sweep/pruner.js';
import type { PrunerConfig, TrialRecord } from '../../shared/domain/sweep/searchSpace.js';

const medianPruner = (warmupSteps = 0, minTrials = 3): PrunerConfig => ({
  kind: 'median',
  warmupSteps,
  minTrials,
  checkSeconds: 5,
});

/** A curve reporting `values` at steps 0, 1, 2 … (or at the given stride). */
const curve = (values: number[], stride = 1): Curve =>
  values.map((value, i) => ({ step: i * stride, value }));

// Loss curves of completed trials: at step 2 their best-so-far values are 0.6, 0.5, 0.4, 0.3.
const others = [
  curve([0.9, 0.7, 0.6, 0.5]),
  curve([0.8, 0.6, 0.5, 0.4]),
  curve([0.7, 0.5, 0.4, 0.3]),
  curve([0.6, 0.4, 0.3, 0.2]),
];

describe('median pruner', () => {
  it('prunes a trial worse than the median of the others at the same step', () => {
    // Median at step 2 = (0.5 + 0.4) / 2 = 0.45.
    assert.equal(shouldPrune(curve([0.9, 0.8, 0.7]), others, 2, medianPruner(), 'minimize'), true);
    assert.equal(shouldPrune(curve([0.9, 0.8, 0.46]), others, 2, medianPruner(), 'minimize'), true);
    assert.equal(shouldPrune(curve([0.9, 0.8, 0.4]), others, 2, medianPruner(), 'minimize'), false);
    // Exactly the median is kept.
    assert.equal(
      shouldPrune(curve([0.9, 0.8, 0.45]), others, 2, medianPruner(), 'minimize'),
      false,
    );
  });

  it('compares best-so-far values, not the latest report', () => {
    // Worse now (0.9) but its best so far (0.3 at step 0) beats the median.
    assert.equal(shouldPrune(curve([0.3, 0.8, 0.9]), others, 2, medianPruner(), 'minimize'), false);
    // An other trial's early dip counts at later steps too: its best-so-far stays 0.1.
    const dipped = [curve([0.1, 0.9, 0.9]), curve([0.1, 0.9, 0.9]), curve([0.9, 0.9, 0.9])];
    assert.equal(shouldPrune(curve([0.5, 0.5, 0.5]), dipped, 2, medianPruner(), 'minimize'), true);
  });

  it('respects the direction', () => {
    // Accuracy curves: higher is better; at step 2 the others' bests are 0.6, 0.5, 0.4, 0.3.
    const accuracy = others.map((c) => c.map((p) => ({ step: p.step, value: 1 - p.value })));
    // Median of (0.4, 0.5, 0.6, 0.7) = 0.55.
    assert.equal(
      shouldPrune(curve([0.1, 0.2, 0.5]), accuracy, 2, medianPruner(), 'maximize'),
      true,
    );
    assert.equal(
      shouldPrune(curve([0.1, 0.2, 0.6]), accuracy, 2, medianPruner(), 'maximize'),
      false,
    );
  });

  it('never prunes during warm-up or with the pruner off', () => {
    const bad = curve([9, 9, 9, 9]);
    assert.equal(shouldPrune(bad, others, 2, medianPruner(3), 'minimize'), false);
    assert.equal(shouldPrune(bad, others, 3, medianPruner(3), 'minimize'), true);
    assert.equal(shouldPrune(bad, others, 3, { kind: 'none' }, 'minimize'), false);
  });

  it('needs minTrials other trials to have reached the step', () => {
    const bad = curve([9, 9, 9, 9]);
    assert.equal(shouldPrune(bad, others, 3, medianPruner(0, 4), 'minimize'), true);
    assert.equal(shouldPrune(bad, others, 3, medianPruner(0, 5), 'minimize'), false);
    // Trials that stopped before the step do not count.
    const short = [...others.slice(0, 2), curve([0.1, 0.1]), curve([0.1])];
    assert.equal(shouldPrune(bad, short, 3, medianPruner(0, 3), 'minimize'), false);
    assert.equal(shouldPrune(bad, short, 1, medianPruner(0, 3), 'minimize'), true);
    assert.equal(shouldPrune(bad, [], 1, medianPruner(0, 1), 'minimize'), false);
  });

  it('counts trials reporting at another cadence once they have passed the step', () => {
    // Others report every 10 steps; the trial reports at step 15. Their best-so-far at 15 is
    // their value at 10 (0.5, 0.4, 0.3): median 0.4.
    const sparse = [
      curve([0.9, 0.5, 0.4], 10),
      curve([0.9, 0.4, 0.3], 10),
      curve([0.9, 0.3, 0.2], 10),
    ];
    const trial: Curve = [{ step: 15, value: 0.45 }];
    assert.equal(shouldPrune(trial, sparse, 15, medianPruner(), 'minimize'), true);
    assert.equal(
      shouldPrune([{ step: 15, value: 0.35 }], sparse, 15, medianPruner(), 'minimize'),
      false,
    );
    // A trial that has reported nothing up to the step is left alone.
    assert.equal(
      shouldPrune([{ step: 20, value: 9 }], sparse, 15, medianPruner(), 'minimize'),
      false,
    );
  });

  it('prunes a diverged trial (only NaN so far) and ignores NaN elsewhere', () => {
    const diverged = curve([Number.NaN, Number.NaN, Number.NaN]);
    assert.equal(shouldPrune(diverged, [], 2, medianPruner(), 'minimize'), true);
    assert.equal(shouldPrune(diverged, [], 1, medianPruner(2), 'minimize'), false);
    // One NaN among good values: the best-so-far is still good.
    assert.equal(
      shouldPrune(curve([0.3, Number.NaN, 0.4]), others, 2, medianPruner(), 'minimize'),
      false,
    );
    // Others with only NaN do not count towards minTrials.
    const nanOthers = [diverged, diverged, ...others.slice(0, 2)];
    assert.equal(
      shouldPrune(curve([9, 9, 9]), nanOthers, 2, medianPruner(0, 3), 'minimize'),
      false,
    );
  });

  it('never prunes the best trial at a step, and is monotone in the trial’s values', () => {
    const curveArb = fc.array(fc.double({ min: -100, max: 100, noNaN: true }), {
      minLength: 1,
      maxLength: 6,
    });
    fc.assert(
      fc.property(
        fc.array(curveArb, { minLength: 1, maxLength: 8 }),
        curveArb,
        fc.integer({ min: 0, max: 5 }),
        fc.constantFrom('minimize' as const, 'maximize' as const),
        fc.integer({ min: 1, max: 4 }),
        (otherValues, values, step, direction, minTrials) => {
          const config = medianPruner(0, minTrials);
          const otherCurves = otherValues.map((v) => curve(v));
          const own = bestSoFar(curve(values), step, direction);
          const pruned = shouldPrune(curve(values), otherCurves, step, config, direction);
          const othersBest = otherCurves
            .filter((c) => c.some((p) => p.step >= step))
            .map((c) => bestSoFar(c, step, direction)!);
          if (
            own !== undefined &&
            othersBest.every((b) => compareObjectiveValues(own, b, direction) <= 0)
          ) {
            assert.equal(pruned, false);
          }
          // Making every value worse never rescues a pruned trial.
          const worse = values.map((v) => (direction === 'minimize' ? v + 1 : v - 1));
          if (pruned)
            assert.equal(shouldPrune(curve(worse), otherCurves, step, config, direction), true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('takes the middle of an odd count and the mean of the middle two of an even count', () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.equal(median([7]), 7);
    assert.equal(bestSoFar(curve([3, 1, 2]), 1, 'minimize'), 1);
    assert.equal(bestSoFar(curve([3, 1, 2]), 1, 'maximize'), 3);
    assert.equal(bestSoFar([{ step: 5, value: 1 }], 4, 'minimize'), undefined);
  });
});

describe('bestTrial', () => {
  const trial = (index: number, state: TrialRecord['state'], value?: number): TrialRecord => ({
    index,
    params: { x: index },
    state,
    ...(value === undefined ? {} : { value }),
  });

  it('picks the best completed trial for the direction', () => {
    const trials = [
      trial(0, 'completed', 0.5),
      trial(1, 'completed', 0.2),
      trial(2, 'completed', 0.9),
    ];
    assert.equal(bestTrial(trials, { direction: 'minimize' })?.index, 1);
    assert.equal(bestTrial(trials, { direction: 'maximize' })?.index, 2);
  });

  it('ignores failed, pruned, running and non-finite trials', () => {
    const trials = [
      trial(0, 'failed', 0),
      trial(1, 'pruned', 0.01),
      trial(2, 'running', 0.02),
      trial(3, 'completed', Number.NaN),
      trial(4, 'completed', Number.NEGATIVE_INFINITY),
      trial(5, 'completed'),
      trial(6, 'completed', 0.7),
    ];
    assert.equal(bestTrial(trials, { direction: 'minimize' })?.index, 6);
    assert.equal(bestTrial(trials.slice(0, 6), { direction: 'minimize' }), undefined);
    assert.equal(bestTrial([], { direction: 'maximize' }), undefined);
  });

  it('breaks ties by the lower index, whatever the order of the list', () => {
    const trials = [
      trial(7, 'completed', 0.1),
      trial(3, 'completed', 0.1),
      trial(5, 'completed', 0.1),
    ];
    assert.equal(bestTrial(trials, { direction: 'minimize' })?.index, 3);
    assert.equal(bestTrial([...trials].reverse(), { direction: 'maximize' })?.index, 3);
  });

  it('returns the caller’s own record (extra fields kept)', () => {
    const trials = [{ ...trial(0, 'completed', 1), jobId: 'j0' }];
    assert.equal(bestTrial(trials, { direction: 'minimize' })?.jobId, 'j0');
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  dryRunSweepSpec,
  gridSize,
  maxSearchSpaceParameters,
  parseSearchSpace,
  parseSweepSpec,
} from '../../shared/domain/sweep/searchSpace.js';
import { expectBatonError } from './batonErrorAssert.js';

const exampleSpace = {
  lr: { type: 'loguniform', low: 1e-5, high: 1e-1 },
  layers: { type: 'int', low: 1, high: 4 },
  act: { type: 'choice', values: ['relu', 'tanh'] },
  dropout: { type: 'uniform', low: 0, high: 0.5 },
};

const exampleSpec = {
  space: exampleSpace,
  objective: { metric: 'val_loss', direction: 'minimize' },
  budget: { maxTrials: 40 },
};

/** Asserts a validation error naming `field`, and returns its message. */
function expectFieldError(parse: () => unknown, field: string): string {
  const error = expectBatonError(parse);
  assert.equal(error.field, field, error.message);
  assert.ok(error.message.startsWith(`${field}: `), error.message);
  return error.message;
}

const withParam = (name: string, param: unknown): Record<string, unknown> => ({
  ...exampleSpace,
  [name]: param,
});

describe('search space validation', () => {
  it('accepts the four parameter kinds and fills in the int step', () => {
    const space = parseSearchSpace(exampleSpace);
    assert.deepEqual(space.layers, { type: 'int', low: 1, high: 4, step: 1 });
    assert.deepEqual(space.lr, exampleSpace.lr);
    assert.deepEqual(space.act, exampleSpace.act);
  });

  it('names the field for range mistakes', () => {
    const cases: [unknown, string, RegExp][] = [
      [{ type: 'uniform', low: 0.5, high: 0.5 }, 'space.p.high', /greater than low/],
      [{ type: 'uniform', low: 1, high: 0 }, 'space.p.high', /greater than low/],
      [{ type: 'uniform', low: 0, high: Infinity }, 'space.p.high', /number/],
      [{ type: 'uniform', low: 'a', high: 1 }, 'space.p.low', /number/],
      [{ type: 'loguniform', low: 0, high: 1 }, 'space.p.low', /greater than 0/],
      [{ type: 'loguniform', low: -1e-3, high: 1 }, 'space.p.low', /greater than 0/],
      [{ type: 'loguniform', low: 1e-2, high: 1e-3 }, 'space.p.high', /greater than low/],
      [{ type: 'int', low: 0.5, high: 4 }, 'space.p.low', /integer/],
      [{ type: 'int', low: 1, high: 4.5 }, 'space.p.high', /integer/],
      [{ type: 'int', low: 1, high: 4, step: 0.5 }, 'space.p.step', /integer/],
      [{ type: 'int', low: 1, high: 4, step: 0 }, 'space.p.step', /./],
      [{ type: 'int', low: 1, high: 4, step: 4 }, 'space.p.step', /at most high - low/],
      [{ type: 'int', low: 4, high: 4 }, 'space.p.high', /greater than low/],
    ];
    for (const [param, field, message] of cases) {
      const text = expectFieldError(() => parseSearchSpace(withParam('p', param)), field);
      assert.match(text, message, JSON.stringify(param));
    }
  });

  it('names the field for choice mistakes', () => {
    const cases: [unknown, string, RegExp][] = [
      [{ type: 'choice', values: [] }, 'space.act.values', /at least one/],
      [{ type: 'choice' }, 'space.act.values', /./],
      [{ type: 'choice', values: ['relu', { fn: 'gelu' }] }, 'space.act.values[1]', /./],
      [{ type: 'choice', values: [['relu']] }, 'space.act.values[0]', /./],
      [{ type: 'choice', values: ['relu', 'tanh', 'relu'] }, 'space.act.values[2]', /repeats/],
    ];
    for (const [param, field, message] of cases) {
      const text = expectFieldError(() => parseSearchSpace(withParam('act', param)), field);
      assert.match(text, message, JSON.stringify(param));
    }
    // JSON scalars of every kind are fine.
    const space = parseSearchSpace({ x: { type: 'choice', values: ['a', 1, 2.5, true, null] } });
    assert.deepEqual(space.x, { type: 'choice', values: ['a', 1, 2.5, true, null] });
  });

  it('names the field for unknown types and keys', () => {
    expectFieldError(
      () => parseSearchSpace(withParam('p', { type: 'normal', low: 0, high: 1 })),
      'space.p.type',
    );
    assert.match(
      expectFieldError(
        () => parseSearchSpace(withParam('p', { type: 'uniform', low: 0, high: 1, step: 0.1 })),
        'space.p',
      ),
      /step/,
    );
    expectFieldError(() => parseSearchSpace(withParam('p', 3)), 'space.p');
  });

  it('limits the number of parameters and checks their names', () => {
    const many = Object.fromEntries(
      Array.from({ length: maxSearchSpaceParameters + 1 }, (_, i) => [
        `p${i}`,
        { type: 'uniform', low: 0, high: 1 },
      ]),
    );
    assert.match(
      expectFieldError(() => parseSearchSpace(many), 'space'),
      /at most 50/,
    );
    delete many.p0;
    assert.equal(Object.keys(parseSearchSpace(many)).length, maxSearchSpaceParameters);
    assert.match(
      expectFieldError(() => parseSearchSpace({}), 'space'),
      /at least one/,
    );
    expectFieldError(() => parseSearchSpace([]), 'space');
    assert.match(
      expectFieldError(
        () => parseSearchSpace(withParam('bad name', exampleSpace.lr)),
        'space.bad name',
      ),
      /parameter name/,
    );
  });

  it('uses the caller’s prefix', () => {
    expectFieldError(
      () =>
        parseSearchSpace(withParam('p', { type: 'uniform', low: 1, high: 0 }), 'steps[2].space'),
      'steps[2].space.p.high',
    );
  });
});

describe('sweep spec validation', () => {
  it('fills in defaults', () => {
    const spec = parseSweepSpec(exampleSpec);
    assert.equal(spec.parallelism, 1);
    assert.deepEqual(spec.sampler, { kind: 'random' });
    assert.deepEqual(spec.pruner, { kind: 'none' });
    assert.equal(spec.seed, 0);
    assert.equal(spec.budget.maxSeconds, undefined);
    const tpe = parseSweepSpec({ ...exampleSpec, sampler: { kind: 'tpe' } });
    assert.deepEqual(tpe.sampler, { kind: 'tpe', nStartup: 10, nCandidates: 24, gamma: 0.25 });
    const grid = parseSweepSpec({ ...exampleSpec, sampler: { kind: 'grid' } });
    assert.deepEqual(grid.sampler, { kind: 'grid', gridPoints: 5 });
    const median = parseSweepSpec({ ...exampleSpec, pruner: { kind: 'median' } });
    assert.deepEqual(median.pruner, {
      kind: 'median',
      warmupSteps: 0,
      minTrials: 5,
      checkSeconds: 30,
    });
  });

  it('names the field of each mistake', () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ objective: { metric: 'loss', direction: 'lower' } }, 'sweep.objective.direction'],
      [{ objective: { metric: '', direction: 'minimize' } }, 'sweep.objective.metric'],
      [{ budget: { maxTrials: 0 } }, 'sweep.budget.maxTrials'],
      [{ budget: { maxTrials: 2.5 } }, 'sweep.budget.maxTrials'],
      [{ budget: { maxTrials: 5, maxSeconds: -1 } }, 'sweep.budget.maxSeconds'],
      [{ parallelism: 0 }, 'sweep.parallelism'],
      [{ sampler: { kind: 'bayes' } }, 'sweep.sampler.kind'],
      [{ sampler: { kind: 'grid', gridPoints: 1 } }, 'sweep.sampler.gridPoints'],
      [{ sampler: { kind: 'random', gridPoints: 3 } }, 'sweep.sampler'],
      [{ sampler: { kind: 'tpe', gamma: 1 } }, 'sweep.sampler.gamma'],
      [{ pruner: { kind: 'median', minTrials: 0 } }, 'sweep.pruner.minTrials'],
      [{ pruner: { kind: 'median', warmupSteps: -1 } }, 'sweep.pruner.warmupSteps'],
      [{ seed: -1 }, 'sweep.seed'],
      [{ seed: 2 ** 32 }, 'sweep.seed'],
      [{ space: withParam('lr', { type: 'loguniform', low: 0, high: 1 }) }, 'sweep.space.lr.low'],
      [{ extra: true }, 'sweep'],
    ];
    for (const [change, field] of cases) {
      expectFieldError(() => parseSweepSpec({ ...exampleSpec, ...change }), field);
    }
  });

  it('rejects a grid too large to mean anything, naming the sampler', () => {
    const wide = { x: { type: 'int', low: 0, high: 10_000_000 } };
    const message = expectFieldError(
      () => parseSweepSpec({ ...exampleSpec, space: wide, sampler: { kind: 'grid' } }),
      'sweep.sampler',
    );
    assert.match(message, /grid has .* points/);
    // The same space is fine for random search, and for a grid once the int has a step.
    parseSweepSpec({ ...exampleSpec, space: wide });
    parseSweepSpec({
      ...exampleSpec,
      space: { x: { ...wide.x, step: 100 } },
      sampler: { kind: 'grid' },
    });
  });

  it('computes the grid size as the product of the axes', () => {
    const space = parseSearchSpace(exampleSpace);
    // lr and dropout: gridPoints each; layers: 4 values; act: 2 values.
    assert.equal(gridSize(space, 3), 3 * 4 * 2 * 3);
    assert.equal(
      gridSize(parseSearchSpace({ n: { type: 'int', low: 0, high: 10, step: 3 } }), 7),
      4,
    );
  });

  it('shrinks the budget for a dry run, keeping what decides the trials', () => {
    const spec = parseSweepSpec({
      ...exampleSpec,
      budget: { maxTrials: 100, maxSeconds: 3600 },
      parallelism: 8,
      sampler: { kind: 'tpe' },
      pruner: { kind: 'median' },
      seed: 7,
    });
    const dry = dryRunSweepSpec(spec);
    assert.deepEqual(dry.budget, { maxTrials: 2, maxSeconds: 3600 });
    assert.equal(dry.parallelism, 2);
    assert.deepEqual(dry.pruner, { kind: 'none' });
    assert.deepEqual(dry.sampler, spec.sampler);
    assert.equal(dry.seed, 7);
    assert.deepEqual(dry.space, spec.space);
    const one = dryRunSweepSpec({ ...spec, budget: { maxTrials: 1 } });
    assert.equal(one.budget.maxTrials, 1);
    assert.equal(one.parallelism, 1);
  });
});

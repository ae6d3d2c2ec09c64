import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { buildFinalTrainingConfig } from '../../shared/domain/mlConfig.js';

describe('buildFinalTrainingConfig', () => {
  it('merges the best params over the training config, then the fixed seed over both', () => {
    const trainingConfig = { lr: 0.1, epochs: 50, l2: 0, batch: 32, seed: 1 };
    const best = { lr: 0.37, epochs: 80, seed: 999 };
    const result = buildFinalTrainingConfig({ trainingConfig, best, seed: 42 });
    assert.deepEqual(result.config, { lr: 0.37, epochs: 80, l2: 0, batch: 32, seed: 42 });
    assert.deepEqual(result.overridden, ['epochs', 'lr']);
    assert.deepEqual(result.added, []);
  });

  it('adds best keys the training config does not have, and lists them', () => {
    const result = buildFinalTrainingConfig({
      trainingConfig: { epochs: 50 },
      best: { momentum: 0.9, lr: 0.01 },
      seed: 7,
    });
    assert.deepEqual(result.config, { epochs: 50, momentum: 0.9, lr: 0.01, seed: 7 });
    assert.deepEqual(result.added, ['lr', 'momentum']);
    assert.deepEqual(result.overridden, []);
  });

  it('puts the seed under the key asked for; a best value for that key never wins', () => {
    const result = buildFinalTrainingConfig({
      trainingConfig: { random_state: 3 },
      best: { random_state: 5, lr: 0.2 },
      seed: 11,
      seedKey: 'random_state',
    });
    assert.deepEqual(result.config, { random_state: 11, lr: 0.2 });
    assert.deepEqual(result.added, ['lr']);
  });

  it('keeps nested training settings and null best values as they are', () => {
    const result = buildFinalTrainingConfig({
      trainingConfig: { optimizer: { name: 'sgd', nesterov: true }, dropout: 0.1 },
      best: { dropout: null },
      seed: 0,
    });
    assert.deepEqual(result.config, {
      optimizer: { name: 'sgd', nesterov: true },
      dropout: null,
      seed: 0,
    });
  });

  it('treats a __proto__ key as data, never as a prototype change', () => {
    const best = JSON.parse('{"__proto__": 5, "lr": 0.1}') as Record<string, number>;
    const result = buildFinalTrainingConfig({ trainingConfig: {}, best, seed: 1 });
    assert.equal(Object.getPrototypeOf(result.config), Object.prototype);
    assert.deepEqual(Object.keys(result.config).sort(), ['__proto__', 'lr', 'seed']);
    assert.deepEqual(result.added, ['__proto__', 'lr']);
  });

  it('does not modify its inputs', () => {
    const trainingConfig = { lr: 0.1 };
    const best = { lr: 0.5 };
    buildFinalTrainingConfig({ trainingConfig, best, seed: 1 });
    assert.deepEqual(trainingConfig, { lr: 0.1 });
    assert.deepEqual(best, { lr: 0.5 });
  });

  it('refuses a seed that is not a safe integer', () => {
    assert.throws(
      () => buildFinalTrainingConfig({ trainingConfig: {}, best: {}, seed: 1.5 }),
      /seed: must be a safe integer/,
    );
  });

  it('every key of either input is in the result, with best winning and the seed fixed', () => {
    const key = fc.constantFrom('a', 'b', 'c', 'd', 'seed');
    const value = fc.oneof(fc.integer(), fc.boolean(), fc.string({ maxLength: 3 }));
    fc.assert(
      fc.property(
        fc.dictionary(key, value),
        fc.dictionary(key, value),
        fc.integer(),
        (trainingConfig, best, seed) => {
          const { config, added, overridden } = buildFinalTrainingConfig({
            trainingConfig,
            best,
            seed,
          });
          assert.equal(config.seed, seed);
          for (const [k, v] of Object.entries(trainingConfig)) {
            if (k !== 'seed' && !Object.hasOwn(best, k)) assert.equal(config[k], v);
          }
          for (const [k, v] of Object.entries(best)) if (k !== 'seed') assert.equal(config[k], v);
          assert.deepEqual(
            [...added, ...overridden].sort(),
            Object.keys(best)
              .filter((k) => k !== 'seed')
              .sort(),
          );
        },
      ),
    );
  });
});

/**
 * The final training run's configuration (issue 8; the seed's `build_final_training_config`):
 * the training config the user gave, with the sweep's best trial's hyper-parameters merged over
 * it, and a fixed random seed over both, so the final model is reproducible whatever the trial
 * used.
 *
 * Merge order, lowest first: `trainingConfig` < `best` < `{[seedKey]: seed}`.
 *
 * - A best key the training config already has replaces its value (`overridden`).
 * - A best key the training config does not have is **added** (`added`), not dropped: a sweep
 *   may search a hyper-parameter the base config leaves to the script's default, and dropping
 *   it would silently train something other than the best trial. The caller records the list
 *   (the `ml` pipeline tags the training run with it) so a typo in a search space is visible.
 * - A best key equal to `seedKey` is ignored: the fixed seed always wins.
 * - Keys are defined as own properties (`Object.defineProperty`), so a key such as
 *   `__proto__` from a search space is data, never a prototype change.
 *
 * Pure: inputs are not modified.
 */
export type ConfigValue = string | number | boolean | null | ConfigValue[] | ConfigObject;
export interface ConfigObject {
  [key: string]: ConfigValue;
}

export interface FinalTrainingConfigInput {
  trainingConfig: Readonly<ConfigObject>;
  best: Readonly<Record<string, string | number | boolean | null>>;
  seed: number;
  /** The config key that carries the random seed (default `seed`). */
  seedKey?: string;
}

export interface FinalTrainingConfig {
  config: ConfigObject;
  /** Best keys that replaced a value of the training config, sorted. */
  overridden: string[];
  /** Best keys the training config did not have, sorted. */
  added: string[];
}

export const defaultSeedKey = 'seed';

export function buildFinalTrainingConfig(input: FinalTrainingConfigInput): FinalTrainingConfig {
  if (!Number.isSafeInteger(input.seed)) {
    throw new RangeError(`seed: must be a safe integer, got ${String(input.seed)}`);
  }
  const seedKey = input.seedKey ?? defaultSeedKey;
  const config: ConfigObject = {};
  const put = (key: string, value: ConfigValue): void => {
    Object.defineProperty(config, key, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  };
  for (const [key, value] of Object.entries(input.trainingConfig)) put(key, value);
  const overridden: string[] = [];
  const added: string[] = [];
  for (const [key, value] of Object.entries(input.best)) {
    if (key === seedKey) continue;
    (Object.hasOwn(input.trainingConfig, key) ? overridden : added).push(key);
    put(key, value);
  }
  put(seedKey, input.seed);
  return { config, overridden: overridden.sort(), added: added.sort() };
}

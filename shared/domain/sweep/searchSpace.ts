import { z } from 'zod';
import { parseInput } from '../validation.js';

/**
 * Sweeps (hyper-parameter searches): the search space, the sweep spec and the trial records the
 * samplers, the pruner and `bestTrial` work on. Everything here is plain JSON data, so a durable
 * orchestrator can keep it in its history; the decisions live in samplers.ts, pruner.ts and
 * best.ts, all pure.
 */

/** Most parameters one space may have: beyond this a search is not a sweep but a guess. */
export const maxSearchSpaceParameters = 50;
/** Largest grid the grid sampler accepts (its size is the product of the axes' lengths). */
export const maxGridSize = 1_000_000;
/** Points per continuous axis of a grid when the spec does not say. */
export const defaultGridPoints = 5;
/** How many trials a `--dry-run` sweep runs at most. */
export const dryRunMaxTrials = 2;

/** A parameter name: usable as a CLI flag, a template placeholder and a metric label. */
const parameterNamePattern = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;

const finite = z.number();

/** The checks every numeric range shares: an empty or reversed range is a mistake. */
function checkRange(
  ctx: { value: { low: number; high: number }; issues: z.core.$ZodRawIssue[] },
  what: string,
): void {
  const { low, high } = ctx.value;
  if (!(low < high)) {
    ctx.issues.push({
      code: 'custom',
      path: ['high'],
      message: `must be greater than low (${low}) for a ${what} parameter`,
      input: high,
    });
  }
}

export const uniformParamSchema = z
  .strictObject({ type: z.literal('uniform'), low: finite, high: finite })
  .check((ctx) => checkRange(ctx, 'uniform'));

export const logUniformParamSchema = z
  .strictObject({
    type: z.literal('loguniform'),
    low: finite.positive('must be greater than 0 (a log scale starts above zero)'),
    high: finite,
  })
  .check((ctx) => checkRange(ctx, 'loguniform'));

export const intParamSchema = z
  .strictObject({
    type: z.literal('int'),
    low: finite.int('must be an integer'),
    high: finite.int('must be an integer'),
    /** Values are low, low + step, … up to high (high itself only when the steps land on it). */
    step: finite.int('must be an integer').positive().default(1),
  })
  .check((ctx) => {
    checkRange(ctx, 'int');
    const { low, high, step } = ctx.value;
    if (low < high && step > high - low) {
      ctx.issues.push({
        code: 'custom',
        path: ['step'],
        message: `must be at most high - low (${high - low}), or the parameter has one value`,
        input: step,
      });
    }
  });

/** A JSON scalar: what a trial passes to its job as a parameter value. */
export const choiceValueSchema = z.union([z.string().max(1000), finite, z.boolean(), z.null()]);

export const choiceParamSchema = z
  .strictObject({
    type: z.literal('choice'),
    values: z.array(choiceValueSchema).min(1, 'must list at least one value').max(1000),
  })
  .check((ctx) => {
    const seen = new Set<unknown>();
    ctx.value.values.forEach((value, i) => {
      if (seen.has(value)) {
        ctx.issues.push({
          code: 'custom',
          path: ['values', i],
          message: `repeats the value ${JSON.stringify(value)}`,
          input: value,
        });
      }
      seen.add(value);
    });
  });

export const paramSchema = z.discriminatedUnion('type', [
  uniformParamSchema,
  logUniformParamSchema,
  intParamSchema,
  choiceParamSchema,
]);

export const searchSpaceSchema = z.record(z.string(), paramSchema).check((ctx) => {
  const names = Object.keys(ctx.value);
  if (names.length === 0) {
    ctx.issues.push({ code: 'custom', message: 'must have at least one parameter', input: {} });
  }
  if (names.length > maxSearchSpaceParameters) {
    ctx.issues.push({
      code: 'custom',
      message: `must have at most ${maxSearchSpaceParameters} parameters (has ${names.length})`,
      input: names.length,
    });
  }
  for (const name of names) {
    if (!parameterNamePattern.test(name)) {
      ctx.issues.push({
        code: 'custom',
        path: [name],
        message:
          'is not a valid parameter name (a letter or _, then up to 63 letters, digits, _ . -)',
        input: name,
      });
    }
  }
});

export type UniformParam = z.output<typeof uniformParamSchema>;
export type LogUniformParam = z.output<typeof logUniformParamSchema>;
export type IntParam = z.output<typeof intParamSchema>;
export type ChoiceParam = z.output<typeof choiceParamSchema>;
export type ParamSpec = z.output<typeof paramSchema>;
export type SearchSpace = z.output<typeof searchSpaceSchema>;
/** A parameter's value in one trial. */
export type ParamValue = z.output<typeof choiceValueSchema>;
/** One trial's parameters, by name. */
export type TrialParams = Record<string, ParamValue>;

export const objectiveSchema = z.strictObject({
  /** The metric the trial reports (its final value is the trial's objective value). */
  metric: z.string().min(1).max(128),
  direction: z.enum(['minimize', 'maximize']),
});
export type Objective = z.output<typeof objectiveSchema>;
export type Direction = Objective['direction'];

export const samplerSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('random') }),
  z.strictObject({
    kind: z.literal('grid'),
    /** Points per uniform/loguniform axis (ends included; log-spaced for loguniform). */
    gridPoints: finite.int().min(2).max(1000).default(defaultGridPoints),
  }),
  z.strictObject({
    kind: z.literal('tpe'),
    /** Trials sampled at random before the model takes over (it needs data to fit). */
    nStartup: finite.int().min(1).max(1000).default(10),
    /** Candidates drawn from the good model per suggestion; the best l/g ratio wins. */
    nCandidates: finite.int().min(1).max(1000).default(24),
    /** Fraction of completed trials counted as good. */
    gamma: finite.gt(0).lt(1).default(0.25),
  }),
]);
export type SamplerConfig = z.output<typeof samplerSchema>;

export const prunerSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('none') }),
  z.strictObject({
    kind: z.literal('median'),
    /** Steps a trial reports before it may be pruned (early curves are noisy). */
    warmupSteps: finite.int().min(0).default(0),
    /** Other trials that must have reached the step before the median means anything. */
    minTrials: finite.int().min(1).default(5),
    /**
     * Seconds between looks at a running trial's metrics (live pruning stops it early). Each
     * look is a timer, an activity and a tracker query in the trial's history: not too often.
     */
    checkSeconds: finite.min(1).max(3600).default(30),
  }),
]);
export type PrunerConfig = z.output<typeof prunerSchema>;

export const sweepSpecSchema = z
  .strictObject({
    space: searchSpaceSchema,
    objective: objectiveSchema,
    budget: z.strictObject({
      maxTrials: finite.int().min(1).max(10_000),
      /** Wall-clock budget: no new trial starts after it (running ones finish or are cancelled). */
      maxSeconds: finite
        .positive()
        .max(366 * 24 * 3600)
        .optional(),
    }),
    /** Trials running at once (capped by maxTrials). */
    parallelism: finite.int().min(1).max(256).default(1),
    sampler: samplerSchema.default({ kind: 'random' }),
    pruner: prunerSchema.default({ kind: 'none' }),
    /** Seeds every draw: the same spec and results give the same trials. */
    seed: finite
      .int()
      .min(0)
      .max(2 ** 32 - 1)
      .default(0),
  })
  .check((ctx) => {
    const { sampler, space } = ctx.value;
    if (sampler.kind !== 'grid') return;
    const size = gridSize(space, sampler.gridPoints);
    if (size > maxGridSize) {
      ctx.issues.push({
        code: 'custom',
        path: ['sampler'],
        message:
          `the grid has ${size.toExponential(2)} points, more than ${maxGridSize}: ` +
          'lower gridPoints, give int parameters a step, or use the random or tpe sampler',
        input: sampler,
      });
    }
  });
/** A sweep as the user wrote it, defaults filled in. */
export type SweepSpecInput = z.input<typeof sweepSpecSchema>;
export type SweepSpec = z.output<typeof sweepSpecSchema>;

/** What became of a trial; only `completed` trials have an objective value. */
export type TrialState = 'running' | 'completed' | 'failed' | 'pruned';

/** One trial of a sweep as the samplers and `bestTrial` see it (plain JSON). */
export interface TrialRecord {
  /** 0-based position in the sweep: the tie-breaker, and part of the trial's seed. */
  index: number;
  params: TrialParams;
  state: TrialState;
  /** The objective metric's final value (completed trials). */
  value?: number;
}

/** A validated search space; the `validation` error names the field (`space.lr.low`). */
export function parseSearchSpace(value: unknown, where = 'space'): SearchSpace {
  return parseInput(searchSpaceSchema, value, where);
}

/** A validated sweep spec with defaults; the `validation` error names the field. */
export function parseSweepSpec(value: unknown, where = 'sweep'): SweepSpec {
  return parseInput(sweepSpecSchema, value, where);
}

/** Parameter names in the one order every sampler uses (code-unit order, locale-independent). */
export function parameterNames(space: SearchSpace): string[] {
  return Object.keys(space).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** How many values an int parameter can take: low, low + step, … ≤ high. */
export function intValueCount(param: IntParam): number {
  return Math.floor((param.high - param.low) / param.step) + 1;
}

/** How many values a parameter has on a grid of `gridPoints` per continuous axis. */
export function gridAxisLength(param: ParamSpec, gridPoints: number): number {
  switch (param.type) {
    case 'uniform':
    case 'loguniform':
      return gridPoints;
    case 'int':
      return intValueCount(param);
    case 'choice':
      return param.values.length;
  }
}

/** The number of points of the full grid (the product of the axes' lengths). */
export function gridSize(space: SearchSpace, gridPoints: number): number {
  return Object.values(space).reduce((size, param) => size * gridAxisLength(param, gridPoints), 1);
}

/**
 * The spec a `--dry-run` sweep runs: the same space, sampler and seed (so its trials are the
 * real sweep's first ones) with a tiny budget and no pruning.
 */
export function dryRunSweepSpec(spec: SweepSpec): SweepSpec {
  const maxTrials = Math.min(spec.budget.maxTrials, dryRunMaxTrials);
  return {
    ...spec,
    budget: { ...spec.budget, maxTrials },
    parallelism: Math.min(spec.parallelism, maxTrials),
    pruner: { kind: 'none' },
  };
}

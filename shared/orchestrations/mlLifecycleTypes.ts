import { z } from 'zod';
import { trackerKeySchema } from '../domain/runFilter.js';
import type { ConfigObject } from '../domain/mlConfig.js';
import { experimentNameSchema } from '../ports/tracker.js';
import { sweepParamsSchema, trialJobSchema, type SweepOutput } from './sweepTypes.js';

/**
 * What the `ml` pipeline takes (issue 8: sweep → final training → conversion → benchmark) and
 * what its orchestrator (`mlLifecycle`) and activities pass each other. Shared by the
 * orchestrator (no I/O) and the activities.
 */

/** A file name a step's job must write into its `BATON_OUTPUT_DIR` (no folders). */
const outputFileNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/, 'a file name: letters, digits, _ . - (max 128)');

/** Settings handed to a step's job as JSON in `BATON_PARAMS`. */
const stepSettingsSchema = z.record(z.string().min(1).max(250), z.json()).default({});

/** One step's job: a trial job (argv, image, env, cpu, memory, timeout) plus its settings. */
const stepJobSchema = trialJobSchema.extend({ params: stepSettingsSchema });

export const mlLifecycleParamsSchema = z.strictObject({
  /** The tracker experiment of the training, conversion and benchmark runs. */
  experiment: experimentNameSchema.default('ml'),
  /** The `sweep` pipeline's parameters, run as a sub-orchestration. */
  sweep: sweepParamsSchema,
  /**
   * The final training job. `params` is the training config; the best trial's params are
   * merged over it and `seed` over both (see buildFinalTrainingConfig). The job must write
   * `checkpoint` into `BATON_OUTPUT_DIR`.
   */
  training: stepJobSchema.extend({
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 31 - 1)
      .default(42),
    seedKey: z.string().min(1).max(250).default('seed'),
    checkpoint: outputFileNameSchema.default('model.json'),
  }),
  /** The conversion job: reads the checkpoint at `BATON_INPUT`, writes `output`. */
  conversion: stepJobSchema.extend({
    output: outputFileNameSchema.default('model.compact.json'),
  }),
  /**
   * The benchmark job: reads the converted model at `BATON_INPUT`, writes JSON lines to
   * `BATON_METRICS_FILE`; every metric in `metrics` must be among them.
   */
  benchmark: stepJobSchema.extend({
    metrics: z.array(trackerKeySchema).max(100).default([]),
  }),
});
export type MlLifecycleParams = z.output<typeof mlLifecycleParamsSchema>;
export type MlStepJob = Omit<MlLifecycleParams['conversion'], 'output'>;

export interface MlLifecycleInput {
  runId: string;
  params: MlLifecycleParams;
}

/** The steps after the sweep, each a job and a tracker run of that name. */
export type MlStep = 'training' | 'conversion' | 'benchmark';

/** Where a step's job runs (`prepareMlTraining`, `prepareMlStep`). */
export interface PreparedMlStep {
  /** The job's working folder, relative to the work root (`ml/<runId>/<step>`). */
  cwd: string;
  /** Absolute: the folder the job writes its outputs into (`BATON_OUTPUT_DIR`), empty. */
  outputDir: string;
  /** Absolute: where the job may write JSON-lines metrics (`BATON_METRICS_FILE`). */
  metricsFile: string;
  /** The step's run in the tracker. */
  trackerRunId: string;
  /** The input file staged for the job (`BATON_INPUT`) and the artifact it came from. */
  input?: { file: string; artifact: string; fromRun: string };
}

/** `prepareMlTraining` also returns the merged training config (`BATON_PARAMS`). */
export interface PreparedMlTraining extends PreparedMlStep {
  config: ConfigObject;
}

/** What `recordMlStep` found and recorded. */
export interface MlStepRecord {
  trackerRunId: string;
  /** The lake path of the output recorded as the run's artifact (training, conversion). */
  artifact?: string;
  /** Each reported metric's final value (the one at its highest step). */
  metrics: Record<string, number>;
}

/** The artifact kind each step records, which the next step resolves its input by. */
export const mlArtifactKinds = { training: 'checkpoint', conversion: 'converted_model' } as const;

export interface MlLifecycleOutput {
  best: SweepOutput['best'];
  training: { checkpoint: string; trackerRunId: string };
  conversion: { input: string; output: string; trackerRunId: string };
  benchmark: { metrics: Record<string, number>; trackerRunId: string };
  experiment: string;
}

/** The instance id of the sweep's sub-orchestration. */
export function mlSweepInstanceId(runId: string): string {
  return `${runId}-sweep`;
}

import { z } from 'zod';
import { jobSpecInputSchema } from '../domain/jobSpec.js';
import {
  sweepSpecSchema,
  type Objective,
  type PrunerConfig,
  type TrialParams,
  type TrialState,
} from '../domain/sweep/searchSpace.js';
import { experimentNameSchema } from '../ports/tracker.js';

/**
 * What the `sweep` pipeline takes and what its orchestrators (`sweep`, `sweepTrial`) and
 * activities pass each other. Shared by the orchestrators (no I/O) and the activities.
 */

/** The job every trial runs; it gets its parameters in `BATON_PARAMS` (JSON). */
export const trialJobSchema = jobSpecInputSchema.extend({
  timeoutSeconds: z
    .number()
    .int()
    .positive()
    .max(7 * 24 * 3600)
    .default(3600),
});
export type TrialJob = z.output<typeof trialJobSchema>;

/**
 * The sweep spec (space, objective, budget, parallelism, sampler, pruner, seed: see
 * shared/domain/sweep/searchSpace.ts) plus the trial job, the tracking experiment, and
 * `dryRun`: run the seed's dry-run sweep instead (same first trials, at most 2, no pruning),
 * which checks the wiring end to end.
 */
export const sweepParamsSchema = sweepSpecSchema.safeExtend({
  trial: trialJobSchema,
  experiment: experimentNameSchema.default('sweeps'),
  dryRun: z.boolean().default(false),
});
export type SweepParams = z.output<typeof sweepParamsSchema>;

export interface SweepInput {
  runId: string;
  params: SweepParams;
}

/** The sweep's place in the tracker: its experiment and its parent run. */
export interface SweepTracking {
  experimentId: string;
  sweepRunId: string;
}

/** The input of one trial's sub-orchestration (`<runId>-trial-<index>`). */
export interface SweepTrialInput {
  runId: string;
  index: number;
  params: TrialParams;
  job: TrialJob;
  tracking: SweepTracking;
  objective: Objective;
  pruner: PrunerConfig;
}

/** Where a trial runs (`prepareTrial`): its folder, relative to the work root, and metrics file. */
export interface PreparedTrial {
  /** The trial's folder (the job's cwd) on a local backend; none on a container backend. */
  cwd?: string;
  /** The metrics file on a local backend; absent when the trial reports on its output. */
  metricsFile?: string;
}

/** What became of one trial (`recordTrial`, returned by `sweepTrial`). */
export interface TrialResult {
  index: number;
  params: TrialParams;
  state: Exclude<TrialState, 'running'>;
  /** The objective's final value (completed trials). */
  value?: number;
  /** The last value a failed or pruned trial reported, if any (never a result). */
  lastValue?: number;
  /** The step at which the median pruner stopped the trial (post hoc: see recordTrial). */
  prunedAtStep?: number;
  jobId?: string;
  trackerRunId?: string;
  message?: string;
}

/** The best trial as the tracker's query path found it (`finishSweep`). */
export interface SweepBest {
  trial: number;
  value: number;
  trackerRunId: string;
}

export interface SweepOutput {
  best: { trial: number; params: TrialParams; value: number; trackerRunId: string };
  trials: number;
  completed: number;
  failed: number;
  pruned: number;
  /** Why no further trial started. */
  stoppedBy: 'maxTrials' | 'maxSeconds' | 'grid_exhausted';
  dryRun: boolean;
  objective: Objective;
  tracking: SweepTracking & { experiment: string };
}

/** The durable step id of a trial's job (its job id derives from run, step and attempt). */
export function trialStepId(index: number): string {
  return `trial-${index}`;
}

/** The instance id of a trial's sub-orchestration. */
export function trialInstanceId(runId: string, index: number): string {
  return `${runId}-trial-${index}`;
}

import { endOnce, trackerParams } from './trackerRuns.js';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { writeFileAtomic } from '../adapters/local/fsPrimitives.js';
import path from 'node:path';
import { z } from 'zod';
import { bestTrialQuery, runIdSchema } from '../domain/runFilter.js';
import {
  curveOf,
  finalValue,
  metricsFromOutput,
  parseMetricsFile,
} from '../domain/sweep/metricsFile.js';
import { jobIdFor } from '../domain/jobIds.js';
import { shouldPrune, type Curve } from '../domain/sweep/pruner.js';
import {
  choiceValueSchema,
  objectiveSchema,
  prunerSchema,
  type Objective,
  type TrialParams,
} from '../domain/sweep/searchSpace.js';
import { isBatonError } from '../domain/errors.js';
import { parseInput } from '../domain/validation.js';
import type { Clock } from '../ports/clock.js';
import type { ComputeBackend } from '../ports/compute.js';
import type { LogStore } from '../ports/logStore.js';
import type { EndStatus, Tracker } from '../ports/tracker.js';
import type { JobOutcome } from '../orchestrations/jobs.js';
import { trialStepId } from '../orchestrations/sweepTypes.js';
import type {
  PreparedTrial,
  SweepBest,
  SweepTracking,
  TrialResult,
} from '../orchestrations/sweepTypes.js';
import type { Services } from './services.js';

/**
 * The activities of the `sweep` pipeline: the sweep's parent run in the tracker, each trial's
 * folder, each trial's record (params, metrics, status: a child of the sweep run), and the best
 * trial through the tracker's own query path (`bestTrialQuery`). Every one is safe to run again
 * (a retry, or a replay after a host kill): runs are found by their tags before one is made.
 */
export interface SweepDeps {
  tracker: Tracker;
  /** The compute backend's work root (trial folders must be inside it: they are job cwds). */
  workRoot: string;
  clock: Clock;
  /**
   * Whether trial jobs share this host's folders (the local process backend): then a trial
   * has a folder and a metrics file; otherwise (containers) it reports on its output.
   */
  sharedFolders: boolean;
  /** Trial output, for trials that report on it: the job's live output and its collected log. */
  compute: Pick<ComputeBackend, 'logs'>;
  logs: Pick<LogStore, 'read'>;
}

export function sweepDepsOf(services: Services): SweepDeps {
  return {
    tracker: services.tracker,
    workRoot: services.config.stateDir,
    clock: services.clock,
    sharedFolders: services.config.BATON_COMPUTE === 'local',
    compute: services.compute,
    logs: services.logs,
  };
}

/** Tags that find a sweep's runs again (user tags: `baton.` is the adapters'). */
const sweepTag = 'sweep_run';
const trialTag = 'trial';
const kindTag = 'kind';

const startSweepSchema = z.object({
  runId: runIdSchema,
  experiment: z.string().min(1),
  spec: z.object({ objective: objectiveSchema }).loose(),
  trial: z.object({ argv: z.array(z.string()) }).loose(),
  dryRun: z.boolean(),
});

/** Activity: the sweep's experiment and parent run (found again by its tag when retried). */
export async function startSweep(deps: SweepDeps, raw: unknown): Promise<SweepTracking> {
  const input = parseInput(startSweepSchema, raw, 'startSweep');
  const { tracker } = deps;
  const experimentId = await tracker.getOrCreateExperiment(input.experiment);
  const [existing] = await tracker.searchRuns({
    experimentIds: [experimentId],
    filter: { tags: { [sweepTag]: input.runId, [kindTag]: 'sweep' } },
    maxResults: 1,
  });
  if (existing !== undefined) return { experimentId, sweepRunId: existing.runId };
  const sweepRunId = await tracker.startRun({
    experimentId,
    name: input.runId,
    tags: {
      [sweepTag]: input.runId,
      [kindTag]: 'sweep',
      objective: `${input.spec.objective.direction} ${input.spec.objective.metric}`,
      ...(input.dryRun ? { dry_run: 'true' } : {}),
    },
  });
  await tracker.logParams(sweepRunId, {
    spec: JSON.stringify(input.spec).slice(0, 6000),
    command: JSON.stringify(input.trial.argv).slice(0, 6000),
  });
  return { experimentId, sweepRunId };
}

const prepareTrialSchema = z.object({
  runId: runIdSchema,
  index: z.number().int().min(0),
  params: z.record(z.string(), choiceValueSchema),
});

/** The folder of trial `index`, relative to the work root (`sweeps/<runId>/trial-<index>`). */
export function trialFolder(runId: string, index: number): string {
  return `sweeps/${runId}/trial-${index}`;
}

/**
 * Activity: a fresh folder for the trial (its job's working folder) with `params.json`, and
 * the path its job writes metrics to. A metrics file left by an earlier attempt at this
 * activity is removed: the job has not been launched yet when this runs.
 */
export async function prepareTrial(deps: SweepDeps, raw: unknown): Promise<PreparedTrial> {
  const input = parseInput(prepareTrialSchema, raw, 'prepareTrial');
  if (!deps.sharedFolders) return {};
  const cwd = trialFolder(input.runId, input.index);
  const dir = path.join(deps.workRoot, ...cwd.split('/'));
  await mkdir(dir, { recursive: true });
  const metricsFile = path.join(dir, 'metrics.jsonl');
  await rm(metricsFile, { force: true });
  await writeFileAtomic(
    path.join(dir, 'params.json'),
    `${JSON.stringify(input.params, null, 2)}\n`,
    {
      sweepTemps: true,
    },
  );
  return { cwd, metricsFile };
}

const recordTrialSchema = z.object({
  runId: runIdSchema,
  index: z.number().int().min(0),
  params: z.record(z.string(), choiceValueSchema),
  tracking: z.object({ experimentId: z.string(), sweepRunId: runIdSchema }),
  objective: objectiveSchema,
  pruner: prunerSchema,
  /** Absent: the trial reported on its output (`baton-metric` lines). */
  metricsFile: z.string().min(1).optional(),
  /** The step at which live pruning stopped the job (its outcome is then `canceled`). */
  prunedAtStep: z.number().optional(),
  outcome: z
    .object({
      jobId: z.string(),
      state: z.enum(['succeeded', 'failed', 'canceled', 'timed_out']),
      exitCode: z.number().optional(),
      message: z.string().optional(),
    })
    .loose(),
});

/**
 * Activity: reads the trial's metrics file and records the trial as a child run of the sweep
 * (params, every metric with its steps, status), then returns its result.
 *
 * - A job that did not succeed, or never reported the objective metric, is `failed` (run
 *   FAILED); whatever it reported is still logged.
 * - Median pruning: a running trial is looked at every `pruner.checkSeconds`
 *   (`checkTrialPruning`) and its job canceled as soon as the median rule says so; it arrives
 *   here `canceled` with `prunedAtStep`. A trial that ended between two looks is judged post
 *   hoc, against the sweep's trials completed when it ended. Either way it is `pruned` (run
 *   KILLED, tag `pruned_at_step`) and its value does not count.
 */
export async function recordTrial(deps: SweepDeps, raw: unknown): Promise<TrialResult> {
  const input = parseInput(recordTrialSchema, raw, 'recordTrial');
  const { tracker } = deps;
  const outcome = input.outcome as JobOutcome;
  const text =
    input.metricsFile === undefined
      ? metricsFromOutput(
          (await deps.logs.read(input.runId, { step: trialStepId(input.index) })).map(
            (line) => line.message,
          ),
        )
      : await readMetricsFile(input.metricsFile);
  const report = parseMetricsFile(text);
  const curve = curveOf(report, input.objective.metric);
  const lastValue = finalValue(curve);
  const runId = await trialRun(tracker, input.tracking, input.runId, input.index);
  await tracker.logParams(runId, trackerParams(input.params));
  if (report.points.length > 0) {
    const timestamp = deps.clock.now().getTime();
    await tracker.logMetrics(
      runId,
      report.points.map((point) => ({ ...point, timestamp })),
    );
  }

  const base = {
    index: input.index,
    params: input.params as TrialParams,
    jobId: outcome.jobId,
    trackerRunId: runId,
  };
  let result: TrialResult;
  if (input.prunedAtStep !== undefined && outcome.state === 'canceled') {
    result = { ...base, state: 'pruned', prunedAtStep: input.prunedAtStep };
  } else if (outcome.state !== 'succeeded') {
    const how =
      outcome.state === 'failed' && outcome.exitCode !== undefined
        ? `exit code ${outcome.exitCode}`
        : outcome.state;
    result = {
      ...base,
      state: 'failed',
      message: `job ${outcome.jobId}: ${how}${outcome.message === undefined ? '' : ` (${outcome.message})`}`,
    };
  } else if (lastValue === undefined) {
    result = {
      ...base,
      state: 'failed',
      message:
        `job ${outcome.jobId} reported no "${input.objective.metric}" in its metrics file` +
        (report.problems.length > 0 ? ` (${report.problems.join('; ')})` : ''),
    };
  } else {
    const prunedAt =
      input.pruner.kind === 'none'
        ? undefined
        : await prunedAtStep(tracker, input, curve, runId, input.objective);
    result =
      prunedAt === undefined
        ? { ...base, state: 'completed', value: lastValue }
        : { ...base, state: 'pruned', prunedAtStep: prunedAt };
  }
  if (result.state !== 'completed' && lastValue !== undefined) result.lastValue = lastValue;
  await tracker.setTags(runId, {
    state: result.state,
    ...(result.prunedAtStep === undefined ? {} : { pruned_at_step: String(result.prunedAtStep) }),
    ...(result.message === undefined ? {} : { message: result.message.slice(0, 4000) }),
  });
  await tracker.endRun(runId, endStatusOf(result.state));
  return result;
}

const finishSweepSchema = z.object({
  runId: runIdSchema,
  tracking: z.object({ experimentId: z.string(), sweepRunId: runIdSchema }),
  objective: objectiveSchema,
  status: z.enum(['FINISHED', 'FAILED']),
  trials: z.number().int().min(0).optional(),
  message: z.string().optional(),
});

/**
 * Activity: ends the sweep's parent run. When the sweep finished, first finds the best trial
 * with the tracker's query (`bestTrialQuery`: finished children ordered by the objective) and
 * logs it on the parent; null when no trial finished with the metric.
 */
export async function finishSweep(deps: SweepDeps, raw: unknown): Promise<SweepBest | null> {
  const input = parseInput(finishSweepSchema, raw, 'finishSweep');
  const { tracker } = deps;
  const { sweepRunId, experimentId } = input.tracking;
  if (input.status === 'FAILED') {
    if (input.message !== undefined) {
      await tracker.setTags(sweepRunId, { message: input.message.slice(0, 4000) });
    }
    await endOnce(tracker, sweepRunId, 'FAILED');
    return null;
  }
  const query = bestTrialQuery({
    sweepRunId,
    metric: input.objective.metric,
    goal: input.objective.direction,
  });
  const [top] = await tracker.searchRuns({ experimentIds: [experimentId], ...query });
  const value = top?.metrics[input.objective.metric];
  const trial = Number(top?.tags[trialTag]);
  if (top === undefined || value === undefined || !Number.isInteger(trial)) {
    await endOnce(tracker, sweepRunId, 'FAILED');
    return null;
  }
  await tracker.logMetrics(sweepRunId, [{ key: `best_${input.objective.metric}`, value }]);
  await tracker.setTags(sweepRunId, {
    best_trial: String(trial),
    best_run: top.runId,
    ...(input.trials === undefined ? {} : { trials: String(input.trials) }),
  });
  await endOnce(tracker, sweepRunId, 'FINISHED');
  return { trial, value, trackerRunId: top.runId };
}

/** The trial's child run, found by its tag when this activity runs again, else started. */
async function trialRun(
  tracker: Tracker,
  tracking: SweepTracking,
  runId: string,
  index: number,
): Promise<string> {
  const [existing] = await tracker.searchRuns({
    experimentIds: [tracking.experimentId],
    filter: { parentRunId: tracking.sweepRunId, tags: { [trialTag]: String(index) } },
    maxResults: 1,
  });
  if (existing !== undefined) return existing.runId;
  return tracker.startRun({
    experimentId: tracking.experimentId,
    parentRunId: tracking.sweepRunId,
    name: `trial-${index}`,
    tags: { [sweepTag]: runId, [trialTag]: String(index), [kindTag]: 'trial' },
  });
}

async function readMetricsFile(file: string): Promise<string> {
  return readFile(file, 'utf8').catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw error;
  });
}

const checkPruningSchema = recordTrialSchema.omit({
  outcome: true,
  prunedAtStep: true,
  params: true,
});

/**
 * Activity: live pruning's look at a running trial. Reads what the trial has reported so far
 * and answers the first step at which the median rule stops it (against the sweep's completed
 * trials), or null to let it run.
 */
export async function checkTrialPruning(
  deps: SweepDeps,
  raw: unknown,
): Promise<{ prunedAtStep: number | null }> {
  const input = parseInput(checkPruningSchema, raw, 'checkTrialPruning');
  if (input.pruner.kind === 'none') return { prunedAtStep: null };
  const text =
    input.metricsFile === undefined
      ? metricsFromOutput(
          (
            await deps.compute
              .logs(jobIdFor(input.runId, trialStepId(input.index), 1), { tail: 10_000 })
              .catch((error: unknown) => {
                // Not created yet (the launch still on its way): nothing reported so far.
                if (isBatonError(error, 'not_found')) return '';
                throw error;
              })
          ).split('\n'),
        )
      : await readMetricsFile(input.metricsFile);
  const curve = curveOf(parseMetricsFile(text), input.objective.metric);
  if (curve.length === 0) return { prunedAtStep: null };
  const step = await prunedAtStep(deps.tracker, input, curve, '', input.objective);
  return { prunedAtStep: step ?? null };
}

/**
 * The first step at which the median pruner would have stopped this trial, comparing it with
 * the sweep's other finished (completed, not pruned) trials; undefined when it never would.
 */
async function prunedAtStep(
  tracker: Tracker,
  input: Pick<z.output<typeof recordTrialSchema>, 'tracking' | 'pruner'>,
  curve: Curve,
  ownRunId: string,
  objective: Objective,
): Promise<number | undefined> {
  const siblings = await tracker.searchRuns({
    experimentIds: [input.tracking.experimentId],
    filter: { parentRunId: input.tracking.sweepRunId, status: 'FINISHED' },
  });
  const others: Curve[] = [];
  for (const sibling of siblings) {
    if (sibling.runId === ownRunId) continue;
    const run = await tracker.getRun(sibling.runId);
    others.push(
      (run.metricHistory[objective.metric] ?? []).map((p) => ({ step: p.step, value: p.value })),
    );
  }
  const steps = [...new Set(curve.map((point) => point.step))].sort((a, b) => a - b);
  return steps.find((step) => shouldPrune(curve, others, step, input.pruner, objective.direction));
}

function endStatusOf(state: TrialResult['state']): EndStatus {
  return state === 'completed' ? 'FINISHED' : state === 'pruned' ? 'KILLED' : 'FAILED';
}

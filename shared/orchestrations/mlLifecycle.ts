import type * as df from 'durable-functions';
import { RetryOptions, type OrchestrationContext } from 'durable-functions';
import { runJobAndWait } from './jobs.js';
import {
  mlArtifactKinds,
  mlSweepInstanceId,
  type MlLifecycleInput,
  type MlLifecycleOutput,
  type MlStep,
  type MlStepJob,
  type MlStepRecord,
  type PreparedMlStep,
  type PreparedMlTraining,
} from './mlLifecycleTypes.js';
import type { SweepInput, SweepOutput } from './sweepTypes.js';

/**
 * The `ml` pipeline (issue 8, the seed's HPO → final training → conversion → benchmarking):
 *
 * 1. **sweep**: the `sweep` orchestrator as a sub-orchestration (`<runId>-sweep`), with the
 *    params' sweep part; its trials' jobs belong to this run.
 * 2. **training**: `prepareMlTraining` merges the best trial's params over the training config
 *    with a fixed seed; the job gets it in `BATON_PARAMS` and writes its checkpoint into
 *    `BATON_OUTPUT_DIR`; `recordMlStep` checks the job succeeded and the checkpoint exists,
 *    copies it to the lake and records it as the `training` run's artifact.
 * 3. **conversion**: `prepareMlStep` resolves its input from the training run's recorded
 *    artifact in the tracker (never from a path guessed here) and stages it for the job
 *    (`BATON_INPUT`); the converted file is recorded the same way.
 * 4. **benchmark**: the same on the converted model; its JSON-lines metrics are recorded on
 *    the `benchmark` run.
 *
 * Between steps only references travel (tracker run ids, lake paths, metric values). Any step
 * that fails stops the run with an error naming the step; no later step runs.
 */

const activityRetry = new RetryOptions(2000, 3);

export function* mlLifecycle(
  context: OrchestrationContext,
): Generator<df.Task, MlLifecycleOutput, unknown> {
  const { runId, params } = context.df.getInput<MlLifecycleInput>();
  const { experiment } = params;

  const swept: SweepOutput = yield* step(context, 'sweep', function* () {
    const input: SweepInput = { runId, params: params.sweep };
    return (yield context.df.callSubOrchestrator(
      'sweep',
      input,
      mlSweepInstanceId(runId),
    )) as SweepOutput;
  });

  const training = yield* step(context, 'training', function* () {
    const prepared = (yield context.df.callActivityWithRetry('prepareMlTraining', activityRetry, {
      runId,
      experiment,
      config: params.training.params,
      best: swept.best,
      seed: params.training.seed,
      seedKey: params.training.seedKey,
    })) as PreparedMlTraining;
    return yield* runStepJob(context, {
      runId,
      step: 'training',
      job: params.training,
      prepared,
      settings: prepared.config,
      outputName: params.training.checkpoint,
      expectFile: { name: params.training.checkpoint, kind: mlArtifactKinds.training },
    });
  });

  const conversion = yield* step(context, 'conversion', function* () {
    const prepared = (yield context.df.callActivityWithRetry('prepareMlStep', activityRetry, {
      runId,
      experiment,
      step: 'conversion',
      from: { trackerRunId: training.record.trackerRunId, kind: mlArtifactKinds.training },
    })) as PreparedMlStep;
    return yield* runStepJob(context, {
      runId,
      step: 'conversion',
      job: params.conversion,
      prepared,
      settings: params.conversion.params,
      outputName: params.conversion.output,
      expectFile: { name: params.conversion.output, kind: mlArtifactKinds.conversion },
    });
  });

  const benchmark = yield* step(context, 'benchmark', function* () {
    const prepared = (yield context.df.callActivityWithRetry('prepareMlStep', activityRetry, {
      runId,
      experiment,
      step: 'benchmark',
      from: { trackerRunId: conversion.record.trackerRunId, kind: mlArtifactKinds.conversion },
    })) as PreparedMlStep;
    return yield* runStepJob(context, {
      runId,
      step: 'benchmark',
      job: params.benchmark,
      prepared,
      settings: params.benchmark.params,
      requireMetrics: params.benchmark.metrics,
    });
  });

  const output: MlLifecycleOutput = {
    best: swept.best,
    training: {
      checkpoint: required(training.record.artifact, 'training'),
      trackerRunId: training.record.trackerRunId,
    },
    conversion: {
      input: required(conversion.prepared.input?.artifact, 'conversion input'),
      output: required(conversion.record.artifact, 'conversion'),
      trackerRunId: conversion.record.trackerRunId,
    },
    benchmark: {
      metrics: benchmark.record.metrics,
      trackerRunId: benchmark.record.trackerRunId,
    },
    experiment,
  };
  context.df.setCustomStatus({ phase: 'completed', step: 'done' });
  return output;
}

/** Runs one step's body; a failure becomes an error naming the step, and stops the run. */
function* step<T>(
  context: OrchestrationContext,
  name: 'sweep' | MlStep,
  body: () => Generator<df.Task, T, unknown>,
): Generator<df.Task, T, unknown> {
  context.df.setCustomStatus({ phase: 'running', step: name });
  try {
    return yield* body();
  } catch (error) {
    throw new Error(`ml step '${name}' failed: ${errorMessage(error)}`);
  }
}

interface StepJobRequest {
  runId: string;
  step: MlStep;
  job: MlStepJob;
  prepared: PreparedMlStep;
  /** Handed to the job as JSON in `BATON_PARAMS`. */
  settings: unknown;
  /** The file the job must write into its output folder (`BATON_OUTPUT_NAME`). */
  outputName?: string;
  expectFile?: { name: string; kind: string };
  requireMetrics?: string[];
}

/** A step's job (step id = the step's name, attempt 1), then `recordMlStep` on its outcome. */
function* runStepJob(
  context: OrchestrationContext,
  request: StepJobRequest,
): Generator<df.Task, { prepared: PreparedMlStep; record: MlStepRecord }, unknown> {
  const { prepared } = request;
  // Only the job's own fields: the step's settings travel in BATON_PARAMS.
  const { argv, image, env, cpu, memoryGb, timeoutSeconds } = request.job;
  const optional = withoutUndefined({ image, cpu, memoryGb, timeoutSeconds });
  const outcome = yield* runJobAndWait(context, {
    runId: request.runId,
    stepId: request.step,
    attempt: 1,
    spec: {
      argv,
      ...optional,
      env: {
        ...env,
        BATON_PARAMS: JSON.stringify(request.settings),
        BATON_OUTPUT_DIR: prepared.outputDir,
        BATON_METRICS_FILE: prepared.metricsFile,
        ...(request.outputName === undefined ? {} : { BATON_OUTPUT_NAME: request.outputName }),
        ...(prepared.input === undefined ? {} : { BATON_INPUT: prepared.input.file }),
      },
      cwd: prepared.cwd,
    },
  });
  const record = (yield context.df.callActivityWithRetry('recordMlStep', activityRetry, {
    runId: request.runId,
    step: request.step,
    trackerRunId: prepared.trackerRunId,
    outputDir: prepared.outputDir,
    metricsFile: prepared.metricsFile,
    outcome,
    ...(request.expectFile === undefined ? {} : { expectFile: request.expectFile }),
    requireMetrics: request.requireMetrics ?? [],
  })) as MlStepRecord;
  return { prepared, record };
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function required(value: string | undefined, what: string): string {
  if (value === undefined) throw new Error(`${what}: no artifact recorded`);
  return value;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

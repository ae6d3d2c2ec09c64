import type * as df from 'durable-functions';
import { RetryOptions, type OrchestrationContext } from 'durable-functions';
import { runJobAndWait, type JobOutcome } from './jobs.js';
import {
  modelJobStepId,
  type ModelIterationInput,
  type ModelIterationResult,
  type ModelRunParams,
  type PreparedModelRun,
} from './modelRunTypes.js';

/**
 * The `model` pipeline (the seed's `run_models`): iterations × steps of a databank. The parent
 * prepares (reads config and state file, works out where to resume) and then runs one
 * sub-orchestration per iteration; each runs its steps' commands as jobs in order, retrying a
 * command as its `retries` allow, and finishes every step (archives, cleanup, state file,
 * monitoring CSV, lake sync in cloud mode). A failed command leaves an error dump and stops the
 * run with a message naming step, iteration and command; the state file keeps the completed
 * steps, so the next run of the databank continues after them.
 */

const fileStepRetry = new RetryOptions(2000, 3);

export interface ModelRunOutput {
  databank: string;
  status: 'completed' | 'already_completed';
  iterations: number;
  steps: number;
  resumedFrom?: { iteration: number; step: string };
  summaries: string[];
}

export function* modelRun(
  context: OrchestrationContext,
): Generator<df.Task, ModelRunOutput, unknown> {
  const { runId, params } = context.df.getInput<{ runId: string; params: ModelRunParams }>();
  try {
    return yield* runModel(context, runId, params);
  } catch (error) {
    // Whatever stopped the run (an activity out of retries, a failed iteration), the databank's
    // lock goes and the state file says failed, so the next run can resume it.
    if (!(error instanceof ModelRunFailed)) {
      const message = error instanceof Error ? error.message : String(error);
      yield context.df.callActivityWithRetry('failModelRun', fileStepRetry, {
        runId,
        params,
        message: message.slice(0, 4000),
      });
    }
    throw error;
  }
}

/** A failure already recorded by `failModelRun`. */
class ModelRunFailed extends Error {}

function* runModel(
  context: OrchestrationContext,
  runId: string,
  params: ModelRunParams,
): Generator<df.Task, ModelRunOutput, unknown> {
  context.df.setCustomStatus({ phase: 'preparing', databank: params.databank });
  const prepared = (yield context.df.callActivityWithRetry('prepareModelRun', fileStepRetry, {
    runId,
    params,
  })) as PreparedModelRun;
  if (prepared.alreadyCompleted) {
    return {
      databank: prepared.databank,
      status: 'already_completed',
      iterations: prepared.totalIterations,
      steps: 0,
      summaries: [],
    };
  }
  const iterations = [...new Set(prepared.steps.map((s) => s.iteration))];
  const summaries: string[] = [];
  let done = 0;
  for (const iteration of iterations) {
    context.df.setCustomStatus({
      phase: 'running',
      databank: prepared.databank,
      iteration,
      completed: done,
      total: prepared.steps.length,
    });
    const input: ModelIterationInput = {
      runId,
      params,
      iteration,
      steps: prepared.steps.filter((s) => s.iteration === iteration),
      cloud: prepared.cloud,
      projectFolder: prepared.projectFolder,
      ...(prepared.monitor === undefined ? {} : { monitor: prepared.monitor }),
    };
    const result = (yield context.df.callSubOrchestrator(
      'modelIteration',
      input,
      `${runId}-iter-${iteration}`,
    )) as ModelIterationResult;
    done += result.completedSteps.length;
    summaries.push(...result.summaries);
    if (result.failure !== undefined) {
      const message = `step ${result.failure.step} of iteration ${iteration} failed at command ${result.failure.command}: ${result.failure.message} (error dump: ${result.failure.dump})`;
      yield context.df.callActivityWithRetry('failModelRun', fileStepRetry, {
        runId,
        params,
        message,
      });
      context.df.setCustomStatus({
        phase: 'failed',
        databank: prepared.databank,
        iteration,
        completed: done,
        total: prepared.steps.length,
      });
      throw new ModelRunFailed(message);
    }
  }
  yield context.df.callActivityWithRetry('completeModelRun', fileStepRetry, { runId, params });
  context.df.setCustomStatus({
    phase: 'completed',
    databank: prepared.databank,
    completed: done,
    total: prepared.steps.length,
  });
  return {
    databank: prepared.databank,
    status: 'completed',
    iterations: prepared.totalIterations,
    steps: done,
    ...(prepared.resumedFrom === undefined ? {} : { resumedFrom: prepared.resumedFrom }),
    summaries,
  };
}

export function* modelIteration(
  context: OrchestrationContext,
): Generator<df.Task, ModelIterationResult, unknown> {
  const input = context.df.getInput<ModelIterationInput>();
  const result: ModelIterationResult = {
    iteration: input.iteration,
    completedSteps: [],
    summaries: [],
  };
  for (const step of input.steps) {
    const jobIds: string[] = [];
    for (const command of step.commands) {
      let outcome: JobOutcome | undefined;
      for (let attempt = 1; attempt <= command.retries + 1; attempt++) {
        outcome = yield* runJobAndWait(context, {
          runId: input.runId,
          stepId: modelJobStepId(input.iteration, step.step, command.index),
          attempt,
          spec: {
            argv: command.argv,
            env: command.env,
            cwd: step.cwd,
            ...(command.timeoutSeconds === undefined
              ? {}
              : { timeoutSeconds: command.timeoutSeconds }),
            ...(step.image === undefined ? {} : { image: step.image }),
            ...(step.cpu === undefined ? {} : { cpu: step.cpu }),
            ...(step.memoryGb === undefined ? {} : { memoryGb: step.memoryGb }),
            ...(input.monitor === undefined
              ? {}
              : { monitor: { intervalSeconds: input.monitor.intervalSeconds } }),
          },
          keepOnBackend: true,
        });
        jobIds.push(outcome.jobId);
        if (outcome.state === 'succeeded') break;
      }
      if (outcome !== undefined && outcome.state !== 'succeeded') {
        const dump = (yield context.df.callActivityWithRetry('dumpModelError', fileStepRetry, {
          runId: input.runId,
          params: input.params,
          iteration: input.iteration,
          step: step.step,
          command,
          outcome,
          jobIds,
          cloud: input.cloud,
          projectFolder: input.projectFolder,
        })) as string;
        const how =
          outcome.state === 'failed' && outcome.exitCode !== undefined
            ? `exit code ${outcome.exitCode}`
            : outcome.state;
        result.failure = {
          step: step.step,
          command: command.index,
          message: `${command.description ?? command.argv.join(' ')}: ${how}${outcome.message === undefined ? '' : ` (${outcome.message})`}`,
          dump,
        };
        return result;
      }
    }
    const summary = (yield context.df.callActivityWithRetry('finishModelStep', fileStepRetry, {
      runId: input.runId,
      params: input.params,
      iteration: input.iteration,
      step: step.step,
      jobIds,
      // A step none of whose commands is selected in this iteration only advances the state.
      ran: step.commands.length > 0,
      cloud: input.cloud,
      projectFolder: input.projectFolder,
      ...(input.monitor === undefined ? {} : { monitor: input.monitor }),
    })) as string;
    result.completedSteps.push(step.step);
    result.summaries.push(summary);
  }
  return result;
}

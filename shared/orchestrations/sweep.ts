import type * as df from 'durable-functions';
import { RetryOptions, type OrchestrationContext } from 'durable-functions';
import { suggestTrial } from '../domain/sweep/samplers.js';
import { dryRunSweepSpec, type SweepSpec, type TrialRecord } from '../domain/sweep/searchSpace.js';
import { addSeconds } from '../domain/time.js';
import { runJobAndWait, type JobOutcome, type JobWatch } from './jobs.js';
import {
  trialInstanceId,
  trialStepId,
  type PreparedTrial,
  type SweepBest,
  type SweepInput,
  type SweepOutput,
  type SweepTracking,
  type SweepTrialInput,
  type TrialResult,
} from './sweepTypes.js';

/**
 * The `sweep` pipeline (issue 8, the seed's HPO sweep): trials of one job over a search space,
 * at most `parallelism` in flight, until the budget (maxTrials, maxSeconds) or the grid runs
 * out; then the best trial, found through the tracker's query path.
 *
 * Each trial is a sub-orchestration (`sweepTrial`, instance `<runId>-trial-<n>`): it prepares
 * the trial's folder, runs the job (step `trial-<n>`, so its job id is fixed by run and index),
 * and records params and metrics in the tracker. Trials are sub-orchestrations because the job
 * path is a sequence of awaits (launch, end event raced with a timer, logs) and the parent must
 * wait for whichever trial ends first (`Task.any`). A host killed mid-sweep replays: finished
 * trials come back from history and never run again, running ones keep waiting for their job.
 *
 * Parameters come from `suggestTrial`, called here rather than in an activity: it is a pure,
 * seeded function of (spec, trials so far, index), so replay gets the same answer without an
 * activity round trip per trial or the sweep's whole history copied into each activity input
 * (which would grow the history quadratically with TPE). What protects a sweep in flight from
 * a changed sampler is what protects every orchestrator from changed code: the parameters are
 * part of each trial's scheduled input, which the stored-history replay tests compare.
 */

const activityRetry = new RetryOptions(2000, 3);

export function* sweep(context: OrchestrationContext): Generator<df.Task, SweepOutput, unknown> {
  const { runId, params } = context.df.getInput<SweepInput>();
  const spec: SweepSpec = params.dryRun ? dryRunSweepSpec(params) : params;
  const deadline =
    spec.budget.maxSeconds === undefined
      ? undefined
      : addSeconds(context.df.currentUtcDateTime, spec.budget.maxSeconds);
  context.df.setCustomStatus({ phase: 'starting', dryRun: params.dryRun });
  const tracking = (yield context.df.callActivityWithRetry('startSweep', activityRetry, {
    runId,
    experiment: params.experiment,
    spec,
    trial: params.trial,
    dryRun: params.dryRun,
  })) as SweepTracking;
  try {
    const finished: TrialResult[] = [];
    const running: Array<{ index: number; params: TrialRecord['params']; task: df.Task }> = [];
    let next = 0;
    let stoppedBy: SweepOutput['stoppedBy'] = 'maxTrials';
    let starting = true;
    for (;;) {
      while (starting && running.length < spec.parallelism) {
        if (next >= spec.budget.maxTrials) {
          stoppedBy = 'maxTrials';
          starting = false;
          break;
        }
        if (deadline !== undefined && context.df.currentUtcDateTime >= deadline) {
          stoppedBy = 'maxSeconds';
          starting = false;
          break;
        }
        const history: TrialRecord[] = [
          ...finished.map(toTrialRecord),
          ...running.map((r) => ({ index: r.index, params: r.params, state: 'running' as const })),
        ];
        const trialParams = suggestTrial(spec, history, next);
        if (trialParams === undefined) {
          stoppedBy = 'grid_exhausted';
          starting = false;
          break;
        }
        const input: SweepTrialInput = {
          runId,
          index: next,
          params: trialParams,
          job: params.trial,
          tracking,
          objective: spec.objective,
          pruner: spec.pruner,
        };
        running.push({
          index: next,
          params: trialParams,
          task: context.df.callSubOrchestrator('sweepTrial', input, trialInstanceId(runId, next)),
        });
        next++;
      }
      if (running.length === 0) break;
      context.df.setCustomStatus(progress(finished, running.length, spec.budget.maxTrials));
      // A trial that ended while the sweep waited on another is taken as it is: a Task.any
      // built after a task completed is never woken by it.
      const winner =
        running.find((r) => r.task.isCompleted)?.task ??
        ((yield context.df.Task.any(running.map((r) => r.task))) as df.Task);
      const at = running.findIndex((r) => r.task === winner);
      const [done] = running.splice(at, 1);
      if (done === undefined) throw new Error('Task.any returned a task the sweep did not start');
      finished.push(
        winner.isFaulted
          ? {
              index: done.index,
              params: done.params,
              state: 'failed',
              message: errorMessage(winner.result),
            }
          : (winner.result as TrialResult),
      );
    }
    const best = (yield context.df.callActivityWithRetry('finishSweep', activityRetry, {
      runId,
      tracking,
      objective: spec.objective,
      status: 'FINISHED',
      trials: finished.length,
    })) as SweepBest | null;
    const bestTrial =
      best === null ? undefined : finished.find((trial) => trial.index === best.trial);
    if (best === null || bestTrial === undefined) {
      throw new Error(
        `no trial of ${finished.length} completed with a value of ${spec.objective.metric}` +
          firstFailure(finished),
      );
    }
    const count = (state: TrialResult['state']): number =>
      finished.filter((trial) => trial.state === state).length;
    const output: SweepOutput = {
      best: {
        trial: best.trial,
        params: bestTrial.params,
        value: best.value,
        trackerRunId: best.trackerRunId,
      },
      trials: finished.length,
      completed: count('completed'),
      failed: count('failed'),
      pruned: count('pruned'),
      stoppedBy,
      dryRun: params.dryRun,
      objective: spec.objective,
      tracking: { ...tracking, experiment: params.experiment },
    };
    context.df.setCustomStatus({
      ...progress(finished, 0, spec.budget.maxTrials),
      phase: 'completed',
      best: output.best,
    });
    return output;
  } catch (error) {
    // The sweep's parent run ends FAILED whatever stopped it; the run itself fails as usual.
    yield context.df.callActivityWithRetry('finishSweep', activityRetry, {
      runId,
      tracking,
      objective: spec.objective,
      status: 'FAILED',
      message: errorMessage(error).slice(0, 4000),
    });
    throw error;
  }
}

/**
 * One trial: its folder, its job (parameters in `BATON_PARAMS`, metrics to
 * `BATON_METRICS_FILE`), then its record in the tracker. Never fails: whatever goes wrong is
 * the trial's `failed` state, so one bad trial does not stop the sweep.
 */
export function* sweepTrial(
  context: OrchestrationContext,
): Generator<df.Task, TrialResult, unknown> {
  const input = context.df.getInput<SweepTrialInput>();
  let outcome: JobOutcome | undefined;
  try {
    const prepared = (yield context.df.callActivityWithRetry('prepareTrial', activityRetry, {
      runId: input.runId,
      index: input.index,
      params: input.params,
    })) as PreparedTrial;
    // Live pruning: between polls, the median rule looks at what the trial reported so far.
    let prunedAtStep: number | undefined;
    const pruner = input.pruner;
    // A sweep started before live pruning existed has no checkSeconds: it is not watched, so
    // its replay schedules what its history holds.
    const watch: JobWatch | undefined =
      pruner.kind === 'median' && pruner.checkSeconds !== undefined
        ? {
            everySeconds: pruner.checkSeconds,
            check: function* () {
              let look: { prunedAtStep: number | null };
              try {
                look = (yield context.df.callActivityWithRetry('checkTrialPruning', activityRetry, {
                  runId: input.runId,
                  index: input.index,
                  tracking: input.tracking,
                  objective: input.objective,
                  pruner,
                  ...(prepared.metricsFile === undefined
                    ? {}
                    : { metricsFile: prepared.metricsFile }),
                })) as { prunedAtStep: number | null };
              } catch {
                // No verdict this time (the tracker or the backend's logs unreachable): the
                // trial runs on and is looked at again, or judged when it ends.
                return undefined;
              }
              if (look.prunedAtStep === null) return undefined;
              prunedAtStep = look.prunedAtStep;
              return `pruned at step ${look.prunedAtStep}: below the median of completed trials`;
            },
          }
        : undefined;
    outcome = yield* runJobAndWait(
      context,
      {
        runId: input.runId,
        stepId: trialStepId(input.index),
        attempt: 1,
        spec: {
          ...input.job,
          env: {
            ...input.job.env,
            BATON_PARAMS: JSON.stringify(input.params),
            // A trial without a shared folder (a container) reports on its output instead.
            ...(prepared.metricsFile === undefined
              ? { BATON_METRICS_STDOUT: '1' }
              : { BATON_METRICS_FILE: prepared.metricsFile }),
            BATON_TRIAL: String(input.index),
          },
          ...(prepared.cwd === undefined ? {} : { cwd: prepared.cwd }),
        },
      },
      watch,
    );
    return (yield context.df.callActivityWithRetry('recordTrial', activityRetry, {
      ...input,
      ...(prepared.metricsFile === undefined ? {} : { metricsFile: prepared.metricsFile }),
      outcome,
      ...(prunedAtStep === undefined ? {} : { prunedAtStep }),
    })) as TrialResult;
  } catch (error) {
    return {
      index: input.index,
      params: input.params,
      state: 'failed',
      ...(outcome === undefined ? {} : { jobId: outcome.jobId }),
      message: errorMessage(error).slice(0, 2000),
    };
  }
}

function toTrialRecord(trial: TrialResult): TrialRecord {
  return {
    index: trial.index,
    params: trial.params,
    state: trial.state,
    ...(trial.value === undefined ? {} : { value: trial.value }),
  };
}

function progress(
  finished: readonly TrialResult[],
  running: number,
  maxTrials: number,
): Record<string, unknown> {
  return {
    phase: 'running',
    finished: finished.length,
    running,
    maxTrials,
    failed: finished.filter((trial) => trial.state === 'failed').length,
    pruned: finished.filter((trial) => trial.state === 'pruned').length,
  };
}

function firstFailure(trials: readonly TrialResult[]): string {
  const failed = trials.find((trial) => trial.message !== undefined);
  return failed === undefined ? '' : ` (trial ${failed.index}: ${failed.message})`;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

import type * as df from 'durable-functions';
import { RetryOptions, type OrchestrationContext } from 'durable-functions';
import type { TransferHop } from '../domain/beamline/dispatch.js';
import type { ReconstructionPlan } from '../domain/beamline/reconstruction.js';
import { transferHop } from './beamline.js';
import { pollUntilEnded } from './polling.js';
import {
  hpcPollDelaySeconds,
  hpcTimeoutSeconds,
  type FlowStep,
  type HpcJobInput,
  type HpcStepResult,
  type ReconstructInput,
  type ReconstructionResult,
} from './beamlineReconstructTypes.js';
import type { BeamlineFlow, HopResult, RetentionResult } from './beamlineTypes.js';

/**
 * Reconstruction of one raw file at an HPC site (seed 001's NERSC and ALCF recon flows):
 * plan (`planBeamlineReconstruction`), copy the raw file to the site when it is not there
 * (ALCF), reconstruct into TIFF slices, build the multi-resolution (Zarr) pyramid from them,
 * copy both back to beamline storage, and record retention entries for the scratch outputs and
 * the site's raw copy. Jobs are submitted with ids derived from run, site and task, and
 * followed with durable timers; a job still running after `hpcTimeoutSeconds` is canceled.
 * Any step that does not succeed stops the flow with its reason (the seed's flow went on after
 * a failed reconstruction). Started by the dispatcher for each HPC flow of its plan (`partOf`:
 * the result says it failed) or alone as the `beamline-reconstruct` pipeline (the run fails).
 */

const activityRetry = new RetryOptions(1000, 3);
/** Status polls ride out a few minutes of the site's API being down (backoff 2 s doubling). */
const pollRetry = new RetryOptions(2000, 8);
pollRetry.backoffCoefficient = 2;
pollRetry.maxRetryIntervalInMilliseconds = 60_000;

class StepFailed extends Error {
  constructor(
    readonly step: string,
    reason: string,
  ) {
    super(reason);
  }
}

export function* beamlineReconstruct(
  context: OrchestrationContext,
): Generator<df.Task, ReconstructionResult, unknown> {
  const input = context.df.getInput<ReconstructInput & { partOf?: boolean }>();
  const { runId, params } = input;
  const result: ReconstructionResult = {
    site: params.site,
    status: 'completed',
    plan: null,
    steps: [],
    hops: [],
    jobs: [],
    retention: null,
  };
  // olcf never gets past the plan (not implemented).
  const flow: BeamlineFlow = params.site === 'alcf' ? 'alcf' : 'nersc';
  const timed = function* <T>(
    name: string,
    work: () => Generator<df.Task, T, unknown>,
    ok: (value: T) => { state: string; reason?: string },
  ): Generator<df.Task, T, unknown> {
    context.df.setCustomStatus({ phase: name, site: params.site });
    const startedAt = context.df.currentUtcDateTime;
    let value: T;
    try {
      value = yield* work();
    } catch (error) {
      const reason = (error instanceof Error ? error.message : String(error)).slice(0, 2000);
      result.steps.push(stepOf(name, 'failed', startedAt, context.df.currentUtcDateTime, reason));
      throw new StepFailed(name, reason);
    }
    const { state, reason } = ok(value);
    result.steps.push(stepOf(name, state, startedAt, context.df.currentUtcDateTime, reason));
    if (state !== 'succeeded') throw new StepFailed(name, `${state}${reason ? `: ${reason}` : ''}`);
    return value;
  };
  const hop = (index: number, transfer: TransferHop, recursive: boolean) =>
    function* (): Generator<df.Task, HopResult, unknown> {
      const hopResult = yield* transferHop(context, {
        runId,
        config: params.config,
        hopIndex: index,
        hop: transfer,
        flow,
        recursive,
      });
      result.hops.push(hopResult);
      return hopResult;
    };
  const hopOutcome = (h: HopResult) => ({
    state: h.state,
    ...(h.reason ? { reason: h.reason } : {}),
  });

  try {
    const plan = yield* timed(
      'plan',
      function* () {
        return (yield context.df.callActivity('planBeamlineReconstruction', {
          runId,
          params,
        })) as ReconstructionPlan;
      },
      () => ({ state: 'succeeded' }),
    );
    result.plan = plan;
    if (plan.stage !== null) {
      yield* timed(
        `transfer ${plan.stage.from} → ${plan.stage.to}`,
        hop(0, plan.stage, false),
        hopOutcome,
      );
    }
    for (const task of ['reconstruct', 'multi_resolution'] as const) {
      const job: HpcJobInput = { runId, config: params.config, site: params.site, task, plan };
      yield* timed(
        task,
        () => hpcStep(context, job, result.jobs),
        (j) => ({
          state: j.state,
          ...(j.reason ? { reason: j.reason } : {}),
        }),
      );
    }
    for (const [i, back] of plan.back.entries()) {
      yield* timed(
        `transfer ${back.from} → ${back.to} (${back.path})`,
        hop(i + 1, back, true),
        hopOutcome,
      );
    }
    if (plan.retention.length > 0) {
      result.retention = yield* timed(
        'retention',
        function* () {
          return (yield context.df.callActivityWithRetry(
            'recordReconstructionRetention',
            activityRetry,
            { runId, config: params.config, site: params.site, plan },
          )) as RetentionResult;
        },
        () => ({ state: 'succeeded' }),
      );
    }
  } catch (error) {
    if (!(error instanceof StepFailed)) throw error;
    result.status = 'failed';
    result.failure = { step: error.step, reason: error.message };
  }
  context.df.setCustomStatus({ phase: result.status, site: params.site, steps: result.steps });
  if (result.failure !== undefined && input.partOf !== true) {
    throw new Error(
      `${params.site} reconstruction failed at ${result.failure.step}: ${result.failure.reason}`,
    );
  }
  return result;
}

/**
 * Submits one HPC task and follows it until it ends (or cancels it after its time). A poll that
 * keeps failing (the site's API down for longer than the retries) cancels the job before the
 * step fails, so nothing is left computing for a flow that stopped.
 */
function* hpcStep(
  context: OrchestrationContext,
  input: HpcJobInput,
  jobs: HpcStepResult[],
): Generator<df.Task, HpcStepResult, unknown> {
  let status = (yield context.df.callActivityWithRetry(
    'submitHpcJob',
    activityRetry,
    input,
  )) as HpcStepResult;
  try {
    status = yield* pollUntilEnded(context, status, {
      isActive: (job) => job.state === 'queued' || job.state === 'running',
      delaySeconds: hpcPollDelaySeconds,
      timeoutSeconds: hpcTimeoutSeconds,
      poll: function* () {
        return (yield context.df.callActivityWithRetry(
          'hpcJobStatus',
          pollRetry,
          input,
        )) as HpcStepResult;
      },
      timeUp: function* () {
        const canceled = (yield context.df.callActivityWithRetry(
          'cancelHpcJob',
          activityRetry,
          input,
        )) as HpcStepResult;
        return {
          ...canceled,
          state: 'timed_out',
          reason: `still running after ${hpcTimeoutSeconds} s; canceled`,
        };
      },
    });
  } catch (error) {
    try {
      yield context.df.callActivityWithRetry('cancelHpcJob', activityRetry, input);
    } catch {
      // The cancel failing too is reported with the poll's error; the run's cancel retries it.
    }
    throw error;
  }
  jobs.push(status);
  return status;
}

function stepOf(
  name: string,
  state: string,
  startedAt: Date,
  endedAt: Date,
  reason: string | undefined,
): FlowStep {
  return {
    name,
    state,
    startedAt: startedAt.toISOString(),
    endedAt: endedAt.toISOString(),
    durationMs: endedAt.getTime() - startedAt.getTime(),
    ...(reason === undefined || reason === '' ? {} : { reason }),
  };
}

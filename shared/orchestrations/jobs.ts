import type * as df from 'durable-functions';
import type { OrchestrationContext } from 'durable-functions';
import { addSeconds } from '../domain/time.js';

/**
 * Runs one job from inside an orchestrator and waits for its end: an activity records it and
 * asks for its launch; the orchestrator then waits for the external event `job:<jobId>`, raced
 * against a durable timer for the job's timeout (plus a grace for the watcher's polling). A job
 * that overruns is canceled. Deterministic: everything goes through the context.
 */
export interface JobStepRequest {
  runId: string;
  stepId: string;
  attempt: number;
  spec: {
    argv: string[];
    image?: string;
    env?: Record<string, string>;
    cpu?: number;
    memoryGb?: number;
    timeoutSeconds?: number;
    cwd?: string;
    monitor?: { intervalSeconds: number };
  };
  /** Leave the ended job on the backend for the caller to read (and release) later. */
  keepOnBackend?: boolean;
}

/**
 * Looks at a running job between polls (a sweep's median pruner reading the trial's metrics so
 * far): `check` returns a reason to stop it, or undefined to let it run.
 */
export interface JobWatch {
  everySeconds: number;
  check: () => Generator<df.Task, string | undefined, unknown>;
}

export interface JobOutcome {
  jobId: string;
  state: 'succeeded' | 'failed' | 'canceled' | 'timed_out';
  exitCode?: number;
  message?: string;
}

const defaultTimeoutSeconds = 24 * 3600;
const watcherGraceSeconds = 120;

/** How long a job stopped by its watch gets to report its end before the flow goes on. */
const stopGraceSeconds = 60;

export function* runJobAndWait(
  context: OrchestrationContext,
  request: JobStepRequest,
  watch?: JobWatch,
): Generator<df.Task, JobOutcome, unknown> {
  const { keepOnBackend, ...launch } = request;
  // A sub-orchestration waits for its own jobs: the end event must be raised on it.
  const waiting =
    context.df.instanceId === request.runId ? {} : { instanceId: context.df.instanceId };
  const jobId = (yield context.df.callActivity('requestJobLaunch', {
    ...launch,
    ...waiting,
  })) as string;
  const timeoutSeconds =
    (request.spec.timeoutSeconds ?? defaultTimeoutSeconds) + watcherGraceSeconds;
  const deadline = addSeconds(context.df.currentUtcDateTime, timeoutSeconds);
  const timer = context.df.createTimer(deadline);
  const ended = context.df.waitForExternalEvent(`job:${jobId}`);
  let outcome: JobOutcome | undefined;
  const timedOut = function* (): Generator<df.Task, JobOutcome, unknown> {
    yield context.df.callActivity('cancelJob', { runId: request.runId, jobId });
    return { jobId, state: 'timed_out', message: `no end reported within ${timeoutSeconds} s` };
  };
  while (outcome === undefined) {
    // A task that completed while the orchestrator waited on something else (a look by the
    // watch) never wakes a Task.any built afterwards — durable-functions only notifies a task's
    // latest parent — so the job's end and the deadline are checked before every wait, and a
    // completed timer is never canceled (that throws).
    if (ended.isCompleted) {
      if (!timer.isCompleted) timer.cancel();
      outcome = outcomeOf(jobId, ended.result as Omit<JobOutcome, 'jobId'>);
      break;
    }
    if (timer.isCompleted) {
      outcome = yield* timedOut();
      break;
    }
    const nextCheck =
      watch === undefined
        ? undefined
        : addSeconds(context.df.currentUtcDateTime, watch.everySeconds);
    const tick =
      nextCheck === undefined || nextCheck.getTime() >= deadline.getTime()
        ? undefined
        : context.df.createTimer(nextCheck);
    const winner = yield context.df.Task.any(
      tick === undefined ? [ended, timer] : [ended, timer, tick],
    );
    if (winner !== tick) {
      if (tick !== undefined && !tick.isCompleted) tick.cancel();
      continue; // the job's end or the deadline: taken at the top of the loop
    }
    if (watch === undefined) continue;
    const reason = yield* watch.check();
    // The job may have ended, or its time run out, while the watch looked: that wins.
    if (reason === undefined || ended.isCompleted || timer.isCompleted) continue;
    timer.cancel();
    yield context.df.callActivity('cancelJob', { runId: request.runId, jobId });
    // Its end event is awaited (briefly), so it is not raised on a finished orchestration.
    if (!ended.isCompleted) {
      const grace = context.df.createTimer(
        addSeconds(context.df.currentUtcDateTime, stopGraceSeconds),
      );
      yield context.df.Task.any([ended, grace]);
      if (!grace.isCompleted) grace.cancel();
    }
    outcome = { jobId, state: 'canceled', message: reason };
  }
  yield context.df.callActivity('collectJobLogs', {
    runId: request.runId,
    jobId,
    ...(keepOnBackend === true ? { keepOnBackend: true } : {}),
  });
  return outcome;
}

function outcomeOf(jobId: string, event: Omit<JobOutcome, 'jobId'>): JobOutcome {
  const outcome: JobOutcome = { jobId, state: event.state };
  if (event.exitCode !== undefined) outcome.exitCode = event.exitCode;
  if (event.message !== undefined) outcome.message = event.message;
  return outcome;
}

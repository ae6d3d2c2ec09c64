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

export interface JobOutcome {
  jobId: string;
  state: 'succeeded' | 'failed' | 'canceled' | 'timed_out';
  exitCode?: number;
  message?: string;
}

const defaultTimeoutSeconds = 24 * 3600;
const watcherGraceSeconds = 120;

export function* runJobAndWait(
  context: OrchestrationContext,
  request: JobStepRequest,
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
  const winner = yield context.df.Task.any([ended, timer]);
  let outcome: JobOutcome;
  if (winner === ended) {
    timer.cancel();
    const event = ended.result as Omit<JobOutcome, 'jobId'>;
    outcome = { jobId, state: event.state };
    if (event.exitCode !== undefined) outcome.exitCode = event.exitCode;
    if (event.message !== undefined) outcome.message = event.message;
  } else {
    yield context.df.callActivity('cancelJob', { runId: request.runId, jobId });
    outcome = { jobId, state: 'timed_out', message: `no end reported within ${timeoutSeconds} s` };
  }
  yield context.df.callActivity('collectJobLogs', {
    runId: request.runId,
    jobId,
    ...(keepOnBackend === true ? { keepOnBackend: true } : {}),
  });
  return outcome;
}

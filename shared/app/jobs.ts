import { z } from 'zod';
import { backoffAfterConflict, maxConflictRetries } from './conflictRetry.js';
import { BatonError, isBatonError } from '../domain/errors.js';
import { jobIdFor, jobIdPattern } from '../domain/jobIds.js';
import { jobSpecInputSchema } from '../domain/jobSpec.js';
import { runIdSchema } from '../domain/runIds.js';
import { parseInput } from '../domain/validation.js';
import type { Bus } from '../ports/bus.js';
import type { Clock } from '../ports/clock.js';
import {
  terminalJobStates,
  type ComputeBackend,
  type JobSpec,
  type JobState,
  type JobStatus,
} from '../ports/compute.js';
import type { LogStore } from '../ports/logStore.js';
import type { StateStore, StoredDocument } from '../ports/stateStore.js';
import {
  inRunSpan,
  outcomeOfState,
  recordPastSpan,
  spanAttributes,
  spanNames,
} from '../telemetry/tracing.js';
import type { JobEvent } from './jobEvents.js';

/**
 * The life of a job, as the design has it: an activity records the job and sends `launch-job`;
 * the launch-job queue function starts it on the compute backend; the watcher timer notices
 * when it ends and sends `job-events`, which wake the orchestration waiting for `job:<jobId>`.
 * Every step is idempotent by job id (document id, message ids, backend launch), so a message
 * or activity delivered twice does nothing twice.
 */
export type JobRecordState = 'queued' | JobState;

export interface JobRecord {
  jobId: string;
  runId: string;
  stepId: string;
  attempt: number;
  /** Where `job:<jobId>` is raised, when not the run's own orchestration. */
  instanceId?: string;
  spec: JobSpec;
  state: JobRecordState;
  exitCode?: number;
  message?: string;
  queuedAt: string;
  launchedAt?: string;
  finishedAt?: string;
  /** A terminal state was announced on `job-events` (so a crash in between is repaired). */
  notified: boolean;
}

export const jobsCollection = 'jobs';

export interface JobDeps {
  state: StateStore;
  bus: Bus;
  compute: ComputeBackend;
  clock: Clock;
  logs: LogStore;
  queues: { launchJob: string; jobEvents: string };
}

export const jobRequestSchema = z
  .object({
    runId: runIdSchema,
    stepId: z.string().regex(/^[A-Za-z0-9_.-]{1,80}$/),
    attempt: z.number().int().min(1),
    /** The orchestration waiting for the job when it is not the run's own (a sub-orchestration). */
    instanceId: z.string().min(1).max(200).optional(),
    // A pipeline's own steps may also set the working folder (checked by the backend against
    // its work root) and ask for monitoring; users' `command` runs cannot.
    spec: jobSpecInputSchema.extend({
      cwd: z.string().min(1).max(4096).optional(),
      monitor: z
        .object({ intervalSeconds: z.number().min(0.1).max(3600) })
        .strict()
        .optional(),
    }),
  })
  .strict();
export type JobRequest = z.infer<typeof jobRequestSchema>;

export const launchJobMessageSchema = z
  .object({ runId: runIdSchema, jobId: z.string().regex(jobIdPattern) })
  .strict();

export const collectJobLogsRequestSchema = launchJobMessageSchema.extend({
  /** Leave the job on the backend (its metrics are read later, then it is released). */
  keepOnBackend: z.boolean().optional(),
});

/** Activity: record the job (once) and ask for its launch. Returns the job id. */
export async function requestJobLaunch(deps: JobDeps, raw: unknown): Promise<string> {
  const request = parseInput(jobRequestSchema, raw, 'job request');
  const jobId = jobIdFor(request.runId, request.stepId, request.attempt);
  const record: JobRecord = {
    jobId,
    runId: request.runId,
    stepId: request.stepId,
    attempt: request.attempt,
    ...(request.instanceId === undefined ? {} : { instanceId: request.instanceId }),
    spec: { ...request.spec, jobId },
    state: 'queued',
    queuedAt: deps.clock.now().toISOString(),
    notified: false,
  };
  try {
    await deps.state.create(jobsCollection, { id: jobId, pk: request.runId, body: record });
  } catch (error) {
    if (!isBatonError(error, 'conflict')) throw error;
  }
  await deps.bus.send(deps.queues.launchJob, [
    { messageId: `launch:${jobId}`, body: { runId: request.runId, jobId } },
  ]);
  return jobId;
}

/** Queue function: start a queued job on the backend (the backend is idempotent by job id too). */
export async function launchJob(deps: JobDeps, raw: unknown): Promise<JobRecord | undefined> {
  const message = parseInput(launchJobMessageSchema, raw, 'launch-job message');
  const doc = await deps.state.read<JobRecord>(jobsCollection, message.runId, message.jobId);
  if (!doc)
    throw new BatonError(
      'not_found',
      `job ${message.jobId} of run ${message.runId} is not recorded`,
    );
  if (doc.body.state !== 'queued') return doc.body;
  let status: JobStatus;
  try {
    status = await inRunSpan(
      spanNames.jobLaunch,
      runSpanParent(doc.body),
      jobSpanAttributes(doc.body, deps.compute.name),
      () => deps.compute.launch(doc.body.spec),
    );
  } catch (error) {
    if (!isBatonError(error) || !['validation', 'forbidden', 'not_found'].includes(error.code))
      throw error;
    // The job can never start (bad spec): finish it as failed so its run is told, not left waiting.
    status = { jobId: message.jobId, state: 'failed', message: error.message };
  }
  return updateJob(deps, doc, status);
}

/**
 * Queue function (`launch-job` dead letters): a launch that failed on every delivery ends the
 * job as failed with why, so the run waiting for it fails with that error at once instead of
 * waiting out its timeout. A job that got further (launched by a delivery whose completion was
 * lost) is left to the watcher.
 */
export async function failUndeliveredLaunch(
  deps: JobDeps,
  raw: unknown,
  why: string,
): Promise<JobRecord | undefined> {
  const message = parseInput(launchJobMessageSchema, raw, 'launch-job message');
  const doc = await deps.state.read<JobRecord>(jobsCollection, message.runId, message.jobId);
  if (!doc || doc.body.state !== 'queued') return doc?.body;
  // A delivery may have launched it and then failed to record that: it must not run on unseen.
  await deps.compute.cancel(doc.body.spec.jobId).catch(() => undefined);
  return updateJob(deps, doc, {
    jobId: message.jobId,
    state: 'failed',
    message: `job ${message.jobId} could not be launched: ${why}`,
  });
}

/** Timer function: look at every job that is still going; announce the ones that ended. */
export async function watchJobs(deps: JobDeps): Promise<{ checked: number; finished: number }> {
  const active = await deps.state.query<JobRecord>(jobsCollection, {
    where: { state: ['pending', 'running'] },
  });
  const unannounced = await deps.state.query<JobRecord>(jobsCollection, {
    where: { notified: false, state: [...terminalJobStates] },
  });
  let finished = 0;
  for (const doc of active) {
    try {
      const status = await deps.compute.status(doc.body.jobId);
      const updated = await updateJob(deps, doc, status);
      if (updated && terminalJobStates.includes(updated.state as JobState)) finished++;
    } catch (error) {
      if (!isBatonError(error, 'not_found')) throw error;
      await updateJob(deps, doc, {
        jobId: doc.body.jobId,
        state: 'failed',
        message: 'the backend no longer knows this job',
      });
      finished++;
    }
  }
  for (const doc of unannounced) await announce(deps, doc);
  return { checked: active.length, finished };
}

/** Activity: stop a job (timeout or cancellation of its run). */
export async function cancelJob(deps: JobDeps, raw: unknown): Promise<JobRecordState> {
  const message = parseInput(launchJobMessageSchema, raw, 'cancel request');
  const doc = await deps.state.read<JobRecord>(jobsCollection, message.runId, message.jobId);
  if (!doc) return 'canceled';
  if (terminalJobStates.includes(doc.body.state as JobState)) return doc.body.state;
  let status: JobStatus;
  try {
    status =
      doc.body.state === 'queued'
        ? { jobId: message.jobId, state: 'canceled' }
        : await deps.compute.cancel(message.jobId);
  } catch (error) {
    // The job ended and was released while this cancel ran (a redelivered cancel, or one
    // racing the job's own end): the backend no longer knows it, and its record says how it
    // ended, so the cancel has nothing left to do.
    if (!isBatonError(error, 'not_found')) throw error;
    const latest = await deps.state.read<JobRecord>(jobsCollection, message.runId, message.jobId);
    return latest?.body.state ?? 'canceled';
  }
  const updated = await updateJob(deps, doc, status);
  return updated?.state ?? status.state;
}

/** When a run is canceled its jobs are stopped too: compute is not left running for nobody. */
export async function cancelJobsOfRun(deps: JobDeps, runId: string): Promise<number> {
  const docs = await deps.state.query<JobRecord>(jobsCollection, {
    pk: runId,
    where: { state: ['queued', 'pending', 'running'] },
  });
  for (const doc of docs) await cancelJob(deps, { runId, jobId: doc.body.jobId });
  return docs.length;
}

/** Activity: copy the job's output into the run's logs (step = the job's step). */
export async function collectJobLogs(deps: JobDeps, raw: unknown): Promise<number> {
  const message = parseInput(collectJobLogsRequestSchema, raw, 'log request');
  const doc = await deps.state.read<JobRecord>(jobsCollection, message.runId, message.jobId);
  if (!doc) return 0;
  let text: string;
  try {
    text = await deps.compute.logs(message.jobId, { tail: 1000 });
  } catch (error) {
    if (isBatonError(error, 'not_found')) return 0;
    throw error;
  }
  const at = deps.clock.now().toISOString();
  const lines = text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => ({ at, level: 'info' as const, message: l }));
  if (lines.length > 0) await deps.logs.append(message.runId, doc.body.stepId, lines);
  // The log is saved: the backend may let go of the job (a container group costs while it exists).
  if (message.keepOnBackend !== true && terminalJobStates.includes(doc.body.state as JobState)) {
    await releaseComputeJob(deps, message.jobId);
  }
  return lines.length;
}

/**
 * Writes the backend's view into the document (etag-checked; a lost race re-reads and tries
 * again) and announces a terminal state once.
 */
async function updateJob(
  deps: JobDeps,
  doc: StoredDocument<JobRecord>,
  status: JobStatus,
): Promise<JobRecord | undefined> {
  let current = doc;
  for (let attempt = 0; attempt < maxConflictRetries; attempt++) {
    const before = current.body;
    if (terminalJobStates.includes(before.state as JobState)) return before;
    const next: JobRecord = { ...before, state: status.state };
    if (status.exitCode !== undefined) next.exitCode = status.exitCode;
    if (status.message !== undefined) next.message = status.message;
    if (before.state === 'queued')
      next.launchedAt = status.startedAt ?? deps.clock.now().toISOString();
    if (terminalJobStates.includes(status.state))
      next.finishedAt = status.finishedAt ?? deps.clock.now().toISOString();
    if (next.state === before.state && next.exitCode === before.exitCode) return before;
    try {
      const saved = await deps.state.replace(
        jobsCollection,
        { id: before.jobId, pk: before.runId, body: next },
        current.etag,
      );
      if (terminalJobStates.includes(next.state as JobState)) await announce(deps, saved);
      return saved.body;
    } catch (error) {
      if (!isBatonError(error, 'precondition_failed')) throw error;
      await backoffAfterConflict(attempt);
      const reread = await deps.state.read<JobRecord>(jobsCollection, before.runId, before.jobId);
      if (!reread) return undefined;
      current = reread;
    }
  }
  throw new BatonError('unavailable', `job ${doc.body.jobId}: too many concurrent updates`);
}

/** A run's job hangs under the orchestration waiting for it (a sub-orchestration or the run). */
function runSpanParent(job: JobRecord): { runId: string; instanceId?: string } {
  return job.instanceId === undefined
    ? { runId: job.runId }
    : { runId: job.runId, instanceId: job.instanceId };
}

function jobSpanAttributes(job: JobRecord, backend: string): Record<string, string | number> {
  return {
    [spanAttributes.runId]: job.runId,
    [spanAttributes.jobId]: job.jobId,
    [spanAttributes.backend]: backend,
    [spanAttributes.stepId]: job.stepId,
    [spanAttributes.attempt]: job.attempt,
  };
}

/** The job's whole life (launch to end) as one span of its run's trace, recorded when it ends. */
function traceEndedJob(job: JobRecord, backend: string, now: Date): void {
  recordPastSpan({
    name: spanNames.job,
    parent: runSpanParent(job),
    start: new Date(job.launchedAt ?? job.queuedAt),
    end: job.finishedAt === undefined ? now : new Date(job.finishedAt),
    attributes: {
      ...jobSpanAttributes(job, backend),
      [spanAttributes.jobState]: job.state,
      ...(job.exitCode === undefined ? {} : { [spanAttributes.exitCode]: job.exitCode }),
    },
    outcome: outcomeOfState('job', job.state, job.message),
  });
}

async function announce(deps: JobDeps, doc: StoredDocument<JobRecord>): Promise<void> {
  const job = doc.body;
  traceEndedJob(job, deps.compute.name, deps.clock.now());
  const event: JobEvent = {
    runId: job.runId,
    jobId: job.jobId,
    state: job.state as JobEvent['state'],
    ...(job.instanceId === undefined ? {} : { instanceId: job.instanceId }),
  };
  if (job.exitCode !== undefined) event.exitCode = job.exitCode;
  if (job.message !== undefined) event.message = job.message.slice(0, 4000);
  await deps.bus.send(deps.queues.jobEvents, [{ messageId: `done:${job.jobId}`, body: event }]);
  try {
    await deps.state.replace(
      jobsCollection,
      { id: job.jobId, pk: job.runId, body: { ...job, notified: true } },
      doc.etag,
    );
  } catch (error) {
    // Someone else announced it meanwhile; the bus drops the duplicate message id anyway.
    if (!isBatonError(error, 'precondition_failed')) throw error;
  }
}

/**
 * Frees the ended job's backend resources (a container group costs money while it exists). A
 * job the backend still reports as running (a cancel that has not landed yet) is left for the
 * backend's own cleanup rather than failing the event.
 */
export async function releaseComputeJob(
  deps: { compute: ComputeBackend },
  computeJobId: string,
): Promise<void> {
  try {
    await deps.compute.release(computeJobId);
  } catch (error) {
    if (!isBatonError(error, 'conflict')) throw error;
  }
}

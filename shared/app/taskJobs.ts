import { z } from 'zod';
import { BatonError, isBatonError } from '../domain/errors.js';
import { buildJobCommand } from '../domain/execTemplate.js';
import { jobIdPattern } from '../domain/jobIds.js';
import {
  canTransitionJob,
  transitionJob,
  type JobEvent as TaskJobEvent,
} from '../domain/taskStates.js';
import {
  retryBackoffSeconds,
  taskJobsCollection,
  type TaskJobRecord,
  type TaskRecord,
} from '../domain/tasks.js';
import { parseInput } from '../domain/validation.js';
import type { JobSpec, JobStatus } from '../ports/compute.js';
import type { PreparedJob, StagedJob } from '../ports/jobStaging.js';
import type { StoredDocument } from '../ports/stateStore.js';
import { releaseComputeJob } from './jobs.js';
import type { TaskDeps } from './taskDeps.js';
import { requestSchedulerTick } from './taskScheduler.js';
import {
  endAttempt,
  readTask,
  resetAttempt,
  taskJobLogPath,
  taskJobOutputPath,
  updateJob,
} from './tasks.js';
import { recordTaskJobSpan } from '../telemetry/tracing.js';

/**
 * A task job's life after the scheduler assigned it a slot: the `launch-job` message stages its
 * inputs and starts it on the backend; the watcher notices its end and sends a `job-events`
 * message; that message's handler collects the job's output and log into the lake, records the
 * attempt, retries by policy (with backoff) and asks for a scheduler tick. Every step is keyed
 * by the attempt's compute job id, so a redelivered message changes nothing twice.
 */

const taskNameField = z.string().min(1).max(300);
const jobKeyField = z.string().regex(/^j\d{6,7}$/);

export const launchTaskJobMessageSchema = z
  .object({ task: taskNameField, key: jobKeyField, computeJobId: z.string().regex(jobIdPattern) })
  .strict();
export type LaunchTaskJobMessage = z.infer<typeof launchTaskJobMessageSchema>;

export const taskJobEventSchema = z
  .object({
    task: taskNameField,
    key: jobKeyField,
    computeJobId: z.string().regex(jobIdPattern),
    state: z.enum(['succeeded', 'failed', 'canceled', 'timed_out']),
    exitCode: z.number().int().optional(),
    message: z.string().max(4000).optional(),
    startedAt: z.string().max(40).optional(),
    finishedAt: z.string().max(40).optional(),
  })
  .strict();
export type TaskJobEndEvent = z.infer<typeof taskJobEventSchema>;

/** A message on the shared queues belongs to a task job when it names a task. */
export function isTaskJobMessage(body: unknown): boolean {
  return typeof body === 'object' && body !== null && 'task' in body;
}

export function launchTaskJobMessageOf(job: TaskJobRecord): LaunchTaskJobMessage {
  return { task: job.task, key: job.key, computeJobId: job.computeJobId };
}

export function stagedJobOf(task: TaskRecord, job: TaskJobRecord): StagedJob {
  return {
    computeJobId: job.computeJobId,
    incarnation: task.incarnation,
    data: task.data,
    item: job.item,
  };
}

/**
 * The backend's job spec: the task's template as `sh -c` script (the same for every job) and
 * the staged paths only as environment values, so no file name can become shell code.
 */
export function taskJobSpec(
  task: Pick<TaskRecord, 'exec' | 'timeoutSeconds' | 'image' | 'cpu' | 'memoryGb'>,
  job: Pick<TaskJobRecord, 'computeJobId'>,
  prepared: PreparedJob,
): JobSpec {
  const command = buildJobCommand(task.exec, prepared.values);
  return {
    jobId: job.computeJobId,
    argv: command.argv,
    env: command.env,
    timeoutSeconds: task.timeoutSeconds,
    ...(task.image === undefined ? {} : { image: task.image }),
    ...(prepared.cwd === undefined ? {} : { cwd: prepared.cwd }),
    ...(task.cpu === undefined ? {} : { cpu: task.cpu }),
    ...(task.memoryGb === undefined ? {} : { memoryGb: task.memoryGb }),
  };
}

/** Queue function (`launch-job`, task messages): stage the inputs, start the job. */
export async function launchTaskJob(
  deps: TaskDeps,
  raw: unknown,
): Promise<TaskJobRecord | undefined> {
  const message = parseInput(launchTaskJobMessageSchema, raw, 'launch-job message');
  const doc = await readJob(deps, message.task, message.key);
  if (!doc || doc.body.computeJobId !== message.computeJobId) return undefined; // an old attempt
  if (doc.body.state !== 'assigned') return doc.body; // launched already, or canceled meanwhile
  const { body: task } = await readTask(deps, message.task);
  let status: JobStatus;
  try {
    const prepared = await deps.staging.prepare(stagedJobOf(task, doc.body));
    status = await deps.compute.launch(taskJobSpec(task, doc.body, prepared));
  } catch (error) {
    // Inputs gone from the lake or a spec the backend refuses: the job can never start. End it
    // as failed (retried by policy) instead of redelivering the message until it dead-letters.
    if (!isBatonError(error) || !['validation', 'forbidden', 'not_found'].includes(error.code)) {
      throw error;
    }
    return applyJobEnd(deps, task, doc, {
      state: 'failed',
      message: `launch failed: ${error.message}`,
    });
  }
  const startedAt = status.startedAt ?? deps.clock.now().toISOString();
  const saved = await updateJob(deps, doc, (body) => {
    if (body.computeJobId !== message.computeJobId) return body;
    if (!canTransitionJob(body, { type: 'started' }, body)) return body;
    return { ...transitionJob(body, { type: 'started' }, body), startedAt };
  });
  if (saved.computeJobId !== message.computeJobId || saved.state !== 'running') {
    // Killed, timed out or retried while its inputs were staged: nobody waits for this process
    // any more, so it must not run on outside the slot accounting.
    await deps.compute.cancel(message.computeJobId).catch(() => undefined);
    await releaseComputeJob(deps, message.computeJobId);
    await deps.staging.discard(stagedJobOf(task, doc.body));
  }
  return saved;
}

/**
 * Queue function (`launch-job` dead letters, task messages): a launch that failed on every
 * delivery ends that attempt as failed with why (retried by the task's policy like any failed
 * attempt), so its slot is not held by a job that will never start.
 */
export async function failUndeliveredTaskLaunch(
  deps: TaskDeps,
  raw: unknown,
  why: string,
): Promise<TaskJobRecord | undefined> {
  const message = parseInput(launchTaskJobMessageSchema, raw, 'launch-job message');
  const doc = await readJob(deps, message.task, message.key);
  if (!doc || doc.body.computeJobId !== message.computeJobId) return undefined;
  if (doc.body.state !== 'assigned') return doc.body;
  const { body: task } = await readTask(deps, message.task);
  // A delivery may have launched it and then failed to record that: it must not hold a process
  // outside the slot accounting.
  await deps.compute.cancel(message.computeJobId).catch(() => undefined);
  return applyJobEnd(deps, task, doc, { state: 'failed', message: `launch failed: ${why}` });
}

/** Timer function: asks the backend about every running task job; announces the ended ones. */
export async function watchTaskJobs(deps: TaskDeps): Promise<{ checked: number; ended: number }> {
  const running = await deps.state.query<TaskJobRecord>(taskJobsCollection, {
    where: { state: ['running'] },
  });
  let ended = 0;
  for (const doc of running) {
    const job = doc.body;
    let status: JobStatus;
    try {
      status = await deps.compute.status(job.computeJobId);
    } catch (error) {
      if (!isBatonError(error, 'not_found')) throw error;
      status = {
        jobId: job.computeJobId,
        state: 'failed',
        message: 'the backend no longer knows this job',
      };
    }
    if (status.state === 'pending' || status.state === 'running') continue;
    const event: TaskJobEndEvent = {
      task: job.task,
      key: job.key,
      computeJobId: job.computeJobId,
      state: status.state,
      ...(status.exitCode === undefined ? {} : { exitCode: status.exitCode }),
      ...(status.message === undefined ? {} : { message: status.message.slice(0, 4000) }),
      ...(status.startedAt === undefined ? {} : { startedAt: status.startedAt }),
      ...(status.finishedAt === undefined ? {} : { finishedAt: status.finishedAt }),
    };
    await deps.bus.send(deps.queues.jobEvents, [
      { messageId: `done:${job.computeJobId}`, body: event },
    ]);
    ended += 1;
  }
  return { checked: running.length, ended };
}

/** Queue function (`job-events`, task messages): record the end of an attempt. */
export async function applyTaskJobEvent(
  deps: TaskDeps,
  raw: unknown,
): Promise<TaskJobRecord | undefined> {
  const event = parseInput(taskJobEventSchema, raw, 'job-events message');
  const doc = await readJob(deps, event.task, event.key);
  if (!doc || doc.body.computeJobId !== event.computeJobId) return undefined;
  let task: TaskRecord;
  try {
    task = (await readTask(deps, event.task)).body;
  } catch (error) {
    if (isBatonError(error, 'not_found')) return undefined; // deleted meanwhile
    throw error;
  }
  return applyJobEnd(deps, task, doc, event);
}

/**
 * Ends the job's current attempt: output and log into the lake first (so a recorded success
 * always has them), then the state change and, for a failure with attempts left, the policy
 * retry in the same write. Then the attempt's staging folder goes, and a tick is requested.
 */
export async function applyJobEnd(
  deps: TaskDeps,
  task: TaskRecord,
  doc: StoredDocument<TaskJobRecord>,
  outcome: {
    state: 'succeeded' | 'failed' | 'canceled' | 'timed_out';
    exitCode?: number;
    message?: string;
    startedAt?: string;
    finishedAt?: string;
  },
): Promise<TaskJobRecord> {
  const job = doc.body;
  const jobEvent = jobEventOf(outcome);
  if (!canTransitionJob(job, jobEvent, job)) return job; // ended already: a redelivery
  const staged = stagedJobOf(task, job);
  const outputPath = taskJobOutputPath(task.name, job.key, job.attempt);
  const logPath = taskJobLogPath(task.name, job.key, job.attempt);
  const collected = await deps.staging.collect(staged, outputPath);
  const logSaved = await saveJobLog(deps, job.computeJobId, logPath);
  const finishedAt = outcome.finishedAt ?? deps.clock.now().toISOString();
  const saved = await updateJob(deps, doc, (body) => {
    if (body.computeJobId !== job.computeJobId) return body;
    if (!canTransitionJob(body, jobEvent, body)) return body;
    const ended = endAttempt(
      {
        ...transitionJob(body, jobEvent, body),
        ...(body.startedAt === undefined && outcome.startedAt !== undefined
          ? { startedAt: outcome.startedAt }
          : {}),
      },
      finishedAt,
      {
        ...(outcome.exitCode === undefined ? {} : { exitCode: outcome.exitCode }),
        ...(outcome.message === undefined ? {} : { message: outcome.message }),
        ...(collected.files > 0 ? { outputPath } : {}),
        ...(logSaved ? { logPath } : {}),
      },
    );
    const retry = { type: 'retry', by: 'policy' } as const;
    if (ended.state === 'canceled' || !canTransitionJob(ended, retry, ended)) return ended;
    const now = deps.clock.now();
    const delay = retryBackoffSeconds(ended.attempt, deps.retryBackoffSeconds);
    return resetAttempt(
      transitionJob(ended, retry, ended),
      task.incarnation,
      now.toISOString(),
      new Date(now.getTime() + delay * 1000).toISOString(),
    );
  });
  // The ended attempt as a span of the task's trace (and its duration as a metric).
  recordTaskJobSpan({
    task: task.name,
    key: job.key,
    attempt: job.attempt,
    computeJobId: job.computeJobId,
    backend: task.backend,
    state: outcome.state,
    start: new Date(job.startedAt ?? outcome.startedAt ?? job.assignedAt ?? job.queuedAt),
    end: new Date(finishedAt),
    ...(outcome.exitCode === undefined ? {} : { exitCode: outcome.exitCode }),
  });
  await deps.staging.discard(staged);
  await releaseComputeJob(deps, job.computeJobId);
  await requestSchedulerTick(deps, `job ${job.key} of ${task.name} ended`);
  return saved;
}

function jobEventOf(outcome: { state: string; exitCode?: number }): TaskJobEvent {
  switch (outcome.state) {
    case 'succeeded':
      return { type: 'exited', code: 0 };
    case 'failed':
      // A failure without an exit code (never started, lost by the backend) reads as -1.
      return {
        type: 'exited',
        code: outcome.exitCode === undefined || outcome.exitCode === 0 ? -1 : outcome.exitCode,
      };
    case 'timed_out':
      return { type: 'timedOut' };
    case 'canceled':
      return { type: 'canceled' };
    default:
      throw new BatonError('validation', `state: unknown job end ${outcome.state}`, {
        field: 'state',
      });
  }
}

/** Copies the job's stdout/stderr into the lake (create-only); false when the backend has none. */
export async function saveJobLog(
  deps: TaskDeps,
  computeJobId: string,
  logPath: string,
): Promise<boolean> {
  let text: string;
  try {
    text = await deps.compute.logs(computeJobId);
  } catch (error) {
    if (!isBatonError(error, 'not_found')) throw error;
    // Released by an earlier delivery, which saved the log first.
    return (await deps.lake.stat(logPath)) !== undefined;
  }
  try {
    await deps.lake.write(logPath, text, { createOnly: true, contentType: 'text/plain' });
  } catch (error) {
    if (!isBatonError(error, 'conflict')) throw error; // saved by an earlier delivery
  }
  return true;
}

async function readJob(
  deps: TaskDeps,
  task: string,
  key: string,
): Promise<StoredDocument<TaskJobRecord> | undefined> {
  return deps.state.read<TaskJobRecord>(taskJobsCollection, task, key);
}

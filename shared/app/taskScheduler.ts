import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { isBatonError } from '../domain/errors.js';
import { planSchedulerTick, type RunningJob, type WaitingJob } from '../domain/priority.js';
import { canTransitionJob, holdsSlot, transitionJob } from '../domain/taskStates.js';
import {
  isLaunchable,
  isOverdue,
  taskEventFromJobs,
  taskJobsCollection,
  tasksCollection,
  type TaskJobRecord,
  type TaskRecord,
} from '../domain/tasks.js';
import { parseInput } from '../domain/validation.js';
import type { StoredDocument } from '../ports/stateStore.js';
import { jobsCollection, type JobRecord } from './jobs.js';
import type { TaskDeps } from './taskDeps.js';
import { applyJobEnd, launchTaskJobMessageOf } from './taskJobs.js';
import { cancelActiveJobs, moveTask, updateJob } from './tasks.js';

/**
 * One scheduler tick: moves tasks through their test gate and to their end, times out overdue
 * jobs, then fills free slots in priority order (domain/priority.ts) by recording each chosen
 * job as `assigned` and sending its `launch-job` message. Runs from a timer (every 5 minutes by
 * default) and on demand (after a submit or a finished job, coalesced).
 *
 * One tick at a time: a lease document guards the planning, because two ticks planning from
 * the same counts would hand one free slot out twice. A tick that finds the lease held asks
 * for another tick later instead of waiting, so no request is lost.
 */

export const leaseCollection = 'scheduler';
const leaseId = 'tick-lease';
/** Long enough for a tick over 10⁵ jobs; a host killed mid-tick blocks ticks this long at most. */
const leaseSeconds = 60;
const retryWhenBusyMs = 1000;
/** An `assigned` job whose launch has not started after this long gets its message again. */
const relaunchAfterSeconds = 60;

interface Lease {
  holder: string;
  until: string;
}

export const schedulerTickMessageSchema = z.object({ reason: z.string().max(200) }).strict();

export interface TickResult {
  skipped: boolean;
  tasks: number;
  waiting: number;
  running: number;
  launched: number;
  timedOut: number;
  taskEvents: number;
}

/**
 * Asks for a tick soon: one message per coalescing window (the bus drops duplicates by id), due
 * at the window's end, so a burst of finished jobs costs one tick.
 */
export async function requestSchedulerTick(
  deps: TaskDeps,
  reason: string,
  delayMs = 0,
): Promise<void> {
  const window = Math.max(1, deps.tickCoalesceMs);
  const due = (Math.floor((deps.clock.now().getTime() + delayMs) / window) + 1) * window;
  await deps.bus.send(deps.queues.scheduler, [
    {
      messageId: `tick:${due}`,
      body: { reason: reason.slice(0, 200) },
      scheduledEnqueueTime: new Date(due).toISOString(),
    },
  ]);
}

/** Queue function: an on-demand tick. */
export async function runRequestedTick(deps: TaskDeps, message: unknown): Promise<TickResult> {
  parseInput(schedulerTickMessageSchema, message, 'scheduler message');
  return runSchedulerTick(deps);
}

export async function runSchedulerTick(deps: TaskDeps): Promise<TickResult> {
  const result: TickResult = {
    skipped: false,
    tasks: 0,
    waiting: 0,
    running: 0,
    launched: 0,
    timedOut: 0,
    taskEvents: 0,
  };
  const holder = randomUUID();
  const lease = await acquireLease(deps, holder);
  if (!lease) {
    // Another tick is planning; this request may carry news it did not see, so come back
    // when that tick has surely ended, not in a tight loop.
    await requestSchedulerTick(deps, 'lease busy', retryWhenBusyMs);
    return { ...result, skipped: true };
  }
  try {
    await tick(deps, lease, result);
  } finally {
    await releaseLease(deps, lease);
  }
  return result;
}

async function tick(
  deps: TaskDeps,
  lease: StoredDocument<Lease>,
  result: TickResult,
): Promise<void> {
  const taskDocs = await deps.state.query<TaskRecord>(tasksCollection, {
    where: { state: ['registered', 'testing', 'running'] },
  });
  result.tasks = taskDocs.length;
  const waiting: WaitingJob[] = [];
  const running: RunningJob[] = [];
  const waitingDocs = new Map<string, { doc: StoredDocument<TaskJobRecord>; task: TaskRecord }>();

  for (const taskDoc of taskDocs) {
    try {
      await reconcileTask(deps, taskDoc, result, waiting, running, waitingDocs);
    } catch (error) {
      // A user moved the task meanwhile (kill, retry, delete): the next tick sees it as it is.
      if (!isBatonError(error, 'conflict') && !isBatonError(error, 'not_found')) throw error;
    }
  }
  await planAndAssign(deps, lease, result, waiting, running, waitingDocs);
}

async function reconcileTask(
  deps: TaskDeps,
  taskDoc: StoredDocument<TaskRecord>,
  result: TickResult,
  waiting: WaitingJob[],
  running: RunningJob[],
  waitingDocs: Map<string, { doc: StoredDocument<TaskJobRecord>; task: TaskRecord }>,
): Promise<void> {
  let task = taskDoc.body;
  let jobs = await deps.state.query<TaskJobRecord>(taskJobsCollection, { pk: task.name });

  if (task.state === 'registered') {
    const event = task.gateSize === 0 ? 'testSkipped' : 'testStarted';
    task = await moveTask(deps, taskDoc, { type: event });
    result.taskEvents += 1;
  }

  const now = deps.clock.now();
  const overdue = jobs.filter((job) => isOverdue(job.body, task.timeoutSeconds, now));
  for (const job of overdue) {
    await deps.compute.cancel(job.body.computeJobId).catch((error: unknown) => {
      if (!isBatonError(error, 'not_found')) throw error;
    });
    await applyJobEnd(deps, task, job, {
      state: 'timed_out',
      message: `timed out after ${task.timeoutSeconds} s`,
    });
    result.timedOut += 1;
  }
  if (overdue.length > 0) {
    jobs = await deps.state.query<TaskJobRecord>(taskJobsCollection, { pk: task.name });
  }

  const event = taskEventFromJobs(
    task,
    jobs.map((j) => j.body),
  );
  if (event !== undefined) {
    const doc = await deps.state.read<TaskRecord>(tasksCollection, task.owner, task.name);
    if (doc) {
      const message =
        event.type === 'testFailed'
          ? gateFailureMessage(jobs.map((j) => j.body))
          : event.type === 'allJobsDone' && event.failedJobs > 0
            ? `${event.failedJobs} of ${jobs.length} jobs did not succeed`
            : undefined;
      task = await moveTask(deps, doc, event, undefined, message === undefined ? {} : { message });
      result.taskEvents += 1;
      // A broken gate stops the task's other jobs: they would hold slots for nothing.
      if (task.state === 'broken') await cancelActiveJobs(deps, task, 'the test gate failed');
    }
  }

  for (const job of jobs) {
    const body = job.body;
    if (holdsSlot(body.state)) {
      running.push({
        jobId: body.computeJobId,
        owner: body.owner,
        backend: task.backend,
        needs: needsOf(task),
      });
      if (
        body.state === 'assigned' &&
        body.assignedAt !== undefined &&
        now.getTime() - Date.parse(body.assignedAt) > relaunchAfterSeconds * 1000
      ) {
        await sendLaunch(deps, body);
      }
    } else if (isLaunchable(task, body, now)) {
      waiting.push({
        jobId: body.computeJobId,
        owner: body.owner,
        taskPriority: task.priority,
        queuedAt: body.queuedAt,
        attempt: body.attempt,
        backend: task.backend,
        needs: needsOf(task),
      });
      waitingDocs.set(body.computeJobId, { doc: job, task });
    }
  }
}

async function planAndAssign(
  deps: TaskDeps,
  lease: StoredDocument<Lease>,
  result: TickResult,
  waiting: WaitingJob[],
  running: RunningJob[],
  waitingDocs: Map<string, { doc: StoredDocument<TaskJobRecord>; task: TaskRecord }>,
): Promise<void> {
  // Jobs of pipeline runs take slots on the same backend too, outside any task.
  const runJobs = await deps.state.query<JobRecord>(jobsCollection, {
    where: { state: ['pending', 'running'] },
  });
  for (const job of runJobs) {
    running.push({
      jobId: job.body.jobId,
      owner: `run:${job.body.runId}`,
      backend: deps.compute.name,
    });
  }

  result.waiting = waiting.length;
  result.running = running.length;
  // The reconciling above may have been slow (outputs of timed-out jobs): hand out slots only
  // while the lease is still ours, or a second tick could plan from the same counts.
  if (!(await renewLease(deps, lease))) return;
  const plan = planSchedulerTick(waiting, running, deps.backends, deps.clock.now());
  for (const launch of plan) {
    const entry = waitingDocs.get(launch.jobId);
    if (!entry) continue;
    const assignedAt = deps.clock.now().toISOString();
    let assigned: TaskJobRecord | undefined;
    try {
      assigned = await updateJob(deps, entry.doc, (body) => {
        // A kill or a retry may have moved the job since it was read: then leave it.
        if (body.computeJobId !== launch.jobId) return body;
        if (!canTransitionJob(body, { type: 'slotAssigned' }, body)) return body;
        return { ...transitionJob(body, { type: 'slotAssigned' }, body), assignedAt };
      });
    } catch (error) {
      if (isBatonError(error, 'not_found')) continue;
      throw error;
    }
    if (assigned.state !== 'assigned' || assigned.computeJobId !== launch.jobId) continue;
    // Recorded first, sent second: a crash in between leaves an `assigned` job, which a later
    // tick sends again (relaunchAfterSeconds); a launch is idempotent by compute job id.
    await sendLaunch(deps, assigned);
    result.launched += 1;
  }
}

async function sendLaunch(deps: TaskDeps, job: TaskJobRecord): Promise<void> {
  await deps.bus.send(deps.queues.launchJob, [
    { messageId: `launch:${job.computeJobId}`, body: launchTaskJobMessageOf(job) },
  ]);
}

function needsOf(task: TaskRecord): { cpu?: number; memoryGb?: number } {
  return {
    ...(task.cpu === undefined ? {} : { cpu: task.cpu }),
    ...(task.memoryGb === undefined ? {} : { memoryGb: task.memoryGb }),
  };
}

function gateFailureMessage(jobs: readonly TaskJobRecord[]): string {
  const failed = jobs.filter(
    (job) =>
      job.gate && (job.state === 'failed' || job.state === 'timed_out' || job.state === 'canceled'),
  );
  const list = failed
    .slice(0, 5)
    .map(
      (job) =>
        `${job.key} (${job.state}${job.exitCode === undefined ? '' : `, exit ${job.exitCode}`})`,
    )
    .join(', ');
  return `the test gate failed: ${list}${failed.length > 5 ? ', …' : ''}; see baton task show`;
}

async function acquireLease(
  deps: TaskDeps,
  holder: string,
): Promise<StoredDocument<Lease> | undefined> {
  const now = deps.clock.now();
  const body: Lease = {
    holder,
    until: new Date(now.getTime() + leaseSeconds * 1000).toISOString(),
  };
  const existing = await deps.state.read<Lease>(leaseCollection, leaseId, leaseId);
  try {
    if (!existing) {
      return await deps.state.create(leaseCollection, { id: leaseId, pk: leaseId, body });
    }
    if (Date.parse(existing.body.until) > now.getTime()) return undefined;
    return await deps.state.replace(
      leaseCollection,
      { id: leaseId, pk: leaseId, body },
      existing.etag,
    );
  } catch (error) {
    if (isBatonError(error, 'conflict') || isBatonError(error, 'precondition_failed')) {
      return undefined;
    }
    throw error;
  }
}

/** Extends the lease if it is still ours (same etag); false when another tick took it. */
async function renewLease(deps: TaskDeps, lease: StoredDocument<Lease>): Promise<boolean> {
  const body: Lease = {
    holder: lease.body.holder,
    until: new Date(deps.clock.now().getTime() + leaseSeconds * 1000).toISOString(),
  };
  try {
    const renewed = await deps.state.replace(
      leaseCollection,
      { id: leaseId, pk: leaseId, body },
      lease.etag,
    );
    lease.etag = renewed.etag;
    lease.body = renewed.body;
    return true;
  } catch (error) {
    if (isBatonError(error, 'precondition_failed') || isBatonError(error, 'not_found')) {
      return false;
    }
    throw error;
  }
}

async function releaseLease(deps: TaskDeps, lease: StoredDocument<Lease>): Promise<void> {
  const released: Lease = { holder: lease.body.holder, until: new Date(0).toISOString() };
  try {
    await deps.state.replace(
      leaseCollection,
      { id: leaseId, pk: leaseId, body: released },
      lease.etag,
    );
  } catch (error) {
    // Taken over after expiry: the other holder owns it now.
    if (!isBatonError(error, 'precondition_failed')) throw error;
  }
}
